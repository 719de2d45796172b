"""deepfashion_attributes: DeepFashion-C top-k attribute recall pooled over images, per attribute type and over all
attributes (M2Fashion Table 1), as an ``evaluate`` metric.

A thin wrapper over `fashionvl.evaluation.attribute_topk_recall`: the numbers are the same.
"""

import datasets
import evaluate
import torch

from fashionvl.evaluation import attribute_topk_recall
from fashionvl.metrics import metric_info


_DESCRIPTION = """Top-k attribute recall: per attribute type, sum over images of |top-k predicted attributes of that
type & the image's positive attributes| / sum over images of |positive attributes of that type| (pooled, as the
DeepFashion protocol); "all" pools every attribute. Ties are pessimistic."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one list of attribute scores per image (num_attributes each).
    references: one list of 0/1 per image (1 = the image has the attribute; map DeepFashion's -1 and 0 to 0).
    attribute_types: the type name of each attribute (e.g. "texture", "fabric", "shape", "part", "style").
    ks: cut-offs (default (3, 5)).
Returns:
    {type: {"top3": ..., "top5": ...}, ..., "all": {...}} fractions (NaN for a type without positives).
"""


class DeepfashionAttributes(evaluate.Metric):
    def _info(self):
        return metric_info(_DESCRIPTION, _KWARGS_DESCRIPTION, datasets.Sequence(datasets.Value("float64")), datasets.Sequence(datasets.Value("int64")))

    def _compute(self, predictions, references, attribute_types=None, ks=(3, 5)):
        if attribute_types is None:
            raise ValueError("deepfashion_attributes needs attribute_types=[...] (one type name per attribute).")
        return attribute_topk_recall(torch.tensor(predictions, dtype=torch.float64), torch.tensor(references),
                                     list(attribute_types), ks=ks)
