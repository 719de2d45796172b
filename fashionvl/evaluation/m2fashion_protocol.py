"""M2Fashion evaluation protocols (SPEC §6): DeepFashion-C metrics, frequency baselines, DARN attribute-specific
retrieval, attribute-conditioned retrieval, and the markdown tables of the ablation study.

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

Rows are pre-processed dicts `{"pixel_values": (3, H, W), "category": int, "attributes": K values in {-1, 0, 1}}`
(see `fashionvl.recipes.m2fashion.encode_rows`); models are `M2FashionForAttributePrediction`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from ..processing.collators_m2fashion import M2FashionDataCollator
from .attributes import attribute_retrieval_map, attribute_topk_recall
from .classification import topk_accuracy


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
def attend_under(model, maps: torch.Tensor, attribute: int | None, batch_size: int = 256):
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


def group_values(rows: list[dict], group: list[int]) -> torch.Tensor:
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
    query_maps, candidate_maps = feature_maps(model, query_rows), feature_maps(model, candidate_rows)
    unconditioned_query = attend_under(model, query_maps, None)[0]
    unconditioned_candidate = attend_under(model, candidate_maps, None)[0]
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, dict[str, list]] = {name: {"q": [], "qv": [], "qa": [], "c": [], "cv": [], "ca": []}
                                         for name in ("z | query attribute", "z (all unknown)", "random")}
    group_of_attribute = {}
    for name, group in groups.items():
        query_values, candidate_values = group_values(query_rows, group), group_values(candidate_rows, group)
        candidates = (candidate_values >= 0).nonzero().squeeze(1)
        for position, attribute in enumerate(group):
            queries = (query_values == position).nonzero().squeeze(1)
            if len(queries) == 0 or len(candidates) == 0:
                continue
            group_of_attribute[attribute] = name
            conditioned_query = attend_under(model, query_maps[queries], attribute)[0]
            conditioned_candidate = attend_under(model, candidate_maps[candidates], attribute)[0]
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


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------


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
    "mAP z given query attr": ("conditioned_retrieval", "z | query attribute", "mAP"),
    "mAP z (all unknown)": ("conditioned_retrieval", "z (all unknown)", "mAP"),
    "TV attributes": ("attention", "sensitivity", "tv_between_attributes_same_image"),
    "TV images": ("attention", "sensitivity", "tv_between_images"),
    "TV images, same attribute": ("attention", "sensitivity", "tv_between_images_same_attribute"),
    "counterfactual Δ attr loss": ("attention", "counterfactual", "relative_change"),
    "counterfactual mean abs Δ per image": ("attention", "counterfactual", "mean_absolute_relative_change_per_image"),
    "no-ASA Δ attr loss": ("attention", "counterfactual", "uniform_attention_relative_change"),
    "counterfactual Δ, label-mask states": ("attention", "counterfactual_label_mask", "relative_change"),
    "no-ASA Δ, label-mask states": ("attention", "counterfactual_label_mask", "uniform_attention_relative_change"),
    "counterfactual Δ, group query": ("attention", "counterfactual_group_query", "relative_change"),
    "no-ASA Δ, group query": ("attention", "counterfactual_group_query", "uniform_attention_relative_change"),
    "Δy length − neckline": ("attention", "localisation", "pairs", "neckline<length", "mean_difference"),
    "share neckline above length": ("attention", "localisation", "pairs", "neckline<length", "fraction"),
    "Δy sleeve − neckline": ("attention", "localisation", "pairs", "neckline<sleeve length", "mean_difference"),
    "share neckline above sleeve": ("attention", "localisation", "pairs", "neckline<sleeve length", "fraction"),
}


def format_study_table(study: dict[str, Any], variants: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """Markdown table of an ablation study (`fashionvl.recipes.m2fashion.ablation_study`): mean ± sd over seeds
    per variant, the init-only control and the chance rows (frequency baseline, random embeddings).

    Args:
        study: `{"runs": {variant: [report per seed]}, "init_control": [...], "baselines": ...}`.
        variants: each variant's config overrides; a variant with `category_loss_weight` / `attribute_loss_weight`
            0 shows "-" for that task.
    """
    header = ["variant", "seeds", *STUDY_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, runs in study["runs"].items():
        overrides = (variants or {}).get(name, {})
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
    random_cell = f"{random_map:.3f}" if random_map is not None else "-"
    chance_cells = {
        "cat top-1": _percent_plain(_lookup(baseline, ("category", "top1"))),
        "attr R@3": _percent_plain(_lookup(baseline, ("attribute_all", "top3"))),
        "attr R@5": _percent_plain(_lookup(baseline, ("attribute_all", "top5"))),
        "mAP z given query attr": random_cell,
        "mAP z (all unknown)": random_cell,
    }
    for column in STUDY_COLUMNS:  # an attention that ignores the query: no change, no order (half the images)
        if column.startswith(("counterfactual", "no-ASA", "Δy")):
            chance_cells[column] = "0"
        elif column.startswith("share"):
            chance_cells[column] = "0.5"
    chance = ["chance (frequency baseline / random embeddings)", "-", *(chance_cells.get(column, "-") for column in STUDY_COLUMNS)]
    lines.append("| " + " | ".join(chance) + " |")
    return "\n".join(lines)


def merge_studies(studies: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One study from several (e.g. variants or seeds run in separate processes): runs per variant and init-only
    controls joined and sorted by seed; a seed that two studies ran for the same variant is an error."""
    merged: dict[str, Any] = {"runs": {}, "init_control": {}, "baselines": None}
    for study in studies:
        for name, runs in study["runs"].items():
            by_seed = merged["runs"].setdefault(name, {})
            for run in runs:
                if run["seed"] in by_seed:
                    raise ValueError(f"Variant {name!r} has seed {run['seed']} in two of the merged studies.")
                by_seed[run["seed"]] = run
        for control in study.get("init_control", []):  # the same seed's controls: the union of their analyses
            existing = merged["init_control"].setdefault(control["seed"], {})
            for key, value in control.items():
                existing[key] = {**value, **existing[key]} if isinstance(value, dict) and key in existing else existing.get(key, value)
        merged["baselines"] = merged["baselines"] or study.get("baselines")
    return {
        "runs": {name: [runs[seed] for seed in sorted(runs)] for name, runs in merged["runs"].items()},
        "init_control": [merged["init_control"][seed] for seed in sorted(merged["init_control"])],
        "baselines": merged["baselines"],
    }


def format_paired_differences(study: dict[str, Any], first: str, second: str) -> str:
    """Per-seed differences `first - second` of two columns of `STUDY_COLUMNS` for every variant (paired: the same
    seed trains both measurements' model), with their mean ± sd and how many seeds are > 0."""
    lines = [f"Per-seed {first} − {second}:"]
    for name, runs in [*study["runs"].items(), ("untrained (init-only control)", study.get("init_control", []))]:
        pairs = [(_lookup(run, STUDY_COLUMNS[first]), _lookup(run, STUDY_COLUMNS[second])) for run in runs]
        differences = [a - b for a, b in pairs if a is not None and b is not None]
        if differences:
            listed = " / ".join(f"{value:+.3f}" for value in differences)
            positive = sum(value > 0 for value in differences)
            lines.append(f"- {name}: {listed} (mean {_mean_sd(differences)}, > 0 on {positive} of {len(differences)} seeds)")
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
    "STUDY_COLUMNS",
    "attend_under",
    "attribute_retrieval_embeddings",
    "conditioned_retrieval_map",
    "darn_retrieval_map",
    "deepfashion_metrics",
    "exclusive_attribute_groups",
    "feature_maps",
    "format_report_table",
    "format_paired_differences",
    "format_study_table",
    "merge_studies",
    "frequency_baselines",
    "group_values",
    "predict",
    "reveal_attributes",
]
