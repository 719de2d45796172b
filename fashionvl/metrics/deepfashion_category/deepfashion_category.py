"""deepfashion_category: DeepFashion-C top-k category accuracy (M2Fashion Table 1), as an ``evaluate`` metric.

A thin wrapper over `fashionvl.evaluation.topk_accuracy`: the numbers are the same.
"""

import datasets
import evaluate
import torch

from fashionvl.evaluation import topk_accuracy
from fashionvl.metrics import metric_info


_DESCRIPTION = """Top-k category accuracy: the fraction of images whose true category is among the k highest scores.
Ties are pessimistic: the true category counts only if fewer than k other categories score greater or equal."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one list of category scores (logits or probabilities) per image, all of the same length.
    references: the true category id of each image.
    ks: cut-offs (default (1, 3, 5)).
Returns:
    {"top1": ..., "top3": ..., "top5": ...} fractions in [0, 1].
"""


class DeepfashionCategory(evaluate.Metric):
    def _info(self):
        return metric_info(_DESCRIPTION, _KWARGS_DESCRIPTION, datasets.Sequence(datasets.Value("float64")), datasets.Value("int64"))

    def _compute(self, predictions, references, ks=(1, 3, 5)):
        return topk_accuracy(torch.tensor(predictions, dtype=torch.float64), torch.tensor(references), ks=ks)
