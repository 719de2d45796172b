"""MVLT's evaluation protocols (MVLT paper Table 2, SPEC §6): score functions, seeded draws, fusion calibration,
category recognition, chance levels and the results table.

Retrieval: TIR and ITR rank 1 positive + 100 negatives of the positive's sub-category by the ITM match probability
(the paper's score), over `num_draws` seeded draws of `num_queries` queries (R@1/5/10, SumR), plus a full-gallery
mode. A model trained with ITC (our addition) is also scored by the cosine of its ITC embeddings and by the fused
score ITC + `itm_fusion_weight` x ITM log-odds; `calibrate_fusion_weight` chooses the weight on products used
neither for training nor for evaluation. Category recognition reports accuracy and macro-F1 (SumC) for the main
and the sub-category. Direction names follow `fashionvl.evaluation.retrieval`: TIR = a caption queries candidate
images, ITR = an image queries candidate captions. Chance levels: R@k = k / (1 + num_negatives); for recognition,
always predicting the training split's most frequent class.

Every function takes the model and an `EncodedImageTextSplit` (every row of a split processed once); none of them
imports a model class, so `import fashionvl.evaluation.mvlt_protocol` stays light.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from .classification import classification_metrics, sum_c
from .retrieval import (
    evaluate_full_gallery_retrieval,
    recall_at_k,
    sample_same_subcategory_candidates,
    score_candidate_sets,
    sum_r,
)


if TYPE_CHECKING:
    from ..modeling.modeling_mvlt import MVLTForCategoryRecognition, MVLTForImageTextRetrieval
    from ..processing.processing_mvlt import MVLTProcessor

RECALL_KS = (1, 5, 10)


@dataclass
class EncodedImageTextSplit:
    """Every row of a split, processed once: `(num_rows, ...)` tensors plus the label and product ids."""

    pixel_values: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    category: torch.Tensor
    subcategory: torch.Tensor
    product_id: torch.Tensor
    captions: list[str]

    def __len__(self) -> int:
        return len(self.product_id)

    def text(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """The captions of `indices`, cut to the longest of them (the model masks padding, so scores are unchanged)."""
        length = max(1, int(self.attention_mask[indices].sum(dim=1).max()))
        return {"input_ids": self.input_ids[indices, :length], "attention_mask": self.attention_mask[indices, :length],
                "token_type_ids": self.token_type_ids[indices, :length]}


def encode_image_text_split(dataset, processor: MVLTProcessor, max_length: int, batch_size: int = 128,
                            progress: bool = True) -> EncodedImageTextSplit:
    """Process every image and caption of `dataset` once (padded to `max_length`) for the evaluation loops."""
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in ("pixel_values", "input_ids", "attention_mask", "token_type_ids")}
    for start in tqdm(range(0, len(dataset), batch_size), desc="encoding split", disable=not progress):
        rows = dataset[start : start + batch_size]
        encoded = processor(images=rows["image"], text=rows["caption"], padding="max_length", truncation=True,
                            max_length=max_length, return_tensors="pt")
        for name in parts:
            parts[name].append(encoded[name])
    return EncodedImageTextSplit(
        **{name: torch.cat(values) for name, values in parts.items()},
        category=torch.tensor(dataset["category"]),
        subcategory=torch.tensor(dataset["subcategory"]),
        product_id=torch.tensor(dataset["product_id"]),
        captions=list(dataset["caption"]),
    )


def itm_score_function(model: MVLTForImageTextRetrieval, encoded: EncodedImageTextSplit, direction: str,
                       pair_batch_size: int = 256, output: str = "probability") -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A `fashionvl.evaluation.ScoreFunction` scoring (query, candidate) rows by the ITM head.

    `direction="tir"`: the query row's caption against the candidate rows' images; `"itr"`: the query row's image
    against the candidate rows' captions. `output="probability"`: the match probability (the paper's score);
    `"log_odds"`: logit(match) - logit(no match), the same ranking, the ITM term of the fused score.
    """
    if output not in ("probability", "log_odds"):
        raise ValueError(f"output must be 'probability' or 'log_odds', got {output!r}.")
    if direction not in ("tir", "itr"):
        raise ValueError(f"direction must be 'tir' or 'itr', got {direction!r}.")
    device = next(model.parameters()).device

    @torch.no_grad()
    def score(query_indices: torch.Tensor, candidate_indices: torch.Tensor) -> torch.Tensor:
        model.eval()
        queries = query_indices[:, None].expand_as(candidate_indices).reshape(-1)
        candidates = candidate_indices.reshape(-1)
        text_rows, image_rows = (queries, candidates) if direction == "tir" else (candidates, queries)
        scores = []
        for start in range(0, len(candidates), pair_batch_size):
            text = encoded.text(text_rows[start : start + pair_batch_size])
            pixel_values = encoded.pixel_values[image_rows[start : start + pair_batch_size]]
            batch = {name: value.to(device) for name, value in text.items()}
            logits = model.get_itm_logits(pixel_values=pixel_values.to(device), **batch).float().cpu()
            scores.append(logits.softmax(dim=-1)[:, 1] if output == "probability" else logits[:, 1] - logits[:, 0])
        return torch.cat(scores).view(candidate_indices.shape)

    return score


@torch.no_grad()
def encode_itc_features(model, encoded: EncodedImageTextSplit, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """ITC embeddings of every row's image and caption, `(num_rows, projection_dim)` each, L2-normalised."""
    model.eval()
    device = next(model.parameters()).device
    image_features, text_features = [], []
    for start in range(0, len(encoded), batch_size):
        rows = torch.arange(start, min(start + batch_size, len(encoded)))
        text = {name: value.to(device) for name, value in encoded.text(rows).items()}
        image_features.append(model.get_image_features(encoded.pixel_values[rows].to(device)).float().cpu())
        text_features.append(model.get_text_features(**text).float().cpu())
    return torch.cat(image_features), torch.cat(text_features)


def itc_score_function(image_features: torch.Tensor, text_features: torch.Tensor,
                       direction: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A `ScoreFunction` scoring (query, candidate) rows by the cosine of their ITC embeddings (precomputed)."""
    if direction not in ("tir", "itr"):
        raise ValueError(f"direction must be 'tir' or 'itr', got {direction!r}.")
    query_features, candidate_features = (
        (text_features, image_features) if direction == "tir" else (image_features, text_features)
    )

    def score(query_indices: torch.Tensor, candidate_indices: torch.Tensor) -> torch.Tensor:
        return torch.einsum("qd,qcd->qc", query_features[query_indices], candidate_features[candidate_indices])

    return score


def uses_itc(model) -> bool:
    """Whether `model` was trained with the ITC objective (its `get_*_features` mean something)."""
    return float(getattr(model.config, "itc_loss_weight", 0.0)) > 0


def score_retrieval_draws(model, encoded: EncodedImageTextSplit, direction: str, num_queries: int, num_draws: int,
                          num_negatives: int, seed: int, pair_batch_size: int = 256, itc_features=None,
                          progress: bool = True) -> list[dict[str, torch.Tensor]]:
    """For each seeded draw of the 1 + `num_negatives` protocol: the candidate sets and `(num_queries, 1 +
    num_negatives)` score matrices `"itm"` (ITM log-odds) and, with `itc_features`, `"itc"` (cosine)."""
    itm = itm_score_function(model, encoded, direction, pair_batch_size, output="log_odds")
    itc = None if itc_features is None else itc_score_function(*itc_features, direction)
    draws = []
    for draw in range(num_draws):
        candidate_sets = sample_same_subcategory_candidates(
            encoded.subcategory, encoded.product_id, num_queries=num_queries, num_negatives=num_negatives,
            seed=seed + draw,
        )
        scores = {"positives": candidate_sets.positives,
                  "itm": score_candidate_sets(itm, candidate_sets, progress=progress)}
        if itc is not None:
            scores["itc"] = score_candidate_sets(itc, candidate_sets, progress=False)
        draws.append(scores)
    return draws


def fused_draw_scores(draw: dict[str, torch.Tensor], logit_scale: float, itm_fusion_weight: float) -> torch.Tensor:
    """The fused score matrix of one scored draw (`fuse_retrieval_scores` on precomputed parts)."""
    return math.exp(min(logit_scale, math.log(100.0))) * draw["itc"] + itm_fusion_weight * draw["itm"]


def summarise_draws(draws: list[dict[str, torch.Tensor]], kind: str, logit_scale: float = 0.0,
                    itm_fusion_weight: float = 1.0, ks: Sequence[int] = RECALL_KS) -> dict[str, Any]:
    """R@k means over draws (and SumR) of one score `kind` ("itm", "itc" or "fused"), with the per-draw recalls."""
    per_draw = []
    for draw in draws:
        scores = fused_draw_scores(draw, logit_scale, itm_fusion_weight) if kind == "fused" else draw[kind]
        per_draw.append(recall_at_k(scores, draw["positives"], ks))
    result: dict[str, Any] = {key: float(sum(recalls[key] for recalls in per_draw) / len(per_draw)) for key in per_draw[0]}
    if all(f"R@{k}" in result for k in (1, 5, 10)):
        result["SumR"] = sum_r(result)
    result["draws"] = per_draw
    return result


FUSION_WEIGHT_GRID = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


def calibrate_fusion_weight(model, encoded: EncodedImageTextSplit, num_queries: int = 100, num_negatives: int = 50,
                            num_draws: int = 2, seed: int = 1000, grid: Sequence[float] = FUSION_WEIGHT_GRID,
                            min_gain: float = 10.0, pair_batch_size: int = 256, progress: bool = True) -> dict[str, Any]:
    """Choose `itm_fusion_weight` on a calibration split (products used neither for training nor for evaluation):
    the grid value with the highest SumR of the fused score, TIR and ITR together, but a weight > 0 only when it
    beats ITC alone (weight 0) by more than `min_gain` SumR points. The margin guards against choosing ITM on
    calibration noise (with 40 queries one query moves SumR by 2.5 points per recall level): measured, a weight picked
    on a 5-point gain lowered held-out SumR by 18 points.

    Returns `{"itm_fusion_weight": chosen, "sumr_by_weight": {weight: SumR}, "min_gain": min_gain}`.
    """
    features = encode_itc_features(model, encoded, pair_batch_size)
    logit_scale = model.mvlt.logit_scale.item()
    by_direction = [
        score_retrieval_draws(model, encoded, direction, num_queries, num_draws, num_negatives, seed,
                              pair_batch_size, itc_features=features, progress=progress)
        for direction in ("tir", "itr")
    ]
    sumr = {weight: sum(summarise_draws(draws, "fused", logit_scale, weight)["SumR"] for draws in by_direction)
            for weight in grid}
    return {"itm_fusion_weight": choose_fusion_weight(sumr, min_gain),
            "sumr_by_weight": {str(weight): value for weight, value in sumr.items()}, "min_gain": min_gain}


def choose_fusion_weight(sumr_by_weight: dict[float, float], min_gain: float = 10.0) -> float:
    """The weight with the highest SumR (the smaller weight on ties); 0 (ITC alone) unless the best beats weight 0 by
    more than `min_gain`."""
    best = max(sumr_by_weight, key=lambda weight: (sumr_by_weight[weight], -weight))
    if 0.0 in sumr_by_weight and sumr_by_weight[best] - sumr_by_weight[0.0] <= min_gain:
        return 0.0  # ITM does not clearly help on this split: rank by ITC alone
    return float(best)


def evaluate_retrieval(model: MVLTForImageTextRetrieval, encoded: EncodedImageTextSplit, num_queries: int = 1000,
                       num_draws: int = 5, num_negatives: int = 100, evaluation_seed: int = 0,
                       pair_batch_size: int = 256, full_gallery: bool = False, max_full_gallery_queries: int = 200,
                       progress: bool = True) -> dict[str, dict]:
    """TIR and ITR with 1 positive + `num_negatives` same-sub-category negatives over `num_draws` seeded draws of
    `num_queries` queries (and, with `full_gallery`, `max_full_gallery_queries` queries against the whole split).

    A model trained with ITC is scored three ways on the same draws: `tir` / `itr` = the fused score (ITC + ITM,
    `config.itm_fusion_weight`; our default), `tir_itc` / `itr_itc` (ITC alone), `tir_itm` / `itr_itm` (ITM
    alone: the paper's method). Without ITC, `tir` / `itr` are the ITM scores.
    """
    results = {}
    with_itc = uses_itc(model)
    features = encode_itc_features(model, encoded, pair_batch_size) if with_itc else None
    logit_scale = model.mvlt.logit_scale.item() if with_itc else 0.0
    fusion_weight = float(model.config.itm_fusion_weight)
    for direction in ("tir", "itr"):
        draws = score_retrieval_draws(
            model, encoded, direction, num_queries, num_draws, num_negatives, evaluation_seed, pair_batch_size,
            itc_features=features, progress=progress,
        )
        if with_itc:
            results[direction] = summarise_draws(draws, "fused", logit_scale, fusion_weight)
            results[f"{direction}_itc"] = summarise_draws(draws, "itc")
            results[f"{direction}_itm"] = summarise_draws(draws, "itm")
        else:
            results[direction] = summarise_draws(draws, "itm")
        if full_gallery:
            score = itm_score_function(model, encoded, direction, pair_batch_size)
            generator = torch.Generator().manual_seed(evaluation_seed)
            queries = torch.randperm(len(encoded), generator=generator)[:max_full_gallery_queries]
            results[f"{direction}_full_gallery"] = evaluate_full_gallery_retrieval(
                score, encoded.product_id, query_indices=queries, ks=RECALL_KS, progress=progress
            )
    return results


@torch.no_grad()
def predict_categories(model: MVLTForCategoryRecognition, encoded: EncodedImageTextSplit, batch_size: int = 128,
                       progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted (main, sub) category ids of every row, `(num_rows,)` each."""
    model.eval()
    device = next(model.parameters()).device
    main, sub = [], []
    for start in tqdm(range(0, len(encoded), batch_size), desc="recognising categories", disable=not progress):
        rows = torch.arange(start, min(start + batch_size, len(encoded)))
        batch = {name: value.to(device) for name, value in encoded.text(rows).items()}
        output = model(pixel_values=encoded.pixel_values[rows].to(device), **batch)
        main.append(output.main_category_logits.argmax(-1).cpu())
        sub.append(output.sub_category_logits.argmax(-1).cpu())
    return torch.cat(main), torch.cat(sub)


def evaluate_category_recognition(model: MVLTForCategoryRecognition, encoded: EncodedImageTextSplit, batch_size: int = 128,
                                  progress: bool = True) -> dict[str, dict[str, float]]:
    """M-CR and S-CR: accuracy, macro-F1 and SumC."""
    main, sub = predict_categories(model, encoded, batch_size, progress)
    results = {}
    for name, predictions, labels in (("main_category", main, encoded.category), ("sub_category", sub, encoded.subcategory)):
        metrics = classification_metrics(predictions, labels)
        metrics["SumC"] = sum_c(metrics)
        results[name] = metrics
    return results


def chance_levels(train_labels: dict[str, Sequence[int]], eval_labels: dict[str, Sequence[int]],
                  num_negatives: int = 100, ks: Sequence[int] = RECALL_KS) -> dict[str, dict[str, float]]:
    """What guessing scores: R@k = k / (1 + num_negatives) for TIR/ITR; for recognition, the accuracy and macro-F1
    of always predicting the training split's most frequent class (`train_labels` / `eval_labels` map
    "main_category" / "sub_category" to label lists)."""
    recalls = {f"R@{k}": min(1.0, k / (1 + num_negatives)) for k in ks}
    if all(f"R@{k}" in recalls for k in (1, 5, 10)):
        recalls["SumR"] = sum_r(recalls)
    chance: dict[str, dict[str, float]] = {"tir": dict(recalls), "itr": dict(recalls)}
    for name, labels in eval_labels.items():
        majority = torch.as_tensor(list(train_labels[name])).bincount().argmax()
        labels = torch.as_tensor(list(labels))
        metrics = classification_metrics(torch.full_like(labels, int(majority)), labels)
        metrics["SumC"] = sum_c(metrics)
        chance[name] = metrics
    return chance


def format_results_table(metrics: dict[str, dict], chance: dict[str, dict] | None = None, title: str = "MVLT") -> str:
    """A Markdown table in the layout of the paper's Table 2 (Task, Metric, value[, chance]).

    When the metrics hold ITC and ITM rows (`tir_itc`, `tir_itm`, ...), TIR / ITR show the fused score (ours) with the
    ITC-only (ours) and ITM-only (the paper's method) values next to it in the same cell."""
    rows = []
    for task, key in (("TIR", "tir"), ("ITR", "itr")):
        if key in metrics:
            parts = [(key, "")] + [(f"{key}_{kind}", kind.upper()) for kind in ("itc", "itm") if f"{key}_{kind}" in metrics]

            def cell(metric, percent=True):
                values = [(f"{100 * metrics[name][metric]:.2f}%" if percent else f"{metrics[name][metric]:.2f}")
                          + (f" ({label})" if label else "") for name, label in parts]
                return values[0] + (" · " + " · ".join(values[1:]) if len(values) > 1 else "")

            for metric in ("R@1", "R@5", "R@10"):
                rows.append((task, metric, cell(metric), f"{100 * chance[key][metric]:.2f}%" if chance else None))
            rows.append((task, "SumR", cell("SumR", percent=False), f"{chance[key]['SumR']:.2f}" if chance else None))
    for task, key in (("M-CR", "main_category"), ("S-CR", "sub_category")):
        if key in metrics:
            values, reference = metrics[key], chance.get(key) if chance else None
            rows.append((task, "A", f"{100 * values['accuracy']:.2f}%",
                         f"{100 * reference['accuracy']:.2f}%" if reference else None))
            rows.append((task, "macro-F", f"{values['macro_f1']:.3f}", f"{reference['macro_f1']:.3f}" if reference else None))
            rows.append((task, "SumC", f"{values['SumC']:.2f}", f"{reference['SumC']:.2f}" if reference else None))
    header = f"| Task | Metric | {title} |" + (" Chance |" if chance else "")
    separator = "|---|---|---:|" + ("---:|" if chance else "")
    lines = [header, separator]
    for task, metric, value, reference in rows:
        lines.append(f"| {task} | {metric} | {value} |" + (f" {reference} |" if chance else ""))
    return "\n".join(lines)


__all__ = [
    "FUSION_WEIGHT_GRID",
    "RECALL_KS",
    "EncodedImageTextSplit",
    "calibrate_fusion_weight",
    "chance_levels",
    "choose_fusion_weight",
    "encode_image_text_split",
    "encode_itc_features",
    "evaluate_category_recognition",
    "evaluate_retrieval",
    "format_results_table",
    "fused_draw_scores",
    "itc_score_function",
    "itm_score_function",
    "predict_categories",
    "score_retrieval_draws",
    "summarise_draws",
    "uses_itc",
]
