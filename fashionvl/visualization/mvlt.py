"""MVLT's figures: MIG reconstructions (paper Fig. 7), TIR examples (paper Fig. 5) and the curves of the retrieval
diagnostics (`fashionvl.training.callbacks.MVLTDiagnosticsCallback`).

Each function takes what it draws from as parameters (the model, its processor, an `EncodedImageTextSplit`, a
Trainer log history) and writes a PNG to `path`; scores come from `fashionvl.evaluation.mvlt_protocol`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ..evaluation.mvlt_protocol import (
    EncodedImageTextSplit,
    encode_itc_features,
    fused_draw_scores,
    itc_score_function,
    itm_score_function,
    uses_itc,
)
from ..evaluation.retrieval import sample_same_subcategory_candidates
from ..processing.masking import MaskGenerator
from ._figures import denormalize, figure_to_image, make_image_grid
from .plots import plot_grouped_curves, plot_reconstruction_grid, plot_retrieval_results


if TYPE_CHECKING:
    from ..modeling.modeling_mvlt import MVLTForImageTextRetrieval, MVLTForPreTraining
    from ..processing.processing_mvlt import MVLTProcessor


@torch.no_grad()
def save_reconstruction_grid(model: MVLTForPreTraining, processor: MVLTProcessor, encoded: EncodedImageTextSplit, path: str,
                             num_images: int = 8, mask_ratio: float = 0.5, seed: int = 0) -> str:
    """MIG (paper Task 4 / Fig. 7): originals, masked inputs and the MIR reconstructions of the first rows."""
    model.eval()
    rows = torch.arange(min(num_images, len(encoded)))
    image_processor = processor.image_processor
    mask_generator = MaskGenerator(
        image_size=model.config.image_size, mask_unit_size=model.config.mask_unit_size, mask_ratio=mask_ratio
    )
    bool_masked_pos = mask_generator(len(rows), generator=torch.Generator().manual_seed(seed))
    device = next(model.parameters()).device
    text = {name: value.to(device) for name, value in encoded.text(rows).items()}
    pixel_values = encoded.pixel_values[rows]
    output = model(pixel_values=pixel_values.to(device), bool_masked_pos=bool_masked_pos.to(device), **text)
    plot_reconstruction_grid(
        pixel_values, output.reconstruction.float().cpu(), bool_masked_pos=bool_masked_pos,
        mask_unit_size=model.config.mask_unit_size, mean=image_processor.image_mean, std=image_processor.image_std,
        path=path, max_images=num_images,
    )
    return path


def save_retrieval_examples(model: MVLTForImageTextRetrieval, processor: MVLTProcessor, encoded: EncodedImageTextSplit,
                            path: str, num_queries: int = 3, num_negatives: int = 100, top_k: int = 5,
                            seed: int = 0, pair_batch_size: int = 256) -> str:
    """TIR examples (paper Fig. 5): each query caption above its top-k images among 1 + `num_negatives` candidates."""
    candidate_sets = sample_same_subcategory_candidates(
        encoded.subcategory, encoded.product_id, num_queries=num_queries, num_negatives=num_negatives, seed=seed
    )
    queries, candidates = candidate_sets.query_indices, candidate_sets.candidate_indices
    if uses_itc(model):  # the fused score (the default ranking of a model trained with ITC)
        draw = {"itm": itm_score_function(model, encoded, "tir", pair_batch_size, output="log_odds")(queries, candidates),
                "itc": itc_score_function(*encode_itc_features(model, encoded, pair_batch_size), "tir")(queries, candidates)}
        scores = fused_draw_scores(draw, model.mvlt.logit_scale.item(), float(model.config.itm_fusion_weight))
    else:
        scores = itm_score_function(model, encoded, "tir", pair_batch_size)(queries, candidates)
    image_processor = processor.image_processor
    panels = []
    for query, candidates, query_scores in zip(candidate_sets.query_indices, candidate_sets.candidate_indices, scores):
        # Pessimistic order for display too: the positive (column 0) goes after candidates with the same score.
        order = sorted(range(len(candidates)), key=lambda column: (-float(query_scores[column]), column == 0))[:top_k]
        images = denormalize(encoded.pixel_values[candidates[order]], image_processor.image_mean, image_processor.image_std)
        positive = order.index(0) if 0 in order else None
        figure = plot_retrieval_results(
            encoded.captions[int(query)], list(images), scores=[float(query_scores[c]) for c in order],
            positive_index=positive,
        )
        panels.append(figure_to_image(figure))
    width = max(panel.width for panel in panels)
    make_image_grid([panel.resize((width, round(panel.height * width / panel.width))) for panel in panels],
                    num_columns=1).save(path)
    return path


def save_diagnostic_curves(log_history: Sequence[dict], path: str, chance_recall_at_10: float | None = None) -> str | None:
    """The `MVLTDiagnosticsCallback` values against the step (one panel per diagnostic), or None when none was logged."""
    if not any(key.startswith("diag_") for entry in log_history for key in entry):
        return None
    groups = {
        "ITM accuracy by pair kind (held-out)": [f"diag_itm_acc_{kind}" for kind in ("positive", "random", "same_sub", "itc_hard")],
        "same-sub-category TIR R@10 (held-out)": [f"diag_{score}_r@10" for score in ("itc", "itm", "fused")],
        "colour-word probe: MLM accuracy (true vs shuffled image)": ["diag_grounding_true", "diag_grounding_shuffled"],
        "[CLS] attention mass on vision keys, per stage": [f"diag_cls_vision_attention_{stage}" for stage in range(1, 5)],
    }
    references = {}
    if chance_recall_at_10 is not None:
        references["same-sub-category TIR R@10 (held-out)"] = chance_recall_at_10
    plot_grouped_curves(log_history, groups, reference_lines=references, path=path)
    return path


__all__ = ["save_diagnostic_curves", "save_reconstruction_grid", "save_retrieval_examples"]
