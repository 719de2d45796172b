"""M2Fashion attention analyses on held-out products (issue 12): does the spatial attention (ASA, eq. 2-4) follow
the queried attribute?

- `attention_sensitivity`: mean total-variation distance between the maps of different queried attributes of one
  image vs between the maps of different images.
- `attention_localisation`: where the attention of each queried attribute group sits (the synthetic catalog
  draws necklines at the top of a garment, sleeves at its sides, hems at its bottom).
- `attention_saturation`: how much of eq. 3's scores lie beyond |2| (tanh's saturated range).
- `spatial_counterfactual`: how much the attribute loss changes when only the spatial branch gets another
  image's query attribute (or label-mask state), against how much it changes without ASA (uniform attention).
- `attention_maps_for_examples`: the maps drawn by the paper's Fig. 5 (`fashionvl.visualization.m2fashion`).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..modeling.losses import (
    m2fashion_masked_attribute_loss,
    m2fashion_sample_single_attribute_states,
    m2fashion_sample_unknown_label_mask,
)
from .m2fashion_protocol import attend_under, feature_maps, group_values


@torch.no_grad()
def attention_sensitivity(model, rows: list[dict], max_images: int = 100) -> dict[str, float]:
    """How much the spatial attention (eq. 4) depends on the attribute given vs on the image.

    For each image, the attention is computed with each of its positive attributes as the only known state.
    Reports the mean total-variation distance (0 = identical maps, 1 = disjoint) between the maps of different
    attributes of the same image; between the maps of different images, each under its first positive attribute
    (`tv_between_images`, the measure of issue 12: the two images' queries may differ, e.g. "solid" vs
    "striped"); between the maps of different images under the *same* attribute, over every positive attribute
    two images share (`tv_between_images_same_attribute`: the image's effect alone); and the mean largest
    attention weight (1 / (h w) for uniform attention).
    """
    model.eval()
    device = next(model.parameters()).device
    same_image, first_maps, per_image = [], [], []
    for row in rows[:max_images]:
        positives = [index for index, value in enumerate(row["attributes"]) if value == 1]
        if not positives:
            continue
        states = torch.zeros(len(positives), model.config.num_attributes, device=device)
        states[torch.arange(len(positives)), torch.tensor(positives)] = 1
        pixel_values = torch.as_tensor(row["pixel_values"])[None].expand(len(positives), -1, -1, -1).to(device)
        maps = model(pixel_values, attribute_states=states).spatial_attention.flatten(1).float().cpu()
        same_image += [_tv(maps[a], maps[b]) for a, b in itertools.combinations(range(len(maps)), 2)]
        first_maps.append(maps[0])
        per_image.append(dict(zip(positives, maps)))
    if len(first_maps) < 2:
        raise ValueError("attention_sensitivity needs at least two rows with a positive attribute.")
    stacked = torch.stack(first_maps)
    between = [_tv(stacked[a], stacked[b]) for a, b in itertools.combinations(range(len(stacked)), 2)]
    same_attribute = [
        _tv(first[attribute], second[attribute])
        for first, second in itertools.combinations(per_image, 2)
        for attribute in first.keys() & second.keys()
    ]
    return {
        "tv_between_attributes_same_image": sum(same_image) / max(len(same_image), 1),
        "tv_between_images": sum(between) / len(between),
        "tv_between_images_same_attribute": sum(same_attribute) / len(same_attribute) if same_attribute else float("nan"),
        "mean_max_weight": stacked.max(dim=1).values.mean().item(),
        "uniform_weight": 1.0 / stacked.shape[1],
    }


def _tv(first: torch.Tensor, second: torch.Tensor) -> float:
    """Total-variation distance of two attention maps (each sums to 1)."""
    return 0.5 * (first - second).abs().sum().item()


def _foreground(rows: list[dict], size: tuple[int, int], threshold: float = 0.9) -> torch.Tensor:
    """Fraction of non-white pixels per attention cell `(N, h, w)` (the processor's ImageNet normalisation undone)."""
    pixel_values = torch.stack([torch.as_tensor(row["pixel_values"]) for row in rows]).float()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    garment = ((pixel_values * std + mean).min(dim=1).values < threshold).float()
    return torch.nn.functional.adaptive_avg_pool2d(garment[:, None], size)[:, 0]


@torch.no_grad()
def attention_localisation(model, rows: list[dict], groups: dict[str, list[int]]) -> dict[str, Any]:
    """Where the spatial attention of each queried attribute sits (synthetic catalog: known part positions).

    For every row and every group with a positive attribute, alpha^s under "that attribute positive" gives its
    vertical centroid (0 = top of the image, 1 = bottom) and its mass on garment (non-white) cells.

    Returns:
        `{"centroid_y": {group: mean}, "garment_mass": {group: mean}, "uniform_garment_mass": garment share of the
        cells, "pairs": {"neckline<length" / "neckline<sleeve length": {"fraction": share of images whose neckline
        query sits higher, "mean_difference": mean centroid difference, "images": count}}}`.
    """
    maps = feature_maps(model, rows)
    height, width = maps.shape[-2:]
    rows_y = (torch.arange(height).float() + 0.5) / height
    garment = _foreground(rows, (height, width))
    per_row: dict[str, torch.Tensor] = {}
    centroid, mass = {}, {}
    for name, group in groups.items():
        values = group_values(rows, group)
        ys = torch.full((len(rows),), float("nan"))
        masses = []
        for position, attribute in enumerate(group):
            selected = (values == position).nonzero().squeeze(1)
            if len(selected) == 0:
                continue
            attention = attend_under(model, maps[selected], attribute)[1]
            ys[selected] = (attention.sum(dim=2) * rows_y).sum(dim=1)
            masses.append((attention * garment[selected]).flatten(1).sum(dim=1))
        if masses:
            per_row[name] = ys
            centroid[name] = ys[~ys.isnan()].mean().item()
            mass[name] = torch.cat(masses).mean().item()
    pairs = {}
    for other in ("length", "sleeve length"):
        if "neckline" in per_row and other in per_row:
            both = ~per_row["neckline"].isnan() & ~per_row[other].isnan()
            if both.any():
                difference = per_row[other][both] - per_row["neckline"][both]
                pairs[f"neckline<{other}"] = {
                    "fraction": (difference > 0).float().mean().item(),
                    "mean_difference": difference.mean().item(),
                    "images": int(both.sum()),
                }
    return {
        "centroid_y": centroid,
        "garment_mass": mass,
        "uniform_garment_mass": garment.flatten(1).mean(dim=1).mean().item(),
        "pairs": pairs,
    }


@torch.no_grad()
def attention_saturation(model, rows: list[dict], threshold: float = 2.0) -> dict[str, float]:
    """Share of eq. 3's pre-tanh scores beyond `threshold` in absolute value (tanh'(2) = 0.07), over every row
    queried with each of its positive attributes, and their standard deviation."""
    maps = feature_maps(model, rows)
    device = next(model.parameters()).device
    logits = []
    for row, feature_map in zip(rows, maps):
        positives = [k for k, value in enumerate(row["attributes"]) if value == 1]
        states = torch.zeros(len(positives), model.config.num_attributes, device=device)
        states[torch.arange(len(positives)), torch.tensor(positives)] = 1.0
        embeds = model.m2fashion.spatial_attribute_embeds(states)
        attention_module = model.m2fashion.spatial_attention
        logits.append(attention_module.score_logits(feature_map[None].expand(len(positives), -1, -1, -1).to(device), embeds).cpu())
    values = torch.cat([value.flatten() for value in logits])
    return {"saturated_fraction": (values.abs() > threshold).float().mean().item(), "score_std": values.std().item()}


@contextlib.contextmanager
def _uniform_spatial_attention(model):
    """Within the block, ASA attends uniformly (the "w/o ASA" path of eq. 5), whatever the attribute state."""
    module = model.m2fashion.spatial_attention
    previous, module.use_attention = module.use_attention, False
    try:
        yield
    finally:
        module.use_attention = previous


def _probe_states(model, labels: torch.Tensor, state_kind: str, generator: torch.Generator) -> torch.Tensor:
    if state_kind == "single":
        return m2fashion_sample_single_attribute_states(labels, generator=generator)
    if state_kind == "label_mask":  # the training distribution of eq. 12: a random [min_unknown_fraction K, K] hidden
        unknown = m2fashion_sample_unknown_label_mask(
            len(labels), labels.shape[1], model.config.min_unknown_fraction, generator=generator
        )
        return labels.float().masked_fill(unknown, 0.0)
    raise ValueError(f"state_kind must be 'single' or 'label_mask', got {state_kind!r}.")


@torch.no_grad()
def spatial_counterfactual(
    model, rows: list[dict], seed: int = 0, batch_size: int = 64, state_kind: str = "single"
) -> dict[str, float]:
    """Attribute loss (eq. 12) under each image's own input state vs the same loss when only the spatial branch
    gets another image's state (the channel branch keeps the true one), and vs uniform spatial attention.

    Args:
        state_kind: `"single"`: one known positive attribute per image (an attribute query); `"label_mask"`: the
            label-mask training states (a random [min_unknown_fraction K, K] of the labels hidden).

    Returns:
        `{"attribute_loss", "counterfactual_attribute_loss", "relative_change"}` (change of the mean loss / loss),
        `"mean_absolute_relative_change_per_image"` (mean over images of |change| / loss: the probe's sensitivity
        when the changes of single images cancel in the mean) and `"uniform_attention_relative_change"` (the
        loss with alpha^s uniform, eq. 5 without ASA: how much this model's attribute loss needs ASA at all).
    """
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    totals = {"true": 0.0, "counterfactual": 0.0, "uniform": 0.0}
    per_image_changes = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        labels = torch.tensor([row["attributes"] for row in chunk])
        states = _probe_states(model, labels, state_kind, generator)
        other = states.roll(1, dims=0)
        same = (other == states).all(dim=1)
        other[same] = states.roll(2, dims=0)[same]  # a neighbour with the same state: take the next one
        pixel_values = torch.stack([torch.as_tensor(row["pixel_values"]) for row in chunk]).to(device)
        unknown = states.to(device) == 0
        per_image = {}
        for name, spatial in (("true", None), ("counterfactual", other.to(device)), ("uniform", None)):
            with _uniform_spatial_attention(model) if name == "uniform" else contextlib.nullcontext():
                output = model(pixel_values, attribute_states=states.to(device), spatial_attribute_states=spatial)
            # eq. 12 computed here, so that a variant trained without the attribute loss is measured too
            loss = m2fashion_masked_attribute_loss(output.attribute_logits, labels.to(device), unknown)
            totals[name] += loss.item() * len(chunk)
            per_image[name] = torch.stack([
                m2fashion_masked_attribute_loss(output.attribute_logits[i : i + 1], labels[i : i + 1].to(device), unknown[i : i + 1])
                for i in range(len(chunk))
            ]).cpu()
        per_image_changes.append((per_image["counterfactual"] - per_image["true"]).abs() / per_image["true"].clamp(min=1e-8))
    true, counterfactual, uniform = (totals[name] / len(rows) for name in ("true", "counterfactual", "uniform"))
    return {"attribute_loss": true, "counterfactual_attribute_loss": counterfactual,
            "relative_change": (counterfactual - true) / true,
            "mean_absolute_relative_change_per_image": torch.cat(per_image_changes).mean().item(),
            "uniform_attention_relative_change": (uniform - true) / true}


@torch.no_grad()
def group_query_counterfactual(model, rows: list[dict], batch_size: int = 64) -> dict[str, float]:
    """For `attribute_prediction="per_group"`: the attribute loss (eq. 12, every attribute unknown, so on all
    annotated labels) when each group is predicted from the pass under its own query vs under another group's
    query (only T1 of the spatial branch changes; averaged over the G - 1 other groups), and vs uniform attention.

    Returns:
        `{"attribute_loss", "counterfactual_attribute_loss", "relative_change",
        "uniform_attention_relative_change"}` and `"relative_change_per_group"` `{group id: change}` (the loss on
        group g's attributes when g's pass is asked for another group).
    """
    config = model.config
    if config.attribute_prediction != "per_group":
        raise ValueError(f"group_query_counterfactual needs attribute_prediction='per_group', got {config.attribute_prediction!r}.")
    model.eval()
    device = next(model.parameters()).device
    num_groups = config.num_attribute_groups
    groups = torch.tensor(config.attribute_groups)
    shifts = range(1, num_groups)  # the config guarantees G >= 2 for a per-group model
    orders = {"true": torch.arange(num_groups), "uniform": torch.arange(num_groups)}
    orders.update({f"shift{shift}": (torch.arange(num_groups) + shift) % num_groups for shift in shifts})
    sums = {name: torch.zeros(num_groups) for name in orders}  # summed BCE per group
    counts = torch.zeros(num_groups)
    maps = feature_maps(model, rows, batch_size)  # the backbone once; each order re-runs only eq. 1-9
    for start in range(0, len(rows), batch_size):
        chunk = maps[start : start + batch_size].to(device)
        labels = torch.tensor([row["attributes"] for row in rows[start : start + batch_size]]).to(device)
        annotated = (labels != 0).cpu()
        counts += torch.zeros(num_groups).index_add_(0, groups, annotated.sum(0).float())
        states = chunk.new_zeros(len(chunk), config.num_attributes)
        for name, order in orders.items():
            with _uniform_spatial_attention(model) if name == "uniform" else contextlib.nullcontext():
                group_embeds = model.m2fashion.attend_attribute_groups(chunk, states, order.to(device))[0]
                logits = model.group_attribute_logits(group_embeds)
            bce = F.binary_cross_entropy_with_logits(logits.float(), (labels > 0).float(), reduction="none").cpu()
            sums[name] += torch.zeros(num_groups).index_add_(0, groups, (bce * annotated).sum(0))
    loss = {name: value.sum().item() / counts.sum().item() for name, value in sums.items()}
    counterfactual = sum(loss[f"shift{shift}"] for shift in shifts) / max(len(shifts), 1)
    per_group_true = sums["true"] / counts.clamp(min=1)
    per_group_other = sum(sums[f"shift{shift}"] for shift in shifts) / max(len(shifts), 1) / counts.clamp(min=1)
    return {
        "attribute_loss": loss["true"],
        "counterfactual_attribute_loss": counterfactual,
        "relative_change": (counterfactual - loss["true"]) / loss["true"],
        "uniform_attention_relative_change": (loss["uniform"] - loss["true"]) / loss["true"],
        "relative_change_per_group": {
            group: ((per_group_other[group] - per_group_true[group]) / per_group_true[group].clamp(min=1e-8)).item()
            for group in range(num_groups) if counts[group] > 0
        },
    }


@torch.no_grad()
def band_attention_losses(
    model, rows: list[dict], groups: dict[str, list[int]], num_bands: int = 3, batch_size: int = 64
) -> dict[str, dict[str, float]]:
    """Attribute loss per group when alpha^s is forced to a horizontal band of the feature map (uniform inside it):
    does the head's evidence for a group sit in one part of the image? States all unknown.

    Args:
        groups: exclusive attribute groups (`exclusive_attribute_groups`).
        num_bands: the map's rows split into this many equal bands, top to bottom.

    Returns:
        `{"all rows" | "band 1 (top)" | ... | "band n (bottom)": {group: mean BCE on its annotated labels}}`.
    """
    model.eval()
    maps = feature_maps(model, rows, batch_size)
    height, width = maps.shape[-2:]
    if not 1 <= num_bands <= height:
        raise ValueError(f"num_bands must be in [1, {height}] (the map's rows), got {num_bands}.")
    labels = torch.tensor([row["attributes"] for row in rows])
    edges = torch.linspace(0, height, num_bands + 1).round().long().tolist()
    masks = {"all rows": torch.ones(height, width)}
    for band in range(num_bands):
        name = f"band {band + 1}" + (" (top)" if band == 0 else " (bottom)" if band == num_bands - 1 else "")
        masks[name] = torch.zeros(height, width)
        masks[name][edges[band] : edges[band + 1]] = 1.0
    base = model.m2fashion
    device = next(model.parameters()).device
    report = {}
    for name, mask in masks.items():
        attention = (mask / mask.sum()).to(device)
        logits = []
        for start in range(0, len(maps), batch_size):
            chunk = maps[start : start + batch_size].to(device)
            states = chunk.new_zeros(len(chunk), model.config.num_attributes)
            with _forced_spatial_attention(model, attention):
                if model.config.attribute_prediction == "per_group":
                    logits.append(model.group_attribute_logits(base.attend_attribute_groups(chunk, states)[0]).cpu())
                else:
                    logits.append(model.attribute_classifier(base.attend(chunk, states)[0]).cpu())
        logits = torch.cat(logits)
        report[name] = {}
        for group, attributes in groups.items():
            target = labels[:, attributes]
            annotated = target != 0
            report[name][group] = F.binary_cross_entropy_with_logits(
                logits[:, attributes][annotated], (target[annotated] > 0).float()
            ).item()
    return report


@contextlib.contextmanager
def _forced_spatial_attention(model, attention: torch.Tensor):
    """Within the block, every ASA pass pools with the fixed `(h, w)` map `attention` instead of eq. 4's."""
    module = model.m2fashion.spatial_attention
    original = module.forward

    def forced(feature_map, attribute_embeds, detach_attention=False):
        weights = attention.flatten()[None].expand(len(feature_map), -1)
        return module.pool(feature_map, weights), weights.view(len(feature_map), *attention.shape)

    module.forward = forced
    try:
        yield
    finally:
        module.forward = original


def attention_analysis(model, rows: list[dict], groups: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """All attention analyses of the module docstring on `rows` (held-out products); the localisation needs the
    exclusive attribute `groups` (`fashionvl.evaluation.m2fashion_protocol.exclusive_attribute_groups`)."""
    report = {
        "sensitivity": attention_sensitivity(model, rows),
        "saturation": attention_saturation(model, rows),
        "counterfactual": spatial_counterfactual(model, rows),
        "counterfactual_label_mask": spatial_counterfactual(model, rows, state_kind="label_mask"),
    }
    if model.config.attribute_prediction == "per_group":
        report["counterfactual_group_query"] = group_query_counterfactual(model, rows)
    if groups:
        report["localisation"] = attention_localisation(model, rows, groups)
    return report



@torch.no_grad()
def attention_maps_for_examples(model, processor, examples: Sequence[tuple[Any, Sequence[str | None]]]) -> list[dict]:
    """alpha^s (eq. 4) of each `(image, attribute names)` example under each name as the only known positive state.

    Returns one `{name: (h, w) map}` per example (names that are None are left out).
    """
    model.eval()
    device = next(model.parameters()).device
    maps = []
    for image, names in examples:
        queried = [name for name in names if name is not None]
        if not queried:
            maps.append({})
            continue
        inputs = processor(images=[image] * len(queried), attributes=[[name] for name in queried])
        outputs = model(inputs["pixel_values"].to(device), attribute_states=inputs["attribute_states"].to(device))
        maps.append(dict(zip(queried, outputs.spatial_attention.cpu())))
    return maps


__all__ = [
    "attention_analysis",
    "attention_localisation",
    "attention_maps_for_examples",
    "attention_saturation",
    "attention_sensitivity",
    "band_attention_losses",
    "group_query_counterfactual",
    "spatial_counterfactual",
]
