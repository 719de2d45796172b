"""Evaluate a trained M2Fashion model: DeepFashion-C protocol, DARN-style retrieval, attention figure.

    python scripts/evaluate_m2fashion.py --model_path outputs/m2fashion --known_fractions 0,0.5,1 \
        --attention_figure docs/m2fashion_attention.png

The data arguments are those of `scripts/train_m2fashion.py` (synthetic catalog by default; use the same
`--num_products`, `--image_size` and `--seed` as for training so that the test split is the held-out one).
"""

import json
import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from fashionvl.evaluation.m2fashion_protocol import format_report_table
from fashionvl.recipes.m2fashion import M2FashionDataArguments, evaluate_saved_model


@dataclass
class EvaluationArguments:
    model_path: str = field(metadata={"help": "Folder written by train_m2fashion.py (model + processor)."})
    output_file: str | None = field(default=None, metadata={"help": "Write the report as JSON here."})
    seed: int = field(default=0, metadata={"help": "Seed of the synthetic catalog and of the revealed attributes."})


def main(argv=None):
    parser = HfArgumentParser((EvaluationArguments, M2FashionDataArguments))
    eval_args, data_args = parser.parse_args_into_dataclasses(args=list(argv or sys.argv[1:]))
    report = evaluate_saved_model(eval_args.model_path, data_args, seed=eval_args.seed)
    rows = {f"M2Fashion ({setting})": metrics for setting, metrics in report["deepfashion_c"].items()}
    rows.update(report.get("baselines", {}))
    print(format_report_table(rows, report.get("attribute_types")))
    if "darn_retrieval" in report:
        print(json.dumps(report["darn_retrieval"], indent=2))
    if eval_args.output_file:
        with open(eval_args.output_file, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
