"""fashionvl: fashion vision-language models (MVLT, mFSR, M2Fashion) for Hugging Face transformers.

Importing the package registers every model with the transformers Auto classes and the
``fashion-retrieval`` pipeline task.
"""

__version__ = "0.1.0"

# Each block below is owned by one part of the package; keep the markers so blocks stay separate.

# >>> MVLT
from transformers import AutoConfig, AutoModel, AutoModelForPreTraining

from .configs.configuration_mvlt import MVLTConfig
from .modeling.modeling_mvlt import (
    MVLTForCategoryRecognition,
    MVLTForImageTextRetrieval,
    MVLTForPreTraining,
    MVLTModel,
    MVLTPreTrainedModel,
)

AutoConfig.register("mvlt", MVLTConfig, exist_ok=True)
AutoModel.register(MVLTConfig, MVLTModel, exist_ok=True)
AutoModelForPreTraining.register(MVLTConfig, MVLTForPreTraining, exist_ok=True)
# The task heads have no fitting transformers Auto class (AutoModelForImageClassification /
# AutoModelForImageTextToText expect other inputs and outputs): load them with their own from_pretrained.
# MVLTForImageTextRetrieval is registered with fashionvl's AutoModelForFashionRetrieval (pipelines block).
# No `register_for_auto_class` here: it makes every save_pretrained copy the model's source files, and
# transformers' copier cannot follow `from ..configs...` (FileNotFoundError). The Hub exporter (issue 7) writes
# the flat remote-code folder and its auto_map instead.
# <<< MVLT

# >>> processing
from transformers import AutoImageProcessor as _AutoImageProcessor
from transformers import AutoProcessor as _ProcessingAutoProcessor

from .configs.configuration_mvlt import MVLTConfig as _MVLTConfig
from .processing import (
    DataCollatorForMVLTCategoryRecognition,
    DataCollatorForMVLTPretraining,
    DataCollatorForMVLTRetrieval,
    MaskGenerator,
    MVLTImageProcessor,
    MVLTProcessor,
    train_wordpiece_tokenizer,
)

_AutoImageProcessor.register(_MVLTConfig, image_processor_classes={"pil": MVLTImageProcessor}, exist_ok=True)
_ProcessingAutoProcessor.register(_MVLTConfig, MVLTProcessor, exist_ok=True)
# <<< processing

# >>> training
from .training import FashionTrainer, FashionTrainingArguments
# <<< training

# >>> mFSR
from transformers import AutoConfig as _MFSRAutoConfig
from transformers import AutoModel as _MFSRAutoModel
from transformers import AutoModelForPreTraining as _MFSRAutoModelForPreTraining
from transformers import AutoProcessor as _MFSRAutoProcessor

from .configs.configuration_mfsr import MFSRConfig
from .modeling.modeling_mfsr import MFSRForRetrieval, MFSRModel, MFSRPreTrainedModel
from .processing.processing_mfsr import MFSRProcessor, build_mfsr_tokenizer

_MFSRAutoConfig.register("mfsr", MFSRConfig, exist_ok=True)
_MFSRAutoModel.register(MFSRConfig, MFSRModel, exist_ok=True)
# MFSRForRetrieval is the model one trains (encoders + reconstruction heads + the losses of eq. 6); no transformers
# Auto class is made for dual-encoder retrieval training, and AutoModelForPreTraining ("the model with its training
# heads") is the closest: AutoModelForPreTraining.from_pretrained(folder) gives MFSRForRetrieval.
_MFSRAutoModelForPreTraining.register(MFSRConfig, MFSRForRetrieval, exist_ok=True)
_MFSRAutoProcessor.register(MFSRConfig, MFSRProcessor, exist_ok=True)
# No `register_for_auto_class` here: it makes `save_pretrained` copy modeling_mfsr.py and follow its package-relative
# import `..configs.configuration_mfsr`, which fails. The Hub exporter (scripts/export_to_hub.py) writes the flat
# remote-code folder and its `auto_map` (AutoConfig, AutoModel -> MFSRModel, AutoModelForPreTraining -> MFSRForRetrieval).
# <<< mFSR

# >>> M2Fashion
from transformers import AutoConfig as _AutoConfig
from transformers import AutoModel as _AutoModel
from transformers import AutoModelForImageClassification as _AutoModelForImageClassification
from transformers import AutoProcessor as _AutoProcessor

from .configs.configuration_m2fashion import M2FashionConfig
from .modeling.modeling_m2fashion import M2FashionForAttributePrediction, M2FashionModel
from .processing.processing_m2fashion import M2FashionProcessor

_AutoConfig.register("m2fashion", M2FashionConfig, exist_ok=True)
_AutoModel.register(M2FashionConfig, M2FashionModel, exist_ok=True)
# The category head returns `logits` over `config.id2label` from `pixel_values` alone (attributes unknown), which is
# the AutoModelForImageClassification / "image-classification" pipeline contract; attributes come as extra outputs.
_AutoModelForImageClassification.register(M2FashionConfig, M2FashionForAttributePrediction, exist_ok=True)
_AutoProcessor.register(M2FashionConfig, M2FashionProcessor, exist_ok=True)
# No `register_for_auto_class` here: with it, `save_pretrained` runs transformers' `custom_object_save`, which
# cannot follow the `from ..configs...` import of the modeling file and fails. The Hub exporter (issue 7) writes the
# auto_map of a remote-code folder (AutoConfig, AutoModel, AutoModelForImageClassification).
# <<< M2Fashion

# >>> pipelines
from .hub import export_for_hub
from .pipelines import AutoModelForFashionRetrieval, FashionGalleryIndex, FashionRetrievalPipeline, register_fashion_retrieval

# transformers.pipeline("fashion-retrieval", model=...) for MVLT, mFSR and M2Fashion checkpoints
register_fashion_retrieval()
# <<< pipelines
