"""The model families of fashionvl: one table of which class serves which role (issue 13 §2, STYLE "Register once").

A family is a paper's model: its configuration, its model classes, its processor and image processor, the adapter
that turns its retrieval interface into pipeline scores, and the transformers Auto classes its classes are
registered with. Everything that needs to know a family reads `FAMILIES`, as transformers' ``auto`` mappings are the
one source of which class serves which task:

- the package root (``fashionvl/__init__.py``): `register_all` on ``import fashionvl`` (Auto classes, processors,
  the ``fashion-retrieval`` task) and the public names of the model and processor classes;
- the ``fashion-retrieval`` pipeline (``fashionvl.pipelines``): the classes a checkpoint loads as
  (`ModelFamily.checkpoint_classes_kept`), the processor loaded next to a model, the retrieval adapter;
- ``fashionvl.hub.load_checkpoint``: a model class by its name (`find_model_class`);
- the tests (``tests/test_model_common.py``, ``tests/test_modeling_common_hf.py``).

A new paper's model is one more entry here (see docs/ARCHITECTURE.md). Classes are named, not imported: reading the
table imports nothing (``import fashionvl`` stays fast); `ModelFamily.load` imports a class on use.

Why these Auto classes (and not others):
- MVLT: the task heads have no fitting transformers Auto class (AutoModelForImageClassification /
  AutoModelForImageTextToText expect other inputs and outputs); load them with their own from_pretrained.
- mFSR: MFSRForRetrieval is the model one trains (encoders + reconstruction heads + the losses of eq. 6); no Auto
  class is made for dual-encoder retrieval training and AutoModelForPreTraining ("the model with its training
  heads") is the closest.
- MVLT, mFSR: ``*ForZeroShotImageClassification`` (the ``zero-shot-image-classification`` pipeline) return CLIP's
  ``logits_per_image`` over (images, candidate captions), as transformers maps ``Blip2ForImageTextRetrieval`` there;
  MVLT's needs ITC (``itc_loss_weight > 0``).
- M2Fashion: the category head returns ``logits`` over ``config.id2label`` from ``pixel_values`` alone, which is the
  AutoModelForImageClassification / "image-classification" pipeline contract.
- ``AutoModelForFashionRetrieval`` (``fashionvl.pipelines``) is the Auto class of the ``fashion-retrieval`` task.
No ``register_for_auto_class`` anywhere: it makes every save_pretrained copy the model's source files, and
transformers' copier cannot follow ``from ..configs...`` (FileNotFoundError). The Hub exporter writes the flat
remote-code folder and its auto_map instead.

Only the standard library and `fashionvl._lazy` are imported at module level.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ._lazy import after_import, is_lazy_class, lazy_class


@dataclass(frozen=True)
class ModelFamily:
    """One paper's model family. Classes are given as names in the family's modules.

    Attributes:
        model_type: ``config.model_type`` (the key of `FAMILIES`).
        config: (module, class) of the configuration, registered with ``AutoConfig``.
        modeling: module of the model classes.
        model_classes: every public model class of the family, the base model first.
        auto_models: Auto class name -> model class name (``AutoModelForFashionRetrieval``: the pipeline's).
        processor: (module, class) registered with ``AutoProcessor``.
        image_processor: (module, class) registered with ``AutoImageProcessor`` (PIL backend).
        retrieval_adapter: class in ``fashionvl.pipelines.model_adapters`` that serves the pipeline.
        checkpoint_classes_kept: training classes whose checkpoints the pipeline loads as they are (they have the
            base model's retrieval interface; loading them into the base class would report every head weight as
            unexpected).
    """

    model_type: str
    config: tuple[str, str]
    modeling: str
    model_classes: tuple[str, ...]
    auto_models: Mapping[str, str]
    processor: tuple[str, str]
    image_processor: tuple[str, str]
    retrieval_adapter: str
    checkpoint_classes_kept: tuple[str, ...] = field(default=())

    @property
    def base_model(self) -> str:
        return self.model_classes[0]

    def config_class(self) -> type:
        return _import(*self.config)

    def model_class(self, name: str) -> type:
        """The model class `name` of this family (imports the modeling module)."""
        if name not in self.model_classes:
            raise ValueError(f"{name!r} is not a {self.model_type} model class; they are {list(self.model_classes)}.")
        return _import(self.modeling, name)

    def processor_class(self) -> type:
        return _import(*self.processor)

    def image_processor_class(self) -> type:
        return _import(*self.image_processor)


def _import(module_name: str, class_name: str) -> type:
    return getattr(importlib.import_module(module_name), class_name)


_PROCESSING = "fashionvl.processing"
FAMILIES: dict[str, ModelFamily] = {
    family.model_type: family
    for family in (
        ModelFamily(
            model_type="mvlt",
            config=("fashionvl.configs.configuration_mvlt", "MVLTConfig"),
            modeling="fashionvl.modeling.modeling_mvlt",
            model_classes=(
                "MVLTModel", "MVLTForPreTraining", "MVLTForImageTextRetrieval", "MVLTForCategoryRecognition",
                "MVLTForZeroShotImageClassification",
            ),
            auto_models={
                "AutoModel": "MVLTModel",
                "AutoModelForPreTraining": "MVLTForPreTraining",
                "AutoModelForZeroShotImageClassification": "MVLTForZeroShotImageClassification",
                "AutoModelForFashionRetrieval": "MVLTForImageTextRetrieval",
            },
            processor=(f"{_PROCESSING}.processing_mvlt", "MVLTProcessor"),
            image_processor=(f"{_PROCESSING}.image_processing_mvlt", "MVLTImageProcessor"),
            retrieval_adapter="MVLTRetrievalAdapter",
        ),
        ModelFamily(
            model_type="mfsr",
            config=("fashionvl.configs.configuration_mfsr", "MFSRConfig"),
            modeling="fashionvl.modeling.modeling_mfsr",
            model_classes=("MFSRModel", "MFSRForRetrieval", "MFSRForZeroShotImageClassification"),
            auto_models={
                "AutoModel": "MFSRModel",
                "AutoModelForPreTraining": "MFSRForRetrieval",
                "AutoModelForZeroShotImageClassification": "MFSRForZeroShotImageClassification",
                "AutoModelForFashionRetrieval": "MFSRModel",
            },
            processor=(f"{_PROCESSING}.processing_mfsr", "MFSRProcessor"),
            image_processor=(f"{_PROCESSING}.image_processing_fashion", "FashionImageProcessor"),
            retrieval_adapter="MFSRRetrievalAdapter",
            checkpoint_classes_kept=("MFSRForRetrieval",),
        ),
        ModelFamily(
            model_type="m2fashion",
            config=("fashionvl.configs.configuration_m2fashion", "M2FashionConfig"),
            modeling="fashionvl.modeling.modeling_m2fashion",
            model_classes=("M2FashionModel", "M2FashionForAttributePrediction"),
            auto_models={
                "AutoModel": "M2FashionModel",
                "AutoModelForImageClassification": "M2FashionForAttributePrediction",
                "AutoModelForFashionRetrieval": "M2FashionModel",
            },
            processor=(f"{_PROCESSING}.processing_m2fashion", "M2FashionProcessor"),
            image_processor=(f"{_PROCESSING}.image_processing_fashion", "FashionImageProcessor"),
            retrieval_adapter="M2FashionRetrievalAdapter",
            checkpoint_classes_kept=("M2FashionForAttributePrediction",),
        ),
    )
}


def get_family(model_type: str | None) -> ModelFamily:
    """The family of ``config.model_type`` (error naming the supported types otherwise)."""
    if model_type not in FAMILIES:
        raise ValueError(f"fashionvl has no model type {model_type!r}; its model types are {sorted(FAMILIES)}.")
    return FAMILIES[model_type]


def find_model_class(name: str | None) -> type | None:
    """The fashionvl model class called `name` (e.g. ``config.architectures[0]``), or None if no family has it."""
    for family in FAMILIES.values():
        if name in family.model_classes:
            return family.model_class(name)
    return None


# ----------------------------------------------------------------------------------------------------------------------
# Registration with transformers (run by ``import fashionvl``)
# ----------------------------------------------------------------------------------------------------------------------


def _register_class(module_name: str, class_name: str, register: Callable[[type], None], **known) -> None:
    """``register(cls)`` with the real class if its module is imported already, else with a stand-in, and again with
    the real class once its module is imported (through the stand-in or by any other route)."""
    module = sys.modules.get(module_name)
    if module is not None and hasattr(module, class_name):
        register(getattr(module, class_name))
        return
    register(lazy_class(module_name, class_name, on_resolve=register, **known))
    if module is None:  # (a module in sys.modules without the class is mid-import: the stand-in resolves it later)
        after_import(module_name, lambda: register(getattr(sys.modules[module_name], class_name)))


def _auto_model_class(name: str):
    if name == "AutoModelForFashionRetrieval":
        from .pipelines import AutoModelForFashionRetrieval

        return AutoModelForFashionRetrieval
    # run while transformers.models.auto is still initialising: read the class from its module, not the package
    from transformers.models.auto import modeling_auto

    return getattr(modeling_auto, name)


AUTO_MODULES = (
    "transformers.models.auto.configuration_auto",
    "transformers.models.auto.modeling_auto",
    "transformers.models.auto.processing_auto",
    "transformers.models.auto.image_processing_auto",
)


def _config_module_is_importing(family: ModelFamily) -> bool:
    """True while the family's configuration module runs (it imports transformers, which may import an Auto module
    and run its hooks before the configuration class exists); the hook on the configuration module registers the
    family once it is done (`register_all`)."""
    module = sys.modules.get(family.config[0])
    return module is not None and not hasattr(module, family.config[1])


def _fully_imported(module_name: str) -> bool:
    """The module is in ``sys.modules`` and has finished executing (importlib marks a running one's spec)."""
    module = sys.modules.get(module_name)
    return module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False)


def register_config(family: ModelFamily) -> None:
    """Register the family's configuration with ``AutoConfig`` (importing the configuration module)."""
    if _config_module_is_importing(family):
        return
    from transformers.models.auto.configuration_auto import AutoConfig

    AutoConfig.register(family.model_type, family.config_class(), exist_ok=True)


def register_models(family: ModelFamily) -> None:
    """Register the family's model classes with their Auto classes (as stand-ins until their module is imported)."""
    if _config_module_is_importing(family):
        return
    config_class = family.config_class()
    for auto_name, class_name in family.auto_models.items():
        auto_class = _auto_model_class(auto_name)

        def register(model_class, auto_class=auto_class):
            auto_class.register(config_class, model_class, exist_ok=True)

        _register_class(family.modeling, class_name, register, config_class=config_class)


def _register_processor(family: ModelFamily) -> None:
    """Register the family's processor with AutoProcessor (run once ``processing_auto`` is imported)."""
    if _config_module_is_importing(family):
        return
    from transformers.models.auto.processing_auto import AutoProcessor

    config_class = family.config_class()

    def register(processor_class):
        AutoProcessor.register(config_class, processor_class, exist_ok=True)

    _register_class(*family.processor, register)


def _register_image_processor(family: ModelFamily) -> None:
    """Register the family's image processor with AutoImageProcessor (run once ``image_processing_auto`` is
    imported). ``AutoImageProcessor.register`` checks ``issubclass(cls, BaseImageProcessor)``, which a stand-in
    cannot pass without importing the real class; a stand-in goes straight into ``IMAGE_PROCESSOR_MAPPING`` (what
    ``register`` does after its check), the real class through ``register``."""
    if _config_module_is_importing(family):
        return
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING, AutoImageProcessor

    config_class = family.config_class()

    def register(image_processor_class):
        if is_lazy_class(image_processor_class):
            IMAGE_PROCESSOR_MAPPING.register(config_class, {"pil": image_processor_class}, exist_ok=True)
        else:
            AutoImageProcessor.register(config_class, image_processor_classes={"pil": image_processor_class}, exist_ok=True)

    _register_class(*family.image_processor, register)


def register_all() -> None:
    """Register every family with the transformers Auto classes and the ``fashion-retrieval`` task, each when
    transformers' module that holds that Auto class is imported (by anyone: ``from transformers import AutoModel``,
    ``pipeline(...)``, ``Trainer``), or at once if it is imported already. ``import fashionvl`` itself imports no
    transformers module: its configuration stack alone imports torch (~3 s on a busy CPU, issue 14 §4).

    Order is kept: ``configuration_auto`` is imported before any other Auto module, so configurations are
    registered before the model, processor and image-processor classes that are keyed by them."""
    for family in FAMILIES.values():
        steps = (register_config, register_models, _register_processor, _register_image_processor)
        for auto_module, step in zip(AUTO_MODULES, steps):
            after_import(auto_module, lambda family=family, step=step: step(family))

        def register_loaded_auto_modules(family=family, steps=steps):
            # the configuration module finished: run the steps whose Auto module it saw mid-import (skipped then);
            # an Auto module still importing runs its own hook when it is done
            for auto_module, step in zip(AUTO_MODULES, steps):
                if _fully_imported(auto_module):
                    step(family)

        after_import(family.config[0], register_loaded_auto_modules)

    def register_task():
        from .pipelines import register_fashion_retrieval_task

        register_fashion_retrieval_task()

    after_import("transformers.pipelines", register_task)
    # ... or when the pipeline module has been imported, if importing it is what imported transformers.pipelines
    after_import("fashionvl.pipelines.fashion_retrieval", register_task)


__all__ = ["FAMILIES", "ModelFamily", "find_model_class", "get_family", "register_all", "register_config", "register_models"]
