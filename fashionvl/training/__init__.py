"""fashionvl.training: `FashionTrainer` (multi-loss logging, GAN two-optimizer training) and its arguments.

The recipes that use them (pre-training, fine-tuning, evaluation of each family) live in `fashionvl.recipes`
(`recipes/mvlt.py`, `recipes/mfsr.py`, `recipes/m2fashion.py`) and the demo in `fashionvl.demo`; they are not
imported here, to keep this import light.
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
