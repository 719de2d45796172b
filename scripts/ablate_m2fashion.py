"""M2Fashion paper Tables 1-2 on the synthetic catalog: every variant over several seeds, mean +- sd, with an
init-only control and chance rows, plus the attention analyses (TV, localisation, saturation, counterfactual).

    OMP_NUM_THREADS=1 python scripts/ablate_m2fashion.py --output_dir outputs/m2fashion_ablation \
        --attention_figure docs/m2fashion_attention.png

Defaults: 500 products (2 views each: 800 training rows, 100 test images of 50 held-out products), 64 px, the tiny
preset (8x8 attention maps), seeds 0,1,2, 1,500 steps (19 epochs) of 10 attribute-conditioned triplets (30 rows)
at 2e-3 (issue 12: at 500 steps the localisation was half as large and attribute R@3 0.377 instead of 0.402).
Writes `<output_dir>/ablation.json` (every run's report) and `<output_dir>/ablation.md` (the table); with
`--attention_figure`, the figure of the seed-0 M2Fashion run.
"""

import json
import os
import sys
from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser

from fashionvl._safe_io import atomic_write_text
from fashionvl.evaluation.m2fashion_protocol import format_paired_differences, format_study_table, merge_studies
from fashionvl.recipes.m2fashion import ABLATIONS, M2FashionDataArguments, ablation_study, prepare_data, save_attention_figure
from fashionvl.training import FashionTrainingArguments

DEFAULTS = [
    "--output_dir", "outputs/m2fashion_ablation",
    "--num_products", "500",
    "--max_steps", "1500",
    "--per_device_train_batch_size", "30",
    "--learning_rate", "2e-3",
    "--known_fractions", "0",
    "--logging_steps", "100",
    "--save_strategy", "no",
    "--report_to", "none",
    "--remove_unused_columns", "false",
    "--disable_tqdm", "true",
    "--use_cpu", "true",
]


@dataclass
class StudyArguments:
    variants: str = field(default=",".join(ABLATIONS), metadata={"help": "Comma-separated variants of ABLATIONS."})
    seeds: str = field(default="0,1,2", metadata={"help": "Comma-separated training seeds."})
    num_threads: int = field(default=1, metadata={"help": "torch CPU threads."})
    merge_results: str | None = field(
        default=None,
        metadata={"help": "Comma-separated ablation.json files of earlier runs (e.g. variants run in parallel "
                  "processes): merge them into <output_dir>/ablation.{json,md} instead of training."},
    )


def main(argv=None):
    parser = HfArgumentParser((StudyArguments, M2FashionDataArguments, FashionTrainingArguments))
    study_args, data_args, training_args = parser.parse_args_into_dataclasses(
        args=DEFAULTS + list(sys.argv[1:] if argv is None else argv)
    )
    torch.set_num_threads(study_args.num_threads)
    os.makedirs(training_args.output_dir, exist_ok=True)
    names = [name.strip() for name in study_args.variants.split(",")]
    seeds = [int(seed) for seed in study_args.seeds.split(",")]
    output_file = os.path.join(training_args.output_dir, "ablation.json")
    if study_args.merge_results:
        studies = []
        for path in study_args.merge_results.split(","):
            with open(path.strip(), encoding="utf-8") as handle:
                studies.append(json.load(handle))
        study = merge_studies(studies)
        order = [name for name in ABLATIONS if name in study["runs"]]  # the table's rows in ABLATIONS order
        study["runs"] = {name: study["runs"][name] for name in order + [n for n in study["runs"] if n not in order]}
        atomic_write_text(output_file, json.dumps(study, indent=2))
    else:
        study = ablation_study(data_args, training_args, names, seeds, output_file=output_file)
    table = format_study_table(study, ABLATIONS) + "\n\n" + format_paired_differences(study, "TV attributes", "TV images")
    table += "\n\n" + format_paired_differences(study, "TV attributes", "TV images, same attribute")
    atomic_write_text(os.path.join(training_args.output_dir, "ablation.md"), table + "\n")
    print(table)
    figure_folder = os.path.join(training_args.output_dir, "M2Fashion", f"seed{seeds[0]}")
    if data_args.attention_figure and "M2Fashion" in study["runs"] and not os.path.isdir(figure_folder):
        print(f"--attention_figure: no model at {figure_folder} (merged results keep no models); figure not drawn.")
    elif data_args.attention_figure and "M2Fashion" in names:
        from fashionvl.modeling.modeling_m2fashion import M2FashionForAttributePrediction
        from fashionvl.processing.processing_m2fashion import M2FashionProcessor

        model = M2FashionForAttributePrediction.from_pretrained(figure_folder, dtype=torch.float32)
        processor = M2FashionProcessor.from_pretrained(figure_folder)
        prepared = prepare_data(data_args, seed=0, processor=processor)
        save_attention_figure(model, processor, prepared.data, data_args.eval_split, data_args.attention_figure)


if __name__ == "__main__":
    main()
