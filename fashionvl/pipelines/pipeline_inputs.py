"""What the ``fashion-retrieval`` pipeline accepts as queries and candidates, checked where they enter: image paths,
URLs (opt-in), PIL images, numpy / torch arrays, captions, lists, generators and datasets of queries, and the
image-loading options (``allow_remote``, ``timeout``, ``max_image_bytes``)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from .._safe_io import open_image


IMAGE_LOADING_OPTIONS = ("allow_remote", "timeout", "max_image_bytes")


def _is_image_source(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike))


def _is_array_image(item: Any) -> bool:
    return isinstance(item, (np.ndarray, torch.Tensor))


def array_to_image(array: np.ndarray | torch.Tensor, where: str) -> Image.Image:
    """A PIL image from an image array, in the layouts transformers' and torchvision's image utilities use:

    - numpy ``(height, width, channels)`` or ``(height, width)``, uint8 in [0, 255] or float in [0, 1];
    - torch ``(channels, height, width)`` (torchvision's ``to_tensor``) or ``(height, width)``, float in [0, 1] or
      uint8;

    with 1 (grey), 3 (RGB) or 4 (RGBA: composited on white by the image processor, as a PIL RGBA image) channels.

    Raises:
        ValueError: naming ``where``, the shape and dtype, and what is accepted.
    """
    if isinstance(array, torch.Tensor):
        tensor = array.detach().cpu()
        if tensor.dim() == 3:
            if tensor.shape[0] not in (1, 3, 4):
                raise ValueError(f"{where} is a tensor of shape {tuple(tensor.shape)}; image tensors are (channels, "
                                 "height, width) with 1, 3 or 4 channels (torchvision's layout), or (height, width).")
            tensor = tensor.permute(1, 2, 0)
        array = tensor.float().numpy() if tensor.dtype in (torch.bfloat16, torch.float16) else tensor.numpy()
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"{where} is an array of shape {array.shape}; image arrays are (height, width, channels) "
                         "with 1, 3 or 4 channels, or (height, width).")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ValueError(f"{where} is a float array with values outside [0, 1] (min {array.min():.3g}, max "
                             f"{array.max():.3g}); float images are in [0, 1], uint8 images in [0, 255].")
        array = np.rint(array * 255)
    elif array.dtype != np.uint8:
        raise ValueError(f"{where} is an array of dtype {array.dtype}; image arrays are uint8 or float in [0, 1].")
    return Image.fromarray(np.ascontiguousarray(array.astype(np.uint8)))


def _is_query_stream(inputs: Any) -> bool:
    """Queries given as an iterable other than a list / tuple: a generator or iterator, a torch ``Dataset`` such as
    transformers' ``KeyDataset``, a ``datasets`` column (an image array or tensor is one query)."""
    if isinstance(inputs, (str, bytes, os.PathLike, Image.Image, list, tuple, dict, np.ndarray, torch.Tensor)):
        return False
    return isinstance(inputs, (Iterator, torch.utils.data.Dataset)) or hasattr(inputs, "__iter__")


def check_candidates(candidates: Any, name: str, modality: str) -> list:
    """Validate a candidate list: non-empty, one kind of item (PIL images, or paths/URLs, or texts).

    Raises:
        ValueError: naming the argument and the first offending item.
    """
    if isinstance(candidates, (str, Image.Image)) or not isinstance(candidates, Sequence):
        raise ValueError(f"{name} must be a list of candidates, got {type(candidates).__name__}.")
    if len(candidates) == 0:
        raise ValueError(f"{name} is empty: pass at least one candidate to rank.")
    candidates = list(candidates)
    if modality == "text":
        for position, item in enumerate(candidates):
            if not isinstance(item, str):
                raise ValueError(f"{name}[{position}] is a {type(item).__name__} ({item!r:.60}); texts must all be str.")
        return candidates

    def kind(item):
        if isinstance(item, Image.Image):
            return "PIL image"
        if _is_array_image(item):
            return "image array"
        if _is_image_source(item):
            return "path/URL"
        return None

    first_kind = kind(candidates[0])
    for position, item in enumerate(candidates):
        item_kind = kind(item)
        if item_kind is None:
            raise ValueError(
                f"{name}[{position}] is a {type(item).__name__} ({item!r:.60}); images must be PIL images, numpy "
                "arrays / torch tensors, or paths / URLs."
            )
        if (item_kind == "path/URL") != (first_kind == "path/URL"):  # PIL images and arrays may be mixed
            raise ValueError(
                f"{name}[{position}] is a {item_kind} but {name}[0] is a {first_kind}: mixed candidate types; pass "
                "all images as PIL images or all as paths / URLs."
            )
    return candidates


def load_image(item: Any, where: str, allow_remote: bool = False, timeout: float | None = None,
               max_image_bytes: int | None = None) -> Image.Image:
    """A PIL image, an image array (`array_to_image`), or an image file path / http(s) URL (only with
    ``allow_remote=True``), as a PIL image in its own mode (the image processor converts it to RGB); errors name
    ``where``. See ``fashionvl._safe_io.open_image``."""
    if _is_array_image(item):
        return array_to_image(item, where)
    return open_image(item, where, allow_remote=allow_remote, timeout=timeout, max_image_bytes=max_image_bytes)


def check_image_loading_options(options: dict) -> dict:
    """The ``allow_remote`` / ``timeout`` / ``max_image_bytes`` of ``options``, checked."""
    loading = {name: options[name] for name in IMAGE_LOADING_OPTIONS if options.get(name) is not None}
    if "allow_remote" in loading and not isinstance(loading["allow_remote"], bool):
        raise ValueError(f"allow_remote must be True or False, got {loading['allow_remote']!r}.")
    timeout = loading.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    max_bytes = loading.get("max_image_bytes")
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1):
        raise ValueError(f"max_image_bytes must be a positive int, got {max_bytes!r}.")
    return loading
