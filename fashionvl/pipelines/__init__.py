"""fashionvl.pipelines: the ``fashion-retrieval`` pipeline task and the gallery index.

``import fashionvl`` registers the retrieval class of each architecture with ``AutoModelForFashionRetrieval`` (the
Auto class ``pipeline("fashion-retrieval", model=folder)`` loads checkpoints with; table ``fashionvl.families``)
and, as soon as ``transformers.pipelines`` is imported, the task with transformers' ``PIPELINE_REGISTRY``
(`register_fashion_retrieval_task`):

- ``mvlt`` -> ``MVLTForImageTextRetrieval`` (ITM scores; pre-training checkpoints share the ITM head),
- ``mfsr`` -> ``MFSRModel`` (the dual encoder; ``MFSRForRetrieval`` checkpoints load as themselves),
- ``m2fashion`` -> ``M2FashionModel`` (Z; ``M2FashionForAttributePrediction`` checkpoints load as themselves).

This module imports only the Auto-class machinery of transformers; the pipeline class, the gallery index and the
adapters (torch, PIL, safetensors, transformers' pipeline stack) are imported on first access.
"""

import importlib
from collections import OrderedDict
from typing import TYPE_CHECKING

from transformers.models.auto.auto_factory import _BaseAutoModelClass, _LazyAutoMapping
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

from ..families import FAMILIES, get_family, register_models


if TYPE_CHECKING:
    from .fashion_retrieval import FashionRetrievalPipeline
    from .gallery_index import FashionGalleryIndex, is_faiss_available
    from .model_adapters import RETRIEVAL_ADAPTERS, get_retrieval_adapter

# Public name -> submodule that defines it; imported on first access (PEP 562).
_LAZY_ATTRIBUTES = {
    "FashionRetrievalPipeline": "fashion_retrieval",
    "FashionGalleryIndex": "gallery_index",
    "is_faiss_available": "gallery_index",
    "RETRIEVAL_ADAPTERS": "model_adapters",
    "get_retrieval_adapter": "model_adapters",
}


def __getattr__(name: str):
    submodule = _LAZY_ATTRIBUTES.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value
    return value


# Training classes whose checkpoints the pipeline loads as they are (the family table's checkpoint_classes_kept): they
# expose the same retrieval interface as their base model, and loading them into the base class would report every
# head weight as unexpected.
CHECKPOINT_CLASSES_KEPT = tuple(name for family in FAMILIES.values() for name in family.checkpoint_classes_kept)
HUB_KWARGS = ("revision", "token", "cache_dir", "local_files_only", "subfolder", "trust_remote_code")


class AutoModelForFashionRetrieval(_BaseAutoModelClass):
    """Auto class of the ``fashion-retrieval`` task: the retrieval model class of each fashionvl architecture.

    A checkpoint saved as ``MFSRForRetrieval`` or ``M2FashionForAttributePrediction`` is loaded as that class.
    """

    _model_mapping = _LazyAutoMapping(CONFIG_MAPPING_NAMES, OrderedDict())

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        from transformers import AutoConfig, PreTrainedConfig

        config = kwargs.get("config")
        if not isinstance(config, PreTrainedConfig):
            hub_kwargs = {key: kwargs[key] for key in HUB_KWARGS if key in kwargs}
            config = AutoConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
        architecture = (getattr(config, "architectures", None) or [None])[0]
        if architecture in CHECKPOINT_CLASSES_KEPT:
            model_class = get_family(config.model_type).model_class(architecture)
            kwargs.pop("code_revision", None)  # only the Auto classes read it
            return model_class.from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)


def register_fashion_retrieval_task() -> None:
    """Register the ``fashion-retrieval`` task with transformers' ``PIPELINE_REGISTRY`` (imports
    ``transformers.pipelines``; ``import fashionvl`` calls this right after the user's code imports it)."""
    import sys

    module = sys.modules.get(f"{__name__}.fashion_retrieval")
    if module is not None and not hasattr(module, "FashionRetrievalPipeline"):
        # fashion_retrieval.py is mid-import (its `from transformers import Pipeline` imported transformers.pipelines):
        # ``import fashionvl`` calls this again when that module has finished.
        return
    from transformers.pipelines import PIPELINE_REGISTRY

    from .fashion_retrieval import FashionRetrievalPipeline

    if "fashion-retrieval" not in PIPELINE_REGISTRY.supported_tasks:
        PIPELINE_REGISTRY.register_pipeline(
            "fashion-retrieval", pipeline_class=FashionRetrievalPipeline, pt_model=AutoModelForFashionRetrieval, type="multimodal"
        )


def register_fashion_retrieval() -> None:
    """Register the retrieval classes with ``AutoModelForFashionRetrieval`` and the pipeline task now (``import
    fashionvl`` does both already; the task waits there until ``transformers.pipelines`` is imported)."""
    for family in FAMILIES.values():
        register_models(family)
    register_fashion_retrieval_task()


__all__ = [
    "AutoModelForFashionRetrieval",
    "FashionGalleryIndex",
    "FashionRetrievalPipeline",
    "RETRIEVAL_ADAPTERS",
    "get_retrieval_adapter",
    "is_faiss_available",
    "register_fashion_retrieval",
    "register_fashion_retrieval_task",
]
