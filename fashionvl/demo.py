"""`make demo` / `fashionvl-demo`: MVLT end to end on the bundled synthetic catalog, on a CPU, in minutes.

Steps (each prints its wall time):

1. generate the synthetic catalog (64 px). Evaluation uses the held-out products (validation + test splits,
   20 % of the catalog): 10,200 products give 102 per sub-category there, so TIR/ITR use the paper's
   1 positive + 100 negatives of the same sub-category;
2. train a WordPiece tokenizer on the training captions;
3. pre-train a tiny MVLT with `FashionTrainer`. Recipe `"retrieval"` (default; ours): MIR + MLM + ITM + ITC, ITM on
   an unmasked, clean-caption pass with negatives mined from ITC similarities (ALBEF); recipe `"paper"`: MIR + ITM +
   MLM with the collator's hard negatives, ITM on the masked pass (the paper). Diagnostics (ITM accuracy by
   negative kind, ITC / ITM / fused R@k, the colour-word grounding probe, [CLS]-to-vision attention) are logged on
   held-out products during pre-training;
4. calibrate the weight of ITM in the fused score on a third catalog (other seed, products never trained on nor
   evaluated), then evaluate zero-shot TIR / ITR (paper protocol: 5 seeded draws) with the fused, ITC and ITM
   scores, and again on a catalog drawn with another seed (products the checkpoint never saw);
5. fine-tune category recognition (M-CR + S-CR) from the pre-trained weights and evaluate it;
6. write the checkpoints and processor, `eval_results.json` (metrics next to chance levels), `results.md`,
   a masked-image-generation grid, TIR examples, training and diagnostic curves under `output_dir`.

Training phases have a time budget (`max_minutes`) so the whole run stays within it on slow machines; the
metrics say how many steps were actually made.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field

import torch

from .recipes._common import METRICS_FILE, parse_config_overrides, parse_script_arguments


RECIPES = ("retrieval", "paper")


@dataclass
class DemoArguments:
    """Settings of the MVLT demo (defaults: the README's `make demo`, under 10 minutes on 2 CPU cores)."""

    output_dir: str = field(default="outputs/demo", metadata={"help": "Where checkpoints, metrics and figures go."})
    recipe: str = field(
        default="retrieval",
        metadata={"help": f"One of {RECIPES}: 'retrieval' = MIR + MLM + ITM + ITC with ITC-mined ITM negatives (ours, "
                  "departure from the paper); 'paper' = MIR + ITM + MLM, collator hard negatives."},
    )
    config_overrides: str = field(
        default="{}", metadata={"help": "JSON object of MVLTConfig fields applied on top of the recipe."}
    )
    num_products: int = field(
        default=10200,
        metadata={"help": "Products in the synthetic catalog (a fifth are held out for evaluation; 10,200 gives 102 "
                  "per held-out sub-category, enough for 100 same-sub-category negatives)."},
    )
    image_size: int = field(default=64, metadata={"help": "Image side in pixels."})
    max_text_length: int = field(default=32, metadata={"help": "Caption length in tokens."})
    tokenizer_vocab_size: int = field(default=600, metadata={"help": "WordPiece vocabulary size."})
    pretrain_steps: int = field(
        default=900, metadata={"help": "Pre-training optimizer steps at most (cosine schedule over them); the time "
                                "budget may stop pre-training earlier."}
    )
    finetune_steps: int = field(default=60, metadata={"help": "Category-recognition fine-tuning steps."})
    batch_size: int = field(default=32, metadata={"help": "Training batch size."})
    pretrain_learning_rate: float = field(default=5e-4, metadata={"help": "Peak pre-training learning rate (cosine)."})
    finetune_learning_rate: float = field(default=1e-3, metadata={"help": "Fine-tuning learning rate (cosine)."})
    mir_loss_weight: float = field(default=1.0, metadata={"help": "MIR weight w1 (paper: 10; 1 lets ITM learn faster here)."})
    mlm_probability: float = field(
        default=0.4, metadata={"help": "Share of content words masked for MLM (paper: 0.15 of all tokens; more "
                               "masked colour/pattern words ground the text in the image sooner)."}
    )
    hard_negatives: bool = field(default=True, metadata={"help": "paper recipe: ITM negatives from the same sub-category."})
    num_queries: int = field(default=20, metadata={"help": "TIR/ITR queries per draw (paper: 1,000)."})
    num_draws: int = field(default=5, metadata={"help": "TIR/ITR seeded draws averaged (paper: 5)."})
    num_negatives: int = field(default=100, metadata={"help": "Same-sub-category negatives per query (paper: 100)."})
    unseen_catalog_products: int = field(
        default=2100, metadata={"help": "Products of the catalog drawn with another seed for the generalisation check "
                                "(0 skips it); 2,100 give 105 per sub-category."}
    )
    unseen_catalog_draws: int = field(default=1, metadata={"help": "Seeded draws of the generalisation check."})
    calibration_products: int = field(
        default=1050, metadata={"help": "Products of the fusion-weight calibration catalog (third seed; 0 keeps the "
                                "config's itm_fusion_weight)."}
    )
    calibration_queries: int = field(default=100, metadata={"help": "Queries per direction of the calibration (1 + 50 "
                                     "candidates, one draw)."})
    diagnostics_every: int = field(default=200, metadata={"help": "Pre-training steps between diagnostics (0: off)."})
    max_minutes: float = field(
        default=8.5, metadata={"help": "Time budget of the run: pre-training stops at 60 percent of it, fine-tuning a minute "
                               "before its end; the evaluation phases are not cut (the whole run stays under 10 "
                               "minutes on 2 lightly loaded cores)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of training and of the evaluation draws."})
    report_to: str = field(default="tensorboard", metadata={"help": "Trainer loggers ('tensorboard', 'none', ...)."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})

    def __post_init__(self):
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}, got {self.recipe!r}.")
        parse_config_overrides(self.config_overrides)  # a bad value is refused here, where it enters

    def model_overrides(self) -> dict:
        """The MVLTConfig fields of the recipe, then `config_overrides`."""
        overrides = {"mir_loss_weight": self.mir_loss_weight}
        if self.recipe == "retrieval":
            # Departure from the paper (README, "MVLT retrieval"): ITC, and ITM negatives mined from it (ALBEF);
            # initializer_range 0.05 instead of the tiny preset's 0.15 (measured: ITC R@10 0.90 vs 0.78 at 400 steps).
            overrides.update(itc_loss_weight=1.0, itm_negative_mining="itc", itm_pairs_per_row=1, initializer_range=0.05)
        overrides.update(parse_config_overrides(self.config_overrides))
        return overrides


class _Clock:
    """Wall time of each step of the demo, printed as it goes."""

    def __init__(self):
        self.start = time.monotonic()
        self.steps: dict[str, float] = {}
        self.cpu_steps: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def run(self, name: str, function, *args, **kwargs):
        print(f"\n==> {name}", flush=True)
        begin, cpu_begin = time.monotonic(), time.process_time()
        result = function(*args, **kwargs)
        self.steps[name] = round(time.monotonic() - begin, 1)
        # CPU time of this process (all threads): on a busy machine it tells what an idle one would take.
        self.cpu_steps[name] = round(time.process_time() - cpu_begin, 1)
        print(f"    {name}: {self.steps[name]:.1f} s, {self.cpu_steps[name]:.1f} CPU s (total {self.elapsed():.0f} s)",
              flush=True)
        return result


def _training_arguments(demo: DemoArguments, output_dir: str, max_steps: int, learning_rate: float):
    from .training import FashionTrainingArguments

    return FashionTrainingArguments(
        output_dir=output_dir,
        max_steps=max_steps,
        per_device_train_batch_size=demo.batch_size,
        learning_rate=learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, max_steps // 20),
        weight_decay=1e-4,  # paper Sec. 4.1
        max_grad_norm=1.0,
        logging_steps=max(1, max_steps // 25),
        save_strategy="no",
        report_to=[] if demo.report_to == "none" else [demo.report_to],
        remove_unused_columns=False,
        disable_tqdm=not demo.progress,
        dataloader_num_workers=0,
        seed=demo.seed,
        use_cpu=not torch.cuda.is_available(),
    )


def _catalog_rows(num_products: int, seed: int, image_size: int):
    """Every row (all splits) of a catalog drawn with `seed`: products that a model trained on seed 0 never saw."""
    from datasets import concatenate_datasets

    from .data.synthetic import generate_catalog

    splits = generate_catalog(num_products, seed=seed, image_size=image_size, progress=False)
    return concatenate_datasets([splits[name] for name in splits])


def _metric_block(retrieval: dict) -> dict:
    return {key: {name: value for name, value in result.items() if name != "draws"} for key, result in retrieval.items()}


def run_demo(demo: DemoArguments) -> dict:
    """Run the whole demo; returns the metrics written to `output_dir/eval_results.json`."""
    from datasets import concatenate_datasets
    from transformers import set_seed

    from .data.synthetic import COLORS
    from .evaluation import mvlt_protocol as protocol
    from .recipes import mvlt as recipe
    from .recipes._common import load_float32_model
    from .training.callbacks import MVLTDiagnosticsCallback
    from .visualization import mvlt as mvlt_figures
    from .visualization.plots import save_training_curves

    clock = _Clock()
    set_seed(demo.seed)
    os.makedirs(demo.output_dir, exist_ok=True)
    data_args = recipe.MVLTDataArguments(
        num_products=demo.num_products, image_size=demo.image_size, max_text_length=demo.max_text_length,
        catalog_seed=demo.seed,
    )
    model_args = recipe.MVLTModelArguments(
        preset="tiny", tokenizer_vocab_size=demo.tokenizer_vocab_size, config_overrides=json.dumps(demo.model_overrides()),
    )
    splits = clock.run("synthetic catalog", recipe.load_image_text_splits, data_args, progress=demo.progress)
    # Held-out products: validation + test (no product is in both these and the training split).
    train_dataset = splits["train"]
    test_dataset = concatenate_datasets([splits["validation"], splits["test"]])
    print(f"    {len(train_dataset)} training rows, {len(test_dataset)} held-out rows", flush=True)
    processor = clock.run("WordPiece tokenizer", recipe.build_processor, model_args, data_args, train_dataset)
    encoded = clock.run("encoding the held-out rows", protocol.encode_image_text_split, test_dataset, processor,
                        demo.max_text_length, progress=demo.progress)

    budget = 60.0 * demo.max_minutes
    pretrained_dir = os.path.join(demo.output_dir, "mvlt-pretrained")
    callbacks = []
    if demo.diagnostics_every:
        callbacks.append(MVLTDiagnosticsCallback(
            encoded, every_steps=demo.diagnostics_every, tokenizer=processor.tokenizer, probe_words=list(COLORS),
            seed=10_000 + demo.seed,
        ))
    # Pre-training gets what is left of 60 % of the budget; evaluation and fine-tuning share the rest.
    pretraining_args = recipe.MVLTPretrainingArguments(
        mlm_probability=demo.mlm_probability, hard_negatives=demo.hard_negatives,
        max_train_minutes=max(0.5, (0.6 * budget - clock.elapsed()) / 60),
    )
    pretraining = clock.run(
        f"pre-training ({demo.recipe} recipe)", recipe.train, model_args, data_args, pretraining_args,
        _training_arguments(demo, pretrained_dir, demo.pretrain_steps, demo.pretrain_learning_rate),
        splits=splits, processor=processor, callbacks=callbacks,
    )

    retrieval_model = load_float32_model(recipe.MVLTForImageTextRetrieval, pretrained_dir)
    eval_args = recipe.MVLTEvaluationArguments(
        num_queries=demo.num_queries, num_draws=demo.num_draws, num_negatives=demo.num_negatives,
        evaluation_seed=demo.seed,
    )
    calibration = None
    if protocol.uses_itc(retrieval_model) and demo.calibration_products:
        calibration_rows = _catalog_rows(demo.calibration_products, demo.seed + 2, demo.image_size)
        calibration_encoded = protocol.encode_image_text_split(calibration_rows, processor, demo.max_text_length, progress=False)
        calibration = clock.run("calibrating the ITM weight of the fused score (third catalog)",
                                protocol.calibrate_fusion_weight, retrieval_model, calibration_encoded,
                                num_queries=demo.calibration_queries, num_draws=1, progress=demo.progress)
        retrieval_model.config.itm_fusion_weight = calibration["itm_fusion_weight"]
        retrieval_model.config.save_pretrained(pretrained_dir)  # the checkpoint ranks with the calibrated weight
        print(f"    itm_fusion_weight = {calibration['itm_fusion_weight']} (SumR by weight: "
              f"{calibration['sumr_by_weight']})", flush=True)
    retrieval = clock.run("TIR / ITR evaluation (zero-shot, 1 + 100 candidates)", protocol.evaluate_retrieval,
                          retrieval_model, encoded, **eval_args.retrieval_protocol(), progress=demo.progress)
    unseen = None
    if demo.unseen_catalog_products:
        unseen_rows = _catalog_rows(demo.unseen_catalog_products, demo.seed + 1, demo.image_size)
        unseen_encoded = protocol.encode_image_text_split(unseen_rows, processor, demo.max_text_length, progress=False)
        unseen_args = recipe.MVLTEvaluationArguments(num_queries=demo.num_queries, num_draws=demo.unseen_catalog_draws,
                                                     num_negatives=demo.num_negatives, evaluation_seed=demo.seed)
        unseen = clock.run("TIR / ITR on a catalog drawn with another seed", protocol.evaluate_retrieval,
                           retrieval_model, unseen_encoded, **unseen_args.retrieval_protocol(), progress=demo.progress)

    category_dir = os.path.join(demo.output_dir, "mvlt-category")
    remaining_minutes = max(0.5, (budget - clock.elapsed()) / 60 - 1.0)  # keep a minute for evaluation and figures
    finetuning = clock.run(
        "fine-tuning category recognition", recipe.train,
        recipe.MVLTModelArguments(model_name_or_path=pretrained_dir), data_args,
        recipe.MVLTFinetuningArguments(task="recognition", max_train_minutes=remaining_minutes),
        _training_arguments(demo, category_dir, demo.finetune_steps, demo.finetune_learning_rate),
        splits=splits, processor=processor,
    )
    category_model = finetuning.trainer.model
    recognition = clock.run("M-CR / S-CR evaluation", protocol.evaluate_category_recognition, category_model, encoded,
                            progress=demo.progress)

    chance = protocol.chance_levels(
        {"main_category": train_dataset["category"], "sub_category": train_dataset["subcategory"]},
        {"main_category": test_dataset["category"], "sub_category": test_dataset["subcategory"]},
        num_negatives=eval_args.num_negatives,
    )
    log_history = pretraining.trainer.state.log_history
    figures = {
        "reconstruction_grid": mvlt_figures.save_reconstruction_grid(
            pretraining.trainer.model, processor, encoded, os.path.join(demo.output_dir, "reconstruction_grid.png")
        ),
        "retrieval_examples": mvlt_figures.save_retrieval_examples(
            retrieval_model, processor, encoded, os.path.join(demo.output_dir, "retrieval_examples.png"),
            num_negatives=demo.num_negatives, seed=demo.seed,
        ),
        "pretraining_curves": save_training_curves(log_history, os.path.join(demo.output_dir, "pretraining_curves.png")),
        "pretraining_diagnostics": mvlt_figures.save_diagnostic_curves(
            log_history, os.path.join(demo.output_dir, "pretraining_diagnostics.png"), chance_recall_at_10=chance["tir"]["R@10"],
        ),
        "finetuning_curves": save_training_curves(
            finetuning.trainer.state.log_history, os.path.join(demo.output_dir, "finetuning_curves.png")
        ),
    }
    metrics = {
        **_metric_block(retrieval),
        "main_category": recognition["main_category"],
        "sub_category": recognition["sub_category"],
        "chance": chance,
        "score_methods": {
            "tir/itr": "fused ITC + ITM (ours)" if protocol.uses_itc(retrieval_model) else "ITM (paper)",
            "tir_itm/itr_itm": "ITM match probability alone (the paper's method)",
            "tir_itc/itr_itc": "ITC cosine alone (ours)",
        },
        "itm_fusion_weight": float(retrieval_model.config.itm_fusion_weight),
        "fusion_calibration": calibration,
        "unseen_catalog": None if unseen is None else {
            **_metric_block(unseen), "seed": demo.seed + 1, "products": demo.unseen_catalog_products,
            "num_draws": demo.unseen_catalog_draws,
        },
        "diagnostics": [entry for entry in log_history if any(key.startswith("diag_") for key in entry)],
        "training": {
            "pretraining_steps": pretraining.trainer.state.global_step,
            "finetuning_steps": finetuning.trainer.state.global_step,
            "train_rows": len(train_dataset),
            "held_out_rows": len(test_dataset),
            "config": demo.model_overrides(),
        },
        "checkpoints": {"pretrained": pretrained_dir, "category_recognition": category_dir},
        "figures": figures,
        "wall_time_seconds": round(clock.elapsed(), 1),
        "step_seconds": clock.steps,
        "cpu_seconds": round(time.process_time(), 1),
        "step_cpu_seconds": clock.cpu_steps,
        "settings": asdict(demo),
    }
    table = protocol.format_results_table(metrics, chance, title="MVLT tiny (demo)")
    with open(os.path.join(demo.output_dir, METRICS_FILE), "w", encoding="utf-8") as file:
        json.dump(metrics, file, indent=2)
    with open(os.path.join(demo.output_dir, "results.md"), "w", encoding="utf-8") as file:
        file.write(table + "\n")
    print("\n" + table)
    print(
        f"\nChance: R@k = k/101; recognition = always the most frequent training class. "
        f"{metrics['training']['pretraining_steps']} pre-training + {metrics['training']['finetuning_steps']} "
        f"fine-tuning steps, {metrics['wall_time_seconds']:.0f} s in all. Outputs in {demo.output_dir}/",
        flush=True,
    )
    return metrics


def main(argv: list[str] | None = None) -> dict:
    """Console entry point (`fashionvl-demo`, `python scripts/demo.py`); `--help` lists every option."""
    (demo,) = parse_script_arguments((DemoArguments,), argv, description=__doc__.splitlines()[0])
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    return run_demo(demo)


if __name__ == "__main__":
    main()
