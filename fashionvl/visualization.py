"""Figures people would rather look at than read: image grids, MIR reconstructions, retrieval results,
attention overlays and training curves.

Every plotting function draws on a ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no display
needed, no global backend switch), returns the figure and, when ``path`` is given, writes it as a PNG.
Images may be given as PIL images, ``(3, H, W)`` float tensors in [0, 1] (or normalized, with ``mean`` /
``std``), or ``(H, W, 3)`` uint8 arrays.

Other modules may add functions at the end of this file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
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


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _finish(figure: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        figure.savefig(path, format="png", bbox_inches="tight")
    return figure


def plot_reconstruction_grid(
    pixel_values: torch.Tensor,
    reconstruction: torch.Tensor,
    bool_masked_pos: torch.Tensor | None = None,
    mask_unit_size: int | None = None,
    masked_pixel_values: torch.Tensor | None = None,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    path: str | os.PathLike | None = None,
    max_images: int = 8,
) -> Figure:
    """Three rows per figure: original, masked input, reconstruction (MVLT MIR / MIG, mFSR image generation).

    Args:
        pixel_values: ``(batch, 3, H, W)`` normalized originals.
        reconstruction: ``(batch, 3, H, W)`` in the same normalization.
        bool_masked_pos: ``(batch, num_units)`` unit mask (MVLT batch contract); with ``mask_unit_size`` the
            masked row greys the masked units. Alternatively pass ``masked_pixel_values`` directly.
        mean, std: normalization to undo.
        path: where to write the PNG.
        max_images: columns shown.
    """
    count = min(len(pixel_values), max_images)
    originals = denormalize(pixel_values[:count], mean, std)
    rows = {"original": originals}
    if masked_pixel_values is not None:
        rows["masked"] = denormalize(masked_pixel_values[:count], mean, std)
    elif bool_masked_pos is not None:
        if mask_unit_size is None:
            raise ValueError("bool_masked_pos needs mask_unit_size to be drawn.")
        from .processing.masking import expand_unit_mask

        pixel_mask = expand_unit_mask(bool_masked_pos[:count].cpu(), tuple(originals.shape[-2:]), mask_unit_size)
        rows["masked"] = originals.masked_fill(pixel_mask[:, None], 0.5)
    rows["reconstructed"] = denormalize(reconstruction[:count], mean, std)
    figure = _new_figure(1.8 * count, 1.9 * len(rows))
    axes = figure.subplots(len(rows), count, squeeze=False)
    for row_index, (name, images) in enumerate(rows.items()):
        for column in range(count):
            axis = axes[row_index][column]
            axis.imshow(to_uint8_image(images[column]))
            axis.set_xticks([])
            axis.set_yticks([])
            if column == 0:
                axis.set_ylabel(name)
    return _finish(figure, path)


def plot_retrieval_results(
    query: str,
    images: Sequence,
    scores: Sequence[float] | None = None,
    positive_index: int | None = None,
    path: str | os.PathLike | None = None,
    title_width: int = 90,
) -> Figure:
    """Query text above its top-k retrieved images; the ground-truth positive outlined in green.

    Args:
        query: the query caption.
        images: the retrieved images in rank order.
        scores: score of each retrieved image (shown under it).
        positive_index: position of the positive among ``images`` (None if it is not retrieved).
    """
    import textwrap

    count = len(images)
    if count == 0:
        raise ValueError("plot_retrieval_results needs at least one retrieved image.")
    figure = _new_figure(2.0 * count, 2.8)
    figure.suptitle(textwrap.fill(query, title_width), fontsize=9)
    axes = figure.subplots(1, count, squeeze=False)[0]
    for rank, (axis, image) in enumerate(zip(axes, images)):
        array = to_uint8_image(image)
        axis.imshow(array)
        axis.set_xticks([])
        axis.set_yticks([])
        label = f"#{rank + 1}" + (f"  {scores[rank]:.3f}" if scores is not None else "")
        axis.set_xlabel(label, fontsize=8)
        if rank == positive_index:
            height, width = array.shape[:2]
            axis.add_patch(Rectangle((0, 0), width - 1, height - 1, fill=False, edgecolor="limegreen", linewidth=4))
    return _finish(figure, path)


def plot_attention_overlay(
    image,
    attention: torch.Tensor | np.ndarray,
    title: str | None = None,
    alpha: float = 0.5,
    colormap: str = "jet",
    path: str | os.PathLike | None = None,
) -> Figure:
    """An attention map (e.g. M2Fashion's ASA weights over h x w) upsampled bilinearly over its image.

    Args:
        image: the image (see module docstring).
        attention: ``(h, w)`` non-negative weights; normalized to [0, 1] for display.
    """
    array = to_uint8_image(image)
    attention = torch.as_tensor(np.asarray(attention) if not isinstance(attention, torch.Tensor) else attention)
    if attention.dim() != 2:
        raise ValueError(f"attention must be a (h, w) map, got shape {tuple(attention.shape)}.")
    attention = attention.detach().float().cpu()
    upsampled = torch.nn.functional.interpolate(
        attention[None, None], size=array.shape[:2], mode="bilinear", align_corners=False
    )[0, 0]
    upsampled = (upsampled - upsampled.min()) / (upsampled.max() - upsampled.min()).clamp_min(1e-12)
    figure = _new_figure(3.2, 3.4)
    axis = figure.subplots()
    axis.imshow(array)
    axis.imshow(upsampled.numpy(), cmap=colormap, alpha=alpha)
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=9)
    return _finish(figure, path)


def plot_training_curves(
    log_history: Sequence[Mapping], keys: Sequence[str] | None = None, path: str | os.PathLike | None = None
) -> Figure:
    """Curves of a Trainer's ``state.log_history`` against ``step``: one panel per logged key.

    Args:
        log_history: list of dicts as ``Trainer.state.log_history`` (each with ``step``).
        keys: keys to plot; by default every numeric key ending in ``loss`` (``loss``, ``itm_loss``,
            ``eval_loss``, ...) plus every ``eval_`` metric.
    """
    if keys is None:
        found: dict[str, None] = {}
        for entry in log_history:
            for key, value in entry.items():
                if isinstance(value, (int, float)) and (key.endswith("loss") or key.startswith("eval_")):
                    if key not in ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second"):
                        found[key] = None
        keys = list(found)
    if not keys:
        raise ValueError("log_history has no loss or eval_ metric to plot.")
    return plot_grouped_curves(log_history, {key: [key] for key in keys}, path=path, num_columns=3,
                               panel_size=(4.0, 2.8), legend=False)


def plot_grouped_curves(
    log_history: Sequence[Mapping],
    groups: Mapping[str, Sequence[str]],
    reference_lines: Mapping[str, float] | None = None,
    path: str | os.PathLike | None = None,
    num_columns: int = 2,
    panel_size: tuple[float, float] = (5.0, 3.2),
    legend: bool = True,
) -> Figure:
    """Several logged keys per panel against ``step`` (e.g. ITC / ITM / fused R@10 in one panel).

    Args:
        log_history: list of dicts as ``Trainer.state.log_history`` (each with ``step``).
        groups: panel title -> keys drawn in that panel (keys never logged are skipped; empty panels dropped).
        reference_lines: panel title -> a value drawn as a dashed line (e.g. the chance level).
        num_columns, panel_size: layout of the panel grid (inches per panel).
        legend: label the curves of each panel.
    """
    reference_lines = dict(reference_lines or {})
    panels = {title: [key for key in keys if any(key in entry for entry in log_history)] for title, keys in groups.items()}
    panels = {title: keys for title, keys in panels.items() if keys}
    if not panels:
        raise ValueError("none of the grouped keys was logged.")
    num_columns = min(num_columns, len(panels))
    num_rows = math.ceil(len(panels) / num_columns)
    figure = _new_figure(panel_size[0] * num_columns, panel_size[1] * num_rows)
    axes = figure.subplots(num_rows, num_columns, squeeze=False).ravel()
    for axis, (title, keys) in zip(axes, panels.items()):
        for key in keys:
            points = [(entry["step"], entry[key]) for entry in log_history if key in entry and "step" in entry]
            steps, values = zip(*points)
            axis.plot(steps, values, marker="." if len(points) < 30 else None, label=key)
        if title in reference_lines:
            axis.axhline(reference_lines[title], color="grey", linestyle="--", label="chance")
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("step", fontsize=8)
        if legend:
            axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    for axis in axes[len(panels) :]:
        axis.set_visible(False)
    figure.tight_layout()
    return _finish(figure, path)


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "denormalize",
    "make_image_grid",
    "plot_attention_overlay",
    "plot_reconstruction_grid",
    "plot_retrieval_results",
    "plot_grouped_curves",
    "plot_training_curves",
    "to_uint8_image",
]


# >>> mFSR
def plot_mfsr_reconstruction(
    images,
    captions: Sequence[str],
    reconstructed_images=None,
    reconstructed_captions: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """mFSR paper Fig. 5: one row per example: input image | input caption | reconstructed image | reconstructed caption.

    Args:
        images: input images (PIL or ``(3, H, W)`` tensors in [0, 1]).
        captions: the input captions.
        reconstructed_images: the generator's images, ``(batch, 3, h, w)`` in [0, 1] (column left out if None).
        reconstructed_captions: decoded captions (column left out if None).
        path: where to write the PNG.
    """
    import textwrap

    if len(images) != len(captions):
        raise ValueError(f"got {len(images)} images but {len(captions)} captions.")
    columns = [("input image", "image", list(images)), ("input caption", "text", list(captions))]
    if reconstructed_images is not None:
        columns.append(("reconstructed image", "image", list(reconstructed_images)))
    if reconstructed_captions is not None:
        columns.append(("reconstructed caption", "text", list(reconstructed_captions)))
    widths = [1.6 if kind == "image" else 3.0 for _, kind, _ in columns]
    figure = _new_figure(sum(widths), 1.7 * len(images) + 0.3)
    grid = figure.add_gridspec(len(images), len(columns), width_ratios=widths)
    for column, (title, kind, values) in enumerate(columns):
        for row, value in enumerate(values):
            axis = figure.add_subplot(grid[row, column])
            axis.set_xticks([])
            axis.set_yticks([])
            if kind == "image":
                axis.imshow(to_uint8_image(value), interpolation="nearest")
            else:
                for spine in axis.spines.values():
                    spine.set_visible(False)
                axis.text(0.02, 0.5, textwrap.fill(value or "(empty)", 32), va="center", ha="left", fontsize=8, transform=axis.transAxes)
            if row == 0:
                axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return _finish(figure, path)


__all__ += ["plot_mfsr_reconstruction"]
# <<< mFSR


# >>> data
def plot_contact_sheet(
    images: Sequence,
    captions: Sequence[str] | None = None,
    num_columns: int = 5,
    path: str | os.PathLike | None = None,
    caption_width: int = 28,
) -> Figure:
    """A contact sheet: images in a grid, each with its (wrapped) caption underneath.

    Args:
        images: the images (see module docstring), any sizes.
        captions: one text per image (optional).
        num_columns: images per row.
    """
    import textwrap

    if len(images) == 0:
        raise ValueError("plot_contact_sheet needs at least one image.")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"got {len(images)} images but {len(captions)} captions.")
    num_rows = math.ceil(len(images) / num_columns)
    figure = _new_figure(2.2 * num_columns, (2.2 + (0.75 if captions is not None else 0)) * num_rows)
    axes = figure.subplots(num_rows, num_columns, squeeze=False).ravel()
    for index, axis in enumerate(axes):
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= len(images):
            axis.set_axis_off()
            continue
        axis.imshow(to_uint8_image(images[index]), interpolation="nearest")
        if captions is not None:
            axis.set_xlabel(textwrap.fill(captions[index], caption_width), fontsize=7)
    figure.tight_layout()
    return _finish(figure, path)


__all__ += ["plot_contact_sheet"]
# <<< data
