"""`FashionTrainer`: the transformers `Trainer` for multi-loss and GAN fashion models (SPEC §7).

Two things the stock `Trainer` does not do:

1. **Loss components.** fashionvl models compute their weighted total loss themselves and return every
   part as a scalar `*_loss` field (`mir_loss`, `itm_loss`, `mlm_loss`, ...). `FashionTrainer` logs every
   non-None part next to `loss`: averaged over the logging window exactly like `loss` (each optimizer step
   counts once, its gradient-accumulation micro-batches are averaged) and reduced across ranks. Evaluation
   logs the same parts with the `eval_` prefix (averaged over samples, like `eval_loss`).

2. **GAN models.** A model whose `get_discriminator_parameters()` returns parameters (mFSR's D1/D2) is
   trained with two optimizers. The main optimizer never sees the discriminator parameters; a second AdamW
   (`FashionTrainingArguments.discriminator_*`, DCGAN betas (0.5, 0.999), constant learning rate) updates
   them. Every optimizer step first makes `discriminator_steps` discriminator updates on the batch of the
   step (all its accumulation micro-batches), calling the *wrapped* model with `discriminator_step=True` so
   that DDP all-reduces the discriminator gradients, and then the usual generator/encoder update, during
   which the discriminator parameters pass gradients through to the generator but receive none. The
   discriminator optimizer is saved as `discriminator_optimizer.pt` in each checkpoint and restored on
   resume. DDP needs `ddp_find_unused_parameters=True` (each of the two passes leaves the other side's
   parameters unused), which is set automatically; DeepSpeed and FSDP own the optimizer and the parameter
   storage, so this path refuses them with an error.

Gradient accumulation. Losses are means over each micro-batch (the models do not use `num_items_in_batch`), so
the Trainer divides them by the number of accumulation steps. Accumulation `n x b` gives the update of one batch
of `n * b` only for a loss that is a mean over the *samples* of a batch computed by sample-wise layers (no
dropout); measured on MVLT, that holds for ITM alone. It does not hold, and this Trainer does not make it hold, for:

- losses through BatchNorm in training mode (MVLT's MIR decoder, mFSR's generators): the statistics are those
  of each micro-batch of `b`, not of `n * b`;
- a mean over a varying number of units per micro-batch (MVLT's MLM: cross-entropy averaged over the *masked
  tokens* of the micro-batch): each micro-batch gets weight 1 / n whatever its number of masked tokens, where
  one big batch would weight every token equally;
- in-batch contrastive terms (ITC negatives, mFSR's hinge over the batch, ITC-mined ITM negatives): each sample
  sees the `b - 1` negatives of its micro-batch, not `n * b - 1`.

Short last batches. A model with BatchNorm layers (or a `min_train_batch_size` attribute) cannot train on a
batch of one sample: when the training set would end an epoch with a smaller batch, `FashionTrainer` sets
`dataloader_drop_last=True` (with a warning), and refuses a `per_device_train_batch_size` below that minimum.

Saving. `save_model` (and each checkpoint's model files) is written into a temporary folder next to the target and
moved in with the weights first and `config.json` last (the stock `save_pretrained` writes the configuration
first): a run killed while saving never leaves a configuration ahead of its weights. Other files in the target
(checkpoints in `output_dir`) are untouched.

Resuming. `train(resume_from_checkpoint=True)` resumes from the last *complete* checkpoint of `output_dir`
(`last_complete_checkpoint`: `trainer_state.json` written, readable and of the folder's step, and model weights
present; the Trainer writes `trainer_state.json` last). A checkpoint left half-written by a killed run is skipped
with a warning naming it, where the stock Trainer would pick it and fail.
"""

import atexit
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from transformers import Trainer
from transformers.trainer_pt_utils import find_batch_size

from .._safe_io import replace_files_in_order
from .checkpoints import last_complete_checkpoint
from .loss_components import LossComponentMeter, loss_components

logger = logging.getLogger(__name__)

DISCRIMINATOR_OPTIMIZER_NAME = "discriminator_optimizer.pt"

# Defaults of the discriminator optimizer when plain `TrainingArguments` are passed
# (the same as `FashionTrainingArguments`' defaults).
_DISCRIMINATOR_DEFAULTS = {
    "discriminator_learning_rate": None,
    "discriminator_beta1": 0.5,
    "discriminator_beta2": 0.999,
    "discriminator_weight_decay": 0.0,
    "discriminator_steps": 1,
}


_EXIT_HANDLER_REGISTERED = False


def _destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def destroy_process_group_at_exit() -> None:
    """Destroy the default process group at interpreter exit, while Python is still fully alive (idempotent).

    Without it, a gloo process group outlives `main` and is torn down during interpreter finalisation: its
    worker threads may still hold work objects whose tensors need the GIL then, and the process aborts with
    "terminate called without an active exception" (SIGABRT) after a successful run, at random (pytorch/pytorch
    PR 179291 describes the mechanism). The Trainer (accelerate) creates the group and never destroys it, so every
    `FashionTrainer` registers this `atexit` handler once a group exists; a script that destroys the group itself
    is unaffected (the handler then does nothing).
    """
    global _EXIT_HANDLER_REGISTERED
    if not _EXIT_HANDLER_REGISTERED and dist.is_available() and dist.is_initialized():
        atexit.register(_destroy_process_group)
        _EXIT_HANDLER_REGISTERED = True


def min_train_batch_size(model: nn.Module | None) -> int:
    """Smallest batch the model trains on: its `min_train_batch_size` attribute, else 2 with BatchNorm layers
    (batch statistics of one sample are undefined), else 1."""
    declared = getattr(model, "min_train_batch_size", None)
    if isinstance(declared, int) and declared >= 1:
        return declared
    if model is not None and any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in model.modules()):
        return 2
    return 1


@contextlib.contextmanager
def parameters_without_gradients(parameters: Iterable[nn.Parameter]) -> Iterator[None]:
    """Temporarily set `requires_grad=False` on `parameters` (gradients still flow *through* them)."""
    parameters = list(parameters)
    previous = [parameter.requires_grad for parameter in parameters]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, requires_grad in zip(parameters, previous):
            parameter.requires_grad_(requires_grad)


def _get_discriminator_parameters(model: nn.Module | None) -> list[nn.Parameter]:
    get_parameters = getattr(model, "get_discriminator_parameters", None)
    if get_parameters is None:
        return []
    return [parameter for parameter in get_parameters() if parameter.requires_grad]


class FashionTrainer(Trainer):
    """`transformers.Trainer` that logs each loss component and trains GAN models with two optimizers.

    Use it exactly like `Trainer` (preferably with
    [`~fashionvl.training.FashionTrainingArguments`], which adds the discriminator optimizer settings).
    See the module docstring for what is logged and how the GAN path alternates updates.

    Attributes:
        discriminator_optimizer: the optimizer of `model.get_discriminator_parameters()` (GAN models only,
            created with the main optimizer), else `None`.

    Example:

    ```python
    >>> from fashionvl import FashionTrainer
    >>> from fashionvl.training import FashionTrainingArguments
    >>> args = FashionTrainingArguments(output_dir="outputs/run", remove_unused_columns=False, logging_steps=10)
    >>> trainer = FashionTrainer(model=model, args=args, train_dataset=dataset, data_collator=collator)  # doctest: +SKIP
    >>> trainer.train()  # logs loss, mir_loss, itm_loss, mlm_loss, ...  # doctest: +SKIP
    ```
    """

    def __init__(self, model: nn.Module | None = None, args=None, *positional, **kwargs):
        is_gan = bool(_get_discriminator_parameters(model))
        if is_gan and args is not None and args.ddp_find_unused_parameters is not True:
            logger.warning(
                "FashionTrainer: %s has discriminator parameters; setting ddp_find_unused_parameters=True "
                "(was %s) because the discriminator and generator passes each leave the other's parameters "
                "without gradients.",
                type(model).__name__,
                args.ddp_find_unused_parameters,
            )
            args.ddp_find_unused_parameters = True
        super().__init__(model, args, *positional, **kwargs)
        destroy_process_group_at_exit()
        # fashionvl models return per-micro-batch means and ignore `num_items_in_batch`: let the Trainer
        # divide by the accumulation steps (and never rescale by the number of processes).
        self.model_accepts_loss_kwargs = False
        self.discriminator_optimizer: torch.optim.Optimizer | None = None
        self._train_loss_components = LossComponentMeter()
        self._eval_loss_components = LossComponentMeter()
        self._rng_restore_before_discriminator: str | None = None
        self._skip_rng_reload_of: str | None = None
        if is_gan:
            self._check_gan_strategy()

    # ---- GAN helpers ---------------------------------------------------------------------------------

    def get_discriminator_parameters(self) -> list[nn.Parameter]:
        """The trainable discriminator parameters of the (unwrapped) model; empty for non-GAN models."""
        return _get_discriminator_parameters(self.accelerator.unwrap_model(self.model))

    def _discriminator_setting(self, name: str) -> Any:
        return getattr(self.args, name, _DISCRIMINATOR_DEFAULTS[name])

    def _check_gan_strategy(self) -> None:
        if self.is_deepspeed_enabled or self.is_fsdp_enabled:
            strategy = "DeepSpeed" if self.is_deepspeed_enabled else "FSDP"
            raise ValueError(
                f"FashionTrainer cannot train a model with discriminators ({type(self.model).__name__}) under "
                f"{strategy}: the second (discriminator) optimizer needs plain parameters that {strategy} would "
                "shard or wrap in its own optimizer. Use DDP (torchrun / accelerate launch without "
                "--deepspeed/--fsdp), or train the model without discriminators."
            )

    # ---- optimizers ----------------------------------------------------------------------------------

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """The main optimizer (without discriminator parameters) and, for GAN models, the discriminator one."""
        discriminator_parameters = self.get_discriminator_parameters()
        if not discriminator_parameters:
            return super().create_optimizer(model)
        self._check_gan_strategy()
        if self.optimizer is None:
            # The main optimizer takes every parameter that requires a gradient: hide the discriminators.
            with parameters_without_gradients(discriminator_parameters):
                super().create_optimizer(model)
        else:
            discriminator_ids = {id(parameter) for parameter in discriminator_parameters}
            shared = [
                parameter
                for group in self.optimizer.param_groups
                for parameter in group["params"]
                if id(parameter) in discriminator_ids
            ]
            if shared:
                raise ValueError(
                    f"The optimizer passed to FashionTrainer updates {len(shared)} discriminator parameter(s); "
                    "build it without model.get_discriminator_parameters() (FashionTrainer updates them with "
                    "its own discriminator optimizer)."
                )
        if self.discriminator_optimizer is None:
            learning_rate = self._discriminator_setting("discriminator_learning_rate") or self.args.learning_rate
            optimizer = torch.optim.AdamW(
                discriminator_parameters,
                lr=learning_rate,
                betas=(self._discriminator_setting("discriminator_beta1"), self._discriminator_setting("discriminator_beta2")),
                weight_decay=self._discriminator_setting("discriminator_weight_decay"),
            )
            # Prepared by accelerate so that fp16 loss scaling covers it too.
            self.discriminator_optimizer = self.accelerator.prepare_optimizer(optimizer)
            logger.info(
                "FashionTrainer: discriminator optimizer AdamW over %d tensors (lr=%g, %d update(s) per step).",
                len(discriminator_parameters),
                learning_rate,
                self._discriminator_setting("discriminator_steps"),
            )
        return self.optimizer

    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        super()._save_optimizer_and_scheduler(output_dir)
        if self.discriminator_optimizer is not None and self.args.should_save:
            torch.save(
                self.discriminator_optimizer.state_dict(), os.path.join(output_dir, DISCRIMINATOR_OPTIMIZER_NAME)
            )

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None or self.discriminator_optimizer is None:
            return
        path = os.path.join(checkpoint, DISCRIMINATOR_OPTIMIZER_NAME)
        if not os.path.isfile(path):
            logger.warning(
                "FashionTrainer: %s has no %s; the discriminator optimizer starts from scratch.",
                checkpoint,
                DISCRIMINATOR_OPTIMIZER_NAME,
            )
            return
        self.discriminator_optimizer.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        # A mid-epoch resume restores the RNG state only after the first batch of the resumed step is fetched,
        # which is after this step's discriminator update: restore it before that update instead.
        if not self.args.ignore_data_skip:
            self._rng_restore_before_discriminator = checkpoint

    def _load_rng_state(self, checkpoint: str | None) -> None:
        if checkpoint is not None and checkpoint == self._skip_rng_reload_of:
            self._skip_rng_reload_of = None  # already restored before the discriminator update
            return
        super()._load_rng_state(checkpoint)
        if checkpoint is not None and checkpoint == self._rng_restore_before_discriminator:
            self._rng_restore_before_discriminator = None  # restored before any discriminator update

    # ---- saving --------------------------------------------------------------------------------------

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """`Trainer._save` into a temporary sibling folder, then moved in: weights first, `config.json` last."""
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:  # non-writer ranks only join the collectives of a sharded save
            return super()._save(output_dir, state_dict)
        output_dir = os.path.abspath(output_dir)
        os.makedirs(output_dir, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(output_dir)}.save-", dir=os.path.dirname(output_dir))
        try:
            super()._save(staging, state_dict)
            for name in os.listdir(staging):  # sub-folders (rare: processors with nested files) go first
                if os.path.isdir(os.path.join(staging, name)):
                    shutil.copytree(os.path.join(staging, name), os.path.join(output_dir, name), dirs_exist_ok=True)
                    shutil.rmtree(os.path.join(staging, name))
            replace_files_in_order(staging, output_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # ---- training ------------------------------------------------------------------------------------

    def train(self, resume_from_checkpoint: str | bool | None = None, *positional, **kwargs):
        """`Trainer.train`; `resume_from_checkpoint=True` takes the last *complete* checkpoint (see the module
        docstring), and a short last batch that the model cannot train on is dropped."""
        self._train_loss_components.reset()
        if resume_from_checkpoint is True:
            resume_from_checkpoint = last_complete_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(f"No complete checkpoint found in output_dir ({self.args.output_dir}) to resume from.")
        self._check_short_last_batch()
        return super().train(resume_from_checkpoint, *positional, **kwargs)

    def _check_short_last_batch(self) -> None:
        minimum = min_train_batch_size(self.accelerator.unwrap_model(self.model))
        if minimum <= 1 or self.train_dataset is None:
            return
        batch_size = self.args.per_device_train_batch_size
        if batch_size < minimum:
            raise ValueError(
                f"{type(self.model).__name__} needs at least {minimum} samples per training batch (BatchNorm "
                f"statistics), got per_device_train_batch_size={batch_size}."
            )
        try:
            num_samples = len(self.train_dataset)
        except TypeError:  # an iterable dataset: the last batch cannot be known in advance
            return
        world_size = max(self.args.world_size, 1)
        last = -(-num_samples // world_size) % batch_size  # each rank gets ceil(N / world_size) samples
        if 0 < last < minimum and not self.args.dataloader_drop_last:
            logger.warning(
                "FashionTrainer: %d training samples in batches of %d (x %d processes) end every epoch with a batch "
                "of %d; %s cannot train on fewer than %d samples, so dataloader_drop_last=True.",
                num_samples, batch_size, world_size, last, type(self.model).__name__, minimum,
            )
            self.args.dataloader_drop_last = True

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        """Fetch the micro-batches of the next optimizer step; for GAN models, update the discriminators on them.

        This is the one place that sees the whole accumulation window before the generator/encoder update, so
        the discriminator step accumulates over exactly the samples of the generator step.
        """
        batch_samples, num_items_in_batch = super().get_batch_samples(epoch_iterator, num_batches, device)
        if batch_samples and self.discriminator_optimizer is not None:
            self._discriminator_update(batch_samples)
        return batch_samples, num_items_in_batch

    def _discriminator_update(self, batch_samples: list[dict[str, Any]]) -> None:
        """`discriminator_steps` AdamW updates of the discriminators on the micro-batches of one optimizer step."""
        checkpoint = self._rng_restore_before_discriminator
        if checkpoint is not None:
            super()._load_rng_state(checkpoint)
            self._rng_restore_before_discriminator = None
            self._skip_rng_reload_of = checkpoint
        model = self.model_wrapped
        model.train()
        num_updates = self._discriminator_setting("discriminator_steps")
        num_micro_batches = len(batch_samples)
        for _ in range(num_updates):
            for index, inputs in enumerate(batch_samples):
                inputs = self._prepare_inputs(inputs)
                # Accumulate locally; DDP all-reduces the discriminator gradients on the last micro-batch.
                if index == num_micro_batches - 1:
                    sync_context = contextlib.nullcontext()
                else:
                    sync_context = self.accelerator.no_sync(model)
                with sync_context:
                    with self.compute_loss_context_manager():
                        outputs = model(**inputs, discriminator_step=True)
                    loss = outputs["loss"] if isinstance(outputs, Mapping) else outputs[0]
                    components = loss_components(outputs) or {"discriminator_loss": loss.detach()}
                    self._train_loss_components.add(components, weight=1.0 / (num_micro_batches * num_updates))
                    self.accelerator.backward(loss / num_micro_batches)
            # The Trainer drives `sync_gradients` per micro-batch; the discriminator step is always a sync step.
            self.accelerator.gradient_state._set_sync_gradients(True)
            self.discriminator_optimizer.step()
            self.discriminator_optimizer.zero_grad(set_to_none=True)

    def training_step(self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch=None) -> torch.Tensor:
        discriminator_parameters = self.get_discriminator_parameters() if self.discriminator_optimizer else []
        if not discriminator_parameters:
            return super().training_step(model, inputs, num_items_in_batch)
        # Generator/encoder update: the generator loss flows through the discriminators to the generator, but
        # the discriminators themselves get no gradient (their update is the discriminator step).
        with parameters_without_gradients(discriminator_parameters):
            return super().training_step(model, inputs, num_items_in_batch)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """`Trainer.compute_loss`, recording the model's `*_loss` fields for logging."""
        loss, outputs = super().compute_loss(
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        components = loss_components(outputs)
        if components:
            if model.training:
                # Each optimizer step counts once; its micro-batches share that weight (as `loss` does).
                accumulation_steps = getattr(self, "current_gradient_accumulation_steps", 1) or 1
                self._train_loss_components.add(components, weight=1.0 / accumulation_steps)
            else:
                batch_size = find_batch_size(inputs) or 1
                self._eval_loss_components.add(components, weight=float(batch_size))
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the component losses of the window to the training logs (the ones carrying `loss`)."""
        if "loss" in logs:
            # Every rank logs here (the Trainer gathers `loss` at the same point), so the reduction is safe.
            logs.update(self._train_loss_components.mean(device=self.args.device))
        super().log(logs, start_time)

    # ---- evaluation ----------------------------------------------------------------------------------

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None, metric_key_prefix="eval"):
        self._eval_loss_components.reset()
        output = super().evaluation_loop(
            dataloader,
            description,
            prediction_loss_only=prediction_loss_only,
            ignore_keys=ignore_keys,
            metric_key_prefix=metric_key_prefix,
        )
        for name, value in self._eval_loss_components.mean(device=self.args.device).items():
            output.metrics[f"{metric_key_prefix}_{name}"] = value
        return output
