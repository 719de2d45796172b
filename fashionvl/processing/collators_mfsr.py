"""mFSR training data: a split of captioned images, its (image, caption) pairs, and the collator.

- `CaptionedImageSplit`: `images[i]` and the captions `captions[i]` of image i (5 for COCO / Flickr30K); the order
  of `flat_captions()` is the one `fashionvl.evaluation.vse_recall` expects.
- `MFSRPairDataset`: every (image, caption) pair of a split is a sample (VSE++).
- `MFSRDataCollator`: rows -> `pixel_values`, `input_ids`, `attention_mask` through an `MFSRProcessor`, and the
  `image_ids` that keep the semantic hinge from taking another caption of the same image as a negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch


if TYPE_CHECKING:
    from .processing_mfsr import MFSRProcessor


@dataclass
class CaptionedImageSplit:
    """One split of an image-caption dataset: `images[i]` (PIL) and its captions `captions[i]`."""

    images: list
    captions: list[list[str]]

    def __len__(self) -> int:
        return len(self.images)

    def pairs(self) -> list[tuple[int, str]]:
        """(image index, caption) for every caption: the training samples."""
        return [(index, caption) for index, captions in enumerate(self.captions) for caption in captions]

    def flat_captions(self) -> list[str]:
        """All captions, image by image (the order `vse_recall` expects)."""
        return [caption for captions in self.captions for caption in captions]


class MFSRPairDataset(torch.utils.data.Dataset):
    """Training samples of a split: one row per (image, caption) pair, `{"image": PIL, "caption": str, "image_id"}`."""

    def __init__(self, split: CaptionedImageSplit):
        self.split = split
        self.index = split.pairs()

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict:
        image_index, caption = self.index[item]
        return {"image": self.split.images[image_index], "caption": caption, "image_id": image_index}


class MFSRDataCollator:
    """Rows `{"image", "caption"[, "image_id"]}` -> `pixel_values`, `input_ids`, `attention_mask` (through an
    `MFSRProcessor`) and `image_ids` `(batch,)` when the rows carry them (the semantic hinge then never takes
    another caption of the same image as a negative)."""

    def __init__(self, processor: MFSRProcessor):
        self.processor = processor
        self._pixel_cache: dict[int, torch.Tensor] = {}

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = dict(self.processor(text=[row["caption"] for row in rows]))
        if all("image_id" in row for row in rows):
            # Each training image is pre-processed once (5 captions per image: 5 visits per epoch).
            missing = [row for row in rows if row["image_id"] not in self._pixel_cache]
            if missing:
                pixels = self.processor(images=[row["image"] for row in missing])["pixel_values"]
                self._pixel_cache.update({row["image_id"]: value for row, value in zip(missing, pixels)})
            batch["pixel_values"] = torch.stack([self._pixel_cache[row["image_id"]] for row in rows])
            batch["image_ids"] = torch.tensor([row["image_id"] for row in rows], dtype=torch.long)
        else:
            batch["pixel_values"] = self.processor(images=[row["image"] for row in rows])["pixel_values"]
        return batch


__all__ = ["CaptionedImageSplit", "MFSRDataCollator", "MFSRPairDataset"]
