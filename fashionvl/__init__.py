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
from typing import TYPE_CHECKING

from .families import FAMILIES, register_all


__version__ = "0.1.0"

# Public name -> module that defines it; imported on first attribute access. The families' classes come from the one
# table of model families (fashionvl/families.py: config, model classes, processors, retrieval adapter, Auto
# mappings), which register_all() below also registers with transformers.
_LAZY_ATTRIBUTES = {
    # every family's config, model, processor and image processor classes
    **{family.config[1]: family.config[0] for family in FAMILIES.values()},
    **{name: family.modeling for family in FAMILIES.values() for name in family.model_classes},
    **{family.processor[1]: family.processor[0] for family in FAMILIES.values()},
    **{family.image_processor[1]: family.image_processor[0] for family in FAMILIES.values()},
    "MVLTPreTrainedModel": "fashionvl.modeling.modeling_mvlt",
    "MFSRPreTrainedModel": "fashionvl.modeling.modeling_mfsr",
    **{
        name: "fashionvl.processing"
        for name in (
            "DataCollatorForMVLTCategoryRecognition",
            "DataCollatorForMVLTPretraining",
            "DataCollatorForMVLTRetrieval",
            "MaskGenerator",
            "train_wordpiece_tokenizer",
        )
    },
    "build_mfsr_tokenizer": "fashionvl.processing.processing_mfsr",
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

__all__ = sorted([*_LAZY_ATTRIBUTES, "FAMILIES"])

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
    from .processing.image_processing_fashion import FashionImageProcessor
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


register_all()
