"""Plots shared by the families: MIR / image-generation reconstructions, retrieval results, attention overlays,
training curves and contact sheets (see `fashionvl.visualization._figures` for the accepted image types)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ._figures import IMAGENET_MEAN, IMAGENET_STD, denormalize, finish_figure, new_figure, to_uint8_image


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
        from ..processing.masking import expand_unit_mask

        pixel_mask = expand_unit_mask(bool_masked_pos[:count].cpu(), tuple(originals.shape[-2:]), mask_unit_size)
        rows["masked"] = originals.masked_fill(pixel_mask[:, None], 0.5)
    rows["reconstructed"] = denormalize(reconstruction[:count], mean, std)
    figure = new_figure(1.8 * count, 1.9 * len(rows))
    axes = figure.subplots(len(rows), count, squeeze=False)
    for row_index, (name, images) in enumerate(rows.items()):
        for column in range(count):
            axis = axes[row_index][column]
            axis.imshow(to_uint8_image(images[column]))
            axis.set_xticks([])
            axis.set_yticks([])
            if column == 0:
                axis.set_ylabel(name)
    return finish_figure(figure, path)


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
    figure = new_figure(2.0 * count, 2.8)
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
    return finish_figure(figure, path)


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
    figure = new_figure(3.2, 3.4)
    axis = figure.subplots()
    axis.imshow(array)
    axis.imshow(upsampled.numpy(), cmap=colormap, alpha=alpha)
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=9)
    return finish_figure(figure, path)


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
    figure = new_figure(panel_size[0] * num_columns, panel_size[1] * num_rows)
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
    return finish_figure(figure, path)



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
    figure = new_figure(2.2 * num_columns, (2.2 + (0.75 if captions is not None else 0)) * num_rows)
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
    return finish_figure(figure, path)


def save_training_curves(log_history: Sequence[dict], path: str) -> str | None:
    """Training curves of a Trainer log history (every `*_loss` component), or None when nothing was logged."""
    if not any("loss" in entry for entry in log_history):
        return None
    keys = sorted({key for entry in log_history for key in entry if key == "loss" or key.endswith("_loss")}
                  - {"train_loss"})
    plot_training_curves(log_history, keys=keys, path=path)
    return path


__all__ = [
    "plot_attention_overlay",
    "plot_contact_sheet",
    "plot_grouped_curves",
    "plot_reconstruction_grid",
    "plot_retrieval_results",
    "plot_training_curves",
    "save_training_curves",
]
