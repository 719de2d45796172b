"""fashionvl.pipelines: the ``fashion-retrieval`` pipeline task and the gallery index.

``register_fashion_retrieval()`` (called on ``import fashionvl``) registers the task with transformers'
``PIPELINE_REGISTRY`` and the retrieval class of each architecture with ``AutoModelForFashionRetrieval``, the
Auto class ``pipeline("fashion-retrieval", model=folder)`` loads checkpoints with:

- ``mvlt`` -> ``MVLTForImageTextRetrieval`` (ITM scores; pre-training checkpoints share the ITM head),
- ``mfsr`` -> ``MFSRModel`` (the dual encoder; ``MFSRForRetrieval`` checkpoints load as themselves),
- ``m2fashion`` -> ``M2FashionModel`` (Z; ``M2FashionForAttributePrediction`` checkpoints load as themselves).
"""

from collections import OrderedDict

from transformers.models.auto.auto_factory import _BaseAutoModelClass, _LazyAutoMapping
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

from .fashion_retrieval import FashionRetrievalPipeline
from .gallery_index import FashionGalleryIndex, is_faiss_available
from .model_adapters import RETRIEVAL_ADAPTERS, get_retrieval_adapter


# Training classes whose checkpoints the pipeline loads as they are: they expose the same retrieval interface as
# their base model (mFSR: get_image_features / get_text_features; M2Fashion: attribute_aware_embeds), and loading
# them into the base class would report every head weight as unexpected.
CHECKPOINT_CLASSES_KEPT = ("MFSRForRetrieval", "M2FashionForAttributePrediction")
HUB_KWARGS = ("revision", "token", "cache_dir", "local_files_only", "subfolder", "trust_remote_code")


class AutoModelForFashionRetrieval(_BaseAutoModelClass):
    """Auto class of the ``fashion-retrieval`` task: the retrieval model class of each fashionvl architecture.

    A checkpoint saved as ``MFSRForRetrieval`` or ``M2FashionForAttributePrediction`` is loaded as that class.
    """

    _model_mapping = _LazyAutoMapping(CONFIG_MAPPING_NAMES, OrderedDict())

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        from transformers import AutoConfig, PreTrainedConfig

        import fashionvl

        config = kwargs.get("config")
        if not isinstance(config, PreTrainedConfig):
            hub_kwargs = {key: kwargs[key] for key in HUB_KWARGS if key in kwargs}
            config = AutoConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
        architecture = (getattr(config, "architectures", None) or [None])[0]
        if architecture in CHECKPOINT_CLASSES_KEPT:
            model_class = getattr(fashionvl, architecture)
            kwargs.pop("code_revision", None)  # only the Auto classes read it
            return model_class.from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)


def register_fashion_retrieval() -> None:
    """Register the retrieval classes with ``AutoModelForFashionRetrieval`` and the pipeline task."""
    from transformers.pipelines import PIPELINE_REGISTRY

    from ..configs.configuration_m2fashion import M2FashionConfig
    from ..configs.configuration_mfsr import MFSRConfig
    from ..configs.configuration_mvlt import MVLTConfig
    from ..modeling.modeling_m2fashion import M2FashionModel
    from ..modeling.modeling_mfsr import MFSRModel
    from ..modeling.modeling_mvlt import MVLTForImageTextRetrieval

    AutoModelForFashionRetrieval.register(MVLTConfig, MVLTForImageTextRetrieval, exist_ok=True)
    AutoModelForFashionRetrieval.register(MFSRConfig, MFSRModel, exist_ok=True)
    AutoModelForFashionRetrieval.register(M2FashionConfig, M2FashionModel, exist_ok=True)
    if "fashion-retrieval" not in PIPELINE_REGISTRY.supported_tasks:
        PIPELINE_REGISTRY.register_pipeline(
            "fashion-retrieval", pipeline_class=FashionRetrievalPipeline, pt_model=AutoModelForFashionRetrieval, type="multimodal"
        )


__all__ = [
    "AutoModelForFashionRetrieval",
    "FashionGalleryIndex",
    "FashionRetrievalPipeline",
    "RETRIEVAL_ADAPTERS",
    "get_retrieval_adapter",
    "is_faiss_available",
    "register_fashion_retrieval",
]
