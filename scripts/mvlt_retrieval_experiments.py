"""MVLT retrieval experiments on the synthetic catalog: one pre-training recipe per run, scored by ITC, ITM and fused.

Each run pre-trains the tiny preset for `--max_steps` (or `--max_minutes`) with the given `--config_overrides`
and evaluates same-sub-category TIR / ITR (1 positive + 100 negatives) on the held-out products. The catalog is
generated once and cached under `--cache_dir`. Results are appended as JSON lines to `--results_file`.

    python scripts/mvlt_retrieval_experiments.py --name itc_mined --max_steps 600 \\
        --config_overrides '{"itc_loss_weight": 1, "itm_negative_mining": "itc"}'
"""

import json
import os
import time
from dataclasses import asdict, dataclass, field

import torch

from fashionvl.recipes._common import parse_script_arguments


@dataclass
class ExperimentArguments:
    name: str = field(default="run", metadata={"help": "Name of the run in the results file."})
    config_overrides: str = field(default="{}", metadata={"help": "JSON object of MVLTConfig overrides."})
    max_steps: int = field(default=600, metadata={"help": "Pre-training steps."})
    max_minutes: float | None = field(default=None, metadata={"help": "Time budget of pre-training."})
    batch_size: int = field(default=32, metadata={"help": "Batch size."})
    learning_rate: float = field(default=5e-4, metadata={"help": "Peak learning rate (cosine)."})
    mlm_probability: float = field(default=0.4, metadata={"help": "MLM share of content words."})
    hard_negatives: bool = field(default=True, metadata={"help": "Collator ITM negatives of the same sub-category."})
    num_products: int = field(default=10200, metadata={"help": "Catalog size."})
    num_queries: int = field(default=40, metadata={"help": "Queries per draw."})
    num_draws: int = field(default=2, metadata={"help": "Evaluation draws."})
    seed: int = field(default=0, metadata={"help": "Training seed."})
    cache_dir: str = field(default="/tmp/fvl_cache", metadata={"help": "Where the generated catalog is cached."})
    output_dir: str = field(default="/tmp/exp", metadata={"help": "Checkpoints of the runs."})
    results_file: str = field(default="outputs/mvlt_retrieval_experiments.jsonl", metadata={"help": "JSON lines."})
    threads: int = field(default=1, metadata={"help": "torch threads."})


def main(argv=None):
    (args,) = parse_script_arguments((ExperimentArguments,), argv)
    torch.set_num_threads(args.threads)
    from datasets import concatenate_datasets, load_from_disk
    from transformers import set_seed

    from fashionvl.demo import DemoArguments, _training_arguments
    from fashionvl.evaluation import mvlt_protocol
    from fashionvl.recipes import mvlt as recipe
    from fashionvl.recipes._common import load_float32_model

    set_seed(args.seed)
    catalog_dir = os.path.join(args.cache_dir, f"catalog_{args.num_products}_64")
    data_args = recipe.MVLTDataArguments(num_products=args.num_products, image_size=64, max_text_length=32)
    if os.path.isdir(catalog_dir):
        splits = load_from_disk(catalog_dir)
    else:
        splits = recipe.load_image_text_splits(data_args, progress=False)
        splits.save_to_disk(catalog_dir)
    model_args = recipe.MVLTModelArguments(preset="tiny", tokenizer_vocab_size=600, config_overrides=args.config_overrides)
    processor = recipe.build_processor(model_args, data_args, splits["train"])
    demo = DemoArguments(batch_size=args.batch_size, report_to="none", progress=False, seed=args.seed)
    run_dir = os.path.join(args.output_dir, args.name)
    training_args = _training_arguments(demo, run_dir, args.max_steps, args.learning_rate)
    pretraining_args = recipe.MVLTPretrainingArguments(
        mlm_probability=args.mlm_probability, hard_negatives=args.hard_negatives, max_train_minutes=args.max_minutes
    )
    start = time.process_time()
    result = recipe.train(model_args, data_args, pretraining_args, training_args, splits=splits, processor=processor)
    train_cpu = time.process_time() - start
    held_out = concatenate_datasets([splits["validation"], splits["test"]])
    encoded = mvlt_protocol.encode_image_text_split(held_out, processor, 32, progress=False)
    model = load_float32_model(recipe.MVLTForImageTextRetrieval, run_dir)
    eval_args = recipe.MVLTEvaluationArguments(num_queries=args.num_queries, num_draws=args.num_draws)
    metrics = mvlt_protocol.evaluate_retrieval(model, encoded, **eval_args.retrieval_protocol(), progress=False)
    logs = [entry for entry in result.trainer.state.log_history if "loss" in entry]
    record = {
        "name": args.name, "steps": result.trainer.state.global_step, "train_cpu_s": round(train_cpu, 1),
        "cpu_s_per_step": round(train_cpu / max(1, result.trainer.state.global_step), 3),
        "last_losses": {key: value for key, value in logs[-1].items() if key.endswith("loss")} if logs else {},
        **{key: {k: round(v, 4) for k, v in value.items() if k != "draws"} for key, value in metrics.items()},
        "args": asdict(args),
    }
    os.makedirs(os.path.dirname(args.results_file) or ".", exist_ok=True)
    with open(args.results_file, "a", encoding="utf-8") as file:
        file.write(json.dumps(record) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
