"""Classification metrics: accuracy, macro-F1, SumC (MVLT category recognition), top-k accuracy (DeepFashion-C).

SPEC §6: MVLT reports accuracy A and macro F-measure for main- and sub-category recognition,
SumC = (A + macro-F) * 100; M2Fashion reports category top-1/3/5 accuracy on DeepFashion-C.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


def _as_label_tensor(values, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(values)
    if tensor.dim() != 1:
        raise ValueError(f"{name} must be 1-D (one class id per sample), got shape {tuple(tensor.shape)}.")
    if tensor.is_floating_point() or tensor.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class ids, got dtype {tensor.dtype}.")
    return tensor.long().cpu()


def classification_metrics(predictions, labels) -> dict[str, float]:
    """Accuracy and macro-F1 of predicted class ids.

    Macro-F1 is the unweighted mean of per-class F1 = 2 TP / (2 TP + FP + FN) over the classes present in
    ``labels`` or ``predictions`` (the same definition as scikit-learn's ``f1_score(average="macro")``); a
    class that is only predicted, never true, has F1 = 0.

    Args:
        predictions: (num_samples,) predicted class ids (take ``logits.argmax(-1)`` first).
        labels: (num_samples,) true class ids.

    Returns:
        ``{"accuracy": fraction, "macro_f1": fraction}``.
    """
    predictions = _as_label_tensor(predictions, "predictions")
    labels = _as_label_tensor(labels, "labels")
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions and labels differ in length: {len(predictions)} vs {len(labels)}.")
    if len(labels) == 0:
        raise ValueError("cannot compute classification metrics over zero samples.")
    accuracy = (predictions == labels).float().mean().item()
    classes = torch.unique(torch.cat([labels, predictions]))
    true_positives = ((predictions[None, :] == classes[:, None]) & (labels[None, :] == classes[:, None])).sum(1)
    predicted = (predictions[None, :] == classes[:, None]).sum(1)
    actual = (labels[None, :] == classes[:, None]).sum(1)
    # F1 = 2TP / (2TP + FP + FN) = 2TP / (predicted + actual); the denominator is > 0 for every listed class.
    f1 = 2 * true_positives.double() / (predicted + actual).double()
    return {"accuracy": accuracy, "macro_f1": f1.mean().item()}


def sum_c(metrics: Mapping[str, float]) -> float:
    """SumC = (A + macro-F) * 100 (MVLT Table 2), from :func:`classification_metrics`' fractions."""
    missing = [key for key in ("accuracy", "macro_f1") if key not in metrics]
    if missing:
        raise KeyError(f"sum_c needs accuracy and macro_f1; missing {missing} in {sorted(metrics)}.")
    return (metrics["accuracy"] + metrics["macro_f1"]) * 100.0


def topk_accuracy(logits: torch.Tensor, labels, ks: Sequence[int] = (1, 3, 5)) -> dict[str, float]:
    """Fraction of samples whose true class is among the ``k`` highest logits.

    Ties are pessimistic (as for retrieval, SPEC §6): the true class counts as within the top ``k`` only if
    fewer than ``k`` other classes score greater than or equal to it.

    Args:
        logits: (num_samples, num_classes).
        labels: (num_samples,) true class ids.

    Returns:
        ``{"top1": ..., "top3": ..., "top5": ...}`` fractions.
    """
    labels = _as_label_tensor(labels, "labels")
    if logits.dim() != 2 or len(logits) != len(labels):
        raise ValueError(
            f"logits must be (num_samples, num_classes) with num_samples = {len(labels)}, got {tuple(logits.shape)}."
        )
    num_classes = logits.shape[1]
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if len(bad):
        raise ValueError(f"label {int(bad[0])} out of range for {num_classes} classes.")
    logits = logits.detach().float().cpu()
    true_scores = logits.gather(1, labels[:, None])
    ranks = (logits >= true_scores).sum(1) - 1
    return {f"top{k}": (ranks < k).float().mean().item() for k in ks}


__all__ = ["classification_metrics", "sum_c", "topk_accuracy"]
