"""mFSR evaluation protocol (VSE++): chance levels, pairing of images with their captions, COCO 1K folds, tables."""

import math

import pytest
import torch
from PIL import Image

from fashionvl.evaluation.mfsr_protocol import (
    chance_recall,
    evaluate_retrieval,
    format_ablation_table,
    format_per_seed_rsum,
    format_recall_table,
    mean_sd,
)
from fashionvl.processing.collators_mfsr import CaptionedImageSplit


def test_chance_recall_matches_the_hypergeometric_formula():
    chance = chance_recall(num_images=4, captions_per_image=5, ks=(1, 5))
    assert chance["t2i"]["R@1"] == pytest.approx(25.0)
    assert chance["i2t"]["R@1"] == pytest.approx(100 * 5 / 20)
    # best of 5 correct captions among 20 within the top 5: 1 - C(15, 5) / C(20, 5)
    assert chance["i2t"]["R@5"] == pytest.approx(100 * (1 - math.comb(15, 5) / math.comb(20, 5)))


class _IdentityProcessor:
    """Image i is a grey square of level i, caption "c i" names image i: features are one-hot vectors."""

    def __call__(self, images=None, text=None):
        if images is not None:
            return {"pixel_values": torch.tensor([image.getpixel((0, 0))[0] for image in images])}
        ids = torch.tensor([[int(caption.split()[1])] for caption in text])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


class _OneHotModel(torch.nn.Module):
    def __init__(self, num_images, caption_to_image):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.num_images, self.caption_to_image = num_images, caption_to_image

    def get_image_features(self, pixel_values):
        return torch.nn.functional.one_hot(pixel_values, self.num_images).float()

    def get_text_features(self, input_ids, attention_mask):
        return torch.nn.functional.one_hot(self.caption_to_image[input_ids[:, 0]], self.num_images).float()


def _split(num_images):
    images = [Image.new("RGB", (4, 4), (index, index, index)) for index in range(num_images)]
    captions = [[f"c {index}"] * 5 for index in range(num_images)]
    return CaptionedImageSplit(images, captions)


def test_evaluation_pairs_each_image_with_its_own_five_captions():
    split = _split(10)
    metrics = evaluate_retrieval(_OneHotModel(10, torch.arange(10)), _IdentityProcessor(), split, batch_size=3)
    assert metrics["i2t"]["R@1"] == 100.0 and metrics["t2i"]["R@1"] == 100.0


def test_evaluation_scores_a_wrong_pairing_as_a_miss():
    split = _split(10)
    shifted = (torch.arange(10) + 1) % 10  # every caption points at the next image
    metrics = evaluate_retrieval(_OneHotModel(10, shifted), _IdentityProcessor(), split, batch_size=4)
    assert metrics["i2t"]["R@1"] == 0.0 and metrics["t2i"]["R@1"] == 0.0


def test_coco_1k_protocol_needs_a_number_of_images_divisible_by_five():
    with pytest.raises(ValueError, match="divisible by 5"):
        evaluate_retrieval(_OneHotModel(7, torch.arange(7)), _IdentityProcessor(), _split(7), protocol="1k")


def test_recall_table_has_one_row_per_model():
    metrics = {"i2t": {"R@1": 10.0, "R@5": 20.0, "R@10": 30.0}, "t2i": {"R@1": 1.0, "R@5": 2.0, "R@10": 3.0}, "rsum": 66.0}
    table = format_recall_table({"mfsr": metrics})
    assert table.splitlines()[-1] == "| mfsr | 10.0 | 20.0 | 30.0 | 1.0 | 2.0 | 3.0 | 66.0 |"


def test_mean_sd_uses_the_sample_standard_deviation():
    mean, sd = mean_sd([1.0, 2.0, 3.0])
    assert (mean, sd) == (2.0, 1.0)
    assert mean_sd([5.0]) == (5.0, 0.0)


def test_ablation_table_reports_mean_and_sd_over_seeds_and_the_chance_row():
    def run(rsum):
        recalls = {"R@1": rsum / 6, "R@5": rsum / 6, "R@10": rsum / 6}
        return {"metrics": {"i2t": recalls, "t2i": recalls, "rsum": rsum}, "chance": chance_recall(100), "num_eval_images": 100}

    table = format_ablation_table({"vse++": [run(300.0), run(360.0), run(330.0)]})
    assert "| vse++ | 3 |" in table and "**330.0 ± 30.0**" in table
    assert table.splitlines()[-1].startswith("| chance (100 images) |") and table.endswith("| 31.6 |")


def test_per_seed_lines_give_the_paired_difference_to_the_reference_row():
    def runs(*rsums):
        return [{"seed": seed, "metrics": {"rsum": rsum}} for seed, rsum in enumerate(rsums)]

    lines = format_per_seed_rsum({"vse++": runs(400.0, 450.0), "mfsr": runs(410.0, 440.0)}, reference="vse++")
    assert lines.splitlines() == ["- vse++: 400.0 / 450.0", "- mfsr: 410.0 / 440.0 (minus vse++: +10.0 / -10.0)"]
    with pytest.raises(ValueError, match="'sp'"):
        format_per_seed_rsum({"vse++": runs(400.0)}, reference="sp")
