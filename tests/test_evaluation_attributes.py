"""Attribute metrics: pooled top-k attribute recall (DeepFashion-C) and attribute-specific mAP (DARN)."""

import pytest
import torch

from fashionvl.evaluation import attribute_retrieval_map, attribute_topk_recall


SCORES = torch.tensor([[0.9, 0.1, 0.8, 0.3], [0.2, 0.7, 0.5, 0.4]])
TARGETS = torch.tensor([[0, 1, 1, 0], [1, 0, 0, 0]])
TYPES = ["texture", "texture", "shape", "shape"]


def test_attribute_topk_recall_ranks_within_each_type_and_pools_over_images():
    result = attribute_topk_recall(SCORES, TARGETS, TYPES, ks=(1, 2))
    assert result["texture"] == {"top1": 0.0, "top2": 1.0}
    assert result["all"] == {"top1": 0.0, "top2": pytest.approx(1 / 3)}


def test_attribute_topk_recall_images_without_positives_of_a_type_contribute_nothing():
    # image 1 has no shape positive: pooled recall is 1/1, not the per-image average (1 + 0) / 2
    assert attribute_topk_recall(SCORES, TARGETS, TYPES, ks=(1,))["shape"] == {"top1": 1.0}


def test_attribute_topk_recall_ties_rank_positives_last():
    result = attribute_topk_recall(torch.ones(1, 4), torch.tensor([[1, 0, 0, 0]]), ["a"] * 4, ks=(1, 3, 4))
    assert result["a"] == {"top1": 0.0, "top3": 0.0, "top4": 1.0}


def test_attribute_topk_recall_rejects_minus_one_targets():
    with pytest.raises(ValueError, match="found -1"):
        attribute_topk_recall(SCORES, -TARGETS, TYPES)


def test_attribute_topk_recall_of_a_type_without_any_positive_is_nan():
    result = attribute_topk_recall(SCORES, torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0]]), TYPES)
    assert torch.isnan(torch.tensor(result["shape"]["top3"]))


def test_attribute_retrieval_map_hand_case_weighted_by_number_of_queries():
    query_embeds = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    candidate_embeds = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    result = attribute_retrieval_map(
        query_embeds,
        query_values=[1, 5, 6],
        candidate_embeds=candidate_embeds,
        candidate_values=[1, 2, 1, 3, 5, 6],
        query_attributes=[0, 1, 1],
        candidate_attributes=[0, 0, 0, 0, 1, 1],
    )
    # attribute 0: relevant at positions 1 and 3 -> AP = (1/1 + 2/3) / 2
    # attribute 1: queries with AP 1 and AP 1/2
    assert result["per_attribute"][0] == pytest.approx((1 + 2 / 3) / 2)
    assert result["per_attribute"][1] == pytest.approx(0.75)
    assert result["mAP"] == pytest.approx(((1 + 2 / 3) / 2 + 1 + 0.5) / 3)


def test_attribute_retrieval_map_ties_rank_relevant_candidates_last():
    result = attribute_retrieval_map(
        torch.tensor([[1.0, 0.0]]), [1], torch.tensor([[1.0, 0.0], [2.0, 0.0]]), [1, 2], [0], [0, 0]
    )
    assert result["mAP"] == pytest.approx(0.5)


def test_attribute_retrieval_map_uses_cosine_similarity():
    candidates = torch.tensor([[10.0, 1.0], [0.5, 0.0]])  # the second is closer in angle, further in dot product
    result = attribute_retrieval_map(torch.tensor([[1.0, 0.0]]), [1], candidates, [2, 1], [0], [0, 0])
    assert result["mAP"] == pytest.approx(1.0)


def test_attribute_retrieval_map_leaves_out_queries_without_relevant_candidates():
    with pytest.warns(UserWarning, match="1 queries have no candidate"):
        result = attribute_retrieval_map(
            torch.tensor([[1.0, 0.0], [0.0, 1.0]]), [1, 9], torch.tensor([[1.0, 0.0], [0.0, 1.0]]), [1, 2], [0, 0], [0, 0]
        )
    assert result["mAP"] == pytest.approx(1.0)
