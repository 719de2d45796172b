"""fashionvl.evaluation: metrics of the three papers' evaluation protocols (SPEC §6), plain typed functions.

- :mod:`.retrieval`: ``recall_at_k`` (pessimistic ties), the Fashion-Gen 101-candidate protocol
  (``sample_same_subcategory_candidates``, ``evaluate_same_subcategory_retrieval``), full-gallery mode,
  ``sum_r``, and VSE++'s ``vse_recall`` (COCO 1K / 5K, Flickr30K).
- :mod:`.classification`: ``classification_metrics`` (accuracy, macro-F1), ``sum_c``, ``topk_accuracy``.
- :mod:`.attributes`: DeepFashion-C ``attribute_topk_recall`` and DARN ``attribute_retrieval_map``.

Each family's protocol (its score functions, draws, chance levels and results table) has its own module, imported
by name and not here: :mod:`.mvlt_protocol` (MVLT Table 2, ``EncodedImageTextSplit``) and :mod:`.mvlt_diagnostics`
(the retrieval diagnostics logged during MVLT pre-training).
"""

from .attributes import attribute_retrieval_map, attribute_topk_recall
from .classification import classification_metrics, sum_c, topk_accuracy
from .retrieval import (
    CandidateSets,
    ScoreFunction,
    best_positive_ranks,
    evaluate_full_gallery_retrieval,
    evaluate_same_subcategory_retrieval,
    recall_at_k,
    recall_from_ranks,
    sample_same_subcategory_candidates,
    score_candidate_sets,
    sum_r,
    vse_recall,
)


__all__ = [
    "CandidateSets",
    "ScoreFunction",
    "attribute_retrieval_map",
    "attribute_topk_recall",
    "best_positive_ranks",
    "classification_metrics",
    "evaluate_full_gallery_retrieval",
    "evaluate_same_subcategory_retrieval",
    "recall_at_k",
    "recall_from_ranks",
    "sample_same_subcategory_candidates",
    "score_candidate_sets",
    "sum_c",
    "sum_r",
    "topk_accuracy",
    "vse_recall",
]
