"""`make demo` / `fashionvl-demo`: MVLT end to end on the bundled synthetic catalog, on a CPU, in minutes.

Steps (each prints its wall time):

1. generate the synthetic catalog (64 px). Evaluation uses the held-out products (validation + test splits,
   20 % of the catalog): 10,200 products give 102 per sub-category there, so TIR/ITR use the paper's
   1 positive + 100 negatives of the same sub-category;
2. train a WordPiece tokenizer on the training captions;
3. pre-train a tiny MVLT (MIR + ITM + MLM, hard ITM negatives, MLM on content words) with `FashionTrainer`;
4. evaluate zero-shot TIR / ITR (paper protocol: 5 seeded draws) with the pre-trained ITM head;
5. fine-tune category recognition (M-CR + S-CR) from the pre-trained weights and evaluate it;
6. write the checkpoints and processor, `metrics.json` (metrics next to chance levels), `results.md`,
   a masked-image-generation grid, TIR examples and training curves under `output_dir`.

Training phases have a time budget (`max_minutes`) so the whole run stays within it on slow machines; the
metrics say how many steps were actually made.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field

import torch


@dataclass
class DemoArguments:
    """Settings of the MVLT demo (defaults: the README's `make demo`, under 10 minutes on 2 CPU cores)."""

    output_dir: str = field(default="outputs/demo", metadata={"help": "Where checkpoints, metrics and figures go."})
    num_products: int = field(
        default=10200,
        metadata={"help": "Products in the synthetic catalog (a fifth are held out for evaluation; 10,200 gives 102 "
                  "per held-out sub-category, enough for 100 same-sub-category negatives)."},
    )
    image_size: int = field(default=64, metadata={"help": "Image side in pixels."})
    max_text_length: int = field(default=32, metadata={"help": "Caption length in tokens."})
    tokenizer_vocab_size: int = field(default=600, metadata={"help": "WordPiece vocabulary size."})
    pretrain_steps: int = field(
        default=1500, metadata={"help": "Pre-training optimizer steps at most (cosine schedule over them); the time budget "
                                "usually stops pre-training earlier (all 1,500 fit in about 3.5 minutes on 2 idle cores)."}
    )
    finetune_steps: int = field(default=120, metadata={"help": "Category-recognition fine-tuning steps."})
    batch_size: int = field(default=32, metadata={"help": "Training batch size."})
    pretrain_learning_rate: float = field(default=5e-4, metadata={"help": "Peak pre-training learning rate (cosine)."})
    finetune_learning_rate: float = field(default=1e-3, metadata={"help": "Fine-tuning learning rate (cosine)."})
    mir_loss_weight: float = field(default=1.0, metadata={"help": "MIR weight w1 (paper: 10; 1 lets ITM learn faster here)."})
    mlm_probability: float = field(
        default=0.4, metadata={"help": "Share of content words masked for MLM (paper: 0.15 of all tokens; more "
                               "masked colour/pattern words ground the text in the image sooner)."}
    )
    hard_negatives: bool = field(default=True, metadata={"help": "ITM negatives from the same sub-category."})
    num_queries: int = field(default=40, metadata={"help": "TIR/ITR queries per draw (paper: 1,000)."})
    num_draws: int = field(default=5, metadata={"help": "TIR/ITR seeded draws averaged (paper: 5)."})
    max_minutes: float = field(
        default=9.0, metadata={"help": "Time budget of the whole run; training phases stop early to respect it."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of training and of the evaluation draws."})
    report_to: str = field(default="tensorboard", metadata={"help": "Trainer loggers ('tensorboard', 'none', ...)."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})


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


def run_demo(demo: DemoArguments) -> dict:
    """Run the whole demo; returns the metrics written to `output_dir/metrics.json`."""
    from datasets import concatenate_datasets
    from transformers import set_seed

    from .recipes import mvlt as recipe

    clock = _Clock()
    set_seed(demo.seed)
    os.makedirs(demo.output_dir, exist_ok=True)
    data_args = recipe.MVLTDataArguments(
        num_products=demo.num_products, image_size=demo.image_size, max_text_length=demo.max_text_length,
        catalog_seed=demo.seed,
    )
    model_args = recipe.MVLTModelArguments(
        preset="tiny", tokenizer_vocab_size=demo.tokenizer_vocab_size,
        config_overrides=json.dumps({"mir_loss_weight": demo.mir_loss_weight}),
    )
    splits = clock.run("synthetic catalog", recipe.load_image_text_splits, data_args, progress=demo.progress)
    # Held-out products: validation + test (no product is in both these and the training split).
    train_dataset = splits["train"]
    test_dataset = concatenate_datasets([splits["validation"], splits["test"]])
    print(f"    {len(train_dataset)} training rows, {len(test_dataset)} held-out rows", flush=True)
    processor = clock.run("WordPiece tokenizer", recipe.build_processor, model_args, data_args, train_dataset)

    budget = 60.0 * demo.max_minutes
    pretrained_dir = os.path.join(demo.output_dir, "mvlt-pretrained")
    # Pre-training gets what is left of 60 % of the budget; evaluation and fine-tuning share the rest.
    pretraining_args = recipe.MVLTPretrainingArguments(
        mlm_probability=demo.mlm_probability, hard_negatives=demo.hard_negatives,
        max_train_minutes=max(0.5, (0.6 * budget - clock.elapsed()) / 60),
    )
    pretraining = clock.run(
        "pre-training (MIR + ITM + MLM)", recipe.pretrain_mvlt, model_args, data_args, pretraining_args,
        _training_arguments(demo, pretrained_dir, demo.pretrain_steps, demo.pretrain_learning_rate),
        splits=splits, processor=processor,
    )

    encoded = clock.run("encoding the held-out rows", recipe.encode_split, test_dataset, processor,
                        demo.max_text_length, progress=demo.progress)
    eval_args = recipe.MVLTEvaluationArguments(
        num_queries=demo.num_queries, num_draws=demo.num_draws, evaluation_seed=demo.seed,
    )
    retrieval_model = recipe.load_mvlt(recipe.MVLTForImageTextRetrieval, pretrained_dir)
    retrieval = clock.run("TIR / ITR evaluation (zero-shot, 1 + 100 candidates)", recipe.evaluate_retrieval,
                          retrieval_model, encoded, eval_args, progress=demo.progress)

    category_dir = os.path.join(demo.output_dir, "mvlt-category")
    remaining_minutes = max(0.5, (budget - clock.elapsed()) / 60 - 1.0)  # keep a minute for evaluation and figures
    finetuning = clock.run(
        "fine-tuning category recognition", recipe.finetune_mvlt,
        recipe.MVLTModelArguments(model_name_or_path=pretrained_dir), data_args,
        recipe.MVLTFinetuningArguments(task="recognition", max_train_minutes=remaining_minutes),
        _training_arguments(demo, category_dir, demo.finetune_steps, demo.finetune_learning_rate),
        splits=splits, processor=processor,
    )
    category_model = finetuning.trainer.model
    recognition = clock.run("M-CR / S-CR evaluation", recipe.evaluate_category_recognition, category_model, encoded,
                            progress=demo.progress)

    figures = {
        "reconstruction_grid": recipe.save_reconstruction_grid(
            pretraining.trainer.model, processor, encoded, os.path.join(demo.output_dir, "reconstruction_grid.png")
        ),
        "retrieval_examples": recipe.save_retrieval_examples(
            retrieval_model, processor, encoded, os.path.join(demo.output_dir, "retrieval_examples.png"), seed=demo.seed
        ),
        "pretraining_curves": recipe.save_training_curves(
            pretraining.trainer.state.log_history, os.path.join(demo.output_dir, "pretraining_curves.png")
        ),
        "finetuning_curves": recipe.save_training_curves(
            finetuning.trainer.state.log_history, os.path.join(demo.output_dir, "finetuning_curves.png")
        ),
    }
    chance = recipe.chance_levels(
        {"main_category": train_dataset["category"], "sub_category": train_dataset["subcategory"]},
        {"main_category": test_dataset["category"], "sub_category": test_dataset["subcategory"]},
        num_negatives=eval_args.num_negatives,
    )
    metrics = {
        "tir": {key: value for key, value in retrieval["tir"].items() if key != "draws"},
        "itr": {key: value for key, value in retrieval["itr"].items() if key != "draws"},
        "main_category": recognition["main_category"],
        "sub_category": recognition["sub_category"],
        "chance": chance,
        "training": {
            "pretraining_steps": pretraining.trainer.state.global_step,
            "finetuning_steps": finetuning.trainer.state.global_step,
            "train_rows": len(train_dataset),
            "held_out_rows": len(test_dataset),
        },
        "checkpoints": {"pretrained": pretrained_dir, "category_recognition": category_dir},
        "figures": figures,
        "wall_time_seconds": round(clock.elapsed(), 1),
        "step_seconds": clock.steps,
        "cpu_seconds": round(time.process_time(), 1),
        "step_cpu_seconds": clock.cpu_steps,
        "settings": asdict(demo),
    }
    table = recipe.format_results_table(metrics, chance, title="MVLT tiny (demo)")
    with open(os.path.join(demo.output_dir, "metrics.json"), "w", encoding="utf-8") as file:
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
    from transformers import HfArgumentParser

    parser = HfArgumentParser(DemoArguments, description=__doc__.splitlines()[0])
    (demo,) = parser.parse_args_into_dataclasses(args=list(sys.argv[1:] if argv is None else argv))
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    return run_demo(demo)


if __name__ == "__main__":
    main()
