"""M2Fashion recipes: data, training, the DeepFashion-C and DARN evaluation protocols, attention figures.

The scripts `scripts/train_m2fashion.py` and `scripts/evaluate_m2fashion.py` are thin wrappers around this module.

Data (`load_attribute_data`):

- `"synthetic"` (default): the bundled procedural catalog (`fashionvl.data.synthetic.generate_catalog`),
  main category as the class, its 23 typed attributes (texture / fabric / shape / part / style) as the -1/1
  attribute vector, and its 9 categorical dimensions for DARN-style attribute-specific retrieval.
- `"deepfashion"`: DeepFashion Category & Attribute Prediction on disk (`fashionvl.data.load_deepfashion`).
- `"darn"`: the ASEN release of DARN on disk (`fashionvl.data.load_darn`).

Protocols (SPEC §6):

- DeepFashion-C: category top-1/3/5 accuracy; attribute top-3/5 recall pooled over images, per attribute type
  and over all (`fashionvl.evaluation.topk_accuracy`, `attribute_topk_recall`). With some attributes known at
  inference, those labels are revealed in the input state and left out of the recall (they are not predictions).
- DARN attribute-specific retrieval: per attribute dimension, queries rank candidates by cosine similarity of an
  embedding; AP over the full list, mAP weighted by queries (`fashionvl.evaluation.attribute_retrieval_map`).
  Embeddings: `"z"` = Z of eq. 9 with every attribute unknown (the same embedding for every dimension), or
  `"attribute_scores"` = the attribute head's sigmoid scores of the dimension's values (attribute-specific).
- Attribute-conditioned retrieval (`conditioned_retrieval_map`, the DARN protocol as the paper uses the model):
  the query's attribute value (e.g. "v-neck") is given as the one known positive state, and the query and every
  candidate are attended under it (ASEN's condition); relevant = the candidate has the same value of that
  dimension. Reported next to the unconditioned Z and random embeddings.

Attention analyses on held-out products (`attention_sensitivity`, `attention_localisation`,
`attention_saturation`, `spatial_counterfactual`): total-variation distances between the maps of different
queried attributes vs different images, where the attention of neckline / sleeve / length queries sits on the
garment (the catalog draws necklines at the top, hems at the bottom), how much of eq. 3 is in tanh's saturated
range, and how much the attribute loss changes when the spatial branch is given another attribute.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from ..configs.configuration_m2fashion import M2FashionConfig
from ..modeling.modeling_m2fashion import M2FashionForAttributePrediction
from ..processing.processing_m2fashion import (
    M2FashionDataCollator,
    M2FashionProcessor,
    M2FashionTripletBatchSampler,
    M2FashionTripletDataset,
)

DATA_FORMATS = ("synthetic", "deepfashion", "darn")


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------


@dataclass
class AttributeData:
    """Splits of an attribute data set and its label vocabulary.

    Each split is a list of rows `{"image": PIL, "category": int, "attributes": list[int] in {-1, 0, 1}}`
    (DARN rows add `"attribute_values"`: the value index per dimension, -1 = not applicable).
    """

    splits: dict[str, Any]
    attribute_names: list[str]
    attribute_types: list[str] | None
    category_names: list[str] | None
    dimensions: dict[str, list[str]] | None = None
    dimension_attribute_indices: dict[str, list[int]] | None = None
    retrieval_lists: Any = None  # DARN: DatasetDict with "query" / "candidate" rows (image, attribute, value)


def load_attribute_data(
    data_format: str = "synthetic",
    data_root: str | None = None,
    num_products: int = 400,
    image_size: int = 64,
    seed: int = 0,
    splits: Sequence[str] = ("train", "validation", "test"),
) -> AttributeData:
    """Load an attribute data set: the synthetic catalog (default) or DeepFashion-C / DARN from `data_root`."""
    from ..data import attribute_dimensions, attribute_names, attribute_types, category_names
    from ..data.metadata import read_catalog_metadata

    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}.")
    if data_format == "synthetic":
        from ..data.synthetic import generate_catalog

        catalog = generate_catalog(num_products, seed=seed, image_size=image_size)
        loaded = {split: catalog[split] for split in splits}
    else:
        if data_root is None:
            raise ValueError(f"data_format={data_format!r} needs data_root (the folder of the data set).")
        from .. import data as data_module

        loader = getattr(data_module, f"load_{data_format}")
        loaded = {split: loader(data_root, split) for split in splits}
    reference = next(iter(loaded.values()))
    metadata = read_catalog_metadata(reference)
    dimensions = attribute_dimensions(reference) if "attribute_dimensions" in metadata else None
    try:
        categories = category_names(reference)
    except (ValueError, KeyError):
        categories = None  # DARN: no category column (its "clothes category" is an attribute dimension)
    data = AttributeData(
        splits=loaded,
        attribute_names=attribute_names(reference) if "attribute_names" in metadata else [],
        attribute_types=attribute_types(reference) if "attribute_types" in metadata else None,
        category_names=categories,
        dimensions=dimensions,
    )
    if data_format == "darn":
        from ..data import load_darn_retrieval_lists

        data = with_dimension_attributes(data)  # DARN has only categorical dimensions
        evaluated = [split for split in splits if split != "train"]
        data.retrieval_lists = load_darn_retrieval_lists(data_root, evaluated[-1]) if evaluated else None
    return data


def encode_rows(dataset, processor: M2FashionProcessor, batch_size: int = 64, desc: str = "encoding images") -> list[dict]:
    """Pre-process every image once: rows `{"pixel_values", "category", "attributes", ["attribute_values"]}`.

    For data sets that fit in memory (the synthetic catalog, evaluation subsets); large data sets go to the
    collator row by row instead (it processes `image` columns itself).
    """
    rows = []
    columns = [
        name for name in ("category", "attributes", "attribute_values", "product_id") if name in dataset.column_names
    ]
    for start in tqdm(range(0, len(dataset), batch_size), desc=desc, leave=False):
        batch = dataset[start : start + batch_size]
        pixel_values = processor(images=list(batch["image"]))["pixel_values"]
        for offset in range(len(pixel_values)):
            row = {"pixel_values": pixel_values[offset]}
            for name in columns:
                row[name] = batch[name][offset]
            rows.append(row)
    return rows


def dimension_one_hot(values: Sequence[int], dimensions: dict[str, list[str]]) -> list[int]:
    """Categorical values per dimension -> binary attributes, one per (dimension, value) (DARN: 179).

    For an annotated dimension its value is 1 and its other values -1; a dimension marked -1 (not applicable or
    not annotated) leaves all its values 0 (unknown).
    """
    attributes = []
    for value, (_, names) in zip(values, dimensions.items()):
        if value < 0:
            attributes += [0] * len(names)
        else:
            attributes += [1 if index == value else -1 for index in range(len(names))]
    return attributes


def with_dimension_attributes(data: AttributeData) -> AttributeData:
    """`data` with one binary attribute per (dimension, value), typed by dimension name."""
    if not data.dimensions:
        raise ValueError("attribute_source='dimensions' needs a data set with categorical attribute dimensions.")
    names, indices = [], {}
    for dimension, values in data.dimensions.items():
        indices[dimension] = list(range(len(names), len(names) + len(values)))
        names += [f"{dimension}: {value}" for value in values]
    return AttributeData(
        splits=data.splits,
        attribute_names=names,
        attribute_types=None,
        category_names=data.category_names,
        dimensions=data.dimensions,
        dimension_attribute_indices=indices,
        retrieval_lists=data.retrieval_lists,
    )


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------


def build_model(
    preset: str, num_labels: int, num_attributes: int, category_names: Sequence[str] | None = None, **overrides
) -> M2FashionForAttributePrediction:
    """An M2Fashion model from a preset sized for the data (categories, attributes); `overrides` go to the config."""
    id2label = {index: name for index, name in enumerate(category_names)} if category_names else None
    config = M2FashionConfig.from_preset(
        preset,
        num_labels=num_labels,
        num_attributes=num_attributes,
        **({"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}} if id2label else {}),
        **overrides,
    )
    return M2FashionForAttributePrediction(config)


def load_backbone_weights(model, checkpoint: str) -> dict[str, list[str]]:
    """Load ImageNet (or any) ResNet weights into the backbone, e.g. `"microsoft/resnet-50"` or a local folder.

    Reads the checkpoint with `transformers.ResNetModel.from_pretrained` (which also accepts
    `ResNetForImageClassification` checkpoints) and copies its stem and stages into `model`'s backbone.

    Returns:
        `{"missing": [...], "unexpected": [...]}` backbone keys that were not found / not used.
    """
    from transformers import ResNetModel

    source = ResNetModel.from_pretrained(checkpoint, dtype=torch.float32)
    base = model.m2fashion if hasattr(model, "m2fashion") else model
    state = {key: value for key, value in source.state_dict().items() if not key.startswith("pooler")}
    result = base.backbone.load_state_dict(state, strict=False)
    return {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys)}


# ----------------------------------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------------------------------


def reveal_attributes(attribute_labels: torch.Tensor, known_fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Input states with a random `known_fraction` of each sample's annotated labels revealed (rest unknown).

    Args:
        attribute_labels: `(batch, K)` in {-1, 0, 1}.
        known_fraction: 0 = nothing known, 1 = every annotated label known.

    Returns:
        `(batch, K)` states: the ground truth on the revealed labels, 0 elsewhere.
    """
    if not 0.0 <= known_fraction <= 1.0:
        raise ValueError(f"known_fraction must be in [0, 1], got {known_fraction}.")
    revealed = torch.rand(attribute_labels.shape, generator=generator) < known_fraction
    if known_fraction == 1.0:
        revealed[:] = True
    return torch.where(revealed, attribute_labels, torch.zeros_like(attribute_labels))


@torch.no_grad()
def predict(
    model, rows: list[dict], batch_size: int = 64, known_fraction: float = 0.0, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Run the model over pre-processed rows with a fraction of the attributes known.

    Returns:
        `logits` `(N, num_labels)`, `attribute_logits` `(N, K)`, `attribute_aware_embeds` `(N, E)`,
        `attribute_states` `(N, K)` (the revealed input), `labels` `(N,)` (if rows have categories),
        `attribute_labels` `(N, K)` (if rows have attributes).
    """
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    collator = M2FashionDataCollator(sample_triplets=False)
    outputs: dict[str, list[torch.Tensor]] = {}
    device = next(model.parameters()).device
    for start in tqdm(range(0, len(rows), batch_size), desc="predicting", leave=False):
        batch = collator(rows[start : start + batch_size])
        states = None
        if "attribute_labels" in batch:
            states = reveal_attributes(batch["attribute_labels"], known_fraction, generator)
        result = model(batch["pixel_values"].to(device), attribute_states=None if states is None else states.to(device))
        parts = {
            "logits": result.logits,
            "attribute_logits": result.attribute_logits,
            "attribute_aware_embeds": result.attribute_aware_embeds,
            "attribute_states": result.attribute_states,
        }
        if "labels" in batch:
            parts["labels"] = batch["labels"]
        if "attribute_labels" in batch:
            parts["attribute_labels"] = batch["attribute_labels"]
        for name, value in parts.items():
            outputs.setdefault(name, []).append(value.detach().cpu())
    return {name: torch.cat(values) for name, values in outputs.items()}


# ----------------------------------------------------------------------------------------------
# DeepFashion-C protocol and baselines
# ----------------------------------------------------------------------------------------------


def deepfashion_metrics(
    logits: torch.Tensor | None,
    labels: torch.Tensor | None,
    attribute_scores: torch.Tensor,
    attribute_labels: torch.Tensor,
    attribute_types: Sequence[str] | None,
    attribute_states: torch.Tensor | None = None,
) -> dict[str, dict[str, float]]:
    """Category top-1/3/5 accuracy and attribute top-3/5 recall per type and over all (SPEC §6).

    Labels known in `attribute_states` (non-zero) are excluded from the attribute recall: their scores go to
    -inf and they do not count as positives.
    """
    from ..evaluation import attribute_topk_recall, topk_accuracy

    metrics: dict[str, dict[str, float]] = {}
    if logits is not None and labels is not None:
        metrics["category"] = topk_accuracy(logits, labels, ks=(1, 3, 5))
    scores = attribute_scores.float().clone()
    targets = (attribute_labels == 1).long()
    if attribute_states is not None:
        known = attribute_states != 0
        scores[known] = float("-inf")
        targets[known] = 0
    types = list(attribute_types) if attribute_types is not None else ["attribute"] * scores.shape[1]
    recall = attribute_topk_recall(scores, targets, types, ks=(3, 5))
    if attribute_types is None:
        recall.pop("attribute", None)
    metrics.update({f"attribute_{name}": values for name, values in recall.items()})
    return metrics


def frequency_baselines(
    train_rows: list[dict], test_rows: list[dict], num_labels: int, attribute_types: Sequence[str] | None
) -> dict[str, dict[str, dict[str, float]]]:
    """Majority / frequency baselines on the DeepFashion-C metrics.

    Category: every image gets the training class frequencies as scores (top-1 = the majority class).
    Attributes: every image gets the training positive rate of each attribute as scores. Ties between equally
    frequent classes/attributes are broken by index (lower first), so the baseline is a fixed ranking rather
    than the worst case of the metrics' pessimistic ties.
    """
    train_labels = torch.tensor([row["category"] for row in train_rows])
    train_attributes = torch.tensor([row["attributes"] for row in train_rows])
    test_labels = torch.tensor([row["category"] for row in test_rows])
    test_attributes = torch.tensor([row["attributes"] for row in test_rows])
    class_frequency = torch.bincount(train_labels, minlength=num_labels).float() / len(train_labels)
    attribute_frequency = (train_attributes == 1).float().mean(dim=0)
    tie_break = 1e-6 / (1 + torch.arange(max(num_labels, attribute_frequency.numel())).float())
    category_scores = (class_frequency + tie_break[:num_labels]).expand(len(test_rows), -1)
    attribute_scores = (attribute_frequency + tie_break[: attribute_frequency.numel()]).expand(len(test_rows), -1)
    return {
        "majority / frequency": deepfashion_metrics(
            category_scores, test_labels, attribute_scores, test_attributes, attribute_types
        )
    }


# ----------------------------------------------------------------------------------------------
# DARN attribute-specific retrieval
# ----------------------------------------------------------------------------------------------


def attribute_retrieval_embeddings(
    predictions: dict[str, torch.Tensor], dimension_attribute_indices: Sequence[int] | None, embedding: str
) -> torch.Tensor:
    """Embeddings for one attribute dimension: `"z"` (Z, dimension-independent) or `"attribute_scores"`.

    `"attribute_scores"` = sigmoid of the attribute head over the dimension's value attributes
    (`dimension_attribute_indices`), an attribute-specific embedding.
    """
    if embedding == "z":
        return predictions["attribute_aware_embeds"]
    if embedding == "attribute_scores":
        if not dimension_attribute_indices:
            raise ValueError("embedding='attribute_scores' needs the attribute indices of the dimension's values.")
        return torch.sigmoid(predictions["attribute_logits"][:, list(dimension_attribute_indices)])
    raise ValueError(f"embedding must be 'z' or 'attribute_scores', got {embedding!r}.")


def darn_retrieval_map(
    query_predictions: dict[str, torch.Tensor],
    query_values: torch.Tensor,
    candidate_predictions: dict[str, torch.Tensor],
    candidate_values: torch.Tensor,
    dimension_names: Sequence[str],
    dimension_attribute_indices: dict[str, list[int]] | None = None,
    embedding: str = "z",
) -> dict[str, float]:
    """DARN attribute-specific retrieval mAP per dimension and overall (weighted by queries).

    Args:
        query_predictions, candidate_predictions: outputs of `predict` for the query / candidate images.
        query_values, candidate_values: `(N, num_dimensions)` value index per dimension, -1 = not applicable
            (such rows are not queries / candidates of that dimension).
        dimension_names: names of the dimensions (columns of the value matrices).
        dimension_attribute_indices: for `"attribute_scores"`, the model's attribute index of every value of
            every dimension.
        embedding: `"z"` or `"attribute_scores"` (see `attribute_retrieval_embeddings`).
    """
    from ..evaluation import attribute_retrieval_map

    query_embeds, query_vals, query_dims = [], [], []
    candidate_embeds, candidate_vals, candidate_dims = [], [], []
    for dimension, name in enumerate(dimension_names):
        indices = dimension_attribute_indices.get(name) if dimension_attribute_indices else None
        for predictions, values, embeds_out, values_out, dims_out in (
            (query_predictions, query_values, query_embeds, query_vals, query_dims),
            (candidate_predictions, candidate_values, candidate_embeds, candidate_vals, candidate_dims),
        ):
            applicable = values[:, dimension] >= 0
            embeds = attribute_retrieval_embeddings(predictions, indices, embedding)
            embeds_out.append(embeds[applicable])
            values_out.append(values[applicable, dimension])
            dims_out.append(torch.full((int(applicable.sum()),), dimension))
    # Dimensions with different numbers of values give embeddings of different widths; zero-padding to one width
    # leaves every cosine similarity unchanged (and dimensions are only compared with themselves).
    width = max(embeds.shape[1] for embeds in query_embeds + candidate_embeds)
    pad = lambda embeds: torch.nn.functional.pad(embeds, (0, width - embeds.shape[1]))  # noqa: E731
    result = attribute_retrieval_map(
        torch.cat([pad(e) for e in query_embeds]), torch.cat(query_vals),
        torch.cat([pad(e) for e in candidate_embeds]), torch.cat(candidate_vals),
        torch.cat(query_dims), torch.cat(candidate_dims),
    )
    per_dimension = {dimension_names[index]: value for index, value in result["per_attribute"].items()}
    return {"mAP": result["mAP"], **per_dimension}


# ----------------------------------------------------------------------------------------------
# Attention figure (paper Fig. 5)
# ----------------------------------------------------------------------------------------------


@torch.no_grad()
def plot_attribute_attention(
    model,
    processor: M2FashionProcessor,
    examples: Sequence[tuple[Any, Sequence[str]]],
    path: str | os.PathLike | None = None,
):
    """Spatial attention alpha^s (eq. 4) over each image for each of its attributes, as the paper's Fig. 5.

    For every `(image, attribute names)` example, each attribute is given as the only known positive state and
    the attention map is drawn over the image (`fashionvl.visualization.plot_attention_overlay`).

    Returns a PIL image with one row per example (the image, then one overlay per attribute), saved to `path`.
    """
    from PIL import Image

    from ..visualization import make_image_grid, plot_attention_overlay

    model.eval()
    device = next(model.parameters()).device
    num_columns = 1 + max(len(names) for _, names in examples)
    tiles = []
    for image, names in examples:
        row = [_figure_to_image(plot_attention_overlay(image, torch.zeros(1, 1), title="image", alpha=0.0))]
        queried = [name for name in names if name is not None]
        attentions = {}
        if queried:
            inputs = processor(images=[image] * len(queried), attributes=[[name] for name in queried])
            outputs = model(inputs["pixel_values"].to(device), attribute_states=inputs["attribute_states"].to(device))
            attentions = dict(zip(queried, outputs.spatial_attention))
        for name in names:  # None: this image has no attribute for the column (a blank tile)
            if name is None:
                row.append(Image.new("RGB", row[0].size, "white"))
            else:
                row.append(_figure_to_image(plot_attention_overlay(image, attentions[name], title=name)))
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


@torch.no_grad()
def attention_sensitivity(model, rows: list[dict], max_images: int = 100) -> dict[str, float]:
    """How much the spatial attention (eq. 4) depends on the attribute given vs on the image.

    For each image, the attention is computed with each of its positive attributes as the only known state.
    Reports the mean total-variation distance (0 = identical maps, 1 = disjoint) between the maps of different
    attributes of the same image, and between the maps of different images (first positive attribute each),
    and the mean largest attention weight (1 / (h w) for uniform attention).
    """
    import itertools

    model.eval()
    device = next(model.parameters()).device
    same_image, first_maps = [], []
    for row in rows[:max_images]:
        positives = [index for index, value in enumerate(row["attributes"]) if value == 1]
        if not positives:
            continue
        states = torch.zeros(len(positives), model.config.num_attributes, device=device)
        states[torch.arange(len(positives)), torch.tensor(positives)] = 1
        pixel_values = torch.as_tensor(row["pixel_values"])[None].expand(len(positives), -1, -1, -1).to(device)
        maps = model(pixel_values, attribute_states=states).spatial_attention.flatten(1).cpu()
        same_image += [0.5 * (maps[a] - maps[b]).abs().sum().item() for a, b in itertools.combinations(range(len(maps)), 2)]
        first_maps.append(maps[0])
    if len(first_maps) < 2:
        raise ValueError("attention_sensitivity needs at least two rows with a positive attribute.")
    stacked = torch.stack(first_maps)
    between = [0.5 * (stacked[a] - stacked[b]).abs().sum().item() for a, b in itertools.combinations(range(len(stacked)), 2)]
    return {
        "tv_between_attributes_same_image": sum(same_image) / max(len(same_image), 1),
        "tv_between_images": sum(between) / len(between),
        "mean_max_weight": stacked.max(dim=1).values.mean().item(),
        "uniform_weight": 1.0 / stacked.shape[1],
    }


# Values of a categorical dimension whose typed attribute has another name (synthetic catalog: pattern "dotted").
_VALUE_ATTRIBUTE_ALIASES = {"dotted": "polka dot"}


def exclusive_attribute_groups(attribute_names: Sequence[str], dimensions: dict[str, list[str]] | None) -> dict[str, list[int]]:
    """Categorical dimensions whose every value is one binary attribute: `{dimension: [attribute index per value]}`.

    A value matches the attribute of the same name, `"<value> length"` or an alias (`"dotted"` -> `"polka dot"`).
    Synthetic catalog: pattern, fabric, sleeve length, neckline, length, fit, style (not category or colour,
    which have no typed attribute). Such groups hold mutually exclusive attributes: one positive per product.
    """
    if not dimensions:
        return {}
    index = {name: position for position, name in enumerate(attribute_names)}
    groups = {}
    for dimension, values in dimensions.items():
        matched = []
        for value in values:
            for candidate in (value, f"{value} length", _VALUE_ATTRIBUTE_ALIASES.get(value)):
                if candidate in index:
                    matched.append(index[candidate])
                    break
        if len(matched) == len(values) and len(values) > 1:
            groups[dimension] = matched
    return groups


@torch.no_grad()
def feature_maps(model, rows: list[dict], batch_size: int = 64) -> torch.Tensor:
    """Backbone feature maps I `(N, C, h, w)` of pre-processed rows (eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    maps = []
    for start in range(0, len(rows), batch_size):
        pixel_values = torch.stack([torch.as_tensor(row["pixel_values"]) for row in rows[start : start + batch_size]])
        maps.append(model.m2fashion.backbone(pixel_values.to(device), return_dict=True).feature_maps[-1].cpu())
    return torch.cat(maps)


@torch.no_grad()
def _attend_under(model, maps: torch.Tensor, attribute: int | None, batch_size: int = 256):
    """Z and alpha^s of feature maps `maps` under the state "attribute known positive" (None: all unknown)."""
    device = next(model.parameters()).device
    embeds, attentions = [], []
    for start in range(0, len(maps), batch_size):
        chunk = maps[start : start + batch_size].to(device)
        states = torch.zeros(len(chunk), model.config.num_attributes, device=device)
        if attribute is not None:
            states[:, attribute] = 1.0
        z, attention, _ = model.m2fashion.attend(chunk, states)
        if model.config.triplet_embedding != "shared":
            z = model.attribute_specific_embeds(chunk, states)  # the space the triplet loss trained
        embeds.append(z.cpu())
        attentions.append(attention.cpu())
    return torch.cat(embeds), torch.cat(attentions)


def _group_values(rows: list[dict], group: list[int]) -> torch.Tensor:
    """Position in `group` of each row's positive attribute, -1 where none is positive."""
    labels = torch.tensor([row["attributes"] for row in rows])[:, group]
    values = (labels == 1).long().argmax(dim=1)
    return torch.where((labels == 1).any(dim=1), values, torch.full_like(values, -1))


@torch.no_grad()
def conditioned_retrieval_map(
    model, query_rows: list[dict], candidate_rows: list[dict], groups: dict[str, list[int]], seed: int = 0
) -> dict[str, dict[str, float]]:
    """Attribute-specific retrieval (DARN / ASEN protocol) with the query attribute given, per dimension.

    For a query with value v of dimension g, the query and all candidates of g are attended under the state
    "attribute v positive" and ranked by cosine similarity of Z; relevant = candidates with value v. `"z | query
    attribute"` is that; `"z (all unknown)"` ranks by Z with every attribute unknown; `"random"` random embeddings.

    Returns:
        `{embedding: {"mAP": weighted by queries, <dimension>: mAP}}`.
    """
    from ..evaluation import attribute_retrieval_map

    query_maps, candidate_maps = feature_maps(model, query_rows), feature_maps(model, candidate_rows)
    unconditioned_query = _attend_under(model, query_maps, None)[0]
    unconditioned_candidate = _attend_under(model, candidate_maps, None)[0]
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, dict[str, list]] = {name: {"q": [], "qv": [], "qa": [], "c": [], "cv": [], "ca": []}
                                         for name in ("z | query attribute", "z (all unknown)", "random")}
    group_of_attribute = {}
    for name, group in groups.items():
        query_values, candidate_values = _group_values(query_rows, group), _group_values(candidate_rows, group)
        candidates = (candidate_values >= 0).nonzero().squeeze(1)
        for position, attribute in enumerate(group):
            queries = (query_values == position).nonzero().squeeze(1)
            if len(queries) == 0 or len(candidates) == 0:
                continue
            group_of_attribute[attribute] = name
            conditioned_query = _attend_under(model, query_maps[queries], attribute)[0]
            conditioned_candidate = _attend_under(model, candidate_maps[candidates], attribute)[0]
            embeddings = {
                "z | query attribute": (conditioned_query, conditioned_candidate),
                "z (all unknown)": (unconditioned_query[queries], unconditioned_candidate[candidates]),
                "random": (torch.randn(len(queries), 16, generator=generator), torch.randn(len(candidates), 16, generator=generator)),
            }
            for embedding, (query_embeds, candidate_embeds) in embeddings.items():
                part = parts[embedding]
                part["q"].append(query_embeds)
                part["qv"].append(query_values[queries])
                part["qa"].append(torch.full((len(queries),), attribute))
                part["c"].append(candidate_embeds)
                part["cv"].append(candidate_values[candidates])
                part["ca"].append(torch.full((len(candidates),), attribute))
    if not group_of_attribute:
        raise ValueError("conditioned_retrieval_map found no query with a candidate in any attribute group.")
    report = {}
    for embedding, part in parts.items():
        result = attribute_retrieval_map(*(torch.cat(part[key]) for key in ("q", "qv", "c", "cv", "qa", "ca")))
        counts = torch.cat(part["qa"]).bincount()
        per_group: dict[str, list[float]] = {}
        for attribute, value in result["per_attribute"].items():
            per_group.setdefault(group_of_attribute[int(attribute)], []).append((value, int(counts[int(attribute)])))
        report[embedding] = {"mAP": result["mAP"]}
        for name, values in per_group.items():
            report[embedding][name] = sum(v * n for v, n in values) / sum(n for _, n in values)
    return report


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
        values = _group_values(rows, group)
        ys = torch.full((len(rows),), float("nan"))
        masses = []
        for position, attribute in enumerate(group):
            selected = (values == position).nonzero().squeeze(1)
            if len(selected) == 0:
                continue
            attention = _attend_under(model, maps[selected], attribute)[1]
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
        embeds = model.m2fashion.spatial_attribute_embedding(states)
        attention_module = model.m2fashion.spatial_attention
        logits.append(attention_module.score_logits(feature_map[None].expand(len(positives), -1, -1, -1).to(device), embeds).cpu())
    values = torch.cat([value.flatten() for value in logits])
    return {"saturated_fraction": (values.abs() > threshold).float().mean().item(), "score_std": values.std().item()}


@torch.no_grad()
def spatial_counterfactual(model, rows: list[dict], seed: int = 0, batch_size: int = 64) -> dict[str, float]:
    """Attribute loss (eq. 12) with each image's own single-attribute query state vs the same loss when only the
    spatial branch gets another image's query attribute (the channel branch keeps the true one).

    Returns `{"attribute_loss", "counterfactual_attribute_loss", "relative_change"}` (change of the mean loss /
    loss) and `"mean_absolute_relative_change_per_image"` (mean over images of |change| / loss: the probe's
    sensitivity when the changes of single images cancel in the mean).
    """
    from ..modeling.losses import m2fashion_masked_attribute_loss, m2fashion_sample_single_attribute_states

    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    totals = {"true": 0.0, "counterfactual": 0.0}
    per_image_changes = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        labels = torch.tensor([row["attributes"] for row in chunk])
        states = m2fashion_sample_single_attribute_states(labels, generator=generator)
        other = states.roll(1, dims=0)
        same = (other == states).all(dim=1)
        other[same] = states.roll(2, dims=0)[same]  # a neighbour with the same query: take the next one
        pixel_values = torch.stack([torch.as_tensor(row["pixel_values"]) for row in chunk]).to(device)
        per_image = {}
        for name, spatial in (("true", None), ("counterfactual", other.to(device))):
            output = model(pixel_values, attribute_states=states.to(device), spatial_attribute_states=spatial)
            # eq. 12 computed here, so that a variant trained without the attribute loss is measured too
            unknown = states.to(device) == 0
            loss = m2fashion_masked_attribute_loss(output.attribute_logits, labels.to(device), unknown)
            totals[name] += loss.item() * len(chunk)
            per_image[name] = torch.stack([
                m2fashion_masked_attribute_loss(output.attribute_logits[i : i + 1], labels[i : i + 1].to(device), unknown[i : i + 1])
                for i in range(len(chunk))
            ]).cpu()
        per_image_changes.append((per_image["counterfactual"] - per_image["true"]).abs() / per_image["true"].clamp(min=1e-8))
    true, counterfactual = totals["true"] / len(rows), totals["counterfactual"] / len(rows)
    return {"attribute_loss": true, "counterfactual_attribute_loss": counterfactual,
            "relative_change": (counterfactual - true) / true,
            "mean_absolute_relative_change_per_image": torch.cat(per_image_changes).mean().item()}


def attention_analysis(model, rows: list[dict], data: "AttributeData", attribute_names: Sequence[str]) -> dict[str, Any]:
    """All attention analyses of the module docstring on `rows` (held-out products)."""
    groups = exclusive_attribute_groups(attribute_names, data.dimensions)
    report = {
        "sensitivity": attention_sensitivity(model, rows),
        "saturation": attention_saturation(model, rows),
        "counterfactual": spatial_counterfactual(model, rows),
    }
    if groups:
        report["localisation"] = attention_localisation(model, rows, groups)
    return report


def _figure_to_image(figure):
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


# ----------------------------------------------------------------------------------------------
# Training and evaluation entry points (used by the scripts)
# ----------------------------------------------------------------------------------------------


@dataclass
class M2FashionDataArguments:
    """Data and model arguments of `scripts/train_m2fashion.py` / `scripts/evaluate_m2fashion.py`."""

    data_format: str = field(default="synthetic", metadata={"help": f"One of {DATA_FORMATS}."})
    data_root: str | None = field(default=None, metadata={"help": "Folder of DeepFashion-C / DARN (real format)."})
    num_products: int = field(default=400, metadata={"help": "Synthetic catalog size (products; 2 views each)."})
    image_size: int = field(default=64, metadata={"help": "Input image side (paper: 224)."})
    preset: str = field(default="tiny", metadata={"help": "Config preset: tiny or paper."})
    backbone_checkpoint: str | None = field(
        default=None, metadata={"help": "ResNet weights for the backbone (e.g. microsoft/resnet-50 or a folder)."}
    )
    use_spatial_attention: bool = field(default=True, metadata={"help": "False = ablation 'w/o ASA'."})
    use_channel_attention: bool = field(default=True, metadata={"help": "False = ablation 'w/o ACA'."})
    pooling: str = field(default="max", metadata={"help": "max (GMP, paper) or avg (GAP)."})
    category_loss_weight: float = field(default=1.0, metadata={"help": "0 = ablation 'attribute only'."})
    attribute_loss_weight: float = field(default=1.0, metadata={"help": "lambda; 0 = ablation 'category only'."})
    triplet_loss_weight: float = field(default=0.5, metadata={"help": "gamma of eq. 15."})
    known_fractions: str = field(
        default="0,0.5,1", metadata={"help": "Fractions of attributes known at inference, comma separated."}
    )
    attribute_source: str = field(
        default="typed",
        metadata={
            "help": "typed: the data set's binary attributes (DeepFashion-C style); dimensions: one binary attribute "
            "per value of each categorical dimension (DARN style; enables attribute_scores retrieval)."
        },
    )
    eval_split: str = field(default="test", metadata={"help": "Split to evaluate."})
    ablations: str | None = field(
        default=None,
        metadata={"help": "Train these variants of ABLATIONS (comma separated, or 'all') instead of one model."},
    )
    attention_figure: str | None = field(
        default=None, metadata={"help": "Write the attention figure (paper Fig. 5) to this PNG."}
    )

    def config_overrides(self) -> dict[str, Any]:
        return {
            "use_spatial_attention": self.use_spatial_attention,
            "use_channel_attention": self.use_channel_attention,
            "pooling": self.pooling,
            "category_loss_weight": self.category_loss_weight,
            "attribute_loss_weight": self.attribute_loss_weight,
            "triplet_loss_weight": self.triplet_loss_weight,
        }

    def parsed_known_fractions(self) -> list[float]:
        return [float(value) for value in self.known_fractions.split(",") if value.strip()]


#: The paper's ablations (Tables 1-2) as config overrides. The triplet term stays on in every variant.
ABLATIONS: dict[str, dict[str, Any]] = {
    "M2Fashion": {},
    # Without ASA there is no V_s that depends on the query: the triplet term reads Z (after ACA) instead.
    "w/o ASA": {"use_spatial_attention": False, "triplet_embedding": "shared"},
    "w/o ACA": {"use_channel_attention": False},
    "GAP": {"pooling": "avg"},
    "category only": {"attribute_loss_weight": 0.0},
    "attribute only": {"category_loss_weight": 0.0},
}


@dataclass
class PreparedData:
    """Data loaded and pre-processed once, shared by the runs of an ablation study."""

    data: AttributeData
    processor: M2FashionProcessor
    train_rows: list[dict]
    eval_rows: list[dict]
    num_labels: int


def prepare_data(
    data_args: M2FashionDataArguments, seed: int = 0, processor: M2FashionProcessor | None = None
) -> PreparedData:
    """Load the data of `data_args` and pre-process the train and evaluation splits.

    Args:
        processor: the processor of a trained model (its attribute vocabulary must match the data); a new one is
            built from the data when None.
    """
    data = load_attribute_data(
        data_args.data_format, data_args.data_root, data_args.num_products, data_args.image_size, seed,
        splits=("train", data_args.eval_split),
    )
    if data_args.attribute_source == "dimensions" and data.dimension_attribute_indices is None:
        data = with_dimension_attributes(data)
    if processor is None:
        processor = M2FashionProcessor.from_attribute_list(
            data.attribute_names, data.attribute_types, data_args.image_size
        )
    elif processor.attribute_names != data.attribute_names:
        raise ValueError(
            f"The data's {len(data.attribute_names)} attributes differ from the processor's {processor.num_attributes} "
            f"(first ones: {data.attribute_names[:3]} vs {processor.attribute_names[:3]})."
        )
    train_rows = encode_rows(data.splits["train"], processor, desc="encoding train")
    eval_rows = encode_rows(data.splits[data_args.eval_split], processor, desc="encoding eval")
    if data.dimension_attribute_indices is not None:
        for row in train_rows + eval_rows:
            row["attributes"] = dimension_one_hot(row["attribute_values"], data.dimensions)
    if data.category_names:
        num_labels = len(data.category_names)
    elif "category" in train_rows[0]:
        num_labels = 1 + max(row["category"] for row in train_rows)
    else:
        num_labels = 1  # no categories (DARN): the category head is unused and its loss never computed
    return PreparedData(data, processor, train_rows, eval_rows, num_labels)


def train_m2fashion(
    data_args: M2FashionDataArguments,
    training_args,
    prepared: PreparedData | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train on `data_args`' data with a `FashionTrainingArguments`, save model + processor, evaluate.

    Args:
        prepared: data from `prepare_data` (loaded here when None).
        overrides: config overrides on top of `data_args.config_overrides()` (e.g. an entry of `ABLATIONS`).

    Returns the evaluation report of `evaluate_m2fashion` (also written to `<output_dir>/eval_results.json`).
    """
    from transformers import set_seed

    from ..training import FashionTrainer

    set_seed(training_args.seed)
    prepared = prepared or prepare_data(data_args, training_args.seed)
    data, processor = prepared.data, prepared.processor
    model = build_model(
        data_args.preset, prepared.num_labels, len(data.attribute_names), data.category_names,
        **{**data_args.config_overrides(), **(overrides or {})},
    )
    if data_args.backbone_checkpoint:
        report = load_backbone_weights(model, data_args.backbone_checkpoint)
        print(f"backbone weights from {data_args.backbone_checkpoint}: {report}")
    collator = M2FashionDataCollator(processor, seed=training_args.seed)
    if model.config.triplet_conditioning == "query_attribute" and model.config.triplet_loss_weight > 0:
        # ASEN-style: batches of whole triplets, every anchor with a valid positive and negative (issue 12).
        batch_sampler = triplet_batch_sampler(
            prepared.train_rows, training_args.per_device_train_batch_size, training_args.seed,
            same_category_positives=model.config.triplet_positive_category == "anchor",
        )
        trainer = _triplet_trainer_class()(
            model=model, args=training_args, train_dataset=M2FashionTripletDataset(prepared.train_rows),
            data_collator=collator, batch_sampler=batch_sampler,
        )
    else:
        trainer = FashionTrainer(model=model, args=training_args, train_dataset=prepared.train_rows, data_collator=collator)
    trainer.train()
    trainer.save_model(training_args.output_dir)
    processor.save_pretrained(training_args.output_dir)
    report = evaluate_m2fashion(model, processor, prepared.eval_rows, data, data_args, train_rows=prepared.train_rows)
    report["train_runtime_s"] = trainer.state.log_history[-1].get("train_runtime")
    if data_args.attention_figure:
        save_attention_figure(model, processor, data, data_args.eval_split, data_args.attention_figure)
    with open(os.path.join(training_args.output_dir, "eval_results.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    return report


def triplet_batch_sampler(
    rows: list[dict], batch_size: int, seed: int = 0, same_category_positives: bool = False
) -> M2FashionTripletBatchSampler:
    """`M2FashionTripletBatchSampler` over pre-processed rows: `batch_size // 3` triplets per batch."""
    return M2FashionTripletBatchSampler(
        torch.tensor([row["attributes"] for row in rows]),
        torch.tensor([row["category"] for row in rows]) if "category" in rows[0] else None,
        torch.tensor([row["product_id"] for row in rows]) if "product_id" in rows[0] else None,
        triplets_per_batch=max(1, batch_size // 3),
        seed=seed,
        same_category_positives=same_category_positives,
    )


def _triplet_trainer_class():
    from ..training import FashionTrainer

    class M2FashionTripletTrainer(FashionTrainer):
        """`FashionTrainer` whose training batches come from a batch sampler (whole triplets)."""

        def __init__(self, *args, batch_sampler: M2FashionTripletBatchSampler, **kwargs):
            super().__init__(*args, **kwargs)
            self.triplet_batch_sampler = batch_sampler

        def get_train_dataloader(self):
            return torch.utils.data.DataLoader(
                self.train_dataset, batch_sampler=self.triplet_batch_sampler, collate_fn=self.data_collator,
                num_workers=self.args.dataloader_num_workers,
            )

    return M2FashionTripletTrainer


def run_ablations(data_args: M2FashionDataArguments, training_args, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Train and evaluate each named variant of `ABLATIONS` on the same data (one sub-folder per variant).

    Writes `<output_dir>/results.md`: the DeepFashion-C table (nothing known at inference) with the baselines.
    """
    import dataclasses

    unknown = [name for name in names if name not in ABLATIONS]
    if unknown:
        raise ValueError(f"Unknown ablation(s) {unknown}; expected names from {list(ABLATIONS)}.")
    prepared = prepare_data(data_args, training_args.seed)
    reports = {}
    for name in names:
        folder = os.path.join(training_args.output_dir, name.replace("/", "").replace(" ", "_"))
        run_args = dataclasses.replace(training_args, output_dir=folder)
        run_data_args = dataclasses.replace(data_args, attention_figure=data_args.attention_figure if name == "M2Fashion" else None)
        reports[name] = train_m2fashion(run_data_args, run_args, prepared=prepared, overrides=ABLATIONS[name])
    table = ablation_table(reports, prepared.processor.attribute_types)
    with open(os.path.join(training_args.output_dir, "results.md"), "w", encoding="utf-8") as handle:
        handle.write(table + "\n")
    return reports


def ablation_table(reports: dict[str, dict[str, Any]], attribute_types: Sequence[str] | None) -> str:
    """Markdown table of runs (nothing known at inference) plus the frequency baselines of the first run.

    A variant trained without a task shows "-" for that task's metrics ("category only", "attribute only").
    """
    rows = {}
    for name, report in reports.items():
        metrics = dict(report["deepfashion_c"].get("known=0", next(iter(report["deepfashion_c"].values()))))
        overrides = ABLATIONS.get(name, {})
        if overrides.get("category_loss_weight") == 0.0:
            metrics.pop("category", None)
        if overrides.get("attribute_loss_weight") == 0.0:
            metrics = {key: value for key, value in metrics.items() if not key.startswith("attribute_")}
        rows[name] = metrics
    first = next(iter(reports.values()))
    rows.update(first.get("baselines", {}))
    return format_report_table(rows, attribute_types)


def evaluate_m2fashion(
    model,
    processor: M2FashionProcessor,
    eval_rows: list[dict],
    data: AttributeData,
    data_args: M2FashionDataArguments,
    train_rows: list[dict] | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """The DeepFashion-C metrics at each known-attribute fraction, baselines, and DARN-style retrieval mAP."""
    report: dict[str, Any] = {"attribute_types": processor.attribute_types, "deepfashion_c": {}}
    has_categories = "category" in eval_rows[0]
    unconditioned = None
    for fraction in data_args.parsed_known_fractions():
        predictions = predict(model, eval_rows, batch_size=batch_size, known_fraction=fraction)
        report["deepfashion_c"][f"known={fraction:g}"] = deepfashion_metrics(
            predictions.get("logits") if has_categories else None,
            predictions.get("labels"),
            predictions["attribute_logits"],
            predictions["attribute_labels"],
            processor.attribute_types,
            attribute_states=predictions["attribute_states"],
        )
        if 0 < fraction < 1:
            # Control: the same labels are left out of the recall, but the model is not told them. The gap to the
            # row above is what conditioning on the known attributes adds (fewer candidates alone raise recall).
            unconditioned = unconditioned or predict(model, eval_rows, batch_size=batch_size, known_fraction=0.0)
            report["deepfashion_c"][f"known={fraction:g}, not input"] = deepfashion_metrics(
                unconditioned.get("logits") if has_categories else None,
                unconditioned.get("labels"),
                unconditioned["attribute_logits"],
                unconditioned["attribute_labels"],
                processor.attribute_types,
                attribute_states=predictions["attribute_states"],
            )
    if "attributes" in eval_rows[0] and model.config.use_spatial_attention:
        report["attention"] = attention_analysis(model, eval_rows, data, processor.attribute_names)
    groups = exclusive_attribute_groups(processor.attribute_names, data.dimensions)
    if groups and "attributes" in eval_rows[0] and "product_id" in eval_rows[0]:
        queries, candidates = retrieval_queries_and_candidates(eval_rows, data, processor)
        report["conditioned_retrieval"] = conditioned_retrieval_map(model, queries, candidates, groups)
    if train_rows is not None and has_categories:
        report["baselines"] = frequency_baselines(train_rows, eval_rows, model.config.num_labels, processor.attribute_types)
    if data.dimensions and "attribute_values" in eval_rows[0]:
        queries, candidates = retrieval_queries_and_candidates(eval_rows, data, processor)
        query_predictions = predict(model, queries, batch_size=batch_size, known_fraction=0.0)
        candidate_predictions = predict(model, candidates, batch_size=batch_size, known_fraction=0.0)
        query_values = torch.tensor([row["attribute_values"] for row in queries])
        candidate_values = torch.tensor([row["attribute_values"] for row in candidates])
        report["darn_retrieval"] = {}
        embeddings = ["z"] + (["attribute_scores"] if data.dimension_attribute_indices else [])
        for embedding in embeddings:
            report["darn_retrieval"][embedding] = darn_retrieval_map(
                query_predictions, query_values, candidate_predictions, candidate_values, list(data.dimensions),
                data.dimension_attribute_indices, embedding=embedding,
            )
        # Chance level: random embeddings (seeded), the baseline of the retrieval table.
        generator = torch.Generator().manual_seed(0)
        random_queries = {"attribute_aware_embeds": torch.randn(len(queries), 16, generator=generator)}
        random_candidates = {"attribute_aware_embeds": torch.randn(len(candidates), 16, generator=generator)}
        report["darn_retrieval"]["random embeddings"] = darn_retrieval_map(
            random_queries, query_values, random_candidates, candidate_values, list(data.dimensions), embedding="z"
        )
    return report


def retrieval_queries_and_candidates(
    eval_rows: list[dict], data: AttributeData, processor: M2FashionProcessor
) -> tuple[list[dict], list[dict]]:
    """Query and candidate rows (`pixel_values`, `attribute_values` with -1 = not a query/candidate there).

    DARN on disk: the `query_` / `candidate_` lists, one row per line (only the line's dimension is set).
    Otherwise (synthetic catalog): the products of the evaluation split with an even id are the queries and the
    others the candidates, so no query meets another view of its own product among the candidates.
    """
    if data.retrieval_lists is not None:
        num_dimensions = len(data.dimensions)
        roles = []
        for role in ("query", "candidate"):
            entries = data.retrieval_lists[role]
            images = encode_rows(entries.select_columns(["image"]), processor, desc=f"encoding {role} images")
            rows = []
            for image_row, attribute, value in zip(images, entries["attribute"], entries["value"]):
                values = [-1] * num_dimensions
                values[attribute] = value
                rows.append({"pixel_values": image_row["pixel_values"], "attribute_values": values})
            roles.append(rows)
        return roles[0], roles[1]
    if "product_id" not in eval_rows[0]:
        raise ValueError("Splitting evaluation rows into queries and candidates needs a product_id column.")
    queries = [row for row in eval_rows if row["product_id"] % 2 == 0]
    candidates = [row for row in eval_rows if row["product_id"] % 2 == 1]
    return queries, candidates


def evaluate_saved_model(model_path: str, data_args: M2FashionDataArguments, seed: int = 0) -> dict[str, Any]:
    """Load a model + processor saved by `train_m2fashion` and run `evaluate_m2fashion` (+ attention figure)."""
    model = M2FashionForAttributePrediction.from_pretrained(model_path, dtype=torch.float32)
    processor = M2FashionProcessor.from_pretrained(model_path)
    prepared = prepare_data(data_args, seed, processor=processor)
    report = evaluate_m2fashion(
        model, processor, prepared.eval_rows, prepared.data, data_args, train_rows=prepared.train_rows
    )
    if data_args.attention_figure:
        save_attention_figure(model, processor, prepared.data, data_args.eval_split, data_args.attention_figure)
    return report


FIGURE_COLUMNS = ("neckline", "sleeve length", "length", "pattern", "style")


def save_attention_figure(model, processor: M2FashionProcessor, data: AttributeData, split: str, path: str):
    """Paper Fig. 5 style: one row per held-out image, one column per queried attribute group (`FIGURE_COLUMNS`
    where the data has them, else the image's first positive attributes)."""
    groups = exclusive_attribute_groups(data.attribute_names, data.dimensions)
    if groups:
        columns = [column for column in FIGURE_COLUMNS if column in groups]
        examples = attention_examples_by_group(data.splits[split], data.attribute_names, groups, columns)
    else:
        examples = attention_examples(data.splits[split], data.attribute_names)
    return plot_attribute_attention(model, processor, examples, path=path)


# ----------------------------------------------------------------------------------------------
# Ablation study over seeds (paper Tables 1-2)
# ----------------------------------------------------------------------------------------------


def ablation_study(
    data_args: M2FashionDataArguments,
    training_args,
    names: Sequence[str],
    seeds: Sequence[int],
    output_file: str | None = None,
) -> dict[str, Any]:
    """Train every variant of `names` (keys of `ABLATIONS`) once per training seed on the same data.

    The catalog (seed `data_args`-independent: catalog seed 0) is loaded once. For each seed an untrained
    M2Fashion (the same initialisation as its trained run) gives the init-only control of the attention analyses.

    Returns (and writes to `output_file` after every run) `{"runs": {name: [report per seed]}, "init_control":
    [analysis per seed], "baselines": frequency baselines}`; each report is `evaluate_m2fashion`'s plus `seed`.
    """
    import dataclasses

    from transformers import set_seed

    unknown = [name for name in names if name not in ABLATIONS]
    if unknown:
        raise ValueError(f"Unknown ablation(s) {unknown}; expected names from {list(ABLATIONS)}.")
    prepared = prepare_data(data_args, seed=0)
    study: dict[str, Any] = {"runs": {}, "init_control": []}

    def write():
        if output_file:
            with open(output_file, "w", encoding="utf-8") as handle:
                json.dump(study, handle, indent=2)

    for seed in seeds:
        set_seed(seed)
        initial = build_model(
            data_args.preset, prepared.num_labels, len(prepared.data.attribute_names), prepared.data.category_names,
            **data_args.config_overrides(),
        )
        groups = exclusive_attribute_groups(prepared.data.attribute_names, prepared.data.dimensions)
        control = {"seed": seed, "attention": attention_analysis(initial, prepared.eval_rows, prepared.data, prepared.data.attribute_names)}
        if groups:
            queries, candidates = retrieval_queries_and_candidates(prepared.eval_rows, prepared.data, prepared.processor)
            control["conditioned_retrieval"] = conditioned_retrieval_map(initial, queries, candidates, groups)
        study["init_control"].append(control)
    for name in names:
        for seed in seeds:
            folder = os.path.join(training_args.output_dir, name.replace("/", "").replace(" ", "_"), f"seed{seed}")
            run_args = dataclasses.replace(training_args, output_dir=folder, seed=seed)
            run_data_args = dataclasses.replace(data_args, attention_figure=None)
            report = train_m2fashion(run_data_args, run_args, prepared=prepared, overrides=ABLATIONS[name])
            study["baselines"] = report.get("baselines")
            report["seed"] = seed
            study["runs"].setdefault(name, []).append(report)
            write()
    write()
    return study


def _mean_sd(values: list[float]) -> str:
    values = [value for value in values if value is not None and not (isinstance(value, float) and math.isnan(value))]
    if not values:
        return "-"
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((value - mean) ** 2 for value in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return f"{mean:.3f} ± {sd:.3f}" if abs(mean) < 2 else f"{mean:.1f} ± {sd:.1f}"


def _lookup(report: dict, path: Sequence[str]):
    for key in path:
        if not isinstance(report, dict) or key not in report:
            return None
        report = report[key]
    return report


STUDY_COLUMNS = {
    "cat top-1": ("deepfashion_c", "known=0", "category", "top1"),
    "attr R@3": ("deepfashion_c", "known=0", "attribute_all", "top3"),
    "attr R@5": ("deepfashion_c", "known=0", "attribute_all", "top5"),
    "mAP z | query attr": ("conditioned_retrieval", "z | query attribute", "mAP"),
    "mAP z (all unknown)": ("conditioned_retrieval", "z (all unknown)", "mAP"),
    "TV attributes": ("attention", "sensitivity", "tv_between_attributes_same_image"),
    "TV images": ("attention", "sensitivity", "tv_between_images"),
    "counterfactual Δ attr loss": ("attention", "counterfactual", "relative_change"),
    "counterfactual mean abs Δ per image": ("attention", "counterfactual", "mean_absolute_relative_change_per_image"),
    "Δy length − neckline": ("attention", "localisation", "pairs", "neckline<length", "mean_difference"),
    "share neckline above length": ("attention", "localisation", "pairs", "neckline<length", "fraction"),
    "Δy sleeve − neckline": ("attention", "localisation", "pairs", "neckline<sleeve length", "mean_difference"),
    "share neckline above sleeve": ("attention", "localisation", "pairs", "neckline<sleeve length", "fraction"),
}


def format_study_table(study: dict[str, Any]) -> str:
    """Markdown table of `ablation_study`: mean ± sd over seeds per variant, the init-only control and the chance
    rows (frequency baseline, random embeddings). A variant without a task shows "-" for it."""
    header = ["variant", "seeds", *STUDY_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, runs in study["runs"].items():
        overrides = ABLATIONS.get(name, {})
        cells = [name, str(len(runs))]
        for column, path in STUDY_COLUMNS.items():
            if (column == "cat top-1" and overrides.get("category_loss_weight") == 0.0) or (
                column.startswith("attr") and overrides.get("attribute_loss_weight") == 0.0
            ):
                cells.append("-")
                continue
            cells.append(_mean_sd([_lookup(run, path) for run in runs]))
        lines.append("| " + " | ".join(cells) + " |")
    controls = study.get("init_control", [])
    if controls:
        cells = ["untrained (init-only control)", str(len(controls))]
        for column, path in STUDY_COLUMNS.items():
            cells.append(_mean_sd([_lookup(control, path) for control in controls]) if path[0] in ("attention", "conditioned_retrieval") else "-")
        lines.append("| " + " | ".join(cells) + " |")
    baseline = (study.get("baselines") or {}).get("majority / frequency", {})
    first = next(iter(study["runs"].values()))[0]
    random_map = _lookup(first, ("conditioned_retrieval", "random", "mAP"))
    chance = ["chance (frequency baseline / random embeddings)", "-",
              _percent_plain(_lookup(baseline, ("category", "top1"))), _percent_plain(_lookup(baseline, ("attribute_all", "top3"))),
              _percent_plain(_lookup(baseline, ("attribute_all", "top5"))),
              f"{random_map:.3f}" if random_map is not None else "-", f"{random_map:.3f}" if random_map is not None else "-",
              "-", "-", "0", "0", "0", "0.5", "0", "0.5"]
    lines.append("| " + " | ".join(chance) + " |")
    return "\n".join(lines)


def _percent_plain(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_report_table(rows: dict[str, dict[str, dict[str, float]]], attribute_types: Sequence[str] | None) -> str:
    """A markdown table (percentages) of DeepFashion-C metrics: one row per model / setting."""
    types = list(dict.fromkeys(attribute_types)) if attribute_types else []
    header = ["Model", "Cat top-1", "Cat top-3", "Cat top-5"]
    for name in types + ["all"]:
        header += [f"{name} R@3", f"{name} R@5"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model_name, metrics in rows.items():
        cells = [model_name]
        category = metrics.get("category", {})
        cells += [_percent(category.get(key)) for key in ("top1", "top3", "top5")]
        for name in types + ["all"]:
            values = metrics.get(f"attribute_{name}", {})
            cells += [_percent(values.get("top3")), _percent(values.get("top5"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.1f}"


__all__ = [
    "ablation_study",
    "ablation_table",
    "attention_analysis",
    "attention_examples_by_group",
    "attention_localisation",
    "attention_saturation",
    "conditioned_retrieval_map",
    "exclusive_attribute_groups",
    "feature_maps",
    "format_study_table",
    "save_attention_figure",
    "spatial_counterfactual",
    "triplet_batch_sampler",
    "ABLATIONS",
    "attention_examples",
    "attention_sensitivity",
    "attribute_retrieval_embeddings",
    "AttributeData",
    "build_model",
    "darn_retrieval_map",
    "deepfashion_metrics",
    "dimension_one_hot",
    "encode_rows",
    "evaluate_m2fashion",
    "evaluate_saved_model",
    "format_report_table",
    "frequency_baselines",
    "load_attribute_data",
    "load_backbone_weights",
    "M2FashionDataArguments",
    "plot_attribute_attention",
    "predict",
    "prepare_data",
    "PreparedData",
    "retrieval_queries_and_candidates",
    "reveal_attributes",
    "run_ablations",
    "train_m2fashion",
    "with_dimension_attributes",
]
