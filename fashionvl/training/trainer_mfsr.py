"""`MFSRTrainer`: `FashionTrainer` with the mFSR paper's step schedule (section 3.5: Adam at 2e-4, then 2e-5 after
15 epochs), i.e. one learning-rate drop by `decay_factor` after `decay_step` optimizer steps."""

from __future__ import annotations

from collections.abc import Callable

from torch.optim.lr_scheduler import LambdaLR

from .trainer import FashionTrainer


def step_decay_lambda(decay_step: int, factor: float) -> Callable[[int], float]:
    """Learning-rate multiplier: 1 before `decay_step` optimizer steps, `factor` from then on (paper section 3.5)."""
    return lambda step: 1.0 if step < decay_step else factor


class MFSRTrainer(FashionTrainer):
    """`FashionTrainer` (GAN two-optimizer training, per-loss logging) with the paper's one-drop step schedule.

    Args:
        decay_step: optimizer steps at the first learning rate.
        decay_factor: multiplier of the learning rate from then on (2e-5 / 2e-4 = 0.1 in the paper).
        *args, **kwargs: those of `FashionTrainer`.
    """

    def __init__(self, *args, decay_step: int, decay_factor: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.decay_step, self.decay_factor = decay_step, decay_factor

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            self.lr_scheduler = LambdaLR(
                optimizer if optimizer is not None else self.optimizer, step_decay_lambda(self.decay_step, self.decay_factor)
            )
            self._created_lr_scheduler = True
        return self.lr_scheduler


__all__ = ["MFSRTrainer", "step_decay_lambda"]
