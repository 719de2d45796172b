"""Evaluate a trained mFSR folder with the VSE++ retrieval protocol (5 captions per image).

i2t: rank of the best of the image's 5 captions; t2i: rank of the caption's image; R@1/5/10, medr, meanr, rsum.
Protocols: `--eval_protocol all` (every test image: Flickr30K 1K, the synthetic catalog), `1k` (COCO 1K, mean over
5 folds of 1,000 images), `5k` (COCO 5K).

    python scripts/evaluate_mfsr.py --model_path outputs/mfsr                       # synthetic catalog
    python scripts/evaluate_mfsr.py --model_path outputs/mfsr_coco --dataset_name karpathy \
        --train_file /data/dataset_coco.json --data_dir /data/coco --image_size 224 --eval_protocol 1k
    python scripts/evaluate_mfsr.py --model_path outputs/mfsr_shop --dataset_name my_shop/   # your own data

Prints a table (with the chance level of a random ranking) and writes `--output_file` (JSON) if given.
"""

import json
import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from fashionvl.evaluation.mfsr_protocol import format_recall_table
from fashionvl.recipes.mfsr import MFSRDataArguments, evaluate_saved_model


@dataclass
class EvaluationArguments:
    model_path: str = field(metadata={"help": "Folder written by train_mfsr.py (model + processor)."})
    output_file: str | None = field(default=None, metadata={"help": "Write the metrics here as JSON."})
    cache_dir: str = field(default="outputs", metadata={"help": "Where the synthetic catalog is written."})


def main(argv=None):
    parser = HfArgumentParser((EvaluationArguments, MFSRDataArguments))
    eval_args, data_args = parser.parse_args_into_dataclasses(args=sys.argv[1:] if argv is None else argv)
    result = evaluate_saved_model(eval_args.model_path, data_args, cache_dir=eval_args.cache_dir)
    print(format_recall_table({
        eval_args.model_path: result["metrics"], f"chance ({result['num_eval_images']} images)": result["chance"]
    }))
    if eval_args.output_file:
        with open(eval_args.output_file, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
    return result


if __name__ == "__main__":
    main()
