"""PVT ImageNet initialisation: MVLT's vision stream reproduces transformers' PvtModel when given its weights."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from transformers import PvtConfig, PvtForImageClassification, PvtModel

from fashionvl import MVLTConfig, MVLTForPreTraining, MVLTModel
from fashionvl.modeling.modeling_mvlt import convert_pvt_checkpoint, convert_pvt_state_dict, mvlt_config_from_pvt


PVT_SHAPES = {"hidden_sizes": [16, 32, 48, 64], "depths": [1, 2, 1, 1], "num_attention_heads": [1, 2, 3, 4]}


def tiny_pvt_config() -> PvtConfig:
    return PvtConfig(image_size=64, mlp_ratios=[2, 2, 2, 2], sequence_reduction_ratios=[4, 2, 2, 1], **PVT_SHAPES)


@pytest.fixture(scope="module")
def pvt_folder(tmp_path_factory) -> Path:
    """A randomly initialised tiny PvtModel (64px) saved as a local checkpoint."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("pvt-tiny")
    PvtModel(tiny_pvt_config()).save_pretrained(folder)
    return folder


def matching_config(image_size: int = 64) -> MVLTConfig:
    """The tiny preset with the stage shapes of the saved PVT (at PVT's 64px unless told otherwise)."""
    return MVLTConfig.from_preset(
        "tiny", image_size=image_size, mlp_ratios=[2, 2, 2, 2], sr_ratios=[4, 2, 2, 1], **PVT_SHAPES
    )


def test_vision_stream_without_text_equals_pvt_for_stages_1_to_3(pvt_folder):
    pvt = PvtModel.from_pretrained(pvt_folder).eval()
    mvlt = MVLTModel.from_pvt_pretrained(pvt_folder, config=matching_config()).eval()
    pixel_values = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        pvt_outputs = pvt(pixel_values, output_hidden_states=True)
        mvlt_outputs = mvlt(torch.zeros(2, 0, dtype=torch.long), pixel_values)
    # PVT's hidden_states hold every block's output; a stage ends after blocks 1, 3 and 4 (depths 1, 2, 1, 1).
    stage_ends = [0, 2, 3]
    for stage, block in enumerate(stage_ends):
        mvlt_tokens = mvlt_outputs.vision_hidden_states[stage].flatten(2).transpose(1, 2)
        assert torch.allclose(mvlt_tokens, pvt_outputs.hidden_states[block], atol=1e-5), f"stage {stage + 1}"


def test_stage_4_runs_without_pvt_class_token(pvt_folder):
    # PVT prepends a class token in stage 4 (its position embedding has one extra slot); MVLT drops that slot, as
    # the authors' code does, because the text [CLS] plays that role. So stage 4 differs from PVT by design.
    mvlt = MVLTModel.from_pvt_pretrained(pvt_folder, config=matching_config()).eval()
    assert mvlt.stages[3].patch_embeddings.position_embeddings.shape == (1, 4, 64)
    with torch.no_grad():
        outputs = mvlt(torch.ones(1, 3, dtype=torch.long), torch.randn(1, 3, 64, 64))
    assert outputs.vision_hidden_states[3].shape == (1, 64, 2, 2)
    assert torch.isfinite(outputs.vision_hidden_states[3]).all()


def test_loading_report_lists_unused_pvt_keys_and_no_missing_vision_key(pvt_folder):
    mvlt = MVLTModel.from_pvt_pretrained(pvt_folder, config=matching_config())
    report = mvlt.pvt_loading_report
    assert report["missing_vision_keys"] == []
    assert set(report["unexpected_keys"]) == {
        "encoder.patch_embeddings.3.cls_token",
        "encoder.layer_norm.weight",
        "encoder.layer_norm.bias",
    }
    assert report["interpolated_keys"] == []


def test_loaded_weights_are_pvt_weights(pvt_folder):
    pvt = PvtModel.from_pretrained(pvt_folder)
    mvlt = MVLTModel.from_pvt_pretrained(pvt_folder, config=matching_config())
    assert torch.equal(
        mvlt.stages[1].layers[1].attention.spatial_reduction.weight,
        pvt.encoder.block[1][1].attention.self.sequence_reduction.weight,
    )
    assert torch.equal(
        mvlt.stages[3].patch_embeddings.position_embeddings, pvt.encoder.patch_embeddings[3].position_embeddings[:, 1:]
    )


def test_larger_image_size_interpolates_position_embeddings_and_runs(pvt_folder):
    mvlt = MVLTForPreTraining.from_pvt_pretrained(pvt_folder, config=matching_config(image_size=128)).eval()
    report = mvlt.pvt_loading_report
    assert report["interpolated_keys"] == [f"stages.{k}.patch_embeddings.position_embeddings" for k in range(4)]
    assert mvlt.mvlt.stages[0].patch_embeddings.position_embeddings.shape == (1, 32 * 32, 16)
    with torch.no_grad():
        outputs = mvlt(torch.ones(1, 5, dtype=torch.long), torch.randn(1, 3, 128, 128))
    assert outputs.reconstruction.shape == (1, 3, 128, 128)


def test_image_classification_checkpoints_load_too(tmp_path):
    # ImageNet PVT checkpoints on the Hub (e.g. Zetatech/pvt-tiny-224) are PvtForImageClassification ("pvt." keys).
    classifier = PvtForImageClassification(tiny_pvt_config())
    classifier.save_pretrained(tmp_path)
    mvlt = MVLTModel.from_pvt_pretrained(tmp_path, config=matching_config())
    assert mvlt.pvt_loading_report["missing_vision_keys"] == []
    assert torch.equal(mvlt.stages[2].layers[0].mlp.dense1.weight, classifier.pvt.encoder.block[2][0].mlp.dense1.weight)


def test_state_dict_conversion_strips_the_classification_prefix_and_reports_the_head():
    classifier = PvtForImageClassification(tiny_pvt_config())
    target = MVLTModel(matching_config()).state_dict()
    converted, report = convert_pvt_state_dict(classifier.state_dict(), target)
    assert report["missing_vision_keys"] == []
    assert {"classifier.weight", "classifier.bias", "pvt.encoder.layer_norm.weight"} <= set(report["unexpected_keys"])
    source = classifier.state_dict()["pvt.encoder.patch_embeddings.0.projection.weight"]
    assert torch.equal(converted["stages.0.patch_embeddings.projection.weight"], source)


def test_stage_widths_that_do_not_fit_are_reported_by_key(pvt_folder):
    config = MVLTConfig.from_preset("tiny")  # widths 32/64/128/160, not the checkpoint's 16/32/48/64
    with pytest.raises(ValueError, match=r"PVT parameter encoder\.patch_embeddings\.0\..*needs.*stage widths"):
        MVLTModel.from_pvt_pretrained(pvt_folder, config=config)


def test_default_config_takes_the_checkpoint_shapes_at_the_paper_image_size(pvt_folder):
    config = mvlt_config_from_pvt(PvtConfig.from_pretrained(pvt_folder))
    assert config.hidden_sizes == [16, 32, 48, 64] and config.depths == [1, 2, 1, 1]
    assert config.sr_ratios == [4, 2, 2, 1] and config.image_size == 256


def test_convert_function_saves_checkpoint_and_report(pvt_folder, tmp_path):
    report = convert_pvt_checkpoint(pvt_folder, tmp_path, config=matching_config(), model_class=MVLTModel)
    assert (tmp_path / "model.safetensors").is_file()
    assert json.loads((tmp_path / "pvt_loading_report.json").read_text()) == report
    reloaded = MVLTModel.from_pretrained(tmp_path)
    pvt = PvtModel.from_pretrained(pvt_folder)
    assert torch.equal(reloaded.stages[0].patch_embeddings.projection.weight, pvt.encoder.patch_embeddings[0].projection.weight)


def test_convert_script_runs_on_a_local_checkpoint(pvt_folder, tmp_path, capsys):
    script = Path(__file__).resolve().parents[1] / "scripts" / "convert_pvt_checkpoint.py"
    spec = importlib.util.spec_from_file_location("convert_pvt_checkpoint", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--pvt_name_or_path", str(pvt_folder), "--output_dir", str(tmp_path), "--preset", "tiny"]
    argv += ["--image_size", "64", "--vocab_size", "50", "--model_class", "MVLTModel"]
    report = module.main(argv)
    assert report["missing_vision_keys"] == []
    assert MVLTConfig.from_pretrained(tmp_path).vocab_size == 50
    assert "Loaded" in capsys.readouterr().out
