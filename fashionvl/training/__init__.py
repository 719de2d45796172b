"""fashionvl.training: `FashionTrainer` (multi-loss logging, GAN two-optimizer training) and its arguments.

The MVLT recipes (pre-training, fine-tuning, evaluation, the demo) live in
`fashionvl.training.mvlt_recipes`; they are imported from there, not here, to keep this import light.
"""

from .arguments import FashionTrainingArguments
from .trainer import DISCRIMINATOR_OPTIMIZER_NAME, FashionTrainer, LossComponentMeter, loss_components

__all__ = [
    "DISCRIMINATOR_OPTIMIZER_NAME",
    "FashionTrainer",
    "FashionTrainingArguments",
    "LossComponentMeter",
    "loss_components",
]
