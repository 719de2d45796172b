"""Ablation rows are data (issue 13 §1): configs/ablations/<model_type>.json, read by load_ablations."""

import pytest

from fashionvl import M2FashionConfig, MFSRConfig, MVLTConfig
from fashionvl.configs import presets
from fashionvl.configs.presets import load_ablations


def test_every_m2fashion_ablation_row_builds_a_valid_config():
    rows = load_ablations("m2fashion")
    assert {"M2Fashion", "w/o ASA", "w/o ACA", "GAP", "category only", "attribute only"} <= set(rows)
    for name, overrides in rows.items():
        config = M2FashionConfig.from_preset("tiny", **overrides)
        for key, value in overrides.items():
            assert getattr(config, key) == value, (name, key)


def test_every_mfsr_table_3_row_builds_a_valid_config():
    from fashionvl import MFSRConfig

    rows = load_ablations("mfsr")
    assert list(rows)[0] == "vse++" and "separation only" in rows and rows["mfsr"] == {}
    for name, overrides in rows.items():
        config = MFSRConfig.from_preset("tiny", **overrides)
        for key, value in overrides.items():
            assert getattr(config, key) == value, (name, key)


def test_a_malformed_ablation_file_names_the_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "broken.json").write_text('{\n  "row": {"pooling": "avg",}\n}\n')
    monkeypatch.setattr(presets, "ABLATIONS_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"broken.json, line 2"):
        load_ablations("broken")


def test_rows_must_be_objects_and_the_file_must_exist(tmp_path, monkeypatch):
    (tmp_path / "flat.json").write_text('{"row": 3}')
    monkeypatch.setattr(presets, "ABLATIONS_DIR", tmp_path)
    with pytest.raises(ValueError, match="object of row name"):
        load_ablations("flat")
    with pytest.raises(ValueError, match="No ablation table for 'nothing'"):
        load_ablations("nothing")


@pytest.mark.parametrize("config_class", [M2FashionConfig, MFSRConfig, MVLTConfig])
def test_a_misspelt_override_is_named_with_the_nearest_argument(config_class):
    # PreTrainedConfig would keep it as an attribute that nothing reads
    with pytest.raises(ValueError, match=r"'initialiser_range' \(did you mean 'initializer_range'\?\)"):
        config_class.from_preset("tiny", initialiser_range=0.1)
    assert config_class.from_preset("tiny", initializer_range=0.1, num_labels=3).initializer_range == 0.1
