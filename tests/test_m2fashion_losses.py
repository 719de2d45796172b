"""M2Fashion losses (fashionvl/modeling/losses.py, M2Fashion block): eq. 12-14 against hand computations."""

import math

import pytest
import torch

from fashionvl.modeling.losses import (
    m2fashion_masked_attribute_loss,
    m2fashion_sample_unknown_label_mask,
    m2fashion_triplet_cosine_loss,
)


def test_triplet_loss_matches_hand_computed_cosine_hinge():
    anchor = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    positive = torch.tensor([[0.0, 1.0], [3.0, 0.0]])  # cos = 0 and 1
    negative = torch.tensor([[1.0, 1.0], [0.0, 5.0]])  # cos = 1/sqrt(2) and 0
    # max(0, m - s(a,p) + s(a,n)) with m = 0.2: 0.2 - 0 + 0.7071 and max(0, 0.2 - 1 + 0) = 0
    expected = (0.2 + 1 / math.sqrt(2) + 0.0) / 2
    loss = m2fashion_triplet_cosine_loss(anchor, positive, negative, margin=0.2)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_triplet_loss_pulls_positive_closer_not_away():
    """eq. 14 as printed has the sign backwards: the gradient must raise s(a, p)."""
    anchor = torch.tensor([[1.0, 0.0]])
    positive = torch.tensor([[0.6, 0.8]], requires_grad=True)
    negative = torch.tensor([[0.0, 1.0]])
    m2fashion_triplet_cosine_loss(anchor, positive, negative, margin=1.0).backward()
    stepped = positive.detach() - 0.1 * positive.grad
    before = torch.cosine_similarity(anchor, positive.detach()).item()
    after = torch.cosine_similarity(anchor, stepped).item()
    assert after > before


def test_triplet_loss_is_invariant_to_embedding_scale():
    anchor, positive, negative = torch.randn(3, 5, 8).unbind(0)
    loss = m2fashion_triplet_cosine_loss(anchor, positive, negative, margin=0.3)
    scaled = m2fashion_triplet_cosine_loss(7 * anchor, 0.1 * positive, 3 * negative, margin=0.3)
    assert scaled.item() == pytest.approx(loss.item(), abs=1e-6)


def test_triplet_loss_refuses_an_empty_set_of_triplets():
    empty = torch.zeros(0, 4)
    with pytest.raises(ValueError, match="at least one triplet"):
        m2fashion_triplet_cosine_loss(empty, empty, empty)


def test_masked_attribute_loss_is_bce_over_unknown_annotated_labels_only():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0], [0.0, 1.0, -2.0, 4.0]])
    labels = torch.tensor([[1, -1, 0, 1], [-1, 1, 1, -1]])
    unknown = torch.tensor([[True, True, True, False], [False, True, False, False]])
    # counted: (0,0) positive, (0,1) negative, (1,1) positive; (0,2) is unknown but not annotated
    expected = (
        -math.log(torch.sigmoid(torch.tensor(2.0)).item())
        - math.log(1 - torch.sigmoid(torch.tensor(-1.0)).item())
        - math.log(torch.sigmoid(torch.tensor(1.0)).item())
    ) / 3
    loss = m2fashion_masked_attribute_loss(logits, labels, unknown)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_masked_attribute_loss_gives_no_gradient_to_known_labels():
    logits = torch.randn(2, 6, requires_grad=True)
    labels = torch.tensor([[1, -1, 1, -1, 1, -1], [-1, -1, 1, 1, -1, 1]])
    unknown = torch.tensor([[True, False, True, False, False, False], [False, True, False, False, False, True]])
    m2fashion_masked_attribute_loss(logits, labels, unknown).backward()
    assert torch.all(logits.grad[~unknown] == 0)
    assert torch.all(logits.grad[unknown] != 0)


def test_masked_attribute_loss_is_zero_but_differentiable_when_nothing_is_counted():
    logits = torch.randn(2, 3, requires_grad=True)
    loss = m2fashion_masked_attribute_loss(logits, torch.ones(2, 3), torch.zeros(2, 3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def test_label_mask_hides_between_a_quarter_and_all_of_the_labels():
    mask = m2fashion_sample_unknown_label_mask(batch_size=4000, num_labels=8, min_unknown_fraction=0.25)
    counts = mask.sum(dim=1)
    assert mask.dtype == torch.bool and mask.shape == (4000, 8)
    # ceil(0.25 * 8) = 2 .. 8, each count drawn uniformly
    assert set(counts.tolist()) == set(range(2, 9))
    frequencies = torch.bincount(counts, minlength=9)[2:].float() / 4000
    assert torch.allclose(frequencies, torch.full((7,), 1 / 7), atol=0.03)


def test_label_mask_chooses_positions_uniformly():
    mask = m2fashion_sample_unknown_label_mask(batch_size=6000, num_labels=5, min_unknown_fraction=0.4)
    per_position = mask.float().mean(dim=0)
    assert torch.allclose(per_position, per_position.mean().expand(5), atol=0.03)


def test_label_mask_rejects_a_fraction_outside_zero_one():
    with pytest.raises(ValueError, match="min_unknown_fraction"):
        m2fashion_sample_unknown_label_mask(2, 4, min_unknown_fraction=1.5)
