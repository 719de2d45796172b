"""Retrieval metrics: R@K with pessimistic ties, the Fashion-Gen 101-candidate protocol, VSE++ recalls."""

import numpy as np
import pytest
import torch

from fashionvl.evaluation import (
    evaluate_full_gallery_retrieval,
    evaluate_same_subcategory_retrieval,
    recall_at_k,
    sample_same_subcategory_candidates,
    sum_r,
    vse_recall,
)


def test_recall_at_k_counts_queries_with_the_positive_within_the_top_k():
    scores = torch.tensor([[0.9, 0.5, 0.1], [0.2, 0.8, 0.5]])
    positives = torch.tensor([[True, False, False], [False, False, True]])
    # query 0: positive ranked 1st; query 1: positive ranked 2nd (0.8 is ahead of it)
    assert recall_at_k(scores, positives, ks=(1, 2)) == {"R@1": 0.5, "R@2": 1.0}


def test_recall_at_k_ties_rank_the_positive_behind_equal_scores():
    constant = torch.ones(1, 3)
    positive_first = torch.tensor([[True, False, False]])
    assert recall_at_k(constant, positive_first, ks=(1, 2, 3)) == {"R@1": 0.0, "R@2": 0.0, "R@3": 1.0}


def test_recall_at_k_with_several_positives_uses_the_best_ranked_one():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.7]])
    positives = torch.tensor([[True, False, True, False]])
    # best positive scores 0.5; the negatives 0.9 and 0.7 are ahead of it -> rank 3 (1-based)
    assert recall_at_k(scores, positives, ks=(2, 3)) == {"R@2": 0.0, "R@3": 1.0}


def test_recall_at_k_tied_positives_do_not_push_each_other_down():
    scores = torch.tensor([[0.5, 0.5, 0.1]])
    positives = torch.tensor([[True, True, False]])
    assert recall_at_k(scores, positives, ks=(1,)) == {"R@1": 1.0}


def test_recall_at_k_rejects_a_query_without_positive():
    with pytest.raises(ValueError, match="query 1 has none"):
        recall_at_k(torch.rand(2, 3), torch.tensor([[True, False, False], [False, False, False]]))


def test_sum_r_is_the_sum_of_the_three_recalls_in_percent():
    assert sum_r({"R@1": 0.25, "R@5": 0.5, "R@10": 0.75}) == pytest.approx(150.0)


def _catalog(rows_per_subcategory=(150, 150, 150), rows_per_product=3):
    subcategories = np.concatenate([np.full(n, sub) for sub, n in enumerate(rows_per_subcategory)])
    products = np.arange(len(subcategories)) // rows_per_product
    return subcategories, products


def test_101_protocol_draws_negatives_of_the_same_subcategory_and_never_the_positive_product():
    subcategories, products = _catalog()
    sets = sample_same_subcategory_candidates(subcategories, products, num_queries=60, seed=3)
    assert sets.candidate_indices.shape == (60, 101)
    assert torch.equal(sets.candidate_indices[:, 0], sets.query_indices)
    for query, candidates in zip(sets.query_indices.tolist(), sets.candidate_indices.tolist()):
        negatives = np.array(candidates[1:])
        assert len(set(negatives.tolist())) == 100
        assert (subcategories[negatives] == subcategories[query]).all()
        assert (products[negatives] != products[query]).all()


def test_101_protocol_is_reproducible_for_a_seed_and_changes_with_it():
    subcategories, products = _catalog()
    first = sample_same_subcategory_candidates(subcategories, products, num_queries=20, seed=1)
    again = sample_same_subcategory_candidates(subcategories, products, num_queries=20, seed=1)
    other = sample_same_subcategory_candidates(subcategories, products, num_queries=20, seed=2)
    assert torch.equal(first.candidate_indices, again.candidate_indices)
    assert not torch.equal(first.candidate_indices, other.candidate_indices)


def test_101_protocol_falls_back_to_other_subcategories_with_a_warning_naming_the_short_one():
    subcategories, products = _catalog(rows_per_subcategory=(150, 150, 30))
    small_query = int(np.flatnonzero(subcategories == 2)[0])
    with pytest.warns(UserWarning, match="sub-category 2 has only 27 rows"):
        sets = sample_same_subcategory_candidates(subcategories, products, query_indices=[small_query], seed=0)
    negatives = sets.candidate_indices[0, 1:].numpy()
    assert len(set(negatives.tolist())) == 100
    assert (subcategories[negatives] == 2).sum() == 27  # every same-sub-category row of another product is used
    assert (products[negatives] != products[small_query]).all()


def _score_fn_positive_behind(num_ahead):
    """Scores 1 for the positive (column 0) and 2 for the first ``num_ahead`` negatives."""

    def score_fn(query_indices, candidate_indices):
        scores = torch.zeros(candidate_indices.shape)
        scores[candidate_indices == query_indices[:, None]] = 1.0
        scores[:, 1 : 1 + num_ahead] = 2.0
        return scores

    return score_fn


def test_101_protocol_averages_recall_over_five_draws_of_the_requested_queries():
    subcategories, products = _catalog()
    calls = []

    def score_fn(query_indices, candidate_indices):
        calls.append(len(query_indices))
        return _score_fn_positive_behind(3)(query_indices, candidate_indices)

    result = evaluate_same_subcategory_retrieval(score_fn, subcategories, products, num_queries=40, progress=False)
    assert len(result["draws"]) == 5 and sum(calls) == 5 * 40
    assert {key: result[key] for key in ("R@1", "R@5", "R@10")} == {"R@1": 0.0, "R@5": 1.0, "R@10": 1.0}
    assert result["SumR"] == pytest.approx(200.0)


def test_101_protocol_gives_a_constant_scorer_no_recall():
    subcategories, products = _catalog()

    def constant(query_indices, candidate_indices):
        return torch.full(candidate_indices.shape, 0.5)

    result = evaluate_same_subcategory_retrieval(constant, subcategories, products, num_queries=10, num_draws=2, progress=False)
    assert result["R@10"] == 0.0


def test_full_gallery_recall_counts_rows_of_the_query_product_as_positives():
    products = [0, 0, 1, 2]
    table = torch.tensor(
        [
            [0.1, 0.9, 0.5, 0.3],  # query 0: row 1 (same product) is first -> hit at 1
            [0.2, 0.1, 0.9, 0.8],  # query 1: best positive (0.2) behind 0.9 and 0.8 -> rank 3
            [0.1, 0.2, 0.3, 0.4],  # query 2: behind row 3 -> rank 2
            [0.0, 0.0, 0.0, 0.9],  # query 3: first
        ]
    )

    def score_fn(query_indices, candidate_indices):
        return table[query_indices[:, None], candidate_indices]

    result = evaluate_full_gallery_retrieval(score_fn, products, ks=(1, 2, 3), progress=False)
    assert result == {"R@1": 0.5, "R@2": 0.75, "R@3": 1.0}


def test_vse_recall_ranks_an_image_by_its_best_caption():
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    captions = torch.tensor([[0.0, 1.0]] * 4 + [[1.0, 0.1]] + [[0.0, 1.0]] * 5)
    result = vse_recall(images, captions)
    # i2t ranks (0-based): image 0 -> 0 (its 5th caption), image 1 -> 4 (four tied captions of image 0 ahead)
    assert result["i2t"] == {"R@1": 50.0, "R@5": 100.0, "R@10": 100.0, "medr": 3.0, "meanr": 3.0}
    # t2i ranks: four captions of image 0 -> 1, the other six -> 0
    assert result["t2i"]["R@1"] == pytest.approx(60.0)
    assert result["t2i"]["medr"] == 1.0 and result["t2i"]["meanr"] == pytest.approx(1.4)
    assert result["rsum"] == pytest.approx(510.0)


def test_vse_recall_fold5_averages_over_five_folds_of_one_fifth_of_the_images():
    images = torch.eye(2).repeat(5, 1)  # every fold holds the same two images
    captions = images.repeat_interleave(5, dim=0)
    all_images = vse_recall(images, captions)
    folds = vse_recall(images, captions, fold5=True)
    assert folds["i2t"]["R@1"] == 100.0 and folds["t2i"]["R@1"] == 100.0
    # over all 10 images, 4 duplicates x 5 captions tie ahead of each image's own captions
    assert all_images["i2t"]["R@10"] == 0.0 and all_images["i2t"]["meanr"] == 21.0


def test_vse_recall_fold5_equals_the_mean_of_separate_folds():
    images, captions = torch.randn(10, 4), torch.randn(50, 4)
    folds = vse_recall(images, captions, fold5=True)
    separate = [vse_recall(images[2 * f : 2 * f + 2], captions[10 * f : 10 * f + 10]) for f in range(5)]
    assert folds["rsum"] == pytest.approx(np.mean([s["rsum"] for s in separate]))
    assert folds["t2i"]["meanr"] == pytest.approx(np.mean([s["t2i"]["meanr"] for s in separate]))


def test_vse_recall_rejects_a_caption_count_that_is_not_five_per_image():
    with pytest.raises(ValueError, match="need 15 text embeddings, got 14"):
        vse_recall(torch.randn(3, 4), torch.randn(14, 4))
