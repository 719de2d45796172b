"""FashionTrainer's GAN path (SPEC §7): two optimizers, alternating updates, checkpointed discriminator optimizer.

The toy model follows the same contract as mFSR: `get_discriminator_parameters()` and
`forward(..., discriminator_step=True)` returning the discriminator loss with generator outputs detached.
"""

import logging
from dataclasses import dataclass

import pytest
import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from fashionvl.training import DISCRIMINATOR_OPTIMIZER_NAME, FashionTrainer, FashionTrainingArguments
from test_trainer_losses import make_args


@strict
class ToyGanConfig(PreTrainedConfig):
    model_type = "fashionvl_toy_gan"
    feature_size: int = 5
    image_size: int = 8
    hidden_size: int = 12
    discriminator_dropout: float = 0.2  # randomness in both passes, so RNG restoration on resume matters


@dataclass
class ToyGanOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None
    generator_loss: torch.FloatTensor | None = None
    discriminator_loss: torch.FloatTensor | None = None
    generated: torch.FloatTensor | None = None


class ToyGanModel(PreTrainedModel):
    """A generator that maps features to 'images' and a discriminator telling real from generated ones."""

    config_class = ToyGanConfig
    main_input_name = "features"

    def __init__(self, config: ToyGanConfig):
        super().__init__(config)
        self.generator = nn.Sequential(nn.Linear(config.feature_size, config.hidden_size), nn.Tanh(), nn.Linear(config.hidden_size, config.image_size))
        self.discriminator = nn.Sequential(
            nn.Linear(config.image_size, config.hidden_size),
            nn.LeakyReLU(0.2),
            nn.Dropout(config.discriminator_dropout),
            nn.Linear(config.hidden_size, 1),
        )
        self.post_init()

    def get_discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.discriminator.parameters())

    def forward(self, features, images, discriminator_step: bool = False):
        generated = self.generator(features)
        bce = nn.functional.binary_cross_entropy_with_logits
        if discriminator_step:
            real_logits = self.discriminator(images)
            fake_logits = self.discriminator(generated.detach())
            discriminator_loss = bce(real_logits, torch.ones_like(real_logits)) + bce(
                fake_logits, torch.zeros_like(fake_logits)
            )
            return ToyGanOutput(loss=discriminator_loss, discriminator_loss=discriminator_loss)
        fake_logits = self.discriminator(generated)
        generator_loss = bce(fake_logits, torch.ones_like(fake_logits))  # non-saturating generator loss
        reconstruction_loss = nn.functional.mse_loss(generated, images)
        return ToyGanOutput(
            loss=reconstruction_loss + 0.1 * generator_loss,
            reconstruction_loss=reconstruction_loss,
            generator_loss=generator_loss,
            generated=generated,
        )


def make_gan_dataset(num_samples: int = 16, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(num_samples, 5, generator=generator)
    mixing = torch.randn(5, 8, generator=generator)
    images = torch.tanh(features @ mixing)
    return [{"features": features[index], "images": images[index]} for index in range(num_samples)]


def make_gan_args(output_dir, **overrides) -> FashionTrainingArguments:
    """The toy trainer settings of `test_trainer_losses`, with a discriminator learning rate of its own."""
    settings = dict(learning_rate=0.01, discriminator_learning_rate=0.02, max_steps=3, max_grad_norm=1.0)
    settings.update(overrides)
    return make_args(output_dir, **settings)


def split_state(model: ToyGanModel) -> tuple[dict, dict]:
    state = {name: value.detach().clone() for name, value in model.state_dict().items()}
    discriminator = {name: value for name, value in state.items() if name.startswith("discriminator.")}
    generator = {name: value for name, value in state.items() if not name.startswith("discriminator.")}
    return discriminator, generator


def collate(rows):
    return {key: torch.stack([row[key] for row in rows]) for key in rows[0]}


@pytest.fixture
def gan_trainer(tmp_path):
    model = ToyGanModel(ToyGanConfig())
    trainer = FashionTrainer(model=model, args=make_gan_args(tmp_path), train_dataset=make_gan_dataset())
    trainer.create_optimizer()
    return trainer


def test_main_optimizer_excludes_discriminator_parameters_and_a_second_adamw_updates_them(gan_trainer):
    discriminator_ids = {id(parameter) for parameter in gan_trainer.model.get_discriminator_parameters()}
    main_ids = {id(parameter) for group in gan_trainer.optimizer.param_groups for parameter in group["params"]}
    second_ids = {
        id(parameter) for group in gan_trainer.discriminator_optimizer.param_groups for parameter in group["params"]
    }
    assert main_ids.isdisjoint(discriminator_ids)
    assert main_ids | discriminator_ids == {id(parameter) for parameter in gan_trainer.model.parameters()}
    assert second_ids == discriminator_ids
    group = gan_trainer.discriminator_optimizer.param_groups[0]
    assert group["lr"] == 0.02
    assert group["betas"] == (0.5, 0.999)  # DCGAN


def test_discriminator_learning_rate_defaults_to_learning_rate(tmp_path):
    trainer = FashionTrainer(
        model=ToyGanModel(ToyGanConfig()),
        args=make_gan_args(tmp_path, discriminator_learning_rate=None),
        train_dataset=make_gan_dataset(),
    )
    trainer.create_optimizer()
    assert trainer.discriminator_optimizer.param_groups[0]["lr"] == 0.01


def test_discriminator_step_changes_only_discriminator_weights(gan_trainer):
    discriminator_before, generator_before = split_state(gan_trainer.model)
    batch = collate(make_gan_dataset(4))
    # Fetching the micro-batches of an optimizer step runs that step's discriminator update.
    gan_trainer.get_batch_samples(iter([batch]), 1, gan_trainer.args.device)
    discriminator_after, generator_after = split_state(gan_trainer.model)
    for name, value in discriminator_before.items():
        assert not torch.equal(value, discriminator_after[name]), f"{name} was not updated"
    for name, value in generator_before.items():
        assert torch.equal(value, generator_after[name]), f"{name} changed in the discriminator step"
    assert all(parameter.grad is None for parameter in gan_trainer.model.parameters())


def test_generator_step_changes_no_discriminator_weights(gan_trainer):
    discriminator_before, generator_before = split_state(gan_trainer.model)
    batch = collate(make_gan_dataset(4))
    gan_trainer.current_gradient_accumulation_steps = 1  # set by the training loop for each optimizer step
    gan_trainer.training_step(gan_trainer.model, batch)
    assert all(parameter.grad is None for parameter in gan_trainer.model.get_discriminator_parameters())
    assert all(parameter.requires_grad for parameter in gan_trainer.model.parameters())  # restored afterwards
    gan_trainer.optimizer.step()
    discriminator_after, generator_after = split_state(gan_trainer.model)
    for name, value in discriminator_before.items():
        assert torch.equal(value, discriminator_after[name]), f"{name} changed in the generator step"
    for name, value in generator_before.items():
        assert not torch.equal(value, generator_after[name]), f"{name} was not updated"


def test_training_logs_discriminator_and_generator_losses(tmp_path):
    trainer = FashionTrainer(
        model=ToyGanModel(ToyGanConfig()), args=make_gan_args(tmp_path), train_dataset=make_gan_dataset()
    )
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 3
    for entry in logs:
        assert {"discriminator_loss", "generator_loss", "reconstruction_loss"} <= entry.keys()
        assert entry["loss"] == pytest.approx(entry["reconstruction_loss"] + 0.1 * entry["generator_loss"], rel=1e-5)


def test_gan_models_switch_on_ddp_find_unused_parameters_and_say_so(tmp_path, caplog):
    args = make_gan_args(tmp_path)
    assert args.ddp_find_unused_parameters is None
    with caplog.at_level(logging.WARNING, logger="fashionvl.training.trainer"):
        FashionTrainer(model=ToyGanModel(ToyGanConfig()), args=args, train_dataset=make_gan_dataset())
    assert args.ddp_find_unused_parameters is True
    assert "ddp_find_unused_parameters=True" in caplog.text


@pytest.mark.parametrize("strategy", ["is_deepspeed_enabled", "is_fsdp_enabled"])
def test_gan_path_refuses_deepspeed_and_fsdp_with_a_clear_error(tmp_path, strategy):
    trainer = FashionTrainer(
        model=ToyGanModel(ToyGanConfig()), args=make_gan_args(tmp_path), train_dataset=make_gan_dataset()
    )
    setattr(trainer, strategy, True)  # the flags the Trainer derives from --deepspeed / --fsdp
    with pytest.raises(ValueError, match="DeepSpeed|FSDP"):
        trainer.create_optimizer()


def test_resume_restores_both_optimizers_and_continues_the_same_trajectory(tmp_path):
    dataset = make_gan_dataset(16)
    torch.manual_seed(0)
    initial_state = ToyGanModel(ToyGanConfig()).state_dict()

    def run(output_dir, resume=None):
        model = ToyGanModel(ToyGanConfig())
        model.load_state_dict(initial_state)
        args = make_gan_args(output_dir, max_steps=4, save_strategy="steps", save_steps=2)
        trainer = FashionTrainer(model=model, args=args, train_dataset=dataset)
        trainer.train(resume_from_checkpoint=resume)
        return trainer

    uninterrupted = run(tmp_path / "full")
    checkpoint = tmp_path / "full" / "checkpoint-2"
    assert (checkpoint / DISCRIMINATOR_OPTIMIZER_NAME).is_file()
    saved_state = torch.load(checkpoint / DISCRIMINATOR_OPTIMIZER_NAME, weights_only=True)
    assert all(state["step"] == 2 for state in saved_state["state"].values())

    resumed = run(tmp_path / "resumed", resume=str(checkpoint))
    expected = {entry["step"]: entry for entry in uninterrupted.state.log_history if "loss" in entry}
    after_resume = [entry for entry in resumed.state.log_history if "loss" in entry and entry["step"] > 2]
    assert [entry["step"] for entry in after_resume] == [3, 4]
    for entry in after_resume:
        for name in ("loss", "discriminator_loss", "generator_loss"):
            assert entry[name] == pytest.approx(expected[entry["step"]][name], rel=1e-5), (entry["step"], name)
    for name, value in uninterrupted.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value)
    assert all(
        state["step"] == 4 for state in resumed.discriminator_optimizer.state_dict()["state"].values()
    )
