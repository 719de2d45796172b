"""Training rows whose images are decoded once, on first access, and then served from memory (issue 15 §3).

A `datasets.Dataset` with an ``Image`` column decodes the stored PNG / JPEG bytes on every row access, so every
epoch decodes every image again. On the bundled synthetic catalog at 64 px that decoding is as expensive as the
image processor itself (``benchmarks/bench_decode_once.py``). `DecodeOnceDataset` wraps such a dataset for the
Trainer's data loader: the first access of a row decodes its image (with the column's own ``datasets.Image``
decoder, so the image is exactly what the dataset returns) and keeps it; later accesses, in this epoch or the next
ones, reuse it. Decoded images are kept until ``max_cached_bytes`` (pixels x bands) are held; rows beyond that are
decoded per access, as before, so a large dataset cannot exhaust memory.

Every other column is read from the dataset as stored (Arrow), so captions and labels cost what they cost before.
"""

from __future__ import annotations

from typing import Any


DEFAULT_MAX_CACHED_BYTES = 2 * 1024**3


def has_decoded_image_column(dataset, image_column: str = "image") -> bool:
    """Whether ``dataset`` is a `datasets.Dataset` whose ``image_column`` is a decoded ``datasets.Image`` feature
    (the case `DecodeOnceDataset` serves; a column produced by a transform, e.g. Fashion-Gen's HDF5 reader, is not)."""
    from datasets import Image as ImageFeature

    feature = getattr(dataset, "features", {}).get(image_column) if hasattr(dataset, "features") else None
    return isinstance(feature, ImageFeature) and feature.decode and getattr(dataset, "format", {}).get("type") is None


class DecodeOnceDataset:
    """A map-style dataset over the rows of ``dataset`` (a `datasets.Dataset` with a decoded ``Image`` column) that
    decodes each row's image at most once.

    Args:
        dataset: the rows; ``dataset[i]`` and ``DecodeOnceDataset(dataset)[i]`` are equal dicts.
        image_column: the ``datasets.Image`` column.
        max_cached_bytes: memory for decoded images (width x height x bands bytes each); rows past it are decoded
            on every access.

    Raises:
        ValueError: ``image_column`` is not a decoded ``datasets.Image`` column of ``dataset``.
    """

    def __init__(self, dataset, image_column: str = "image", max_cached_bytes: int = DEFAULT_MAX_CACHED_BYTES):
        from datasets import Image as ImageFeature

        if not has_decoded_image_column(dataset, image_column):
            raise ValueError(
                f"DecodeOnceDataset needs a datasets.Dataset whose {image_column!r} column is a decoded datasets.Image "
                f"feature (no format set), got {type(dataset).__name__} with features "
                f"{getattr(dataset, 'features', None)}."
            )
        self.dataset = dataset
        self.image_column = image_column
        self.max_cached_bytes = int(max_cached_bytes)
        self._decoder = dataset.features[image_column]
        self._undecoded = dataset.cast_column(image_column, ImageFeature(decode=False))  # the stored bytes / path
        self._images: dict[int, Any] = {}
        self.cached_bytes = 0

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def column_names(self) -> list[str]:
        return self.dataset.column_names

    @property
    def features(self):
        return self.dataset.features

    def _with_image(self, index: int, row: dict) -> dict:
        image = self._images.get(index)
        if image is None:
            stored = row[self.image_column]
            image = None if stored is None else self._decoder.decode_example(stored)
            if image is not None:
                size = image.width * image.height * len(image.getbands())
                if self.cached_bytes + size <= self.max_cached_bytes:
                    self._images[index] = image
                    self.cached_bytes += size
        row[self.image_column] = image
        return row

    def _index(self, index) -> int:
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"row {index} is out of range for a dataset of {len(self)} rows.")
        return index % len(self)

    def __getitem__(self, index) -> dict:
        index = self._index(index)
        return self._with_image(index, self._undecoded[index])

    def __getitems__(self, indices) -> list[dict]:
        """A batch of rows (the data loader's fetch): one Arrow read for all of them."""
        indices = [self._index(index) for index in indices]
        rows = self._undecoded.__getitems__(indices)
        return [self._with_image(index, row) for index, row in zip(indices, rows)]


def rows_for_training(dataset, decode_images_once: bool = True):
    """The rows a Trainer's data loader should read: ``DecodeOnceDataset(dataset)`` when ``decode_images_once`` and
    the dataset has a decoded ``datasets.Image`` column, else ``dataset`` itself."""
    if decode_images_once and has_decoded_image_column(dataset):
        return DecodeOnceDataset(dataset)
    return dataset


__all__ = ["DEFAULT_MAX_CACHED_BYTES", "DecodeOnceDataset", "has_decoded_image_column", "rows_for_training"]
