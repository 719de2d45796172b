"""Trainer callbacks of the recipes, as real classes (issue 13): a wall-clock budget and MVLT's retrieval diagnostics.

- `TimeBudgetCallback(max_minutes)`: stops training once the budget is spent; under DDP every rank stops at the
  same step. Any family's recipe can pass it to `FashionTrainer`.
- `MVLTDiagnosticsCallback(encoded, every_steps, ...)`: runs `fashionvl.evaluation.mvlt_diagnostics.mvlt_diagnostics`
  on a held-out slice and appends the `diag_*` values to `state.log_history`.
- `MaxViolationWarmupCallback(warmup_epochs)`: mFSR's hinge over all negatives first, then the hardest negative.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from transformers import TrainerCallback

from ..evaluation.mvlt_diagnostics import mvlt_diagnostics


if TYPE_CHECKING:
    from ..evaluation.mvlt_protocol import EncodedImageTextSplit

logger = logging.getLogger(__name__)


class TimeBudgetCallback(TrainerCallback):
    """Stops training once `max_minutes` have passed; under DDP every rank stops at the same step."""

    def __init__(self, max_minutes: float):
        self.max_seconds = 60.0 * max_minutes
        self.start = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        out_of_time = torch.tensor(float(time.monotonic() - self.start > self.max_seconds))
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            out_of_time = out_of_time.to(args.device)
            torch.distributed.all_reduce(out_of_time, op=torch.distributed.ReduceOp.MAX)
        if out_of_time.item() > 0 and not control.should_training_stop:
            logger.warning(
                "Time budget of %.1f min reached: stopping at step %d of %d.",
                self.max_seconds / 60,
                state.global_step,
                state.max_steps,
            )
            control.should_training_stop = True
        return control


class MVLTDiagnosticsCallback(TrainerCallback):
    """Runs `mvlt_diagnostics` on a held-out slice every `every_steps` steps (and at the end of training) and
    appends the values, with the step, to `state.log_history` (main process only; other ranks skip)."""

    def __init__(self, encoded: EncodedImageTextSplit, every_steps: int, tokenizer=None, probe_words: Sequence[str] = (),
                 num_rows: int = 64, num_queries: int = 20, seed: int = 0):
        if every_steps < 1:
            raise ValueError(f"every_steps must be >= 1, got {every_steps}.")
        self.encoded, self.every_steps = encoded, every_steps
        self.tokenizer, self.probe_words = tokenizer, tuple(probe_words)
        self.num_rows, self.num_queries, self.seed = num_rows, num_queries, seed
        self._last_step = -1

    def _run(self, state, model) -> None:
        if not state.is_world_process_zero or state.global_step == self._last_step:
            return
        self._last_step = state.global_step
        model = getattr(model, "module", model)
        values = mvlt_diagnostics(model, self.encoded, self.tokenizer, self.probe_words, self.num_rows,
                                  self.num_queries, self.seed)
        state.log_history.append({**{key: round(value, 4) for key, value in values.items()}, "step": state.global_step})
        logger.info("MVLT diagnostics at step %d: %s", state.global_step, values)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every_steps == 0:
            self._run(state, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._run(state, model)



class MaxViolationWarmupCallback(TrainerCallback):
    """mFSR / VSE++: sum the hinge over every negative (VSE0) for the first `warmup_epochs`, then use the hardest
    negative (eq. 8), by setting `model.config.max_violation` before every step (and at the end of training).

    From randomly initialised encoders the hardest-negative loss alone can collapse every embedding onto one point
    (loss = 2 * margin * batch); VSE++ itself starts from ImageNet features.
    """

    def __init__(self, warmup_epochs: float):
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}.")
        self.warmup_epochs = warmup_epochs

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        model.config.max_violation = state.epoch is None or state.epoch >= self.warmup_epochs

    on_train_end = on_step_begin


__all__ = ["MVLTDiagnosticsCallback", "MaxViolationWarmupCallback", "TimeBudgetCallback"]
