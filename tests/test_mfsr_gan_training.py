"""mFSR's side of the GAN contract, exercised through FashionTrainer (alternating D / G updates)."""

import pytest
import torch
from transformers import default_data_collator

from fashionvl import MFSRConfig, MFSRForRetrieval
from fashionvl.training import FashionTrainer, FashionTrainingArguments

VOCAB_SIZE = 30


class _SnapshottingMFSR(MFSRForRetrieval):
    """Records a copy of every parameter at the start of each forward, tagged with `discriminator_step`."""

    def __init__(self, config):
        super().__init__(config)
        self.snapshots = []

    def forward(self, *args, discriminator_step=False, **kwargs):
        if self.training:
            state = {name: parameter.detach().clone() for name, parameter in self.named_parameters()}
            self.snapshots.append((discriminator_step, state))
        return super().forward(*args, discriminator_step=discriminator_step, **kwargs)


def _rows(count: int = 8) -> list[dict]:
    rows = []
    for _ in range(count):
        input_ids = torch.tensor([1, *torch.randint(4, VOCAB_SIZE, (4,)).tolist(), 2])
        rows.append({"pixel_values": torch.randn(3, 32, 32), "input_ids": input_ids, "attention_mask": torch.ones(6, dtype=torch.long)})
    return rows


def _changed(before: dict, after: dict) -> set[str]:
    return {name for name in before if not torch.equal(before[name], after[name])}


@pytest.mark.slow
def test_fashion_trainer_updates_discriminators_only_in_their_step_and_encoders_only_in_theirs(tmp_path):
    model = _SnapshottingMFSR(MFSRConfig.from_preset("tiny", vocab_size=VOCAB_SIZE, reconstruction_image_size=16))
    args = FashionTrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=1, learning_rate=1e-3,
        remove_unused_columns=False, report_to=[], save_strategy="no", use_cpu=True, logging_steps=1,
    )
    trainer = FashionTrainer(model=model, args=args, train_dataset=_rows(), data_collator=default_data_collator)
    trainer.train()

    assert [flag for flag, _ in model.snapshots] == [True, False]
    before_discriminator, before_generator = model.snapshots[0][1], model.snapshots[1][1]
    after = {name: parameter.detach() for name, parameter in model.named_parameters()}
    discriminator_names = {name for name, _ in model.named_parameters() if "discriminator" in name}

    discriminator_step_changes = _changed(before_discriminator, before_generator)
    generator_step_changes = _changed(before_generator, after)
    assert discriminator_step_changes and discriminator_step_changes <= discriminator_names
    assert generator_step_changes and not (generator_step_changes & discriminator_names)
    assert any(name.startswith("generator.") for name in generator_step_changes)
    assert any(name.startswith("mfsr.text_encoder.") for name in generator_step_changes)


@pytest.mark.slow
def test_fashion_trainer_logs_every_mfsr_loss_component(tmp_path):
    model = MFSRForRetrieval(MFSRConfig.from_preset("tiny", vocab_size=VOCAB_SIZE, reconstruction_image_size=16))
    args = FashionTrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=2, learning_rate=1e-3,
        remove_unused_columns=False, report_to=[], save_strategy="no", use_cpu=True, logging_steps=1,
    )
    trainer = FashionTrainer(model=model, args=args, train_dataset=_rows(), data_collator=default_data_collator)
    trainer.train()
    logged = set().union(*(entry.keys() for entry in trainer.state.log_history))
    for name in ("modal_loss", "semantic_loss", "specific_loss", "image_reconstruction_loss", "caption_reconstruction_loss", "discriminator_loss"):
        assert name in logged, name
