"""Export a fashionvl checkpoint as a Hub-ready folder (remote code, processor, model card) and optionally push it.

    python scripts/export_to_hub.py --model_path outputs/mvlt-pretrained --output_dir exports/mvlt-fashiongen \
        --metrics_file outputs/mvlt-eval/eval_results.json --dataset_name Fashion-Gen \
        --evaluation_protocol "TIR/ITR over 1 positive + 100 same-sub-category negatives, 5 draws of 1,000 queries"
    python scripts/export_to_hub.py --model_path outputs/mfsr --output_dir exports/mfsr \
        --metrics_file outputs/mfsr/eval_results.json
    python scripts/export_to_hub.py --model_path outputs/m2fashion --output_dir exports/m2fashion \
        --metrics_file outputs/m2fashion/eval_results.json
    python scripts/export_to_hub.py ... --push_to_hub_repo your-name/mvlt-fashiongen   # needs a Hub token

Every recipe writes its metrics to `eval_results.json`: MVLT's `scripts/evaluate_mvlt.py` into its --output_dir
(default outputs/mvlt-eval), `scripts/train_mfsr.py` and `scripts/train_m2fashion.py` next to the model. Chance
levels, baselines and protocol settings in that file stay out of the model card's metrics.

The folder loads where fashionvl is not installed:
``AutoModel.from_pretrained(folder, trust_remote_code=True)``.
"""

from dataclasses import dataclass, field

from transformers import HfArgumentParser

from fashionvl.hub import export_for_hub, load_checkpoint, push_to_hub
from fashionvl.recipes._common import read_metrics_file


@dataclass
class ExportArguments:
    model_path: str = field(metadata={"help": "checkpoint folder (or Hub id) saved with save_pretrained"})
    output_dir: str = field(metadata={"help": "folder to write the Hub-ready export into"})
    model_class: str | None = field(default=None, metadata={"help": "fashionvl class (default: config.architectures[0])"})
    metrics_file: str | None = field(
        default=None, metadata={"help": "a recipe's eval_results.json (or any JSON of metrics) for the model card"}
    )
    model_name: str | None = field(default=None, metadata={"help": "name in the model card (e.g. the Hub repo id)"})
    dataset_name: str | None = field(default=None, metadata={"help": "evaluation data set name"})
    evaluation_protocol: str | None = field(default=None, metadata={"help": "how the metrics were measured"})
    push_to_hub_repo: str | None = field(default=None, metadata={"help": "Hub repo id to upload the folder to"})
    private: bool = field(default=False, metadata={"help": "create the Hub repo as private"})


def main(args: ExportArguments) -> None:
    model, processor = load_checkpoint(args.model_path, model_class=args.model_class)
    metrics = read_metrics_file(args.metrics_file) if args.metrics_file else None
    folder = export_for_hub(
        model,
        processor,
        args.output_dir,
        metrics=metrics,
        model_name=args.model_name or args.push_to_hub_repo,
        dataset_name=args.dataset_name,
        evaluation_protocol=args.evaluation_protocol,
    )
    print(f"exported {type(model).__name__} to {folder}")
    if args.push_to_hub_repo:
        print(push_to_hub(folder, args.push_to_hub_repo, private=args.private))


if __name__ == "__main__":
    (arguments,) = HfArgumentParser(ExportArguments).parse_args_into_dataclasses()
    main(arguments)
