"""fashionvl.training: how every family is trained.

- `trainer.py`: `FashionTrainer` (multi-loss logging, GAN two-optimizer training) and `loss_components`;
- `arguments.py`: `FashionTrainingArguments` (`TrainingArguments` + the discriminator optimizer);
- `callbacks.py`: `TimeBudgetCallback` (wall-clock budget, DDP-safe) and `MVLTDiagnosticsCallback`.

The recipes that use them (one module per family in `fashionvl.recipes`) and the demo (`fashionvl.demo`) are not
imported here, to keep this import light.
"""

from .arguments import FashionTrainingArguments
from .callbacks import MVLTDiagnosticsCallback, TimeBudgetCallback
from .trainer import DISCRIMINATOR_OPTIMIZER_NAME, FashionTrainer, LossComponentMeter, loss_components

__all__ = [
    "DISCRIMINATOR_OPTIMIZER_NAME",
    "FashionTrainer",
    "FashionTrainingArguments",
    "LossComponentMeter",
    "MVLTDiagnosticsCallback",
    "TimeBudgetCallback",
    "loss_components",
]
