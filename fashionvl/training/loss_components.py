"""The loss parts a fashionvl model returns (`mir_loss`, `itm_loss`, ...) and their running means across steps and
ranks, which `FashionTrainer` logs next to `loss`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist


LOSS_FIELD_SUFFIX = "_loss"


def loss_components(outputs: Any) -> dict[str, torch.Tensor]:
    """The loss parts of a model output: every non-None scalar field whose name ends in `_loss`.

    Args:
        outputs: a `ModelOutput` (or any mapping); tuples carry no names and give `{}`.

    Returns:
        `{name: scalar tensor}` in the output's field order; the total `loss` itself is not included.
    """
    if not isinstance(outputs, Mapping):
        return {}
    components = {}
    for name, value in outputs.items():
        if name.endswith(LOSS_FIELD_SUFFIX) and isinstance(value, torch.Tensor) and value.numel() == 1:
            components[name] = value.detach().reshape(())
    return components


class LossComponentMeter:
    """Weighted running means of named scalar losses, reducible across distributed ranks.

    `add(values, weight)` adds `weight * value` to each name's sum and `weight` to its total weight;
    `mean()` is sum / total weight. The trainer gives each training micro-batch the weight
    1 / (micro-batches of its optimizer step), so every optimizer step counts once, and each evaluation
    batch its number of samples.
    """

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.weights: dict[str, float] = {}

    def __bool__(self) -> bool:
        return bool(self.sums)

    def reset(self) -> None:
        self.sums.clear()
        self.weights.clear()

    def add(self, values: Mapping[str, torch.Tensor], weight: float) -> None:
        for name, value in values.items():
            value = value.detach().float()
            if name in self.sums:
                self.sums[name] = self.sums[name] + weight * value
                self.weights[name] += weight
            else:
                self.sums[name] = weight * value
                self.weights[name] = weight

    def mean(self, device: torch.device | None = None) -> dict[str, float]:
        """The means over everything added on all ranks (a collective call when distributed), then reset.

        Every rank must call this at the same point. Names seen on only some ranks are averaged over the
        ranks that saw them.
        """
        names = sorted(self.sums)
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if distributed:
            all_names: list[list[str]] = [None] * dist.get_world_size()
            dist.all_gather_object(all_names, names)
            names = sorted(set().union(*all_names))
        if not names:
            self.reset()
            return {}
        if device is None:
            device = next(iter(self.sums.values())).device if self.sums else torch.device("cpu")
        zero = torch.zeros((), device=device)
        sums = torch.stack([self.sums.get(name, zero).to(device) for name in names])
        weights = torch.tensor([self.weights.get(name, 0.0) for name in names], device=device, dtype=sums.dtype)
        if distributed:
            totals = torch.cat([sums, weights])
            dist.all_reduce(totals, op=dist.ReduceOp.SUM)
            sums, weights = totals[: len(names)], totals[len(names) :]
        self.reset()
        return {name: (s / w).item() for name, s, w in zip(names, sums, weights) if w > 0}


__all__ = ["LOSS_FIELD_SUFFIX", "LossComponentMeter", "loss_components"]
