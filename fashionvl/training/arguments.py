"""Training arguments of :class:`~fashionvl.training.FashionTrainer`.

:class:`FashionTrainingArguments` is :class:`transformers.TrainingArguments` plus the settings of the
second (discriminator) optimizer that GAN models such as mFSR need (SPEC §3 and §7): models that expose
``get_discriminator_parameters()`` are trained with alternating discriminator / generator updates.
Every other argument keeps its transformers meaning, so DDP (``torchrun``, ``accelerate launch``),
mixed precision (``bf16``/``fp16``), DeepSpeed and FSDP are configured exactly as for ``Trainer``.
"""

from dataclasses import dataclass, field

from transformers import TrainingArguments


@dataclass
class FashionTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the discriminator optimizer of GAN models.

    Args:
        discriminator_learning_rate (`float`, *optional*):
            Learning rate of the discriminator optimizer (AdamW). `None` uses `learning_rate`. It is kept
            constant (no schedule), as in DCGAN.
        discriminator_beta1 (`float`, *optional*, defaults to 0.5):
            AdamW beta1 of the discriminator optimizer (DCGAN uses 0.5).
        discriminator_beta2 (`float`, *optional*, defaults to 0.999):
            AdamW beta2 of the discriminator optimizer.
        discriminator_weight_decay (`float`, *optional*, defaults to 0.0):
            Weight decay of the discriminator optimizer.
        discriminator_steps (`int`, *optional*, defaults to 1):
            Discriminator updates made before each generator/encoder update. Each one sees the same
            (gradient-accumulation) batch of the coming generator update.

    Example:

    ```python
    >>> from fashionvl.training import FashionTrainingArguments
    >>> args = FashionTrainingArguments(output_dir="outputs/mfsr", learning_rate=2e-4, discriminator_learning_rate=1e-4)
    >>> args.discriminator_steps
    1
    ```
    """

    discriminator_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Learning rate of the discriminator optimizer of GAN models (default: learning_rate)."},
    )
    discriminator_beta1: float = field(
        default=0.5, metadata={"help": "AdamW beta1 of the discriminator optimizer (DCGAN: 0.5)."}
    )
    discriminator_beta2: float = field(
        default=0.999, metadata={"help": "AdamW beta2 of the discriminator optimizer."}
    )
    discriminator_weight_decay: float = field(
        default=0.0, metadata={"help": "Weight decay of the discriminator optimizer."}
    )
    discriminator_steps: int = field(
        default=1,
        metadata={"help": "Discriminator updates made before each generator/encoder update of GAN models."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.discriminator_steps < 1:
            raise ValueError(f"discriminator_steps must be >= 1, got {self.discriminator_steps}.")
        if self.discriminator_learning_rate is not None and self.discriminator_learning_rate <= 0:
            raise ValueError(
                f"discriminator_learning_rate must be positive (or None for learning_rate), "
                f"got {self.discriminator_learning_rate}."
            )
        for name in ("discriminator_beta1", "discriminator_beta2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}.")

    @property
    def effective_discriminator_learning_rate(self) -> float:
        """`discriminator_learning_rate`, or `learning_rate` when it is not set."""
        if self.discriminator_learning_rate is None:
            return self.learning_rate
        return self.discriminator_learning_rate
