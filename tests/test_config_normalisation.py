"""Image normalisation statistics belong to the image processor, not to the model configs (issue 13 §6)."""

import json

import pytest

from fashionvl.families import FAMILIES


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_no_model_config_stores_image_mean_or_image_std(model_type):
    config = FAMILIES[model_type].config_class().from_preset("tiny")
    assert not {"image_mean", "image_std"} & set(config.to_dict())


def test_an_older_mfsr_config_json_with_normalisation_statistics_gives_the_same_reconstruction_target(tmp_path):
    import torch

    from fashionvl import MFSRConfig, MFSRForRetrieval

    old = MFSRConfig.from_preset("tiny", vocab_size=30).to_dict()
    del old["reconstruction_target_scale"], old["reconstruction_target_shift"]
    old.update(image_mean=[0.5, 0.25, 0.0], image_std=[0.5, 0.25, 1.0])
    (tmp_path / "config.json").write_text(json.dumps(old))
    config = MFSRConfig.from_pretrained(tmp_path)
    assert not hasattr(config, "image_std")
    raw = torch.rand(1, 3, config.reconstruction_image_size, config.reconstruction_image_size)
    normalised = (raw - torch.tensor([0.5, 0.25, 0.0]).view(1, 3, 1, 1)) / torch.tensor([0.5, 0.25, 1.0]).view(1, 3, 1, 1)
    target = MFSRForRetrieval(config).reconstruction_target(normalised)
    torch.testing.assert_close(target, (raw * 2 - 1).clamp(-1, 1))
