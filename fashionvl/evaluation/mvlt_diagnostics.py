"""Diagnostics of MVLT pre-training that show whether retrieval is being learned (retrieval issue, item 6).

Measured on a held-out slice (`EncodedImageTextSplit` of products never trained on), at every `every_steps` optimizer steps
by `fashionvl.training.callbacks.MVLTDiagnosticsCallback`, and written into the Trainer's `log_history` (so into `log_history.json` and the
demo's curves) under `diag_*` keys:

- `diag_itm_acc_<kind>`: ITM accuracy (match probability > 0.5 is "match") on positive pairs and on three kinds of
  negatives: `random` (a caption of another product), `same_sub` (another product of the same sub-category, the
  evaluation protocol's negatives) and `itc_hard` (the most ITC-similar caption of another product; only with ITC);
- `diag_<score>_r@k`: same-sub-category TIR R@1/5/10 (1 + 100 candidates, or as many as the slice holds) of the
  ITC, ITM and fused scores;
- `diag_grounding_true` / `diag_grounding_shuffled`: the colour-word probe: the colour word of each caption is
  replaced by [MASK] and the MLM head predicts it among the candidate words, with the product's own image and with
  another product's image (a grounded encoder is right with its own image and at chance with a shuffled one);
- `diag_cls_vision_attention_<stage>`: mean attention mass of the [CLS] query on the vision keys, per stage.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from .mvlt_protocol import (
    EncodedImageTextSplit,
    encode_itc_features,
    fused_draw_scores,
    itc_score_function,
    itm_score_function,
    uses_itc,
)
from .retrieval import recall_at_k, sample_same_subcategory_candidates, score_candidate_sets


logger = logging.getLogger(__name__)


@torch.no_grad()
def itm_accuracy_by_negative_kind(model, encoded: EncodedImageTextSplit, num_rows: int = 64, seed: int = 0,
                                  itc_features=None) -> dict[str, float]:
    """ITM accuracy on `num_rows` positive pairs and on one negative caption of each kind per row (see module doc)."""
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randperm(len(encoded), generator=generator)[:num_rows]
    negatives: dict[str, list[int]] = {"random": [], "same_sub": [], "itc_hard": []}
    for row in rows.tolist():
        others = (encoded.product_id != encoded.product_id[row]).nonzero().squeeze(1)
        same_sub = others[encoded.subcategory[others] == encoded.subcategory[row]]
        negatives["random"].append(int(others[torch.randint(len(others), (1,), generator=generator)]))
        pool = same_sub if len(same_sub) else others
        negatives["same_sub"].append(int(pool[torch.randint(len(pool), (1,), generator=generator)]))
        if itc_features is not None:
            image_features, text_features = itc_features
            similarity = text_features[others] @ image_features[row]
            negatives["itc_hard"].append(int(others[similarity.argmax()]))
    score = itm_score_function(model, encoded, "itr")  # image row (query) x caption rows (candidates)
    results = {"positive": float((score(rows, rows[:, None]) > 0.5).float().mean())}
    for kind, caption_rows in negatives.items():
        if caption_rows:
            probabilities = score(rows, torch.tensor(caption_rows)[:, None])
            results[kind] = float((probabilities <= 0.5).float().mean())
    return results


@torch.no_grad()
def same_subcategory_recalls(model, encoded: EncodedImageTextSplit, num_queries: int = 20, num_negatives: int = 100,
                             seed: int = 0, itc_features=None, ks: Sequence[int] = (1, 5, 10)) -> dict[str, dict]:
    """TIR recalls of the ITM, ITC and fused scores on one seeded draw of the 1 + `num_negatives` protocol (fewer
    negatives when the slice's sub-categories hold fewer products)."""
    per_subcategory = torch.bincount(encoded.subcategory)
    available = int(per_subcategory[per_subcategory > 0].min()) - 1
    candidate_sets = sample_same_subcategory_candidates(
        encoded.subcategory, encoded.product_id, num_queries=num_queries,
        num_negatives=max(1, min(num_negatives, available)), seed=seed,
    )
    draw = {"positives": candidate_sets.positives,
            "itm": score_candidate_sets(itm_score_function(model, encoded, "tir", output="log_odds"), candidate_sets,
                                        progress=False)}
    results = {"itm": recall_at_k(draw["itm"], draw["positives"], ks)}
    if itc_features is not None:
        draw["itc"] = score_candidate_sets(itc_score_function(*itc_features, "tir"), candidate_sets, progress=False)
        results["itc"] = recall_at_k(draw["itc"], draw["positives"], ks)
        fused = fused_draw_scores(draw, model.mvlt.logit_scale.item(), float(model.config.itm_fusion_weight))
        results["fused"] = recall_at_k(fused, draw["positives"], ks)
    return results


@torch.no_grad()
def grounding_probe(model, encoded: EncodedImageTextSplit, tokenizer, words: Sequence[str], num_rows: int = 64,
                    seed: int = 0) -> dict[str, float]:
    """Colour-word probe: accuracy of the MLM head at restoring a masked probe word (among `words`) of held-out
    captions, with the product's own image (`true`) and with another product's image (`shuffled`).

    Needs a model with an MLM head (`MVLTForPreTraining`); rows whose caption holds no single-token probe word are
    skipped. Returns `{"true", "shuffled", "num_rows", "chance"}`.
    """
    word_ids = [tokenizer.convert_tokens_to_ids(word) for word in words]
    word_ids = [token for token in word_ids if token is not None and token != tokenizer.unk_token_id]
    if not word_ids or not hasattr(model, "mlm_head"):
        return {}
    candidates = torch.tensor(word_ids)
    is_probe = torch.isin(encoded.input_ids, candidates) & encoded.attention_mask.bool()
    rows = is_probe.any(dim=1).nonzero().squeeze(1)
    generator = torch.Generator().manual_seed(seed)
    rows = rows[torch.randperm(len(rows), generator=generator)[:num_rows]]
    if len(rows) < 2:
        return {}
    text = encoded.text(rows)
    positions = is_probe[rows, : text["input_ids"].shape[1]].float().argmax(dim=1)  # first probe word of each row
    targets = text["input_ids"][torch.arange(len(rows)), positions]
    masked_ids = text["input_ids"].clone()
    masked_ids[torch.arange(len(rows)), positions] = tokenizer.mask_token_id
    device = next(model.parameters()).device
    model.eval()
    results = {"num_rows": len(rows), "chance": 1.0 / len(word_ids)}
    shuffled = rows[torch.roll(torch.arange(len(rows)), 1)]
    for name, image_rows in (("true", rows), ("shuffled", shuffled)):
        text_states = model.mvlt(
            input_ids=masked_ids.to(device), pixel_values=encoded.pixel_values[image_rows].to(device),
            attention_mask=text["attention_mask"].to(device), return_dict=True,
        ).last_hidden_state
        logits = model.mlm_head(text_states[torch.arange(len(rows)), positions.to(device)]).float().cpu()
        predicted = candidates[logits[:, candidates].argmax(dim=1)]
        results[name] = float((predicted == targets).float().mean())
    return results


@torch.no_grad()
def cls_vision_attention(model, encoded: EncodedImageTextSplit, num_rows: int = 16) -> list[float]:
    """Mean attention mass of the [CLS] query on the vision keys in each stage (joint pass, eager attention)."""
    rows = torch.arange(min(num_rows, len(encoded)))
    text = encoded.text(rows)
    device = next(model.parameters()).device
    mvlt = model.mvlt
    model.eval()
    attentions = mvlt(pixel_values=encoded.pixel_values[rows].to(device), output_attentions=True,
                      **{name: value.to(device) for name, value in text.items()}, return_dict=True).attentions
    text_length = text["input_ids"].shape[1]
    masses, block = [], 0
    for depth in mvlt.config.depths:
        stage = [attentions[block + index][:, :, 0, text_length:].sum(dim=-1).mean() for index in range(depth)]
        masses.append(float(torch.stack(stage).mean()))
        block += depth
    return masses


def mvlt_diagnostics(model, encoded: EncodedImageTextSplit, tokenizer=None, probe_words: Sequence[str] = (),
                     num_rows: int = 64, num_queries: int = 20, seed: int = 0) -> dict[str, float]:
    """All diagnostics of the module docstring, as flat `diag_*` floats."""
    was_training = model.training
    model.eval()
    features = encode_itc_features(model, encoded) if uses_itc(model) else None
    values: dict[str, float] = {}
    for kind, accuracy in itm_accuracy_by_negative_kind(model, encoded, num_rows, seed, features).items():
        values[f"diag_itm_acc_{kind}"] = accuracy
    for score, recalls in same_subcategory_recalls(model, encoded, num_queries, seed=seed, itc_features=features).items():
        for key, value in recalls.items():
            values[f"diag_{score}_{key.lower()}"] = value
    if tokenizer is not None and probe_words:
        probe = grounding_probe(model, encoded, tokenizer, probe_words, num_rows, seed)
        for key in ("true", "shuffled"):
            if key in probe:
                values[f"diag_grounding_{key}"] = probe[key]
    for stage, mass in enumerate(cls_vision_attention(model, encoded), start=1):
        values[f"diag_cls_vision_attention_{stage}"] = mass
    model.train(was_training)
    return values


__all__ = [
    "cls_vision_attention",
    "grounding_probe",
    "itm_accuracy_by_negative_kind",
    "mvlt_diagnostics",
    "same_subcategory_recalls",
]
