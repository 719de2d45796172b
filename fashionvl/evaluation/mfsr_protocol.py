"""mFSR's evaluation protocol (VSE++, SPEC §6): semantic embeddings of a split, recall in both directions, chance
levels, and the paper's Table 3 layout (one run, or mean +- sd over seeds).

i2t: an image queries all captions, its rank is the best rank of its captions (5 in COCO /
Flickr30K; every image of a split has the same number); t2i: a caption queries all images.
R@1/5/10, medr, meanr, rsum (`fashionvl.evaluation.vse_recall`). Protocols: `all` (every test image at once:
Flickr30K 1K, the synthetic catalog), `5k` (COCO 5K), `1k` (COCO 1K: mean over 5 folds).

No function here imports a model class; the model needs `get_image_features` / `get_text_features`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from .retrieval import vse_recall


if TYPE_CHECKING:
    from ..processing.collators_mfsr import CaptionedImageSplit
    from ..processing.processing_mfsr import MFSRProcessor

CAPTIONS_PER_IMAGE = 5  # COCO / Flickr30K; a user's own data may have fewer (`split_captions_per_image`)


def split_captions_per_image(split: CaptionedImageSplit) -> int:
    """The number of captions of every image of `split` (the protocol needs the same number for all images).

    With one caption per image, i2t ranks a single caption per image and reads like t2i: the recalls are not
    comparable with COCO / Flickr30K numbers, where i2t takes the best of 5 captions (and is easier).
    """
    counts = sorted({len(captions) for captions in split.captions})
    if len(counts) != 1 or counts[0] == 0:
        raise ValueError(f"every image needs the same number of captions (at least 1) for the VSE++ protocol; "
                         f"found {counts} captions per image.")
    return counts[0]


@torch.no_grad()
def encode_split(model, processor: MFSRProcessor, split: CaptionedImageSplit, batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Semantic embeddings of every image `(num_images, dim)` and caption `(num_images * 5, dim)` of a split."""
    model.eval()
    device = next(model.parameters()).device
    image_embeds, text_embeds = [], []
    for start in tqdm(range(0, len(split), batch_size), desc="encoding images", leave=False):
        pixel_values = processor(images=split.images[start : start + batch_size])["pixel_values"].to(device)
        image_embeds.append(model.get_image_features(pixel_values).cpu())
    captions = split.flat_captions()
    for start in tqdm(range(0, len(captions), batch_size), desc="encoding captions", leave=False):
        text = processor(text=captions[start : start + batch_size])
        text_embeds.append(model.get_text_features(text["input_ids"].to(device), text["attention_mask"].to(device)).cpu())
    return torch.cat(image_embeds), torch.cat(text_embeds)


PROTOCOLS = {"all": {"fold5": False}, "5k": {"fold5": False}, "1k": {"fold5": True}}


def evaluate_retrieval(model, processor: MFSRProcessor, split: CaptionedImageSplit, protocol: str = "all", batch_size: int = 128) -> dict:
    """VSE++ recall on a split: `{"i2t": {R@1, R@5, R@10, medr, meanr}, "t2i": {...}, "rsum"}` (percent).

    Protocols: `all` (every image), `5k` (COCO 5K: the same on the 5,000 test images), `1k` (COCO 1K: mean
    over 5 folds of a fifth of the images each).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"Unknown evaluation protocol {protocol!r}: expected one of {list(PROTOCOLS)}.")
    captions_per_image = split_captions_per_image(split)
    image_embeds, text_embeds = encode_split(model, processor, split, batch_size=batch_size)
    return vse_recall(image_embeds, text_embeds, captions_per_image=captions_per_image, **PROTOCOLS[protocol])


def chance_recall(num_images: int, captions_per_image: int = CAPTIONS_PER_IMAGE, ks=(1, 5, 10)) -> dict:
    """Expected R@K (percent) of a random ranking: t2i = K / N; i2t (best of the image's captions among
    N * c) = 1 - C(N*c - c, K) / C(N*c, K)."""
    num_captions = num_images * captions_per_image
    # K beyond the number of captions: every caption is in the top K (a tiny split of a user's own data)
    i2t = {f"R@{k}": 100 * (1 - math.comb(num_captions - captions_per_image, min(k, num_captions))
                            / math.comb(num_captions, min(k, num_captions))) for k in ks}
    t2i = {f"R@{k}": 100 * min(k, num_images) / num_images for k in ks}
    return {"i2t": i2t, "t2i": t2i, "rsum": sum(i2t.values()) + sum(t2i.values())}


def format_recall_table(rows: dict[str, dict]) -> str:
    """Markdown table, one row per name: i2t R@1/5/10, t2i R@1/5/10, rsum (the paper's Table 3 layout)."""
    lines = [
        "| model | i2t R@1 | i2t R@5 | i2t R@10 | t2i R@1 | t2i R@5 | t2i R@10 | rsum |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, metrics in rows.items():
        values = [metrics["i2t"][f"R@{k}"] for k in (1, 5, 10)] + [metrics["t2i"][f"R@{k}"] for k in (1, 5, 10)]
        lines.append(f"| {name} | " + " | ".join(f"{value:.1f}" for value in values) + f" | {metrics['rsum']:.1f} |")
    return "\n".join(lines)


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; 0 for one value)."""
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((value - mean) ** 2 for value in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, sd


def format_ablation_table(results: dict[str, list[dict]]) -> str:
    """Markdown table of `ablation_study` results: mean +- sd over seeds of R@1/5/10 (both directions), rsum, and
    the chance row of a random ranking on the same number of images."""
    lines = [
        "| row | seeds | i2t R@1 | i2t R@5 | i2t R@10 | t2i R@1 | t2i R@5 | t2i R@10 | rsum |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = [("i2t", f"R@{k}") for k in (1, 5, 10)] + [("t2i", f"R@{k}") for k in (1, 5, 10)]
    for name, runs in results.items():
        cells = []
        for direction, key in keys:
            mean, sd = mean_sd([run["metrics"][direction][key] for run in runs])
            cells.append(f"{mean:.1f} ± {sd:.1f}")
        mean, sd = mean_sd([run["metrics"]["rsum"] for run in runs])
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + f" | **{mean:.1f} ± {sd:.1f}** |")
    first = next(iter(results.values()))[0]
    chance = first["chance"]
    values = [chance[direction][key] for direction, key in keys]
    lines.append(
        f"| chance ({first['num_eval_images']} images) | - | " + " | ".join(f"{value:.1f}" for value in values)
        + f" | {chance['rsum']:.1f} |"
    )
    return "\n".join(lines)


def format_per_seed_rsum(results: dict[str, list[dict]], reference: str | None = None) -> str:
    """One line per row: rsum of every seed (`a / b / c`, seeds in the study's order), and with `reference` (a row
    name) the paired difference row - reference on each seed (same seed = same shared initialisation and batches).

    Raises:
        ValueError: `reference` is not a row of `results`, or a row lacks one of its seeds.
    """
    if reference is not None and reference not in results:
        raise ValueError(f"reference row {reference!r} is not in the results ({list(results)}).")
    reference_rsum = {run["seed"]: run["metrics"]["rsum"] for run in results[reference]} if reference else {}
    lines = []
    for name, runs in results.items():
        line = f"- {name}: " + " / ".join(f"{run['metrics']['rsum']:.1f}" for run in runs)
        if reference is not None and name != reference:
            missing = [run["seed"] for run in runs if run["seed"] not in reference_rsum]
            if missing:
                raise ValueError(f"row {name!r} has seeds {missing} that reference row {reference!r} lacks.")
            differences = [run["metrics"]["rsum"] - reference_rsum[run["seed"]] for run in runs]
            line += f" (minus {reference}: " + " / ".join(f"{value:+.1f}" for value in differences) + ")"
        lines.append(line)
    return "\n".join(lines)


__all__ = [
    "CAPTIONS_PER_IMAGE",
    "PROTOCOLS",
    "chance_recall",
    "encode_split",
    "evaluate_retrieval",
    "format_ablation_table",
    "format_per_seed_rsum",
    "format_recall_table",
    "mean_sd",
    "split_captions_per_image",
]
