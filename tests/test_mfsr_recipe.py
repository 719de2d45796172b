"""mFSR recipe glue: ablation rows, collator, schedule and warm-up, evaluate script, resuming a study."""

import pytest
import torch
from PIL import Image

from fashionvl import MFSRConfig, MFSRForRetrieval
from fashionvl.processing.collators_mfsr import CaptionedImageSplit
from fashionvl.recipes.mfsr import ABLATIONS, ablation_overrides
from fashionvl.training.trainer_mfsr import step_decay_lambda


def test_every_table3_row_builds_a_model_with_exactly_its_losses():
    expected = {
        "vse++": {"semantic_loss"},
        "separation only": {"semantic_loss"},
        "mo": {"semantic_loss", "modal_loss"},
        "sp": {"semantic_loss", "specific_loss"},
        "mo+sp": {"semantic_loss", "modal_loss", "specific_loss"},
        "mo+sp+img-re": {"semantic_loss", "modal_loss", "specific_loss", "image_reconstruction_loss"},
        "mo+sp+cap-re": {"semantic_loss", "modal_loss", "specific_loss", "caption_reconstruction_loss"},
        "mfsr": {"semantic_loss", "modal_loss", "specific_loss", "image_reconstruction_loss", "caption_reconstruction_loss"},
    }
    assert set(ABLATIONS) == set(expected)
    batch = {
        "pixel_values": torch.randn(3, 3, 32, 32),
        "input_ids": torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0], [1, 8, 9, 2]]),
    }
    batch["attention_mask"] = (batch["input_ids"] != 0).long()
    for name, losses in expected.items():
        config = MFSRConfig.from_preset("tiny", vocab_size=12, reconstruction_image_size=8, **ablation_overrides(name))
        output = MFSRForRetrieval(config)(**batch)
        present = {key for key, value in output.items() if key.endswith("_loss") and value is not None}
        assert present == losses, name


def test_rows_that_differ_only_in_losses_share_architecture_and_embedding_size():
    shapes = {}
    for name in ABLATIONS:
        if name == "vse++":
            continue
        config = MFSRConfig.from_preset("tiny", vocab_size=12, reconstruction_image_size=8, **ablation_overrides(name))
        model = MFSRForRetrieval(config)
        shapes[name] = {key: tuple(value.shape) for key, value in model.mfsr.state_dict().items()}
        assert model.get_image_features(torch.randn(2, 3, 32, 32)).shape == (2, config.embed_dim)
    assert all(value == shapes["separation only"] for value in shapes.values())


def test_loss_gradient_norms_reports_every_computed_term_on_the_encoders():
    from fashionvl.evaluation.mfsr_diagnostics import loss_gradient_norms

    config = MFSRConfig.from_preset("tiny", vocab_size=12, reconstruction_image_size=8)
    model = MFSRForRetrieval(config)
    batch = {
        "pixel_values": torch.randn(3, 3, 32, 32),
        "input_ids": torch.tensor([[1, 5, 6, 2], [1, 7, 8, 2], [1, 8, 9, 2]]),
        "image_ids": torch.tensor([0, 0, 1]),
    }
    report = loss_gradient_norms(model, batch)
    assert set(report) == {"semantic_loss", "modal_loss", "specific_loss", "image_reconstruction_loss", "caption_reconstruction_loss"}
    assert report["semantic_loss"]["text_encoder"] > 0 and report["image_reconstruction_loss"]["text_encoder"] == 0
    assert report["caption_reconstruction_loss"]["image_encoder"] == 0
    assert all(parameter.grad is None for parameter in model.parameters())


def test_training_collator_passes_the_image_id_of_every_pair():
    from fashionvl.processing.processing_mfsr import MFSRProcessor
    from fashionvl.processing.collators_mfsr import MFSRDataCollator, MFSRPairDataset

    split = CaptionedImageSplit(
        [Image.new("RGB", (32, 32), colour) for colour in ("red", "blue")],
        [[f"{colour} shirt number {k}" for k in range(5)] for colour in ("red", "blue")],
    )
    processor = MFSRProcessor.from_captions(split.flat_captions(), image_size=32, min_count=1)
    dataset = MFSRPairDataset(split)
    batch = MFSRDataCollator(processor)([dataset[0], dataset[6], dataset[3]])
    assert batch["image_ids"].tolist() == [0, 1, 0]
    assert torch.equal(batch["pixel_values"][0], batch["pixel_values"][2])
    assert not torch.equal(batch["pixel_values"][0], batch["pixel_values"][1])


def test_unknown_ablation_names_are_rejected():
    with pytest.raises(ValueError, match=r"Unknown mFSR ablation 'mo\+xx'"):
        ablation_overrides("mo+xx")


def test_step_decay_keeps_the_rate_until_the_decay_step_then_divides_by_ten():
    schedule = step_decay_lambda(decay_step=30, factor=0.1)
    assert [schedule(step) for step in (0, 29, 30, 1000)] == [1.0, 1.0, 0.1, 0.1]


def test_evaluate_script_scores_a_saved_model_on_the_synthetic_test_split(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    from fashionvl import MFSRProcessor

    processor = MFSRProcessor.from_captions(["a red dress"] * 4, image_size=32)
    MFSRForRetrieval(MFSRConfig.from_preset("tiny", vocab_size=len(processor.tokenizer))).save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    script = Path(__file__).resolve().parents[1] / "scripts" / "evaluate_mfsr.py"
    spec = importlib.util.spec_from_file_location("evaluate_mfsr", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main([
        "--model_path", str(tmp_path / "model"), "--num_products", "40", "--image_size", "32",
        "--cache_dir", str(tmp_path / "data"), "--output_file", str(tmp_path / "metrics.json"),
    ])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert result["num_eval_images"] == saved["num_eval_images"] == 4
    assert set(saved["metrics"]) == {"i2t", "t2i", "rsum"}
    assert saved["chance"]["t2i"]["R@1"] == pytest.approx(25.0)


def _colour_split(num_images=8):
    colours = [(255, 0, 0), (0, 0, 255), (0, 160, 0), (250, 200, 0)]
    names = ["red", "blue", "green", "yellow"]
    images = [Image.new("RGB", (32, 32), colours[index % 4]) for index in range(num_images)]
    captions = [[f"a {names[index % 4]} shirt"] * 5 for index in range(num_images)]
    return CaptionedImageSplit(images, captions)


def test_frozen_backbone_phase_then_fine_tuning_phase_with_the_step_schedule(tmp_path):
    from fashionvl import MFSRProcessor
    from fashionvl.recipes.mfsr import _run_phase
    from fashionvl.training import FashionTrainingArguments

    split = _colour_split()
    processor = MFSRProcessor.from_captions(split.flat_captions(), image_size=32)
    config = MFSRConfig.from_preset(
        "tiny", vocab_size=len(processor.tokenizer), reconstruction_image_size=8, freeze_image_backbone=True
    )
    model = MFSRForRetrieval(config)
    backbone = model.mfsr.image_encoder.backbone
    initial = {name: tensor.clone() for name, tensor in backbone.state_dict().items()}
    args = FashionTrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=10, learning_rate=1e-3, report_to=[],
        save_strategy="no", disable_tqdm=True, use_cpu=True, logging_steps=1,
    )
    # 40 pairs / batch 10 = 4 steps per epoch; 2 epochs with the drop after the first
    trainer = _run_phase(model, processor, split, args, 2, 1e-3, 1, 1e-4)
    rates = [entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry]
    assert rates[:4] == [1e-3] * 4 and rates[4:] == pytest.approx([1e-4] * 4)
    assert all(torch.equal(tensor, initial[name]) for name, tensor in backbone.state_dict().items())

    model.mfsr.set_image_backbone_trainable(True)
    _run_phase(model, processor, split, args, 1, 1e-4, 1, 1e-4)
    assert not all(torch.equal(tensor, initial[name]) for name, tensor in backbone.state_dict().items())


def test_a_resumed_study_reuses_a_run_folder_only_for_the_same_configuration(tmp_path):
    import json

    from fashionvl.recipes.mfsr import _finished_run

    config = MFSRConfig.from_preset("tiny", vocab_size=30)
    MFSRForRetrieval(config).save_pretrained(tmp_path)
    (tmp_path / "retrieval_metrics.json").write_text(json.dumps({"metrics": {"rsum": 123.0}}))
    assert _finished_run(str(tmp_path), config) == {"metrics": {"rsum": 123.0}}
    assert _finished_run(str(tmp_path), MFSRConfig.from_preset("tiny", vocab_size=30, margin=0.1)) is None
    assert _finished_run(str(tmp_path / "missing"), config) is None


def test_max_violation_warmup_uses_all_negatives_before_the_warmup_ends_and_the_hardest_after():
    from types import SimpleNamespace

    from fashionvl.training.callbacks import MaxViolationWarmupCallback

    model = MFSRForRetrieval(MFSRConfig.from_preset("tiny", vocab_size=30, max_violation=True))
    callback = MaxViolationWarmupCallback(warmup_epochs=1.0)
    callback.on_step_begin(None, SimpleNamespace(epoch=0.5), None, model=model)
    assert model.config.max_violation is False
    callback.on_step_begin(None, SimpleNamespace(epoch=1.0), None, model=model)
    assert model.config.max_violation is True


def test_a_split_named_val_plus_test_is_both_held_out_splits_in_order(tmp_path):
    from fashionvl.recipes.mfsr import MFSRDataArguments, load_retrieval_splits

    data_args = MFSRDataArguments(num_products=40, image_size=32, data_cache_dir=str(tmp_path))
    splits = load_retrieval_splits(data_args, splits=("val", "test", "val+test"))
    assert len(splits["val+test"]) == len(splits["val"]) + len(splits["test"]) > len(splits["test"])
    assert splits["val+test"].captions == splits["val"].captions + splits["test"].captions


def test_separation_weight_drift_is_zero_for_an_untrained_copy_and_isotropic_for_orthogonal_init():
    from fashionvl.evaluation.mfsr_diagnostics import separation_weight_drift

    model = MFSRForRetrieval(MFSRConfig.from_preset("tiny", vocab_size=30, separation_init="orthogonal"))
    report = separation_weight_drift(model, model)
    for side in ("image_separation", "text_separation"):
        assert report[side]["relative_change"] == 0.0
        assert report[side]["condition"] == pytest.approx(1.0, abs=1e-4)
        assert report[side]["top_direction_share"] == pytest.approx(1 / 32, rel=1e-3)


def test_caption_word_agreement_counts_kept_words_among_inputs_that_have_one():
    from fashionvl.evaluation.mfsr_diagnostics import caption_word_agreement

    inputs = ["red cotton shirt", "blue denim jeans", "a plain bag"]
    reconstructions = ["a red shirt", "red jeans", "anything"]
    assert caption_word_agreement(inputs, reconstructions, ["red", "blue"]) == 0.5  # the bag has no colour word
    assert caption_word_agreement(inputs, reconstructions, ["shirt", "jeans"]) == 1.0


def test_an_ablation_study_of_one_tiny_run_records_recalls_and_caption_agreement(tmp_path):
    from fashionvl.recipes.mfsr import MFSRDataArguments, ablation_study
    from fashionvl.training import FashionTrainingArguments

    data_args = MFSRDataArguments(num_products=40, image_size=32, data_cache_dir=str(tmp_path / "data"))
    training_args = FashionTrainingArguments(
        output_dir=str(tmp_path / "study"), max_steps=2, per_device_train_batch_size=8, save_strategy="no",
        report_to="none", remove_unused_columns=False, dataloader_drop_last=True, disable_tqdm=True, use_cpu=True,
    )
    results = ablation_study(data_args, training_args, rows=["mo+sp+cap-re"], seeds=[0])
    run = results["mo+sp+cap-re"][0]
    assert run["metrics"]["rsum"] >= 0 and run["num_eval_images"] > 0
    assert {"caption_colour_agreement", "caption_product_agreement"} <= set(run["diagnostics"])


def test_max_train_images_keeps_the_first_training_images_and_the_held_out_splits_whole(tmp_path):
    from fashionvl.recipes.mfsr import MFSRDataArguments, load_retrieval_splits

    full = load_retrieval_splits(MFSRDataArguments(num_products=40, data_cache_dir=str(tmp_path)), splits=("train", "test"))
    few = load_retrieval_splits(
        MFSRDataArguments(num_products=40, data_cache_dir=str(tmp_path), max_train_images=5), splits=("train", "test")
    )
    assert len(few["train"]) == 5 and few["train"].captions == full["train"].captions[:5]
    assert few["test"].captions == full["test"].captions and len(full["train"]) > 5
    with pytest.raises(ValueError, match="max_train_images must be >= 1, got 0"):
        MFSRDataArguments(max_train_images=0)
