"""mFSR losses (fashionvl.modeling.losses, `# >>> mFSR losses` block) against hand computations."""

import math

import pytest
import torch
import torch.nn.functional as F

from fashionvl.modeling.losses import (
    caption_reconstruction_loss,
    gan_discriminator_loss,
    gan_generator_loss,
    modal_loss,
    specific_loss,
    vse_hinge_loss,
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
    loss = vse_hinge_loss(images, texts, margin=0.2, max_violation=max_violation)
    assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_vse_hinge_loss_on_a_two_pair_batch_by_hand():
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    texts = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    # scores = [[0.6, 0.0], [0.8, 1.0]]; image 0: max(0.2-0.6+0.0, 0) = 0; image 1: max(0.2-1.0+0.8, 0) = 0
    # caption 0: max(0.2-0.6+0.8, 0) = 0.4; caption 1: max(0.2-1.0+0.0, 0) = 0
    assert vse_hinge_loss(images, texts, margin=0.2).item() == pytest.approx(0.4)


def test_vse_hinge_loss_is_zero_when_pairs_beat_negatives_by_the_margin():
    embeds = torch.eye(4)
    assert vse_hinge_loss(embeds, embeds, margin=0.2).item() == 0.0


def test_vse_hinge_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        vse_hinge_loss(torch.zeros(3, 4), torch.zeros(2, 4))


def test_modal_loss_equals_hand_computation():
    image_modal = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text_modal = torch.tensor([[-1.0, 0.0], [-1.0, 0.0]])
    # image mean (0.5, 0.5): each image is sqrt(0.5) away; texts equal their mean; means are sqrt(2.25 + 0.25) apart
    expected = math.sqrt(0.5) + math.exp(-math.sqrt(2.5))
    assert modal_loss(image_modal, text_modal).item() == pytest.approx(expected, rel=1e-6)


def test_specific_loss_equals_mean_exponential_of_dot_products():
    semantic = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    specific = torch.tensor([[0.0, 1.0], [0.0, 1.0], [-0.6, -0.8]])
    expected = (math.exp(0.0) + math.exp(1.0) + math.exp(-1.0)) / 3
    assert specific_loss(semantic, specific).item() == pytest.approx(expected, rel=1e-6)


def test_gan_discriminator_loss_equals_binary_cross_entropy_by_hand():
    positive_logits = torch.tensor([0.0, 2.0])
    negative_logits = torch.tensor([-1.0, 1.0])
    sigmoid = lambda value: 1 / (1 + math.exp(-value))  # noqa: E731
    expected = -(math.log(sigmoid(0.0)) + math.log(sigmoid(2.0))) / 2 - (
        math.log(1 - sigmoid(-1.0)) + math.log(1 - sigmoid(1.0))
    ) / 2
    assert gan_discriminator_loss(positive_logits, negative_logits).item() == pytest.approx(expected, rel=1e-6)


def test_gan_generator_loss_is_half_the_sum_of_the_three_terms():
    generated = torch.tensor([0.5])
    matched = torch.tensor([-0.5])
    mismatched = torch.tensor([1.5])
    sigmoid = lambda value: 1 / (1 + math.exp(-value))  # noqa: E731
    expected = 0.5 * (-math.log(sigmoid(0.5)) - math.log(sigmoid(-0.5)) - math.log(1 - sigmoid(1.5)))
    assert gan_generator_loss(generated, matched, mismatched).item() == pytest.approx(expected, rel=1e-6)


def test_caption_reconstruction_loss_sums_token_nll_per_caption_and_ignores_padding():
    logits = torch.log(torch.tensor([
        [[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]],
        [[0.2, 0.2, 0.6], [0.3, 0.3, 0.4]],
    ]))
    labels = torch.tensor([[0, 1], [2, -100]])
    expected = (-math.log(0.5) - math.log(0.8) - math.log(0.6)) / 2
    assert caption_reconstruction_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)
