"""mFSR paper Table 3 on the synthetic catalog: every row over several seeds, mean +- sd, with the chance row.

    OMP_NUM_THREADS=1 python scripts/ablate_mfsr.py --output_dir outputs/mfsr_ablation

Defaults: 1,000 products (800 training images x 5 captions, 100 test images), 64 px, tiny preset, seeds 0,1,2,
600 steps of batch 32 at 1e-3 with the hinge summed over all negatives (VSE0) in every row: from scratch
the hardest-negative form collapsed within these 600 steps even with the linear separation head (semantic loss
stuck at 2 x margin x batch = 12.8), so every row uses the all-negatives hinge (`--config_overrides`). Writes `<output_dir>/ablation.json` (every run: recalls, separation diagnostics, gradient norm per
loss term at init and after training) and `<output_dir>/ablation.md` (the table); with `--reconstruction_figure`,
paper Fig. 5 from the first seed's full mFSR model.
"""

import json
import os
import sys
from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser

from fashionvl.evaluation.mfsr_protocol import format_ablation_table, format_per_seed_rsum
from fashionvl.modeling.modeling_mfsr import MFSRForRetrieval
from fashionvl.processing.processing_mfsr import MFSRProcessor
from fashionvl.recipes.mfsr import (
    ABLATIONS,
    MFSRDataArguments,
    ablation_study,
    load_retrieval_splits,
    save_reconstruction_figure,
)
from fashionvl.training import FashionTrainingArguments

DEFAULTS = [
    "--output_dir", "outputs/mfsr_ablation",
    "--num_products", "1000",
    "--max_steps", "600",
    "--per_device_train_batch_size", "32",
    "--learning_rate", "1e-3",
    "--lr_decay_epochs", "1000",
    "--config_overrides", '{"max_violation": false}',
    "--logging_steps", "100",
    "--save_strategy", "no",
    "--report_to", "none",
    "--remove_unused_columns", "false",
    "--dataloader_drop_last", "true",
    "--disable_tqdm", "true",
    "--use_cpu", "true",
]


@dataclass
class StudyArguments:
    rows: str = field(default=",".join(ABLATIONS), metadata={"help": "Comma-separated Table 3 rows."})
    seeds: str = field(default="0,1,2", metadata={"help": "Comma-separated training seeds."})
    num_threads: int = field(default=1, metadata={"help": "torch CPU threads."})
    reference_row: str = field(default="vse++", metadata={"help": "Row the per-seed differences are taken to."})
    resume: bool = field(default=False, metadata={"help": "Reuse run folders that hold a model of the same config."})


def main(argv=None):
    parser = HfArgumentParser((StudyArguments, MFSRDataArguments, FashionTrainingArguments))
    study, data_args, training_args = parser.parse_args_into_dataclasses(
        args=DEFAULTS + list(sys.argv[1:] if argv is None else argv)
    )
    torch.set_num_threads(study.num_threads)
    os.makedirs(training_args.output_dir, exist_ok=True)
    rows = [name.strip() for name in study.rows.split(",")]
    seeds = [int(seed) for seed in study.seeds.split(",")]
    results = ablation_study(
        data_args, training_args, rows, seeds, output_file=os.path.join(training_args.output_dir, "ablation.json"),
        resume=study.resume,
    )
    table = format_ablation_table(results)
    if study.reference_row in results:
        table += "\n\nPer-seed rsum (seeds " + study.seeds.replace(",", " / ") + "):\n" + format_per_seed_rsum(results, study.reference_row)
    with open(os.path.join(training_args.output_dir, "ablation.md"), "w", encoding="utf-8") as handle:
        handle.write(table + "\n")
    print(table)
    for name, runs in results.items():
        print(name, json.dumps([run["diagnostics"] for run in runs]))
    if data_args.reconstruction_figure and "mfsr" in results:
        folder = os.path.join(training_args.output_dir, "mfsr", f"seed{seeds[0]}")
        model = MFSRForRetrieval.from_pretrained(folder, dtype=torch.float32)
        processor = MFSRProcessor.from_pretrained(folder)
        split = load_retrieval_splits(data_args, splits=(data_args.eval_split,), cache_dir=training_args.output_dir)
        save_reconstruction_figure(model, processor, split[data_args.eval_split], data_args.reconstruction_figure)


if __name__ == "__main__":
    main()
