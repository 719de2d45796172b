"""Train mFSR (paper: Zhang & Wu 2021) for image-caption retrieval and evaluate it with the VSE++ protocol.

Default: the bundled synthetic catalog written as Karpathy JSON, tiny preset, 64px, CPU-friendly. The paper's
schedule is Adam at 2e-4 for 15 epochs, then 2e-5 (`--lr_decay_epochs 15 --decayed_learning_rate 2e-5`,
`--num_train_epochs 30`); the batch size is `--per_device_train_batch_size` (paper: 24).

    python scripts/train_mfsr.py --output_dir outputs/mfsr
    python scripts/train_mfsr.py --output_dir outputs/mfsr_ablation --ablation all      # every paper Table 3 row
    python scripts/train_mfsr.py --output_dir outputs/mfsr_vse --ablation vse++         # the VSE++ baseline

Your own data: `--dataset_name my_shop/` (imagefolder with metadata.jsonl: file_name, caption; rows of one image are
grouped, see fashionvl.recipes.mfsr), a save_to_disk folder, a Hub dataset, or `--train_file` / `--validation_file`.
COCO with the paper's model: `--dataset_name karpathy --train_file /data/dataset_coco.json --data_dir /data/coco --preset paper
--image_size 224 --pretrained_backbone microsoft/resnet-152 --freeze_backbone true --finetune_epochs 15
--eval_protocol 1k`. Any `transformers.TrainingArguments` flag works. Writes the model, the processor and
`eval_results.json` (per row with `--ablation all`).
"""

import sys

from transformers import HfArgumentParser

from fashionvl.evaluation.mfsr_protocol import format_recall_table
from fashionvl.recipes.mfsr import MFSRDataArguments, run_ablations
from fashionvl.training import FashionTrainingArguments

# Script defaults; flags given on the command line come later and win.
DEFAULTS = [
    "--output_dir", "outputs/mfsr",
    "--num_train_epochs", "30",
    "--per_device_train_batch_size", "32",
    "--learning_rate", "2e-4",
    "--logging_steps", "20",
    "--save_strategy", "no",
    "--report_to", "none",
    "--remove_unused_columns", "false",
    "--dataloader_drop_last", "true",
    "--seed", "0",
]


def main(argv=None):
    parser = HfArgumentParser((MFSRDataArguments, FashionTrainingArguments))
    data_args, training_args = parser.parse_args_into_dataclasses(args=DEFAULTS + list(sys.argv[1:] if argv is None else argv))
    results = run_ablations(data_args, training_args)
    rows = {name: result["metrics"] for name, result in results.items()}
    first = next(iter(results.values()))
    rows[f"chance ({first['num_eval_images']} images)"] = first["chance"]
    print(format_recall_table(rows))


if __name__ == "__main__":
    main()
