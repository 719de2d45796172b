"""FashionTrainer on the tiny MVLTForPreTraining: every pre-training loss is logged and goes down."""

import pytest
import torch

from fashionvl.configs.configuration_mvlt import MVLTConfig
from fashionvl.modeling.modeling_mvlt import MVLTForPreTraining
from fashionvl.training import FashionTrainer
from test_trainer_losses import make_args, training_logs


def smooth_image(size: int, generator: torch.Generator) -> torch.Tensor:
    """A normalised-range image of 4x4 colour blocks, blurred: reconstructible from its unmasked half."""
    blocks = torch.randn(1, 3, 4, 4, generator=generator)
    return torch.nn.functional.interpolate(blocks, size=(size, size), mode="bilinear", align_corners=False)[0]


def make_fixed_mvlt_rows(config: MVLTConfig, num_rows: int = 4, text_length: int = 12) -> list[dict[str, torch.Tensor]]:
    """One fixed batch in the MVLT batch contract (SPEC §2 / team contract), masks included."""
    generator = torch.Generator().manual_seed(0)
    num_units = (config.image_size // config.mask_unit_size) ** 2
    rows = []
    for index in range(num_rows):
        input_ids = torch.randint(5, config.vocab_size, (text_length,), generator=generator)
        input_ids[0] = 2  # [CLS]
        mlm_labels = torch.full((text_length,), -100)
        mlm_labels[3:6] = input_ids[3:6]
        input_ids[3:6] = 4  # [MASK]
        bool_masked_pos = torch.zeros(num_units, dtype=torch.bool)
        bool_masked_pos[torch.randperm(num_units, generator=generator)[: num_units // 2]] = True
        rows.append(
            {
                "input_ids": input_ids,
                "attention_mask": torch.ones(text_length, dtype=torch.long),
                "token_type_ids": torch.zeros(text_length, dtype=torch.long),
                "pixel_values": smooth_image(config.image_size, generator),
                "bool_masked_pos": bool_masked_pos,
                "mlm_labels": mlm_labels,
                "itm_labels": torch.tensor(index % 2),
            }
        )
    return rows


@pytest.mark.slow
def test_a_few_steps_on_a_fixed_batch_reduce_mir_itm_and_mlm_losses(tmp_path):
    config = MVLTConfig.from_preset("tiny")
    model = MVLTForPreTraining(config)
    rows = make_fixed_mvlt_rows(config)
    args = make_args(tmp_path, max_steps=8, learning_rate=3e-3, max_grad_norm=1.0, remove_unused_columns=False)
    trainer = FashionTrainer(model=model, args=args, train_dataset=rows)
    trainer.train()
    logs = training_logs(trainer)
    assert len(logs) == 8
    for name in ("mir_loss", "itm_loss", "mlm_loss"):
        assert all(name in entry for entry in logs), name
        first, last = logs[0][name], min(entry[name] for entry in logs[-2:])
        assert last < 0.85 * first, (name, first, last)
    # eq. 8 with the config's weights: the logged total is the weighted sum of the logged parts
    for entry in logs:
        expected = (
            config.mir_loss_weight * entry["mir_loss"]
            + config.itm_loss_weight * entry["itm_loss"]
            + config.mlm_loss_weight * entry["mlm_loss"]
        )
        assert abs(entry["loss"] - expected) < 1e-4 * max(1.0, expected)
