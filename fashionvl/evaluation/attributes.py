"""Attribute metrics: DeepFashion-C top-k attribute recall and DARN attribute-specific retrieval mAP.

SPEC §6:

- DeepFashion-C (M2Fashion Table 1): attribute top-k recall (k = 3, 5) pooled over images: the sum over
  images of positives among the image's top-k scored attributes, divided by the sum of positives. Per
  attribute type (texture, fabric, shape, part, style) the ranking is within that type's attributes; "all"
  ranks all attributes together. This is not mmfashion's average over the "best 50 attributes".
- DARN (M2Fashion Table 3, ASEN protocol): for each attribute, every query of that attribute ranks the
  candidates of that attribute by cosine similarity; average precision over the full ranked list, relevant =
  same attribute value; per-attribute mAP and overall mAP weighted by the number of queries.

Ties are pessimistic, as for retrieval: among equal scores, irrelevant items rank ahead of relevant ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch


def _pessimistic_order(scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """Indices sorting each row by descending score, irrelevant items first among equal scores.

    Args:
        scores: (num_rows, num_items) float.
        relevant: (num_rows, num_items) bool.
    """
    by_relevance = torch.sort(relevant.to(torch.int8), dim=1, stable=True).indices  # irrelevant (0) first
    by_score = torch.sort(scores.gather(1, by_relevance), dim=1, descending=True, stable=True).indices
    return by_relevance.gather(1, by_score)


def attribute_topk_recall(
    scores: torch.Tensor, targets: torch.Tensor, attribute_types: Sequence[str], ks: Sequence[int] = (3, 5)
) -> dict[str, dict[str, float]]:
    """Top-k attribute recall pooled over images, per attribute type and over all attributes.

    Args:
        scores: (num_images, num_attributes) predicted scores (logits or probabilities).
        targets: (num_images, num_attributes) in {0, 1}; 1 = the image has the attribute.
        attribute_types: length ``num_attributes``, the type name of each attribute (e.g. ``"texture"``).
        ks: cut-offs; a type with fewer than ``k`` attributes uses all of them.

    Returns:
        ``{type: {"top3": ..., "top5": ...}, ..., "all": {...}}`` fractions; per type
        sum_images |top-k ∩ positives| / sum_images |positives|. Images with no positive of a type add
        nothing to that type. A type with no positive in any image gets NaN.
    """
    if scores.dim() != 2 or scores.shape != targets.shape:
        raise ValueError(
            f"scores and targets must both be (num_images, num_attributes); got {tuple(scores.shape)} "
            f"and {tuple(targets.shape)}."
        )
    if len(attribute_types) != scores.shape[1]:
        raise ValueError(f"attribute_types has {len(attribute_types)} entries, expected {scores.shape[1]} (one per attribute).")
    invalid = targets[(targets != 0) & (targets != 1)]
    if len(invalid):
        raise ValueError(
            f"targets must be 0 or 1, found {invalid[0].item()} (map DeepFashion's -1 = negative and 0 = unknown to 0)."
        )
    scores = scores.detach().float().cpu()
    targets = targets.detach().cpu().bool()
    groups: dict[str, list[int]] = {}
    for index, type_name in enumerate(attribute_types):
        groups.setdefault(str(type_name), []).append(index)
    if "all" in groups:
        raise ValueError('"all" is reserved for the pooled result; rename that attribute type.')
    groups["all"] = list(range(scores.shape[1]))

    result: dict[str, dict[str, float]] = {}
    for type_name, columns in groups.items():
        type_scores, type_targets = scores[:, columns], targets[:, columns]
        ranked_targets = type_targets.gather(1, _pessimistic_order(type_scores, type_targets))
        total_positives = int(type_targets.sum())
        result[type_name] = {
            f"top{k}": (int(ranked_targets[:, :k].sum()) / total_positives if total_positives else float("nan"))
            for k in ks
        }
    return result


def _average_precision(scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """AP of each row over its full ranked list (pessimistic ties); rows need >= 1 relevant item.

    AP = (1 / R) * sum over relevant items at 1-based position i of (relevant items within the first i) / i.
    """
    ranked = relevant.gather(1, _pessimistic_order(scores, relevant)).double()
    positions = torch.arange(1, ranked.shape[1] + 1, dtype=torch.float64)
    precision_at_position = ranked.cumsum(dim=1) / positions
    return (precision_at_position * ranked).sum(dim=1) / ranked.sum(dim=1)


def attribute_retrieval_map(
    query_embeds: torch.Tensor,
    query_values,
    candidate_embeds: torch.Tensor,
    candidate_values,
    query_attributes,
    candidate_attributes,
    chunk_size: int = 1024,
) -> dict:
    """DARN attribute-specific retrieval mAP (ASEN protocol, M2Fashion Table 3).

    For each attribute ``a``: queries of ``a`` rank the candidates of ``a`` by cosine similarity of their
    L2-normalised embeddings (the attribute-specific embeddings computed for ``a``); average precision over
    the full list with relevant = candidate value equals the query value.

    Tie handling: pessimistic, among equal similarities the irrelevant candidates rank first (a constant
    embedding gets the AP of the worst order, not of the candidate-file order). A query with no relevant
    candidate has undefined AP: it is left out (with a warning) and does not count in the weights.

    Args:
        query_embeds: (num_queries, dim).
        query_values: (num_queries,) int value of the query's attribute.
        candidate_embeds: (num_candidates, dim).
        candidate_values: (num_candidates,) int.
        query_attributes: (num_queries,) attribute id (int) of each query.
        candidate_attributes: (num_candidates,) attribute id of each candidate.
        chunk_size: queries scored at once.

    Returns:
        ``{"mAP": overall (weighted by each attribute's number of queries), "per_attribute": {id: mAP}}``.
    """
    query_values = torch.as_tensor(query_values).long().cpu()
    candidate_values = torch.as_tensor(candidate_values).long().cpu()
    query_attributes = torch.as_tensor(query_attributes).long().cpu()
    candidate_attributes = torch.as_tensor(candidate_attributes).long().cpu()
    for name, embeds, values, attributes in (
        ("query", query_embeds, query_values, query_attributes),
        ("candidate", candidate_embeds, candidate_values, candidate_attributes),
    ):
        if embeds.dim() != 2 or len(values) != len(embeds) or len(attributes) != len(embeds):
            raise ValueError(
                f"{name}_embeds must be (num_{name}s, dim) with one {name} value and attribute per row; got "
                f"embeds {tuple(embeds.shape)}, values {tuple(values.shape)}, attributes {tuple(attributes.shape)}."
            )
    query_embeds = torch.nn.functional.normalize(query_embeds.detach().float().cpu(), dim=-1)
    candidate_embeds = torch.nn.functional.normalize(candidate_embeds.detach().float().cpu(), dim=-1)

    per_attribute: dict[int, float] = {}
    all_precisions = []
    skipped = 0
    for attribute in torch.unique(query_attributes).tolist():
        query_rows = (query_attributes == attribute).nonzero().squeeze(1)
        candidate_rows = (candidate_attributes == attribute).nonzero().squeeze(1)
        if len(candidate_rows) == 0:
            raise ValueError(f"attribute {attribute} has {len(query_rows)} queries but no candidates.")
        precisions = []
        for start in range(0, len(query_rows), chunk_size):
            rows = query_rows[start : start + chunk_size]
            similarity = query_embeds[rows] @ candidate_embeds[candidate_rows].T
            relevant = query_values[rows][:, None] == candidate_values[candidate_rows][None, :]
            has_relevant = relevant.any(dim=1)
            skipped += int((~has_relevant).sum())
            if has_relevant.any():
                precisions.append(_average_precision(similarity[has_relevant], relevant[has_relevant]))
        if precisions:
            attribute_precisions = torch.cat(precisions)
            per_attribute[attribute] = attribute_precisions.mean().item()
            all_precisions.append(attribute_precisions)
    if skipped:
        warnings.warn(f"{skipped} queries have no candidate with their attribute value and were left out of the mAP.")
    if not all_precisions:
        raise ValueError("no query has a relevant candidate; mAP is undefined.")
    # Mean over all queries = per-attribute mAP weighted by its number of (evaluated) queries.
    return {"mAP": torch.cat(all_precisions).mean().item(), "per_attribute": per_attribute}


__all__ = ["attribute_retrieval_map", "attribute_topk_recall"]
