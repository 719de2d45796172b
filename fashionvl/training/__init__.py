"""fashionvl.training: how every family is trained.

- `trainer.py`: `FashionTrainer` (multi-loss logging, GAN two-optimizer training, atomic saves, resuming);
- `loss_components.py`: the `*_loss` parts of a model output (`loss_components`) and their means (`LossComponentMeter`);
- `checkpoints.py`: the last complete checkpoint of a run (`last_complete_checkpoint`);
- `arguments.py`: `FashionTrainingArguments` (`TrainingArguments` + the discriminator optimizer);
- `callbacks.py`: `TimeBudgetCallback` (wall-clock budget, DDP-safe), `MVLTDiagnosticsCallback` and mFSR's
  `MaxViolationWarmupCallback`;
- `trainer_mfsr.py` / `trainer_m2fashion.py`: the family Trainer subclasses (`MFSRTrainer`: the step-decay schedule;
  `M2FashionTripletTrainer`: the triplet batch sampler), imported by their recipes.

The recipes that use them (one module per family in `fashionvl.recipes`) and the demo (`fashionvl.demo`) are not
imported here, to keep this import light.
"""

from .arguments import FashionTrainingArguments
from .callbacks import MaxViolationWarmupCallback, MVLTDiagnosticsCallback, TimeBudgetCallback
from .checkpoints import last_complete_checkpoint
from .loss_components import LossComponentMeter, loss_components
from .trainer import DISCRIMINATOR_OPTIMIZER_NAME, FashionTrainer

__all__ = [
    "DISCRIMINATOR_OPTIMIZER_NAME",
    "FashionTrainer",
    "FashionTrainingArguments",
    "LossComponentMeter",
    "MVLTDiagnosticsCallback",
    "MaxViolationWarmupCallback",
    "TimeBudgetCallback",
    "last_complete_checkpoint",
    "loss_components",
]
