"""MVLT's image processor: `FashionImageProcessor` under MVLT's name.

The defaults are MVLT's (256 x 256, ImageNet normalisation, masking units of 16 px for `return_bool_masked_pos`),
which are the shared processor's. The subclass exists so that MVLT's saved processor configs say what they are
(`"image_processor_type": "MVLTImageProcessor"`) and the ones saved before the shared processor was renamed (by
every family: they all used this class) keep loading.
"""

from .image_processing_fashion import FashionImageProcessor, FashionImageProcessorKwargs, crop_to_content, to_rgb_uint8


MVLTImageProcessorKwargs = FashionImageProcessorKwargs


class MVLTImageProcessor(FashionImageProcessor):
    """[`FashionImageProcessor`] with MVLT's defaults and name (arguments and example there); saved as
    `"image_processor_type": "MVLTImageProcessor"`."""


__all__ = ["MVLTImageProcessor", "MVLTImageProcessorKwargs", "crop_to_content", "to_rgb_uint8"]
