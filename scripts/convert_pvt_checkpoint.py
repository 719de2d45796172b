"""Initialise MVLT from a transformers PVT ImageNet checkpoint (paper Table 4: loading it matters) and save it.

    python scripts/convert_pvt_checkpoint.py --pvt_name_or_path Zetatech/pvt-tiny-224 --output_dir outputs/mvlt-pvt-init
    python scripts/convert_pvt_checkpoint.py --pvt_name_or_path ./pvt-tiny-224 --output_dir out --image_size 256 \
        --vocab_size 30522 --model_class MVLTForPreTraining

The MVLT config is the `--preset` (default "paper") with the checkpoint's stage shapes; position embeddings are
interpolated from PVT's 224px grid to `--image_size`. Writes the checkpoint (safetensors) and
`pvt_loading_report.json` (loaded / missing vision / unexpected / interpolated keys), and prints the report.
"""

import json
from dataclasses import dataclass, field

from transformers import PvtConfig

import fashionvl
from fashionvl.modeling.modeling_mvlt import convert_pvt_checkpoint, mvlt_config_from_pvt
from fashionvl.recipes._common import parse_script_arguments


@dataclass
class ConvertPvtArguments:
    pvt_name_or_path: str = field(metadata={"help": "Hub id or local folder of a transformers PvtModel checkpoint."})
    output_dir: str = field(metadata={"help": "Folder for the MVLT checkpoint."})
    preset: str = field(default="paper", metadata={"help": "MVLT preset for the non-vision settings."})
    image_size: int | None = field(default=None, metadata={"help": "MVLT image size (default: the preset's)."})
    vocab_size: int | None = field(default=None, metadata={"help": "Tokenizer vocabulary size (default: preset's)."})
    model_class: str = field(
        default="MVLTForPreTraining",
        metadata={"help": "MVLTModel, MVLTForPreTraining, MVLTForImageTextRetrieval or MVLTForCategoryRecognition."},
    )


MODEL_CLASSES = ("MVLTModel", "MVLTForPreTraining", "MVLTForImageTextRetrieval", "MVLTForCategoryRecognition")


def main(argv=None):
    (args,) = parse_script_arguments((ConvertPvtArguments,), argv)
    if args.model_class not in MODEL_CLASSES:
        raise ValueError(f"--model_class {args.model_class!r} is not one of {MODEL_CLASSES}.")
    overrides = {name: getattr(args, name) for name in ("image_size", "vocab_size") if getattr(args, name) is not None}
    config = mvlt_config_from_pvt(PvtConfig.from_pretrained(args.pvt_name_or_path), preset=args.preset, **overrides)
    report = convert_pvt_checkpoint(
        args.pvt_name_or_path, args.output_dir, config=config, model_class=getattr(fashionvl, args.model_class)
    )
    print(json.dumps({key: value for key, value in report.items() if key != "loaded"}, indent=2))
    print(f"Loaded {len(report['loaded'])} PVT tensors into {args.model_class}; saved to {args.output_dir}")
    return report


if __name__ == "__main__":
    main()
