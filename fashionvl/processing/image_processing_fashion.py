"""`FashionImageProcessor`: the image processor of every fashionvl family (MVLT, mFSR, M2Fashion).

Each family names it in its own processor (`MVLTImageProcessor` is its subclass with MVLT's defaults and name, so
MVLT's `preprocessor_config.json` files, old and new, say MVLT; mFSR and M2Fashion save `FashionImageProcessor`).

Pipeline (SPEC §2 "Image pre-processing"), each step switchable:

1. convert any input to 8-bit RGB: PIL images of any mode (grayscale, palette, CMYK, 16-bit, float, RGBA/LA
   composited on a white background, which suits product photos; EXIF orientation applied, as the pipeline
   and the datasets do when they open a file), NumPy arrays and torch tensors (`(H, W)`, `(H, W, C)` or
   `(C, H, W)` with C in {1, 3, 4}; 4 channels are RGBA), any size. One rule per value type, no guessing
   from the content: `uint8` is 0-255, `uint16` is 0-65535, `bool` is 0/1, other integer dtypes (int32,
   int64, ...) must hold 0-255 and are read as 0-255, floats are [0, 1] (PIL "F" images too). Values outside
   these ranges (a 0-255 float image, already-normalised pixels, a 16-bit image in int32) raise an error
   naming the range found and what to pass instead;
2. `do_crop_to_content`: crop to the bounding box of the non-white pixels (a pixel is white when all
   three channels are >= `content_threshold`); the authors' code does this for Fashion-Gen;
3. `do_resize` to `size` (default 256 x 256, MVLT paper Sec. 4.1), then `do_center_crop` to `crop_size`
   (off by default; e.g. resize to 256 and crop 224 for ImageNet-style backbones);
4. `do_rescale` by 1/255 to [0, 1];
5. `do_normalize` with `image_mean` / `image_std` (ImageNet by default).

With `return_bool_masked_pos=True` it also returns `bool_masked_pos`, `(batch, num_units)` bool masks
of `mask_unit_size`-pixel units drawn by `fashionvl.processing.masking.MaskGenerator` (`mask_ratio`,
`mask_style`; pass `generator=torch.Generator().manual_seed(...)` for reproducible masks).

Every default is an attribute, so e.g. the ResNet-based models use
`FashionImageProcessor(size={"height": 224, "width": 224}, do_crop_to_content=False)`. The settings are
saved with `save_pretrained` (`preprocessor_config.json`) and restored by `from_pretrained` /
`AutoImageProcessor` (registered for each family's config on `import fashionvl`, from `fashionvl.families`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from transformers.image_processing_backends import PilBackend
from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    ChannelDimension,
    ImageInput,
    PILImageResampling,
    SizeDict,
)
from transformers.processing_utils import ImagesKwargs, Unpack

from .masking import MASKING_STYLES, MaskGenerator


__all__ = ["FashionImageProcessor", "FashionImageProcessorKwargs", "crop_to_content", "to_rgb_uint8"]


class FashionImageProcessorKwargs(ImagesKwargs, total=False):
    r"""
    do_crop_to_content (`bool`, *optional*, defaults to `self.do_crop_to_content`):
        Whether to crop every image to the bounding box of its non-white pixels before resizing.
    content_threshold (`int`, *optional*, defaults to `self.content_threshold`):
        A pixel whose three channels are all >= this value (0-255) counts as white background.
    return_bool_masked_pos (`bool`, *optional*, defaults to `self.return_bool_masked_pos`):
        Whether to also return `bool_masked_pos`, one bool per masking unit (row-major).
    mask_unit_size (`int`, *optional*, defaults to `self.mask_unit_size`):
        Side in pixels of a masking unit (alpha * P in the MVLT paper).
    mask_ratio (`float`, *optional*, defaults to `self.mask_ratio`):
        Fraction of masking units that are masked (exactly `round(mask_ratio * num_units)`).
    mask_style (`str`, *optional*, defaults to `self.mask_style`):
        One of "random_grid", "grid", "stroke", "center".
    """

    do_crop_to_content: bool
    content_threshold: int
    return_bool_masked_pos: bool
    mask_unit_size: int
    mask_ratio: float
    mask_style: str


def _describe(value: Any) -> str:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, Image.Image):
        return f"PIL image of mode {value.mode} and size {value.size}"
    return f"{type(value).__name__} {value!r}"[:200]


FLOAT_RANGE_TOLERANCE = 1e-3  # float images may overshoot [0, 1] by rounding (e.g. after resampling)


def _array_to_float255(array: np.ndarray) -> np.ndarray:
    """Maps an array to float32 values in [0, 255] by the rule of its dtype (see the module docstring)."""
    if array.dtype == np.bool_:
        return array.astype(np.float32) * 255.0
    if np.issubdtype(array.dtype, np.integer):
        if array.dtype == np.uint8:
            return array.astype(np.float32)
        if array.dtype == np.uint16:
            return array.astype(np.float32) * (255.0 / 65535.0)
        low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
        if low < 0 or high > 255:
            raise ValueError(
                f"Integer image arrays of dtype {array.dtype} are read as 0-255, but this one holds values in "
                f"[{low}, {high}]; pass uint8 for 8-bit data or uint16 for 16-bit data."
            )
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
        if array.size and not np.isfinite(array).all():
            raise ValueError("Image array contains NaN or infinite values.")
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if low < -FLOAT_RANGE_TOLERANCE or high > 1.0 + FLOAT_RANGE_TOLERANCE:
            hint = ("it looks already normalised; pass the image before normalisation" if low < 0 else
                    "for 0-255 data pass uint8 (or divide by 255)")
            raise ValueError(f"Float images are read as [0, 1], but this one holds values in [{low:.4g}, {high:.4g}]; "
                             f"{hint}.")
        return np.clip(array, 0.0, 1.0) * 255.0
    raise ValueError(f"Image arrays must have a numeric dtype, got {array.dtype}.")


def _composite_on_white(array: np.ndarray) -> np.ndarray:
    """`(H, W, 2 or 4)` float [0, 255] gray+alpha / RGB+alpha -> `(H, W, 3)` composited over white."""
    alpha = array[..., -1:] / 255.0
    color = array[..., :-1]
    if color.shape[-1] == 1:
        color = np.repeat(color, 3, axis=-1)
    return color * alpha + 255.0 * (1.0 - alpha)


def to_rgb_uint8(image: Any, input_data_format: str | ChannelDimension | None = None) -> np.ndarray:
    """Converts one image (PIL, NumPy or torch; any mode / layout) to an `(H, W, 3)` uint8 RGB array.

    Transparent images (RGBA, LA, palette with transparency, 4-channel arrays) are composited on white.
    Raises `ValueError` naming the bad value for anything that is not a 2-D/3-D image with 1, 3 or 4
    channels.
    """
    if isinstance(image, Image.Image):
        if image.width == 0 or image.height == 0:
            raise ValueError(f"Got an empty image: {_describe(image)}.")
        if image.getexif().get(0x0112, 1) not in (0, 1):  # EXIF orientation; exif_transpose clears the tag
            image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info):
            rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
            return np.round(_composite_on_white(rgba)).astype(np.uint8)
        if image.mode.startswith("I"):  # 16-bit grayscale (PIL opens 16-bit PNGs as "I" or "I;16")
            gray = np.clip(np.asarray(image, dtype=np.float64), 0, 65535) * (255.0 / 65535.0)
            return np.repeat(np.round(gray).astype(np.uint8)[..., None], 3, axis=-1)
        if image.mode == "F":
            return to_rgb_uint8(np.asarray(image))
        return np.asarray(image.convert("RGB"), dtype=np.uint8)

    if isinstance(image, torch.Tensor):
        channels_first_preferred = True
        array = image.detach().cpu()
        array = (array.float() if array.dtype in (torch.bfloat16, torch.float16) else array).numpy()
    elif isinstance(image, np.ndarray):
        channels_first_preferred = False
        array = image
    else:
        raise ValueError(
            f"Expected an image as a PIL.Image.Image, numpy.ndarray or torch.Tensor, got {_describe(image)}."
        )

    if array.ndim == 2:
        array = array[..., None]
    elif array.ndim == 3:
        data_format = ChannelDimension(input_data_format) if input_data_format is not None else None
        last_ok, first_ok = array.shape[-1] in (1, 3, 4), array.shape[0] in (1, 3, 4)
        if data_format == ChannelDimension.FIRST or (data_format is None and first_ok and (channels_first_preferred or not last_ok)):
            if not first_ok:
                raise ValueError(f"Expected 1, 3 or 4 channels in the first dimension, got {_describe(image)}.")
            array = np.moveaxis(array, 0, -1)
        elif not last_ok:
            raise ValueError(
                f"Expected an image with 1 (gray), 3 (RGB) or 4 (RGBA) channels, got {_describe(image)}."
            )
    else:
        raise ValueError(
            f"Expected a single image of 2 (H, W) or 3 (H, W, C)/(C, H, W) dimensions, got {_describe(image)}."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"Got an empty image: {_describe(image)}.")

    array = _array_to_float255(np.asarray(array))
    if array.shape[-1] == 4:
        array = _composite_on_white(array)
    elif array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.round(array).astype(np.uint8)


def crop_to_content(image: np.ndarray, content_threshold: int = 250) -> np.ndarray:
    """Crops an `(H, W, 3)` uint8 image to the bounding box of its non-white pixels (unchanged if all white)."""
    content = (image < content_threshold).any(axis=-1)
    rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
    if rows.size == 0:
        return image
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


class FashionImageProcessor(PilBackend):
    r"""
    Image processor of the fashionvl models (PIL/NumPy backend, no torchvision).

    Args:
        do_crop_to_content (`bool`, *optional*, defaults to `False`):
            Crop each image to the bounding box of its non-white pixels before resizing (the authors' code
            does this for Fashion-Gen; set `True` to reproduce it).
        content_threshold (`int`, *optional*, defaults to 250):
            Pixels with all channels >= this value are background for `do_crop_to_content`.
        do_resize (`bool`, *optional*, defaults to `True`):
            Resize to `size`.
        size (`dict[str, int]`, *optional*, defaults to `{"height": 256, "width": 256}`):
            Output size (MVLT: 256; the ResNet models use 224).
        resample (`PILImageResampling`, *optional*, defaults to `BILINEAR`):
            Resampling filter.
        do_center_crop (`bool`, *optional*, defaults to `False`), crop_size (`dict[str, int]`, *optional*):
            Center crop after resizing.
        do_rescale (`bool`, *optional*, defaults to `True`), rescale_factor (`float`, defaults to 1/255):
            Rescale 0-255 values to [0, 1].
        do_normalize (`bool`, *optional*, defaults to `True`), image_mean / image_std (ImageNet defaults):
            Per-channel normalisation.
        return_bool_masked_pos (`bool`, *optional*, defaults to `False`):
            Also return `bool_masked_pos` of shape `(batch, (height // mask_unit_size) * (width // mask_unit_size))`.
        mask_unit_size (`int`, *optional*, defaults to 16), mask_ratio (`float`, defaults to 0.5),
        mask_style (`str`, defaults to `"random_grid"`):
            Masking settings, see `fashionvl.processing.masking.MaskGenerator`.

    Example:

    ```python
    >>> from PIL import Image
    >>> from fashionvl import FashionImageProcessor
    >>> processor = FashionImageProcessor()
    >>> batch = processor(Image.new("RGB", (300, 200), "red"), return_bool_masked_pos=True, return_tensors="pt")
    >>> batch["pixel_values"].shape, batch["bool_masked_pos"].shape
    (torch.Size([1, 3, 256, 256]), torch.Size([1, 256]))
    ```
    """

    valid_kwargs = FashionImageProcessorKwargs
    model_input_names = ["pixel_values"]
    resample = PILImageResampling.BILINEAR
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    size = {"height": 256, "width": 256}
    do_resize = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True
    do_center_crop = False
    do_crop_to_content = False
    content_threshold = 250
    return_bool_masked_pos = False
    mask_unit_size = 16
    mask_ratio = 0.5
    mask_style = "random_grid"

    def __init__(self, **kwargs: Unpack[FashionImageProcessorKwargs]):
        super().__init__(**kwargs)
        self._check_mask_settings(self.mask_unit_size, self.mask_ratio, self.mask_style)

    @staticmethod
    def _check_mask_settings(mask_unit_size: int, mask_ratio: float, mask_style: str) -> None:
        if not isinstance(mask_unit_size, int) or mask_unit_size <= 0:
            raise ValueError(f"`mask_unit_size` must be a positive int, got {mask_unit_size!r}.")
        if not 0.0 <= float(mask_ratio) <= 1.0:
            raise ValueError(f"`mask_ratio` must be in [0, 1], got {mask_ratio!r}.")
        if mask_style not in MASKING_STYLES:
            raise ValueError(f"`mask_style` must be one of {MASKING_STYLES}, got {mask_style!r}.")

    def preprocess(
        self,
        images: ImageInput,
        generator: torch.Generator | None = None,
        **kwargs: Unpack[FashionImageProcessorKwargs],
    ) -> BatchFeature:
        """Pre-processes one image or a batch (list, or a 4-D array/tensor); see the class docstring.

        `generator` seeds the masks when `return_bool_masked_pos=True`.
        """
        return super().preprocess(images, image_like_kwargs={"generator": generator}, **kwargs)

    def _prepare_images_structure(self, images: ImageInput, expected_ndims: int = 3) -> list:
        """Flattens the input into a list of single images, with errors that name the bad value."""
        if images is None:
            raise ValueError("`images` is None; expected a PIL image, a NumPy array, a torch tensor or a list of them.")
        if isinstance(images, (np.ndarray, torch.Tensor)):
            if images.ndim == 4:
                return list(images)
            if images.ndim in (2, 3):
                return [images]
            raise ValueError(
                f"Expected one image (2 or 3 dimensions) or a batch (4 dimensions), got {_describe(images)}."
            )
        if isinstance(images, Image.Image):
            return [images]
        if isinstance(images, (list, tuple)):
            if len(images) == 0:
                raise ValueError("`images` is an empty list; expected at least one image.")
            flat = []
            for index, image in enumerate(images):
                if isinstance(image, (list, tuple)):
                    flat.extend(self._prepare_images_structure(image))
                elif isinstance(image, Image.Image) or (
                    isinstance(image, (np.ndarray, torch.Tensor)) and image.ndim in (2, 3)
                ):
                    flat.append(image)
                else:
                    raise ValueError(
                        f"`images[{index}]` is not a single image: got {_describe(image)}; expected a PIL image or "
                        "a 2-D/3-D array or tensor."
                    )
            return flat
        raise ValueError(f"Expected images as PIL images, NumPy arrays or torch tensors, got {_describe(images)}.")

    def process_image(
        self,
        image: ImageInput,
        do_convert_rgb: bool | None = None,
        input_data_format: str | ChannelDimension | None = None,
        do_crop_to_content: bool | None = None,
        content_threshold: int | None = None,
        **kwargs,
    ) -> np.ndarray:
        """One raw image -> `(3, H, W)` uint8 RGB array, cropped to its content if asked."""
        rgb = to_rgb_uint8(image, input_data_format=input_data_format)
        if do_crop_to_content:
            threshold = self.content_threshold if content_threshold is None else content_threshold
            rgb = crop_to_content(rgb, threshold)
        return np.ascontiguousarray(np.moveaxis(rgb, -1, 0))

    def _preprocess_image_like_inputs(self, images: ImageInput, *args, generator=None, **kwargs) -> BatchFeature:
        images = self._prepare_image_like_inputs(images, **kwargs)
        return self._preprocess(images, *args, generator=generator, **kwargs)

    def _preprocess(
        self,
        images: list[np.ndarray],
        do_resize: bool,
        size: SizeDict,
        resample: PILImageResampling | None,
        do_center_crop: bool | None,
        crop_size: SizeDict | None,
        do_rescale: bool,
        rescale_factor: float,
        do_normalize: bool,
        image_mean: float | list[float] | None,
        image_std: float | list[float] | None,
        return_tensors: str | None = None,
        return_bool_masked_pos: bool | None = None,
        mask_unit_size: int | None = None,
        mask_ratio: float | None = None,
        mask_style: str | None = None,
        generator: torch.Generator | None = None,
        **kwargs,
    ) -> BatchFeature:
        processed = []
        for image in images:
            if do_resize:
                image = self.resize(image=image, size=size, resample=resample)
            if do_center_crop:
                image = self.center_crop(image, crop_size)
            # Rescale/normalize always work in float32 (uint8 input stays exact up to this point).
            image = image.astype(np.float32)
            if do_rescale:
                image = self.rescale(image, rescale_factor)
            if do_normalize:
                image = self.normalize(image, image_mean, image_std)
            processed.append(image.astype(np.float32))
        data = {"pixel_values": processed}

        if return_bool_masked_pos:
            self._check_mask_settings(mask_unit_size, mask_ratio, mask_style)
            shapes = {image.shape[1:] for image in processed}
            if len(shapes) != 1:
                raise ValueError(
                    f"`return_bool_masked_pos=True` needs images of one size, got sizes {sorted(shapes)}; "
                    "set `do_resize=True`."
                )
            height, width = shapes.pop()
            mask_generator = MaskGenerator((height, width), mask_unit_size, mask_ratio, mask_style)
            data["bool_masked_pos"] = mask_generator(len(processed), generator=generator).numpy()

        if return_tensors is not None and len({image.shape for image in processed}) == 1:
            data["pixel_values"] = np.stack(processed)
        return BatchFeature(data=data, tensor_type=return_tensors)
