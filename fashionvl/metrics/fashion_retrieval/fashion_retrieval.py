"""fashion_retrieval: recall@k with pessimistic ties and SumR (MVLT Table 2), as an ``evaluate`` metric.

A thin wrapper over `fashionvl.evaluation.recall_at_k` / `sum_r`: the numbers are the same.
"""

import datasets
import evaluate
import torch

from fashionvl.evaluation import recall_at_k, sum_r
from fashionvl.metrics import metric_info


_DESCRIPTION = """Recall@k of a retrieval run: the fraction of queries with at least one positive among the top k
candidates. Ties are pessimistic: a positive that ties with negatives ranks after all of them, so constant scores
give chance-level (not perfect) recall. SumR = (R@1 + R@5 + R@10) * 100."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one list of candidate scores per query (higher is better), all of the same length.
    references: one list of 0/1 per query, 1 = the candidate is a positive for the query (same shape).
    ks: recall cut-offs (default (1, 5, 10)); SumR is added when 1, 5 and 10 are all in ks.
Returns:
    {"R@1": ..., "R@5": ..., "R@10": ..., "SumR": ...}, recalls as fractions in [0, 1].
"""


class FashionRetrieval(evaluate.Metric):
    def _info(self):
        return metric_info(_DESCRIPTION, _KWARGS_DESCRIPTION, datasets.Sequence(datasets.Value("float64")), datasets.Sequence(datasets.Value("int64")))

    def _compute(self, predictions, references, ks=(1, 5, 10)):
        scores = torch.tensor(predictions, dtype=torch.float64)
        positives = torch.tensor(references, dtype=torch.int64).bool()
        result = recall_at_k(scores, positives, ks=ks)
        if all(f"R@{k}" in result for k in (1, 5, 10)):
            result["SumR"] = sum_r(result)
        return result
