"""MVLTConfig: presets, validation with clear errors, serialisation."""

import json

import pytest
from huggingface_hub.errors import StrictDataclassError

from fashionvl import MVLTConfig
from fashionvl.configs.presets import available_presets, load_preset


def test_paper_preset_is_table_1_of_the_paper():
    config = MVLTConfig.from_preset("paper")
    assert config.hidden_sizes == [64, 128, 320, 512]
    assert config.depths == [2, 2, 2, 2]
    assert config.num_attention_heads == [1, 2, 5, 8]
    assert config.mlp_ratios == [8, 8, 4, 4]
    assert config.sr_ratios == [8, 4, 2, 1]
    assert config.patch_sizes == [4, 2, 2, 2]
    assert config.image_size == 256 and config.max_position_embeddings == 128
    assert config.total_stride == 32
    assert (config.mir_loss_weight, config.itm_loss_weight, config.mlm_loss_weight) == (10.0, 1.0, 1.0)
    assert config.mask_unit_size == 16 and config.num_mask_units == 256


def test_paper_preset_differs_from_the_defaults_only_by_sparse_mlm_decoding():
    defaults, paper = MVLTConfig().to_dict(), MVLTConfig.from_preset("paper").to_dict()
    assert {key for key in defaults if defaults[key] != paper[key]} == {"mlm_sparse_prediction"}
    assert paper["mlm_sparse_prediction"] is True


def test_tiny_preset_is_small_and_accepts_overrides():
    config = MVLTConfig.from_preset("tiny", vocab_size=123)
    assert config.image_size == 64 and config.depths == [1, 1, 1, 1]
    assert config.vocab_size == 123
    assert config.num_mask_units == 16


def test_paper_tiny_and_the_pvt_small_medium_large_presets_are_shipped():
    assert {"paper", "tiny", "small", "medium", "large"} <= set(available_presets("mvlt"))


@pytest.mark.parametrize(
    ("name", "depths"), [("small", [3, 4, 6, 3]), ("medium", [3, 4, 18, 3]), ("large", [3, 8, 27, 3])]
)
def test_small_medium_large_presets_differ_from_the_paper_preset_only_in_depths(name, depths):
    # SPEC §2: the PVT-v1 Small/Medium/Large shapes keep Tiny's widths, heads and ratios; only M_k changes.
    paper, variant = MVLTConfig.from_preset("paper").to_dict(), MVLTConfig.from_preset(name).to_dict()
    assert variant["depths"] == depths
    assert {key for key in paper if paper[key] != variant[key]} == {"depths"}


def test_unknown_preset_names_the_preset_and_the_choices():
    with pytest.raises(ValueError, match=r"'huge'.*\['large', 'medium', 'paper', 'small', 'tiny'\]"):
        MVLTConfig.from_preset("huge")


def test_mask_fill_values_are_the_normalised_raw_pixel_1e_minus_6():
    config = MVLTConfig(image_mean=[0.5, 0.25, 0.0], image_std=[0.5, 0.25, 2.0])
    expected = [(1e-6 - 0.5) / 0.5, (1e-6 - 0.25) / 0.25, 1e-6 / 2.0]
    assert config.mask_fill_values == pytest.approx(expected)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"depths": [2, 2]}, r"same length.*'depths': 2"),
        ({"num_attention_heads": [3, 2, 5, 8]}, r"hidden size 64.*not divisible.*heads 3"),
        ({"image_size": 250}, r"image_size=250.*total stride 32"),
        ({"mask_unit_size": 6}, r"mask_unit_size=6.*multiple of the first patch size 4"),
        ({"mask_unit_size": 24}, r"image_size=256.*divisible by mask_unit_size=24"),
        ({"mir_decoder": "vae"}, r"mir_decoder='vae'.*\('unet', 'partial'\)"),
        ({"mlm_loss_weight": -1.0}, r"mlm_loss_weight.*non-negative.*-1.0"),
        ({"image_std": [0.2, 0.2]}, r"image_std.*one value per channel"),
        ({"sr_ratios": [8, 4, 0, 1]}, r"sr_ratios.*positive.*\[8, 4, 0, 1\]"),
        ({"num_sub_categories": 0}, r"num_sub_categories.*positive, got 0"),
    ],
)
def test_invalid_config_raises_an_error_naming_the_bad_value(overrides, message):
    with pytest.raises((ValueError, StrictDataclassError), match=message):
        MVLTConfig(**overrides)


def test_config_round_trips_through_json(tmp_path):
    config = MVLTConfig.from_preset("tiny", mir_decoder="partial", mask_padded_text=False)
    config.save_pretrained(tmp_path)
    stored = json.loads((tmp_path / "config.json").read_text())
    assert stored["model_type"] == "mvlt" and stored["hidden_sizes"] == [32, 64, 128, 160]
    reloaded = MVLTConfig.from_pretrained(tmp_path)
    assert reloaded.to_dict() == config.to_dict()


def test_preset_files_only_use_known_config_arguments():
    known = set(MVLTConfig().to_dict())
    for name in available_presets("mvlt"):
        assert set(load_preset("mvlt", name)) <= known, name


def test_normalisation_statistics_are_not_stored_in_the_model_config():
    assert not {"image_mean", "image_std"} & set(MVLTConfig.from_preset("tiny").to_dict())


def test_an_older_config_json_with_normalisation_statistics_loads_with_the_same_fill_values(tmp_path):
    import json

    old = MVLTConfig().to_dict()
    del old["mask_fill_values"]
    old.update(image_mean=[0.5, 0.5, 0.5], image_std=[0.25, 0.25, 0.25])
    (tmp_path / "config.json").write_text(json.dumps(old))
    config = MVLTConfig.from_pretrained(tmp_path)
    assert config.mask_fill_values == pytest.approx([(1e-6 - 0.5) / 0.25] * 3)
    assert not hasattr(config, "image_std")
