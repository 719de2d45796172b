"""M2Fashion figures: the paper's Fig. 5, spatial attention over an image for each queried attribute.

The maps are computed by `fashionvl.evaluation.m2fashion_attention.attention_maps_for_examples`; this module only
draws them (it imports nothing from `fashionvl.recipes` or the models).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from PIL import Image

from ._figures import figure_to_image, make_image_grid
from .plots import plot_attention_overlay


def plot_attribute_attention(
    examples: Sequence[tuple[Any, Sequence[str | None]]],
    attention_maps: Sequence[Mapping[str, torch.Tensor]],
    path: str | os.PathLike | None = None,
) -> Image.Image:
    """Spatial attention alpha^s (eq. 4) over each image for each queried attribute, as the paper's Fig. 5.

    Args:
        examples: `(image, [attribute name or None per column])`; None leaves a blank tile.
        attention_maps: per example, `{name: (h, w) attention}` (see `attention_maps_for_examples`).
        path: where to write the PNG (None: not written).

    Returns a PIL image with one row per example (the image, then one overlay per attribute).
    """
    num_columns = 1 + max(len(names) for _, names in examples)
    tiles = []
    for (image, names), maps in zip(examples, attention_maps):
        row = [figure_to_image(plot_attention_overlay(image, torch.zeros(1, 1), title="image", alpha=0.0), dpi=80, bbox_inches=None)]
        for name in names:
            if name is None:
                row.append(Image.new("RGB", row[0].size, "white"))
            else:
                row.append(figure_to_image(plot_attention_overlay(image, maps[name], title=name), dpi=80, bbox_inches=None))
        row += [Image.new("RGB", row[0].size, "white")] * (num_columns - len(row))
        tiles += row
    grid = make_image_grid(tiles, num_columns=num_columns)
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        grid.save(path)
    return grid


def attention_examples_by_group(
    dataset, attribute_names: Sequence[str], groups: dict[str, list[int]], columns: Sequence[str], num_images: int = 4
):
    """`(image, [attribute name per column])` for the figure: one column per attribute group of `columns` (e.g.
    neckline, sleeve length, length, pattern), the image's positive attribute of that group (None if it has
    none). Takes the first rows with the most columns filled, one per sub-category where it can."""
    scored = []
    for index in range(len(dataset)):
        row = dataset[index]
        names = []
        for column in columns:
            positives = [k for k in groups.get(column, []) if row["attributes"][k] == 1]
            names.append(attribute_names[positives[0]] if positives else None)
        scored.append((-sum(name is not None for name in names), index, names))
    examples, seen = [], set()
    for filled, index, names in sorted(scored):
        if filled == 0:
            break
        row = dataset[index]
        key = row.get("attribute_values", [None])[0] if "attribute_values" in row else row.get("category")
        if key in seen:
            continue
        seen.add(key)
        examples.append((row["image"], names))
        if len(examples) == num_images:
            break
    return examples


def attention_examples(dataset, attribute_names: Sequence[str], num_images: int = 4, per_image: int = 3):
    """`(image, [positive attribute names])` pairs from the first rows of `dataset` (one per category if it can)."""
    examples, seen_categories = [], set()
    for index in range(len(dataset)):
        row = dataset[index]
        if row.get("category") in seen_categories and len(dataset) > num_images:
            continue
        seen_categories.add(row.get("category"))
        positives = [attribute_names[k] for k, value in enumerate(row["attributes"]) if value == 1][:per_image]
        if positives:
            examples.append((row["image"], positives))
        if len(examples) == num_images:
            break
    return examples


__all__ = ["attention_examples", "attention_examples_by_group", "plot_attribute_attention"]
