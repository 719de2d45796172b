"""Classification metrics: accuracy, macro-F1 (checked against scikit-learn), SumC, top-k accuracy."""

import pytest
import torch

from fashionvl.evaluation import classification_metrics, sum_c, topk_accuracy


def test_classification_metrics_hand_case():
    metrics = classification_metrics(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]))
    assert metrics["accuracy"] == pytest.approx(0.75)
    # class 0: F1 = 2*1 / (1 + 2) ; class 1: F1 = 2*2 / (3 + 2)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_macro_f1_matches_scikit_learn_including_classes_only_predicted_or_only_true():
    metrics_module = pytest.importorskip("sklearn.metrics")
    generator = torch.Generator().manual_seed(7)
    labels = torch.randint(0, 6, (200,), generator=generator)
    predictions = torch.randint(2, 9, (200,), generator=generator)  # 0, 1 never predicted; 6-8 never true
    ours = classification_metrics(predictions, labels)
    assert ours["macro_f1"] == pytest.approx(metrics_module.f1_score(labels, predictions, average="macro"))
    assert ours["accuracy"] == pytest.approx(metrics_module.accuracy_score(labels, predictions))


def test_sum_c_is_accuracy_plus_macro_f1_in_percent():
    assert sum_c({"accuracy": 0.9, "macro_f1": 0.6}) == pytest.approx(150.0)


def test_classification_metrics_rejects_length_mismatch():
    with pytest.raises(ValueError, match="3 vs 2"):
        classification_metrics([0, 1, 2], [0, 1])


def test_topk_accuracy_hand_case_with_pessimistic_ties():
    logits = torch.tensor(
        [
            [0.1, 0.5, 0.2, 0.9, 0.0, 0.0],  # label 1 ranks 2nd
            [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # all tied: label 0 ranks last (6th)
            [0.0, 0.0, 0.0, 0.3, 0.2, 0.1],  # label 5 ranks 3rd, behind 0.3 and 0.2
        ]
    )
    result = topk_accuracy(logits, torch.tensor([1, 0, 5]))
    assert result == {"top1": 0.0, "top3": pytest.approx(2 / 3), "top5": pytest.approx(2 / 3)}


def test_topk_accuracy_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="label 4 out of range for 3 classes"):
        topk_accuracy(torch.rand(2, 3), torch.tensor([0, 4]))
