"""Where the attribute head's evidence sits (issue 12): the attribute loss of trained M2Fashion models, per
attribute group, when the spatial attention is forced to one horizontal band of the feature map.

    OMP_NUM_THREADS=1 python scripts/probe_m2fashion_regions.py \\
        --model_paths outputs/m2fashion_ablation/M2Fashion/seed0,outputs/m2fashion_ablation/shared_attribute_head/seed0 \\
        --output_file docs/results/m2fashion_band_probe.md

A group whose loss changes a lot between bands (length: the hem) has its evidence in one region, so a map that
looks elsewhere costs loss; the model must read it from the right band to need its attention.
"""

import os
import sys
from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser

from fashionvl._safe_io import atomic_write_text
from fashionvl.evaluation.m2fashion_attention import band_attention_losses
from fashionvl.evaluation.m2fashion_protocol import exclusive_attribute_groups
from fashionvl.modeling.modeling_m2fashion import M2FashionForAttributePrediction
from fashionvl.processing.processing_m2fashion import M2FashionProcessor
from fashionvl.recipes.m2fashion import M2FashionDataArguments, prepare_data


@dataclass
class ProbeArguments:
    model_paths: str = field(metadata={"help": "Comma-separated trained M2Fashion folders (model + processor)."})
    num_bands: int = field(default=3, metadata={"help": "Horizontal bands of the feature map, top to bottom."})
    output_file: str | None = field(default=None, metadata={"help": "Markdown table to write (atomically)."})
    num_threads: int = field(default=1, metadata={"help": "torch CPU threads."})


def main(argv=None):
    parser = HfArgumentParser((ProbeArguments, M2FashionDataArguments))
    probe_args, data_args = parser.parse_args_into_dataclasses(
        args=["--num_products", "500", *(sys.argv[1:] if argv is None else argv)]
    )
    torch.set_num_threads(probe_args.num_threads)
    sections = []
    for path in [path.strip() for path in probe_args.model_paths.split(",") if path.strip()]:
        if not os.path.isdir(path):
            raise FileNotFoundError(f"--model_paths: {path!r} is not a folder.")
        model = M2FashionForAttributePrediction.from_pretrained(path, dtype=torch.float32)
        prepared = prepare_data(data_args, seed=0, processor=M2FashionProcessor.from_pretrained(path))
        groups = exclusive_attribute_groups(prepared.data.attribute_names, prepared.data.dimensions)
        report = band_attention_losses(model, prepared.eval_rows, groups, num_bands=probe_args.num_bands)
        header = f"**{path}** (attribute_prediction={model.config.attribute_prediction}); BCE per group, every attribute unknown:"
        lines = [header, "", "| attention | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
        lines += [f"| {name} | " + " | ".join(f"{losses[group]:.3f}" for group in groups) + " |"
                  for name, losses in report.items()]
        sections.append("\n".join(lines))
    text = "\n\n".join(sections) + "\n"
    print(text)
    if probe_args.output_file:
        atomic_write_text(probe_args.output_file, text)


if __name__ == "__main__":
    main()
