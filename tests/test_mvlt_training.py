"""MVLT recipe behind the scripts and the demo: arguments, script defaults, callbacks, and a tiny end-to-end run."""

import dataclasses
import json
import runpy
from pathlib import Path

import pytest

from fashionvl.demo import DemoArguments
from fashionvl.recipes import mvlt as recipe
from fashionvl.training import FashionTrainingArguments, TimeBudgetCallback

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
SCRIPT_ARGUMENTS = {
    "pretrain_mvlt.py": (recipe.MVLTModelArguments, recipe.MVLTDataArguments, recipe.MVLTPretrainingArguments),
    "finetune_mvlt.py": (recipe.MVLTModelArguments, recipe.MVLTDataArguments, recipe.MVLTFinetuningArguments),
    "evaluate_mvlt.py": (recipe.MVLTEvaluationArguments, recipe.MVLTDataArguments),
    "demo.py": (DemoArguments,),
}


@pytest.mark.parametrize("script", sorted(SCRIPT_ARGUMENTS))
def test_script_help_documents_every_option(script, capsys):
    main = runpy.run_path(str(SCRIPTS / script), run_name="fashionvl_script")["main"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for arguments in SCRIPT_ARGUMENTS[script]:
        for argument in dataclasses.fields(arguments):
            assert f"--{argument.name}" in help_text, argument.name
            assert argument.metadata.get("help"), f"{arguments.__name__}.{argument.name} has no help text"
    if script in ("pretrain_mvlt.py", "finetune_mvlt.py"):
        assert "--discriminator_learning_rate" in help_text  # FashionTrainingArguments
        assert "(default: ['tensorboard'])" in help_text  # TensorBoard on by default


def test_pretraining_script_defaults_reach_the_training_arguments():
    from transformers import HfArgumentParser

    defaults = runpy.run_path(str(SCRIPTS / "pretrain_mvlt.py"), run_name="fashionvl_script")["DEFAULTS"]
    parser = HfArgumentParser((recipe.MVLTPretrainingArguments, FashionTrainingArguments))
    parser.set_defaults(**defaults)
    pretraining_args, training_args = parser.parse_args_into_dataclasses(args=["--max_steps", "7", "--use_cpu", "true"])
    assert training_args.max_steps == 7
    assert training_args.report_to == ["tensorboard"]
    assert training_args.remove_unused_columns is False
    assert pretraining_args.hard_negatives and pretraining_args.prefer_content_words


def test_bad_arguments_are_rejected_with_the_value():
    with pytest.raises(ValueError, match="'fashiongen' needs --train_file"):
        recipe.MVLTDataArguments(dataset_name="fashiongen")
    with pytest.raises(ValueError, match="'captioning'"):
        recipe.MVLTFinetuningArguments(task="captioning")
    with pytest.raises(ValueError, match="'detection'"):
        recipe.MVLTEvaluationArguments(tasks="retrieval,detection").task_list()


def test_time_budget_callback_stops_training(tmp_path):
    from transformers import TrainerControl, TrainerState

    callback = TimeBudgetCallback(max_minutes=0.0)
    args = FashionTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    state, control = TrainerState(max_steps=10), TrainerControl()
    callback.on_train_begin(args, state, control)
    assert callback.on_step_end(args, state, control).should_training_stop


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:sub-category")  # a 120-product catalog has too few same-sub-category negatives
def test_tiny_pretrain_finetune_evaluate_end_to_end(tmp_path):
    data_args = recipe.MVLTDataArguments(num_products=120, max_text_length=24)
    splits = recipe.load_image_text_splits(data_args, progress=False)

    def training_args(name, **extra):
        return FashionTrainingArguments(
            output_dir=str(tmp_path / name), max_steps=2, per_device_train_batch_size=4, learning_rate=1e-3,
            report_to=[], save_strategy="no", remove_unused_columns=False, use_cpu=True, disable_tqdm=True, **extra,
        )

    pretraining = recipe.train(
        recipe.MVLTModelArguments(tokenizer_vocab_size=300), data_args, recipe.MVLTPretrainingArguments(),
        training_args("pretrained", logging_steps=1), splits=splits,
    )
    logged = [entry for entry in pretraining.trainer.state.log_history if "loss" in entry]
    assert {"mir_loss", "itm_loss", "mlm_loss"} <= logged[0].keys()
    assert (tmp_path / "pretrained" / "model.safetensors").is_file()

    finetuning = recipe.train(
        recipe.MVLTModelArguments(model_name_or_path=str(tmp_path / "pretrained")), data_args,
        recipe.MVLTFinetuningArguments(task="recognition"), training_args("category"), splits=splits,
    )
    assert finetuning.trainer.model.config.num_main_categories == 10  # from the data, not the preset's 48
    assert finetuning.trainer.model.config.num_sub_categories == 20

    eval_args = recipe.MVLTEvaluationArguments(
        model_name_or_path=str(tmp_path / "pretrained"), recognition_model_name_or_path=str(tmp_path / "category"),
        output_dir=str(tmp_path / "eval"), num_queries=4, num_draws=2, num_negatives=5, full_gallery=True,
        max_full_gallery_queries=3,
    )
    report = recipe.evaluate(eval_args, data_args, splits=splits, progress=False)
    for direction in ("tir", "itr", "tir_full_gallery", "itr_full_gallery"):
        assert set(report[direction]) >= {"R@1", "R@5", "R@10", "SumR"}
        assert all(0.0 <= report[direction][f"R@{k}"] <= 1.0 for k in (1, 5, 10))
    assert report["tir"]["R@10"] == 1.0  # 1 + 5 candidates: the positive is always in the top 10
    assert report["chance"]["tir"]["R@1"] == pytest.approx(1 / 6)
    for task in ("main_category", "sub_category"):
        assert set(report[task]) == {"accuracy", "macro_f1", "SumC"}
    saved = json.loads((tmp_path / "eval" / "eval_results.json").read_text())
    assert saved["tir"]["R@1"] == report["tir"]["R@1"]
    assert "| S-CR | macro-F |" in (tmp_path / "eval" / "results.md").read_text()
    for figure in ("reconstruction_grid.png", "retrieval_examples.png"):
        assert (tmp_path / "eval" / figure).stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:sub-category")  # tiny catalogs have too few same-sub-category negatives
def test_demo_writes_fused_itc_and_itm_retrieval_metrics_next_to_chance(tmp_path):
    from fashionvl.demo import run_demo

    demo = DemoArguments(
        output_dir=str(tmp_path / "demo"), num_products=200, pretrain_steps=4, finetune_steps=2, batch_size=8,
        num_queries=3, num_draws=1, num_negatives=8, unseen_catalog_products=120, calibration_products=120, calibration_queries=3,
        diagnostics_every=2,
        report_to="none", progress=False, max_minutes=5.0,
    )
    metrics = run_demo(demo)
    for key in ("tir", "itr", "tir_itc", "tir_itm", "itr_itc", "itr_itm"):
        assert set(metrics[key]) == {"R@1", "R@5", "R@10", "SumR"}, key
    assert set(metrics["unseen_catalog"]) >= {"tir", "itr", "tir_itc", "itr_itm"}
    assert metrics["itm_fusion_weight"] == metrics["fusion_calibration"]["itm_fusion_weight"]
    assert metrics["training"]["config"]["itc_loss_weight"] == 1.0
    # the diagnostics were logged during pre-training (steps 2 and 4)
    assert [entry["step"] for entry in metrics["diagnostics"]] == [2, 4]
    assert {"diag_itm_acc_positive", "diag_itm_acc_itc_hard", "diag_fused_r@10", "diag_grounding_true",
            "diag_cls_vision_attention_4"} <= metrics["diagnostics"][0].keys()
    saved = json.loads((tmp_path / "demo" / "eval_results.json").read_text())
    assert saved["tir_itm"] == metrics["tir_itm"]
    assert "(ITM)" in (tmp_path / "demo" / "results.md").read_text()
    for figure in ("pretraining_diagnostics.png", "retrieval_examples.png", "pretraining_curves.png"):
        assert (tmp_path / "demo" / figure).stat().st_size > 1000
    saved_config = json.loads((tmp_path / "demo" / "mvlt-pretrained" / "config.json").read_text())
    assert saved_config["itm_fusion_weight"] == metrics["itm_fusion_weight"]
