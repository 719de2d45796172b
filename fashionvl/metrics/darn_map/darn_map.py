"""darn_map: DARN attribute-specific retrieval mAP (ASEN protocol, M2Fashion Table 3), as an ``evaluate`` metric.

A thin wrapper over `fashionvl.evaluation.attribute_retrieval_map`: the numbers are the same.
"""

import datasets
import evaluate
import torch

from fashionvl.evaluation import attribute_retrieval_map
from fashionvl.metrics import metric_info


_DESCRIPTION = """For each attribute, its queries rank that attribute's candidates by the cosine of their
attribute-specific embeddings; average precision over the full list with relevant = same attribute value (ties
pessimistic); mAP over all queries (each attribute weighted by its number of queries) and per attribute."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: the query embeddings, one list of floats per query.
    references: the query's attribute value (int) per query.
    query_attributes: the attribute id of each query.
    candidate_embeddings: one list of floats per candidate (same dimension).
    candidate_values: the attribute value of each candidate.
    candidate_attributes: the attribute id of each candidate.
Returns:
    {"mAP": ..., "per_attribute": {attribute id: mAP}}.
"""


class DarnMap(evaluate.Metric):
    def _info(self):
        return metric_info(_DESCRIPTION, _KWARGS_DESCRIPTION, datasets.Sequence(datasets.Value("float64")), datasets.Value("int64"))

    def _compute(self, predictions, references, query_attributes=None, candidate_embeddings=None,
                 candidate_values=None, candidate_attributes=None):
        missing = [name for name, value in (("query_attributes", query_attributes),
                                             ("candidate_embeddings", candidate_embeddings),
                                             ("candidate_values", candidate_values),
                                             ("candidate_attributes", candidate_attributes)) if value is None]
        if missing:
            raise ValueError(f"darn_map needs {missing} as keyword arguments of compute().")
        return attribute_retrieval_map(
            torch.tensor(predictions, dtype=torch.float32), references,
            torch.tensor(candidate_embeddings, dtype=torch.float32), candidate_values,
            query_attributes, candidate_attributes,
        )
