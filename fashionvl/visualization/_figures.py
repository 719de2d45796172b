"""Shared pieces of every figure: image conversion, image grids, the Agg figure, writing it, and figure -> PIL image.

Every plotting function of `fashionvl.visualization` draws on a ``matplotlib.figure.Figure`` with the Agg canvas
(no pyplot, no display needed, no global backend switch) made by `new_figure`, and returns it through
`finish_figure` (which writes a PNG when a path is given). Images may be given as PIL images, ``(3, H, W)`` float
tensors in [0, 1] (or normalized, with ``mean`` / ``std``), or ``(H, W, 3)`` uint8 arrays.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def denormalize(
    pixel_values: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """Undo ``(x - mean) / std`` channel-wise and clamp to [0, 1].

    Args:
        pixel_values: ``(3, H, W)`` or ``(batch, 3, H, W)`` normalized images.
    """
    mean_tensor = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_tensor = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (pixel_values.detach().float().cpu() * std_tensor + mean_tensor).clamp(0.0, 1.0)


def to_uint8_image(image, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> np.ndarray:
    """Convert a PIL image, a ``(3, H, W)`` tensor or an ``(H, W, 3)`` / ``(H, W)`` array to ``(H, W, 3)`` uint8.

    Tensors are taken as [0, 1] floats, or denormalized first when ``mean`` and ``std`` are given.
    """
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] not in (1, 3):
            raise ValueError(f"image tensors must be (3, H, W) or (1, H, W), got shape {tuple(image.shape)}.")
        if mean is not None and std is not None:
            image = denormalize(image, mean, std)
        image = image.detach().float().cpu().clamp(0, 1).expand(3, -1, -1)
        return (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"image arrays must be (H, W, 3) or (H, W), got shape {array.shape}.")
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    return array


def make_image_grid(images, num_columns: int | None = None, padding: int = 2, background: int = 255) -> Image.Image:
    """Tile images (all the same size) into one PIL image, row-major.

    Args:
        images: a sequence of images (see module docstring) or a ``(batch, 3, H, W)`` tensor in [0, 1].
        num_columns: images per row (default: ceil(sqrt(n))).
        padding: pixels between and around images.
        background: grey level of the padding.
    """
    arrays = [to_uint8_image(image) for image in images]
    if not arrays:
        raise ValueError("make_image_grid needs at least one image.")
    height, width = arrays[0].shape[:2]
    for index, array in enumerate(arrays):
        if array.shape[:2] != (height, width):
            raise ValueError(f"image {index} is {array.shape[:2]}, expected {(height, width)} like image 0.")
    num_columns = num_columns or math.ceil(math.sqrt(len(arrays)))
    num_rows = math.ceil(len(arrays) / num_columns)
    canvas = np.full(
        (num_rows * (height + padding) + padding, num_columns * (width + padding) + padding, 3), background, np.uint8
    )
    for index, array in enumerate(arrays):
        row, column = divmod(index, num_columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        canvas[top : top + height, left : left + width] = array
    return Image.fromarray(canvas)



def new_figure(width: float, height: float) -> Figure:
    """A ``width`` x ``height`` inch figure on the Agg canvas (100 dpi)."""
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def finish_figure(figure: Figure, path: str | os.PathLike | None) -> Figure:
    """Write ``figure`` as a PNG to ``path`` (folders made) when a path is given; return the figure."""
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        figure.savefig(path, format="png", bbox_inches="tight")
    return figure


def figure_to_image(figure: Figure, dpi: float | None = None, bbox_inches: str | None = "tight") -> Image.Image:
    """The figure rendered as an RGB PIL image (PNG round trip), e.g. to tile several figures with `make_image_grid`.

    Args:
        dpi: resolution of the rendering (default: the figure's own).
        bbox_inches: ``"tight"`` crops the white margin; ``None`` keeps the figure's full size.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches=bbox_inches)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "denormalize",
    "figure_to_image",
    "finish_figure",
    "make_image_grid",
    "new_figure",
    "to_uint8_image",
]
