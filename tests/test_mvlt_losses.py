"""MVLT loss helpers (fashionvl.modeling.losses, MVLT block) against hand computations."""

import math

import pytest
import torch

from fashionvl.modeling.losses import (
    mvlt_category_loss,
    mvlt_itm_loss,
    mvlt_mir_loss,
    mvlt_mlm_loss,
    mvlt_pretraining_loss,
)


def test_mir_loss_is_smooth_l1_averaged_over_every_pixel():
    # Differences 0.5 (quadratic branch), -2.0 and 3.0 (linear branches), 0.0.
    reconstruction = torch.tensor([0.5, -2.0, 4.0, 1.0]).view(1, 1, 2, 2)
    image = torch.tensor([0.0, 0.0, 1.0, 1.0]).view(1, 1, 2, 2)
    by_hand = (0.5 * 0.5**2 + (2.0 - 0.5) + (3.0 - 0.5) + 0.0) / 4
    assert mvlt_mir_loss(reconstruction, image).item() == pytest.approx(by_hand)


def test_mir_loss_rejects_images_of_different_shapes():
    with pytest.raises(ValueError, match=r"same shape.*\(1, 3, 4, 4\).*\(1, 3, 8, 8\)"):
        mvlt_mir_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 8, 8))


def test_itm_loss_is_the_binary_cross_entropy_of_the_match_probability():
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    labels = torch.tensor([1, 0])
    p_match = [1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(2.0))]
    by_hand = -(math.log(p_match[0]) + math.log(1 - p_match[1])) / 2
    assert mvlt_itm_loss(logits, labels).item() == pytest.approx(by_hand, rel=1e-6)


def test_mlm_loss_averages_cross_entropy_over_masked_tokens_only():
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 3.0]]])
    labels = torch.tensor([[0, -100, 1]])
    log_softmax_0 = 2.0 - math.log(math.exp(2.0) + 2)
    log_softmax_2 = 1.0 - math.log(1 + math.exp(1.0) + math.exp(3.0))
    by_hand = -(log_softmax_0 + log_softmax_2) / 2
    assert mvlt_mlm_loss(logits, labels).item() == pytest.approx(by_hand, rel=1e-6)


def test_mlm_loss_without_masked_tokens_is_zero_not_nan():
    logits = torch.randn(2, 4, 5, requires_grad=True)
    loss = mvlt_mlm_loss(logits, torch.full((2, 4), -100))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None


def test_pretraining_loss_is_the_weighted_sum_of_eq_8():
    mir, itm, mlm = torch.tensor(0.2), torch.tensor(0.7), torch.tensor(3.0)
    # Three different weights, so a weight applied to the wrong component changes the total.
    total = mvlt_pretraining_loss(mir, itm, mlm, mir_weight=10.0, itm_weight=2.0, mlm_weight=0.5)
    assert total.item() == pytest.approx(10 * 0.2 + 2 * 0.7 + 0.5 * 3.0)


def test_pretraining_loss_defaults_are_the_paper_weights_10_1_1():
    mir, itm, mlm = torch.tensor(0.2), torch.tensor(0.7), torch.tensor(3.0)
    assert mvlt_pretraining_loss(mir, itm, mlm).item() == pytest.approx(10 * 0.2 + 0.7 + 3.0)


def test_pretraining_loss_leaves_out_missing_parts_and_is_none_without_parts():
    assert mvlt_pretraining_loss(None, torch.tensor(0.5), None, itm_weight=2.0).item() == pytest.approx(1.0)
    assert mvlt_pretraining_loss(None, None, None) is None


def test_category_loss_is_softmax_cross_entropy():
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    by_hand = -(1.0 - math.log(math.exp(1.0) + math.exp(2.0) + math.exp(3.0)))
    assert mvlt_category_loss(logits, torch.tensor([0])).item() == pytest.approx(by_hand, rel=1e-6)
