"""mFSR losses (fashionvl.modeling.losses, `# >>> mFSR losses` block) against hand computations."""

import math

import pytest
import torch
import torch.nn.functional as F

from fashionvl.modeling.losses import (
    mfsr_caption_reconstruction_loss,
    mfsr_gan_discriminator_loss,
    mfsr_gan_generator_loss,
    mfsr_modal_loss,
    mfsr_specific_loss,
    mfsr_vse_hinge_loss,
)


def _loop_vse_hinge(images, texts, margin, max_violation):
    """Direct transcription of mFSR eq. 8-9 with python loops (sum over the batch)."""
    total = 0.0
    batch = images.size(0)
    for j in range(batch):
        caption_costs, image_costs = [], []
        for k in range(batch):
            if k == j:
                continue
            caption_costs.append(max(margin - images[j] @ texts[j] + images[j] @ texts[k], 0.0))
            image_costs.append(max(margin - texts[j] @ images[j] + texts[j] @ images[k], 0.0))
        if max_violation:
            total += max(caption_costs) + max(image_costs)
        else:
            total += sum(caption_costs) + sum(image_costs)
    return float(total)


@pytest.mark.parametrize("max_violation", [True, False])
def test_vse_hinge_loss_equals_a_loop_over_hardest_negatives(max_violation):
    images = F.normalize(torch.randn(6, 5, dtype=torch.float64), dim=1)
    texts = F.normalize(torch.randn(6, 5, dtype=torch.float64), dim=1)
    expected = _loop_vse_hinge(images, texts, 0.2, max_violation)
    loss = mfsr_vse_hinge_loss(images, texts, margin=0.2, max_violation=max_violation)
    assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_vse_hinge_loss_on_a_two_pair_batch_by_hand():
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    texts = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    # scores = [[0.6, 0.0], [0.8, 1.0]]; image 0: max(0.2-0.6+0.0, 0) = 0; image 1: max(0.2-1.0+0.8, 0) = 0
    # caption 0: max(0.2-0.6+0.8, 0) = 0.4; caption 1: max(0.2-1.0+0.0, 0) = 0
    assert mfsr_vse_hinge_loss(images, texts, margin=0.2).item() == pytest.approx(0.4)


def test_vse_hinge_loss_is_zero_when_pairs_beat_negatives_by_the_margin():
    embeds = torch.eye(4)
    assert mfsr_vse_hinge_loss(embeds, embeds, margin=0.2).item() == 0.0


def test_vse_hinge_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        mfsr_vse_hinge_loss(torch.zeros(3, 4), torch.zeros(2, 4))


def test_modal_loss_equals_hand_computation():
    image_modal = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text_modal = torch.tensor([[-1.0, 0.0], [-1.0, 0.0]])
    # image mean (0.5, 0.5): each image is sqrt(0.5) away; texts equal their mean; means are sqrt(2.25 + 0.25) apart
    expected = math.sqrt(0.5) + math.exp(-math.sqrt(2.5))
    assert mfsr_modal_loss(image_modal, text_modal).item() == pytest.approx(expected, rel=1e-6)


def test_specific_loss_paper_form_equals_mean_exponential_of_dot_products():
    semantic = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    specific = torch.tensor([[0.0, 1.0], [0.0, 1.0], [-0.6, -0.8]])
    expected = (math.exp(0.0) + math.exp(1.0) + math.exp(-1.0)) / 3
    assert mfsr_specific_loss(semantic, specific, form="exp").item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("form", ["squared_cosine", "abs_cosine"])
def test_orthogonality_form_of_eq10_is_symmetric_in_the_cosine_sign_and_zero_for_orthogonal_parts(form):
    semantic = F.normalize(torch.randn(8, 6, dtype=torch.float64), dim=1)
    specific = F.normalize(torch.randn(8, 6, dtype=torch.float64), dim=1)
    assert mfsr_specific_loss(semantic, specific, form=form).item() == pytest.approx(
        mfsr_specific_loss(semantic, -specific, form=form).item(), rel=1e-12
    )
    orthogonal = F.normalize(specific - (specific * semantic).sum(1, keepdim=True) * semantic, dim=1)
    assert mfsr_specific_loss(semantic, orthogonal, form=form).item() == pytest.approx(0.0, abs=1e-12)
    assert mfsr_specific_loss(semantic, semantic, form=form).item() == pytest.approx(1.0)
    assert mfsr_specific_loss(semantic, -semantic, form=form).item() == pytest.approx(1.0)


def test_paper_form_of_eq10_is_lowest_for_opposite_not_orthogonal_parts():
    semantic = torch.tensor([[1.0, 0.0]])
    opposite, orthogonal = torch.tensor([[-1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert mfsr_specific_loss(semantic, opposite, form="exp") < mfsr_specific_loss(semantic, orthogonal, form="exp")


def test_specific_loss_rejects_an_unknown_form():
    with pytest.raises(ValueError, match="'cosine'"):
        mfsr_specific_loss(torch.ones(1, 2), torch.ones(1, 2), form="cosine")


def test_hinge_never_counts_a_caption_of_the_same_image_as_a_negative():
    # rows 0 and 1 are two captions of image 7; caption 1 scores higher with image 0 than caption 0 does
    images = F.normalize(torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), dim=1)
    texts = F.normalize(torch.tensor([[0.8, 0.6, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), dim=1)
    image_ids = torch.tensor([7, 7, 3])
    unmasked = mfsr_vse_hinge_loss(images, texts, margin=0.2)
    masked = mfsr_vse_hinge_loss(images, texts, margin=0.2, image_ids=image_ids)
    assert unmasked.item() > 0.3  # image 0's hardest "negative" is its own second caption
    assert masked.item() == pytest.approx(0.0, abs=1e-6)  # image 2 / caption 2 are far from the rest


@pytest.mark.parametrize("max_violation", [True, False])
def test_masked_hinge_equals_a_loop_that_skips_same_image_rows(max_violation):
    generator = torch.Generator().manual_seed(0)
    images = F.normalize(torch.randn(8, 5, dtype=torch.float64, generator=generator), dim=1)
    texts = F.normalize(torch.randn(8, 5, dtype=torch.float64, generator=generator), dim=1)
    image_ids = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4])
    expected = 0.0
    for j in range(8):
        negatives = [k for k in range(8) if image_ids[k] != image_ids[j]]
        caption_costs = [max(0.2 - images[j] @ texts[j] + images[j] @ texts[k], 0.0) for k in negatives]
        image_costs = [max(0.2 - texts[j] @ images[j] + texts[j] @ images[k], 0.0) for k in negatives]
        reduce = max if max_violation else sum
        expected += float(reduce(caption_costs) + reduce(image_costs))
    loss = mfsr_vse_hinge_loss(images, texts, margin=0.2, max_violation=max_violation, image_ids=image_ids)
    assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_gan_discriminator_loss_equals_binary_cross_entropy_by_hand():
    positive_logits = torch.tensor([0.0, 2.0])
    negative_logits = torch.tensor([-1.0, 1.0])
    sigmoid = lambda value: 1 / (1 + math.exp(-value))  # noqa: E731
    expected = -(math.log(sigmoid(0.0)) + math.log(sigmoid(2.0))) / 2 - (
        math.log(1 - sigmoid(-1.0)) + math.log(1 - sigmoid(1.0))
    ) / 2
    assert mfsr_gan_discriminator_loss(positive_logits, negative_logits).item() == pytest.approx(expected, rel=1e-6)


def test_gan_generator_loss_is_half_the_sum_of_the_three_terms():
    generated = torch.tensor([0.5])
    matched = torch.tensor([-0.5])
    mismatched = torch.tensor([1.5])
    sigmoid = lambda value: 1 / (1 + math.exp(-value))  # noqa: E731
    expected = 0.5 * (-math.log(sigmoid(0.5)) - math.log(sigmoid(-0.5)) - math.log(1 - sigmoid(1.5)))
    assert mfsr_gan_generator_loss(generated, matched, mismatched).item() == pytest.approx(expected, rel=1e-6)


_CAPTION_LOGITS = torch.log(torch.tensor([
    [[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]],
    [[0.2, 0.2, 0.6], [0.3, 0.3, 0.4]],
]))
_CAPTION_LABELS = torch.tensor([[0, 1], [2, -100]])


def test_caption_reconstruction_loss_paper_form_sums_token_nll_per_caption_and_ignores_padding():
    expected = (-math.log(0.5) - math.log(0.8) - math.log(0.6)) / 2
    loss = mfsr_caption_reconstruction_loss(_CAPTION_LOGITS, _CAPTION_LABELS, reduction="caption_sum")
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_caption_reconstruction_loss_default_is_the_mean_over_words_ignoring_padding():
    expected = (-math.log(0.5) - math.log(0.8) - math.log(0.6)) / 3
    assert mfsr_caption_reconstruction_loss(_CAPTION_LOGITS, _CAPTION_LABELS).item() == pytest.approx(expected, rel=1e-6)
