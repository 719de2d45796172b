"""mFSR diagnostics: what the separated parts and the reconstruction heads of a model do, and how strongly each
loss term of eq. 6 pulls on the shared encoders.

- `separation_diagnostics(model, processor, split)`: cosine <se, sp> (eq. 10), spread of the modal
  parts (eq. 7), whether G's images and the decoder's captions depend on the input (paper Fig. 5).
- `separation_weight_drift(initial_model, trained_model)`: how far training moved the semantic projection from its
  initialisation and how well-conditioned it ends (the cost of the N(0, 0.02) initialisation).
- `loss_gradient_norms(model, batch)`: the gradient norm of each weighted eq. 6 term on the image encoder, the
  text encoder and the separation heads (the balance of the loss weights).

No function here imports a model class.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch


if TYPE_CHECKING:
    from ..modeling.modeling_mfsr import MFSRForRetrieval
    from ..processing.collators_mfsr import CaptionedImageSplit
    from ..processing.processing_mfsr import MFSRProcessor

LOSS_TERMS = ("semantic_loss", "modal_loss", "specific_loss", "image_reconstruction_loss", "caption_reconstruction_loss")


def loss_gradient_norms(model: MFSRForRetrieval, batch: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Gradient norm of each *weighted* eq. 6 term on the shared encoders, one backward pass per term.

    Diagnostic of the loss balance: a term whose gradient is 100x smaller than the semantic one barely acts.
    The model's gradients are left as they were (zeroed before and after).

    Args:
        model: an `MFSRForRetrieval` (used in its current train/eval mode).
        batch: a training batch (`pixel_values`, `input_ids`, `attention_mask`, optional `image_ids`).

    Returns:
        `{term: {"value": unweighted loss, "image_encoder": norm, "text_encoder": norm, "separation": norm}}`
        for every computed term (`separation` is 0 without a separation head).
    """
    groups = {
        "image_encoder": [p for p in model.mfsr.image_encoder.parameters() if p.requires_grad],
        "text_encoder": [p for p in model.mfsr.text_encoder.parameters() if p.requires_grad],
        "separation": [
            p for name in ("image_separation", "text_separation") if hasattr(model.mfsr, name)
            for p in getattr(model.mfsr, name).parameters()
        ],
    }
    report = {}
    for term in LOSS_TERMS:
        model.zero_grad(set_to_none=True)
        output = model(**batch)
        value = getattr(output, term)
        if value is None:
            continue
        (getattr(model.config, f"{term}_weight") * value).backward()
        report[term] = {"value": value.item()}
        for group, parameters in groups.items():
            squares = [p.grad.pow(2).sum() for p in parameters if p.grad is not None]
            report[term][group] = torch.stack(squares).sum().sqrt().item() if squares else 0.0
    model.zero_grad(set_to_none=True)
    return report


@torch.no_grad()
def separation_diagnostics(model, processor: MFSRProcessor, split: CaptionedImageSplit, num_examples: int = 64,
                           caption_vocabularies: Mapping[str, Sequence[str]] | None = None) -> dict:
    """What the separated parts and the reconstructions of a trained model do, on the first images of `split`.

    Returns:
        `cos_image_semantic_specific` / `cos_text_semantic_specific`: mean cosine <se, sp> (eq. 10 pushes it to
        -1 in its printed form, to 0 as an orthogonality penalty); `image_modal_spread` / `text_modal_spread`:
        mean distance of the modal parts to their mean (eq. 7); `reconstruction_pixel_spread`: mean distance of
        the generated images to their mean divided by the same for the real images (0 = one image for every
        input); `distinct_caption_fraction`: distinct greedy caption reconstructions / inputs (1 / inputs = the
        same caption for every input); with `caption_vocabularies` (`{"colour": [...], ...}`),
        `caption_<name>_agreement` and its `_shuffled` control (`caption_word_agreement`). Keys of parts the model
        does not have are left out.
    """
    if not model.config.use_feature_separation:
        return {}
    model.eval()
    device = next(model.parameters()).device
    images = split.images[:num_examples]
    captions = [captions[0] for captions in split.captions[:num_examples]]
    batch = {key: value.to(device) for key, value in processor(images=images, text=captions).items()}
    _, v_mo, v_se, v_sp = model.mfsr.encode_image(batch["pixel_values"])
    _, l_mo, l_se, l_sp = model.mfsr.encode_text(batch["input_ids"], batch["attention_mask"])
    spread = lambda values: (values - values.mean(dim=0)).norm(dim=-1).mean().item()  # noqa: E731
    report = {
        "cos_image_semantic_specific": (v_se * v_sp).sum(-1).mean().item(),
        "cos_text_semantic_specific": (l_se * l_sp).sum(-1).mean().item(),
        "image_modal_spread": spread(v_mo),
        "text_modal_spread": spread(l_mo),
    }
    generated, words = model.reconstruct(batch["pixel_values"], batch["input_ids"], batch["attention_mask"])
    if generated is not None:
        real = (model.reconstruction_target(batch["pixel_values"]) + 1) / 2
        report["reconstruction_pixel_spread"] = spread(generated.flatten(1)) / spread(real.flatten(1))
        report["reconstruction_l1_to_input"] = (generated - real).abs().mean().item()
    if words is not None:
        decoded = processor.batch_decode(words)
        report["distinct_caption_fraction"] = len(set(decoded)) / len(decoded)
        for name, vocabulary in (caption_vocabularies or {}).items():
            # does the reconstruction keep the input's colour / product word, against a shuffled pairing?
            report[f"caption_{name}_agreement"] = caption_word_agreement(captions, decoded, vocabulary)
            report[f"caption_{name}_agreement_shuffled"] = caption_word_agreement(captions, decoded[1:] + decoded[:1], vocabulary)
    return report


def caption_word_agreement(inputs: Sequence[str], reconstructions: Sequence[str], vocabulary: Sequence[str]) -> float:
    """Fraction of captions whose first `vocabulary` word (e.g. a colour, a product noun) is also in its
    reconstruction, over the inputs that contain one (NaN when none does). Compare with the same pairs shuffled
    (`reconstructions[1:] + reconstructions[:1]`) for the agreement a reconstruction that ignores its input gets."""
    if len(inputs) != len(reconstructions):
        raise ValueError(f"got {len(inputs)} input captions but {len(reconstructions)} reconstructions.")
    known = {word.lower() for word in vocabulary}
    hits = total = 0
    for source, target in zip(inputs, reconstructions):
        word = next((word for word in re.findall(r"[a-z]+", source.lower()) if word in known), None)
        if word is not None:
            total += 1
            hits += word in re.findall(r"[a-z]+", target.lower())
    return hits / total if total else float("nan")


@torch.no_grad()
def separation_weight_drift(initial_model, trained_model) -> dict[str, dict[str, float]]:
    """How far training moved the semantic block of each separation layer from its initialisation.

    Args:
        initial_model, trained_model: `MFSRForRetrieval` (or `MFSRModel`) with separation heads, the first as
            initialised (same seed), the second after training.

    Returns:
        `{"image_separation" | "text_separation": {"initial_norm", "relative_change" (||W - W0|| / ||W0||),
        "initial_condition", "condition" (largest / smallest singular value), "top_direction_share" (largest
        squared singular value / their sum; 1 / embed_dim for an isotropic projection)}}` for the last layer's
        semantic rows.
    """
    encoders = [getattr(model, "mfsr", model) for model in (initial_model, trained_model)]
    embed_dim = encoders[1].config.embed_dim
    report = {}
    for side in ("image_separation", "text_separation"):
        initial, trained = (getattr(encoder, side).mlp[-1].weight[embed_dim : 2 * embed_dim].float() for encoder in encoders)
        initial_values, values = torch.linalg.svdvals(initial), torch.linalg.svdvals(trained)
        report[side] = {
            "initial_norm": initial.norm().item(),
            "relative_change": ((trained - initial).norm() / initial.norm()).item(),
            "initial_condition": (initial_values.max() / initial_values.min()).item(),
            "condition": (values.max() / values.min()).item(),
            "top_direction_share": (values[0] ** 2 / values.pow(2).sum()).item(),
        }
    return report


__all__ = [
    "LOSS_TERMS",
    "caption_word_agreement",
    "loss_gradient_norms",
    "separation_diagnostics",
    "separation_weight_drift",
]
