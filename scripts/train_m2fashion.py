"""Train M2Fashion (category + attribute prediction with label-mask training and triplets) and evaluate it.

Default: the bundled synthetic catalog, tiny preset, 64px, CPU-friendly. Real data in the on-disk formats:
`--dataset_name deepfashion --data_dir /path/to/DeepFashion-C` (paper preset: `--preset paper --image_size 224
--backbone_checkpoint microsoft/resnet-50`), or `--dataset_name darn --data_dir /path/to/DARN`. Your own data:
`--dataset_name my_shop/` (imagefolder with metadata.jsonl: file_name, attributes as a list of names, optional
category), a save_to_disk folder, a Hub dataset, or `--train_file` / `--validation_file`; string categories are
saved as the config's id2label.

    python scripts/train_m2fashion.py --output_dir outputs/m2fashion --num_products 1000 --num_train_epochs 20
    python scripts/train_m2fashion.py --output_dir outputs/m2fashion_no_asa --use_spatial_attention false
    python scripts/train_m2fashion.py --output_dir outputs/m2fashion_ablations --ablations all

Any `transformers.TrainingArguments` flag works. Writes the model, the processor and `eval_results.json`
(DeepFashion-C metrics at each known-attribute fraction, frequency baselines, DARN-style retrieval mAP).
"""

import json
import sys

from transformers import HfArgumentParser

from fashionvl.evaluation.m2fashion_protocol import format_report_table
from fashionvl.recipes.m2fashion import ABLATIONS, M2FashionDataArguments, ablation_table, run_ablations, train_m2fashion
from fashionvl.training import FashionTrainingArguments

# Script defaults; flags given on the command line come later and win.
DEFAULTS = [
    "--output_dir", "outputs/m2fashion",
    "--num_train_epochs", "15",
    "--per_device_train_batch_size", "32",
    "--learning_rate", "2e-3",
    "--logging_steps", "20",
    "--save_strategy", "no",
    "--report_to", "none",
    "--remove_unused_columns", "false",
    "--seed", "0",
]


def main(argv=None):
    parser = HfArgumentParser((M2FashionDataArguments, FashionTrainingArguments))
    data_args, training_args = parser.parse_args_into_dataclasses(args=DEFAULTS + list(argv or sys.argv[1:]))
    if data_args.ablations:
        names = list(ABLATIONS) if data_args.ablations == "all" else [n.strip() for n in data_args.ablations.split(",")]
        reports = run_ablations(data_args, training_args, names)
        print(ablation_table(reports, reports[names[0]].get("attribute_types")))
        return
    report = train_m2fashion(data_args, training_args)
    rows = {f"M2Fashion ({setting})": metrics for setting, metrics in report["deepfashion_c"].items()}
    rows.update(report.get("baselines", {}))
    types = report.get("attribute_types")
    print(format_report_table(rows, types))
    if "darn_retrieval" in report:
        print(json.dumps(report["darn_retrieval"], indent=2))


if __name__ == "__main__":
    main()
