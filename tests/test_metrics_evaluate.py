"""The ``evaluate`` modules in fashionvl/metrics load offline from the package and match `fashionvl.evaluation`."""

import pytest
import torch

from fashionvl.evaluation import attribute_retrieval_map, attribute_topk_recall, recall_at_k, sum_r, topk_accuracy
from fashionvl.metrics import metric_path


evaluate = pytest.importorskip("evaluate")


def load_offline(name, tmp_path_factory):
    # offline: evaluate must read the local folder and never reach the Hub
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_EVALUATE_OFFLINE", "1")
        return evaluate.load(metric_path(name), cache_dir=str(tmp_path_factory.mktemp("evaluate")))


@pytest.fixture(scope="module")
def fashion_retrieval(tmp_path_factory):
    return load_offline("fashion_retrieval", tmp_path_factory)


def test_fashion_retrieval_matches_recall_at_k_and_sum_r(fashion_retrieval):
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(20, 15, generator=generator, dtype=torch.float64)
    positives = torch.rand(20, 15, generator=generator) < 0.1
    positives[torch.arange(20), torch.arange(20) % 15] = True
    expected = recall_at_k(scores, positives)
    expected["SumR"] = sum_r(expected)
    result = fashion_retrieval.compute(predictions=scores.tolist(), references=positives.int().tolist())
    assert result == pytest.approx(expected)


def test_fashion_retrieval_ties_are_pessimistic(fashion_retrieval):
    scores = [[0.5] * 12 for _ in range(3)]
    references = [[1 if column == row else 0 for column in range(12)] for row in range(3)]
    result = fashion_retrieval.compute(predictions=scores, references=references)
    assert result["R@1"] == 0.0 and result["R@10"] == 0.0


def test_unknown_metric_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="fashion_retrieval"):
        metric_path("no_such_metric")


def test_deepfashion_category_matches_topk_accuracy(tmp_path_factory):
    metric = load_offline("deepfashion_category", tmp_path_factory)
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(30, 8, generator=generator, dtype=torch.float64)
    labels = torch.randint(8, (30,), generator=generator)
    result = metric.compute(predictions=logits.tolist(), references=labels.tolist())
    assert result == pytest.approx(topk_accuracy(logits, labels))
    assert 0 < result["top1"] < result["top5"] <= 1


def test_deepfashion_attributes_matches_pooled_recall_per_type(tmp_path_factory):
    metric = load_offline("deepfashion_attributes", tmp_path_factory)
    generator = torch.Generator().manual_seed(2)
    scores = torch.randn(25, 10, generator=generator, dtype=torch.float64)
    targets = (torch.rand(25, 10, generator=generator) < 0.3).long()
    types = ["texture"] * 4 + ["fabric"] * 3 + ["shape"] * 3
    result = metric.compute(predictions=scores.tolist(), references=targets.tolist(), attribute_types=types)
    expected = attribute_topk_recall(scores, targets, types)
    assert set(result) == {"texture", "fabric", "shape", "all"}
    for type_name, values in expected.items():
        assert result[type_name] == pytest.approx(values)


def test_deepfashion_attributes_needs_the_attribute_types(tmp_path_factory):
    metric = load_offline("deepfashion_attributes", tmp_path_factory)
    with pytest.raises(ValueError, match="attribute_types"):
        metric.compute(predictions=[[0.1, 0.2]], references=[[0, 1]])


def test_darn_map_matches_attribute_retrieval_map(tmp_path_factory):
    metric = load_offline("darn_map", tmp_path_factory)
    generator = torch.Generator().manual_seed(3)
    query_embeds, candidate_embeds = torch.randn(12, 6, generator=generator), torch.randn(20, 6, generator=generator)
    query_values, candidate_values = torch.randint(3, (12,), generator=generator), torch.randint(3, (20,), generator=generator)
    query_attributes, candidate_attributes = torch.arange(12) % 2, torch.arange(20) % 2
    result = metric.compute(predictions=query_embeds.tolist(), references=query_values.tolist(),
                            query_attributes=query_attributes.tolist(), candidate_embeddings=candidate_embeds.tolist(),
                            candidate_values=candidate_values.tolist(), candidate_attributes=candidate_attributes.tolist())
    expected = attribute_retrieval_map(query_embeds, query_values, candidate_embeds, candidate_values,
                                       query_attributes, candidate_attributes)
    assert result["mAP"] == pytest.approx(expected["mAP"], abs=1e-6)
    assert result["per_attribute"] == pytest.approx(expected["per_attribute"], abs=1e-6)
