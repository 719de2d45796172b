"""The ``evaluate`` modules in fashionvl/metrics load offline from the package and match `fashionvl.evaluation`."""

import pytest
import torch

from fashionvl.evaluation import recall_at_k, sum_r
from fashionvl.metrics import metric_path


evaluate = pytest.importorskip("evaluate")


@pytest.fixture(scope="module")
def fashion_retrieval(tmp_path_factory):
    # offline: evaluate must read the local folder and never reach the Hub
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_EVALUATE_OFFLINE", "1")
        yield evaluate.load(metric_path("fashion_retrieval"), cache_dir=str(tmp_path_factory.mktemp("evaluate")))


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
