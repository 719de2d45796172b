"""Two-stage re-ranking that costs what the model costs (issue 15 §2): MVLT's ITM over a query's first-stage
candidates, with each gallery image decoded and processed once (`GalleryPixelCache`) and each query tokenised (or
processed) once, so a re-ranked pair costs one row of a batched forward and little else.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch


DEFAULT_PIXEL_CACHE_BYTES = 1 << 30  # per gallery index: ~5,400 images at 256 px, ~85,000 at 64 px (float32)


class GalleryPixelCache:
    """Processed pixel tensors of gallery items, kept per gallery index (weakly: an index that is dropped frees its
    entries), least recently used evicted beyond ``max_bytes`` per index."""

    def __init__(self, max_bytes: int = DEFAULT_PIXEL_CACHE_BYTES):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}.")
        self.max_bytes = max_bytes
        self._entries: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._bytes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def cached_positions(self, index) -> list[int]:
        return list(self._entries.get(index, ()))

    def get(self, index, positions: Sequence[int], process: Callable[[list[int]], torch.Tensor]) -> torch.Tensor:
        """``(len(positions), C, H, W)`` pixels of gallery ``positions``; ``process(missing_positions)`` returns
        the pixels of those not cached yet, in their order."""
        entries = self._entries.setdefault(index, OrderedDict())
        missing = [position for position in dict.fromkeys(positions) if position not in entries]
        fresh = dict(zip(missing, process(missing))) if missing else {}
        pixels = torch.stack([entries[p] if p in entries else fresh[p] for p in positions])
        for position, tensor in fresh.items():
            entries[position] = tensor
            self._bytes[index] = self._bytes.get(index, 0) + tensor.numel() * tensor.element_size()
        for position in positions:
            entries.move_to_end(position)
        while entries and self._bytes[index] > self.max_bytes:
            _, evicted = entries.popitem(last=False)
            self._bytes[index] -= evicted.numel() * evicted.element_size()
        return pixels


def rerank_logits(
    pipe,
    index,
    query,
    query_modality: str,
    positions: Sequence[int],
    batch_size: int,
    pixel_cache: GalleryPixelCache,
) -> torch.Tensor:
    """ITM logits ``(len(positions), 2)`` of ``query`` against gallery ``positions`` of ``index``.

    Text query, image gallery: the caption is tokenised once and repeated along the batch; gallery pixels come
    from ``pixel_cache`` (opened with the pipeline's image-loading options and processed in one processor call per
    batch on a miss). Image query, caption gallery: the query image is processed once; the captions of each batch
    are tokenised together.
    """
    adapter = pipe.adapter
    logits = []
    if query_modality == "text":
        text_inputs = adapter.prepare_texts([query])

        def process(missing: list[int]) -> torch.Tensor:
            images = [index.open_item(position, **pipe._image_loading) for position in missing]
            return adapter.prepare_images(images)["pixel_values"]

        for start in range(0, len(positions), batch_size):
            chunk = list(positions[start : start + batch_size])
            model_inputs = {
                "pixel_values": pixel_cache.get(index, chunk, process),
                **{name: value.expand(len(chunk), -1) for name, value in text_inputs.items()},
            }
            logits.append(pipe.forward(model_inputs))
    else:
        query_pixels = adapter.prepare_images([query])["pixel_values"]
        for start in range(0, len(positions), batch_size):
            chunk = [index.items[position] for position in positions[start : start + batch_size]]
            model_inputs = {"pixel_values": query_pixels.expand(len(chunk), -1, -1, -1), **adapter.prepare_texts(chunk)}
            logits.append(pipe.forward(model_inputs))
    return torch.cat(logits)


__all__ = ["DEFAULT_PIXEL_CACHE_BYTES", "GalleryPixelCache", "rerank_logits"]
