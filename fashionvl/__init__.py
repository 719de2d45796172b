"""fashionvl: fashion vision-language models (MVLT, mFSR, M2Fashion) for Hugging Face transformers.

Importing the package registers every model with the transformers Auto classes and the ``fashion-retrieval``
pipeline task, and imports almost nothing (issue 14 §4), the way ``import transformers`` does:

- the configurations are imported and registered with ``AutoConfig`` at once (they are small);
- the model and processor classes are registered as stand-ins (`fashionvl._lazy.lazy_class`) that import the real
  class on first use, e.g. by ``AutoModel.from_pretrained(folder)``;
- registrations that need an expensive transformers module wait until the user's code imports it (the processor
  Auto classes, ``transformers.pipelines`` for the ``fashion-retrieval`` task): see `fashionvl._lazy.after_import`;
- every public name (``fashionvl.MVLTModel``, ``fashionvl.FashionTrainer``, ...) is imported on first access
  (module ``__getattr__``, PEP 562).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

from ._lazy import after_import, is_lazy_class, lazy_class


__version__ = "0.1.0"

# One table per family: which class serves which Auto class (issue 14 §4, STYLE "Register once"). The package
# root, the ``fashion-retrieval`` Auto class and the Hub exporter (through the Auto mappings) read it.
#   config:            (module, class) registered with AutoConfig under the model type.
#   models:            Auto class name -> class name in ``modeling``.
#   processor:         (module, class) registered with AutoProcessor.
#   image_processor:   (module, class) registered with AutoImageProcessor (PIL backend).
# Why these Auto classes (and not others):
# - MVLT: the task heads have no fitting transformers Auto class (AutoModelForImageClassification /
#   AutoModelForImageTextToText expect other inputs and outputs); load them with their own from_pretrained.
# - mFSR: MFSRForRetrieval is the model one trains (encoders + reconstruction heads + the losses of eq. 6); no Auto
#   class is made for dual-encoder retrieval training and AutoModelForPreTraining ("the model with its training
#   heads") is the closest.
# - M2Fashion: the category head returns ``logits`` over ``config.id2label`` from ``pixel_values`` alone, which is
#   the AutoModelForImageClassification / "image-classification" pipeline contract.
# No ``register_for_auto_class`` anywhere: it makes every save_pretrained copy the model's source files, and
# transformers' copier cannot follow ``from ..configs...`` (FileNotFoundError). The Hub exporter writes the flat
# remote-code folder and its auto_map instead.
FAMILIES = {
    "mvlt": {
        "config": ("fashionvl.configs.configuration_mvlt", "MVLTConfig"),
        "modeling": "fashionvl.modeling.modeling_mvlt",
        "models": {
            "AutoModel": "MVLTModel",
            "AutoModelForPreTraining": "MVLTForPreTraining",
            "AutoModelForFashionRetrieval": "MVLTForImageTextRetrieval",
        },
        "processor": ("fashionvl.processing.processing_mvlt", "MVLTProcessor"),
        "image_processor": ("fashionvl.processing.image_processing_mvlt", "MVLTImageProcessor"),
    },
    "mfsr": {
        "config": ("fashionvl.configs.configuration_mfsr", "MFSRConfig"),
        "modeling": "fashionvl.modeling.modeling_mfsr",
        "models": {
            "AutoModel": "MFSRModel",
            "AutoModelForPreTraining": "MFSRForRetrieval",
            "AutoModelForFashionRetrieval": "MFSRModel",
        },
        "processor": ("fashionvl.processing.processing_mfsr", "MFSRProcessor"),
        "image_processor": None,
    },
    "m2fashion": {
        "config": ("fashionvl.configs.configuration_m2fashion", "M2FashionConfig"),
        "modeling": "fashionvl.modeling.modeling_m2fashion",
        "models": {
            "AutoModel": "M2FashionModel",
            "AutoModelForImageClassification": "M2FashionForAttributePrediction",
            "AutoModelForFashionRetrieval": "M2FashionModel",
        },
        "processor": ("fashionvl.processing.processing_m2fashion", "M2FashionProcessor"),
        "image_processor": None,
    },
}

# Public name -> module that defines it; imported on first attribute access.
_LAZY_ATTRIBUTES = {
    "MVLTConfig": "fashionvl.configs.configuration_mvlt",
    "MFSRConfig": "fashionvl.configs.configuration_mfsr",
    "M2FashionConfig": "fashionvl.configs.configuration_m2fashion",
    **{
        name: "fashionvl.modeling.modeling_mvlt"
        for name in (
            "MVLTForCategoryRecognition",
            "MVLTForImageTextRetrieval",
            "MVLTForPreTraining",
            "MVLTModel",
            "MVLTPreTrainedModel",
        )
    },
    **{name: "fashionvl.modeling.modeling_mfsr" for name in ("MFSRForRetrieval", "MFSRModel", "MFSRPreTrainedModel")},
    **{name: "fashionvl.modeling.modeling_m2fashion" for name in ("M2FashionForAttributePrediction", "M2FashionModel")},
    **{
        name: "fashionvl.processing"
        for name in (
            "DataCollatorForMVLTCategoryRecognition",
            "DataCollatorForMVLTPretraining",
            "DataCollatorForMVLTRetrieval",
            "MaskGenerator",
            "MVLTImageProcessor",
            "MVLTProcessor",
            "train_wordpiece_tokenizer",
        )
    },
    "MFSRProcessor": "fashionvl.processing.processing_mfsr",
    "build_mfsr_tokenizer": "fashionvl.processing.processing_mfsr",
    "M2FashionProcessor": "fashionvl.processing.processing_m2fashion",
    "FashionTrainer": "fashionvl.training",
    "FashionTrainingArguments": "fashionvl.training",
    "export_for_hub": "fashionvl.hub",
    **{
        name: "fashionvl.pipelines"
        for name in (
            "AutoModelForFashionRetrieval",
            "FashionGalleryIndex",
            "FashionRetrievalPipeline",
            "register_fashion_retrieval",
        )
    },
}

__all__ = sorted(_LAZY_ATTRIBUTES)

if TYPE_CHECKING:  # static analysers and IDEs see the eager imports
    from .configs.configuration_m2fashion import M2FashionConfig
    from .configs.configuration_mfsr import MFSRConfig
    from .configs.configuration_mvlt import MVLTConfig
    from .hub import export_for_hub
    from .modeling.modeling_m2fashion import M2FashionForAttributePrediction, M2FashionModel
    from .modeling.modeling_mfsr import MFSRForRetrieval, MFSRModel, MFSRPreTrainedModel
    from .modeling.modeling_mvlt import (
        MVLTForCategoryRecognition,
        MVLTForImageTextRetrieval,
        MVLTForPreTraining,
        MVLTModel,
        MVLTPreTrainedModel,
    )
    from .pipelines import AutoModelForFashionRetrieval, FashionGalleryIndex, FashionRetrievalPipeline, register_fashion_retrieval
    from .processing import (
        DataCollatorForMVLTCategoryRecognition,
        DataCollatorForMVLTPretraining,
        DataCollatorForMVLTRetrieval,
        MaskGenerator,
        MVLTImageProcessor,
        MVLTProcessor,
        train_wordpiece_tokenizer,
    )
    from .processing.processing_m2fashion import M2FashionProcessor
    from .processing.processing_mfsr import MFSRProcessor, build_mfsr_tokenizer
    from .training import FashionTrainer, FashionTrainingArguments


def __getattr__(name: str):
    module_name = _LAZY_ATTRIBUTES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'fashionvl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later accesses skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY_ATTRIBUTES))


def _config_class(family: dict) -> type:
    module_name, class_name = family["config"]
    return getattr(importlib.import_module(module_name), class_name)


def _register_class(module_name: str, class_name: str, register, **known) -> None:
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
    import transformers

    return getattr(transformers, name)


def _register_models(family: dict) -> None:
    """Register the family's model classes with their Auto classes."""
    config_class = _config_class(family)
    for auto_name, class_name in family["models"].items():
        auto_class = _auto_model_class(auto_name)

        def register(model_class, auto_class=auto_class):
            auto_class.register(config_class, model_class, exist_ok=True)

        _register_class(family["modeling"], class_name, register, config_class=config_class)


def _register_processor(family: dict) -> None:
    """Register the family's processor with AutoProcessor (run once ``processing_auto`` is imported)."""
    from transformers.models.auto.processing_auto import AutoProcessor

    config_class = _config_class(family)

    def register(processor_class):
        AutoProcessor.register(config_class, processor_class, exist_ok=True)

    _register_class(*family["processor"], register)


def _register_image_processor(family: dict) -> None:
    """Register the family's image processor with AutoImageProcessor (run once ``image_processing_auto`` is
    imported). ``AutoImageProcessor.register`` checks ``issubclass(cls, BaseImageProcessor)``, which a stand-in
    cannot pass without importing the real class; a stand-in goes straight into ``IMAGE_PROCESSOR_MAPPING`` (what
    ``register`` does after its check), the real class through ``register``."""
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING, AutoImageProcessor

    config_class = _config_class(family)

    def register(image_processor_class):
        if is_lazy_class(image_processor_class):
            IMAGE_PROCESSOR_MAPPING.register(config_class, {"pil": image_processor_class}, exist_ok=True)
        else:
            AutoImageProcessor.register(config_class, image_processor_classes={"pil": image_processor_class}, exist_ok=True)

    _register_class(*family["image_processor"], register)


def _register_all() -> None:
    from transformers import AutoConfig

    for model_type, family in FAMILIES.items():
        AutoConfig.register(model_type, _config_class(family), exist_ok=True)
        _register_models(family)
        after_import("transformers.models.auto.processing_auto", lambda family=family: _register_processor(family))
        if family["image_processor"] is not None:
            after_import(
                "transformers.models.auto.image_processing_auto", lambda family=family: _register_image_processor(family)
            )
    # transformers.pipeline("fashion-retrieval", model=...) for MVLT, mFSR and M2Fashion checkpoints: registered in
    # PIPELINE_REGISTRY when transformers.pipelines is imported (importing it here would cost seconds).
    from .pipelines import register_fashion_retrieval_task

    after_import("transformers.pipelines", register_fashion_retrieval_task)
    # ... or when the pipeline module has been imported, if importing it is what imported transformers.pipelines
    after_import("fashionvl.pipelines.fashion_retrieval", register_fashion_retrieval_task)


_register_all()
