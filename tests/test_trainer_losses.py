"""FashionTrainer on ordinary (non-GAN) multi-loss models: component logging, accumulation, resume."""

import math
from dataclasses import dataclass

import pytest
import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from fashionvl.training import FashionTrainer, FashionTrainingArguments, LossComponentMeter, loss_components


@strict
class ToyMultiLossConfig(PreTrainedConfig):
    """A two-head regression + classification toy whose losses are per-sample means (no dropout)."""

    model_type = "fashionvl_toy_multi_loss"
    input_size: int = 6
    hidden_size: int = 16
    num_classes: int = 3


@dataclass
class ToyMultiLossOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    regression_loss: torch.FloatTensor | None = None
    classification_loss: torch.FloatTensor | None = None
    unused_loss: torch.FloatTensor | None = None  # a switched-off component: must not be logged
    logits: torch.FloatTensor | None = None


class ToyMultiLossModel(PreTrainedModel):
    config_class = ToyMultiLossConfig
    main_input_name = "features"

    def __init__(self, config: ToyMultiLossConfig):
        super().__init__(config)
        self.encoder = nn.Linear(config.input_size, config.hidden_size)
        self.regressor = nn.Linear(config.hidden_size, 1)
        self.classifier = nn.Linear(config.hidden_size, config.num_classes)
        self.post_init()

    def forward(self, features, targets=None, class_labels=None):
        hidden = torch.tanh(self.encoder(features))
        logits = self.classifier(hidden)
        regression_loss = nn.functional.mse_loss(self.regressor(hidden).squeeze(-1), targets)
        classification_loss = nn.functional.cross_entropy(logits, class_labels)
        loss = regression_loss + 0.5 * classification_loss
        return ToyMultiLossOutput(
            loss=loss, regression_loss=regression_loss, classification_loss=classification_loss, logits=logits
        )


def make_toy_dataset(num_samples: int = 16, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(num_samples, 6, generator=generator)
    targets = features[:, :2].sum(-1)
    class_labels = (features[:, 2] > 0).long() + (features[:, 3] > 0.5).long()
    return [
        {"features": features[index], "targets": targets[index], "class_labels": class_labels[index]}
        for index in range(num_samples)
    ]


def make_args(output_dir, **overrides) -> FashionTrainingArguments:
    settings = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        learning_rate=0.05,
        lr_scheduler_type="constant",
        max_steps=4,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
        seed=0,
        max_grad_norm=0.0,
        weight_decay=0.0,
        dataloader_num_workers=0,
    )
    settings.update(overrides)
    return FashionTrainingArguments(**settings)


def training_logs(trainer) -> list[dict]:
    return [entry for entry in trainer.state.log_history if "loss" in entry]


def test_loss_components_picks_every_non_none_scalar_loss_field():
    output = ToyMultiLossOutput(
        loss=torch.tensor(3.0), regression_loss=torch.tensor(1.0), classification_loss=torch.tensor(4.0)
    )
    assert loss_components(output) == {"regression_loss": 1.0, "classification_loss": 4.0}
    assert loss_components((torch.tensor(1.0),)) == {}


def test_loss_component_meter_weights_each_step_once():
    meter = LossComponentMeter()
    # step 1 with two micro-batches (weight 1/2 each), step 2 with one micro-batch
    meter.add({"a_loss": torch.tensor(1.0)}, weight=0.5)
    meter.add({"a_loss": torch.tensor(3.0)}, weight=0.5)
    meter.add({"a_loss": torch.tensor(8.0), "b_loss": torch.tensor(2.0)}, weight=1.0)
    assert meter.mean() == pytest.approx({"a_loss": (2.0 + 8.0) / 2, "b_loss": 2.0})
    assert not meter  # reset after reading


def test_component_losses_are_logged_every_step_and_decrease(tmp_path):
    dataset = make_toy_dataset(4)  # one fixed batch of 4, seen every step
    model = ToyMultiLossModel(ToyMultiLossConfig())
    trainer = FashionTrainer(model=model, args=make_args(tmp_path, max_steps=8), train_dataset=dataset)
    trainer.train()
    logs = training_logs(trainer)
    assert len(logs) == 8
    for entry in logs:
        assert {"regression_loss", "classification_loss"} <= entry.keys()
        assert "unused_loss" not in entry
        # the logged total is the model's weighted sum of the logged parts
        assert entry["loss"] == pytest.approx(entry["regression_loss"] + 0.5 * entry["classification_loss"], rel=1e-5)
    for name in ("regression_loss", "classification_loss"):
        assert logs[-1][name] < 0.8 * logs[0][name], name


def test_components_are_averaged_over_the_logging_window(tmp_path):
    dataset = make_toy_dataset(4)
    every_step = FashionTrainer(
        model=ToyMultiLossModel(ToyMultiLossConfig()), args=make_args(tmp_path / "a"), train_dataset=dataset
    )
    every_step.train()
    torch.manual_seed(0)
    windowed = FashionTrainer(
        model=ToyMultiLossModel(ToyMultiLossConfig()),
        args=make_args(tmp_path / "b", logging_steps=2),
        train_dataset=dataset,
    )
    windowed.train()
    per_step = [entry["regression_loss"] for entry in training_logs(every_step)]
    per_window = [entry["regression_loss"] for entry in training_logs(windowed)]
    assert per_window == pytest.approx([(per_step[0] + per_step[1]) / 2, (per_step[2] + per_step[3]) / 2], rel=1e-5)


def test_gradient_accumulation_2x4_gives_the_update_of_one_batch_of_8(tmp_path):
    # Holds for losses that are per-sample means (and no dropout). MVLT's MLM loss is a mean over the masked
    # tokens of each micro-batch, so with accumulation its tokens are weighted per micro-batch instead.
    dataset = make_toy_dataset(8)
    torch.manual_seed(0)
    accumulated_model = ToyMultiLossModel(ToyMultiLossConfig())
    initial_state = {name: value.clone() for name, value in accumulated_model.state_dict().items()}
    accumulated = FashionTrainer(
        model=accumulated_model,
        args=make_args(tmp_path / "ga", max_steps=1, gradient_accumulation_steps=2, optim="sgd"),
        train_dataset=dataset,
    )
    accumulated.train()
    single_model = ToyMultiLossModel(ToyMultiLossConfig())
    single_model.load_state_dict(initial_state)
    single = FashionTrainer(
        model=single_model,
        args=make_args(tmp_path / "single", max_steps=1, per_device_train_batch_size=8, optim="sgd"),
        train_dataset=dataset,
    )
    single.train()
    for name, value in single_model.state_dict().items():
        assert not torch.equal(value, initial_state[name]), f"{name} was not updated"
        torch.testing.assert_close(accumulated_model.state_dict()[name], value, rtol=1e-5, atol=1e-6)
    # the logged loss and parts are the means over the 8 samples either way
    for name in ("loss", "regression_loss", "classification_loss"):
        assert training_logs(accumulated)[0][name] == pytest.approx(training_logs(single)[0][name], rel=1e-5)


def test_resuming_from_a_checkpoint_continues_the_same_loss_trajectory(tmp_path):
    dataset = make_toy_dataset(16)
    torch.manual_seed(0)
    initial_state = ToyMultiLossModel(ToyMultiLossConfig()).state_dict()

    def run(output_dir, resume=None, max_steps=6):
        model = ToyMultiLossModel(ToyMultiLossConfig())
        model.load_state_dict(initial_state)
        args = make_args(output_dir, max_steps=max_steps, save_strategy="steps", save_steps=3, optim="adamw_torch")
        trainer = FashionTrainer(model=model, args=args, train_dataset=dataset)
        trainer.train(resume_from_checkpoint=resume)
        return trainer

    uninterrupted = run(tmp_path / "full")
    resumed = run(tmp_path / "resumed_src")  # writes checkpoint-3 (and -6)
    resumed = run(tmp_path / "resumed_src", resume=str(tmp_path / "resumed_src" / "checkpoint-3"))
    expected = {entry["step"]: entry for entry in training_logs(uninterrupted)}
    after_resume = [entry for entry in training_logs(resumed) if entry["step"] > 3]
    assert [entry["step"] for entry in after_resume] == [4, 5, 6]
    for entry in after_resume:
        for name in ("loss", "regression_loss", "classification_loss"):
            assert entry[name] == pytest.approx(expected[entry["step"]][name], rel=1e-5), (entry["step"], name)


def test_evaluation_logs_component_losses_with_the_eval_prefix(tmp_path):
    dataset = make_toy_dataset(8)
    model = ToyMultiLossModel(ToyMultiLossConfig())
    trainer = FashionTrainer(
        model=model, args=make_args(tmp_path, per_device_eval_batch_size=3), eval_dataset=dataset
    )
    metrics = trainer.evaluate()
    with torch.no_grad():
        batch = {key: torch.stack([row[key] for row in dataset]) for key in dataset[0]}
        expected = model(**batch)
    assert metrics["eval_regression_loss"] == pytest.approx(expected.regression_loss.item(), rel=1e-5)
    assert metrics["eval_classification_loss"] == pytest.approx(expected.classification_loss.item(), rel=1e-5)
    assert not any(math.isnan(value) for value in metrics.values() if isinstance(value, float))
