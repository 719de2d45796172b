"""What every family's recipe shares (issue 13: one `config_overrides` path, one float32 loader, one result type,
one style of script defaults).

- `RecipeResult`: what `train(...)` of a recipe returns (trainer, processor, data splits, output folder).
- `parse_config_overrides(text)`: the `--config_overrides` JSON object as a dict, with an error naming the value.
- `load_float32_model(model_class, path, **kwargs)`: `from_pretrained` in float32, without transformers' table of
  unused / new weights (one log line names the new ones).
- `parse_script_arguments(dataclass_types, argv, defaults)`: the scripts' HfArgumentParser with their defaults
  set on the parser (so `--help` shows them and the command line wins).
- `save_training_outputs(trainer, processor, output_dir)`: model, processor and `log_history.json`.
- `METRICS_FILE`: the name of the evaluation metrics every recipe writes into its output folder
  (`eval_results.json`, the file of transformers' `Trainer.save_metrics("eval", ...)`), which
  `scripts/export_to_hub.py --metrics_file` reads (`read_metrics_file`: the model's metrics, without chance levels,
  baselines or protocol settings); `metrics_file_in(folder)` also finds the former names.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch


logger = logging.getLogger(__name__)

#: The evaluation metrics of every family's recipe, in its output folder (transformers' `Trainer.save_metrics` name).
METRICS_FILE = "eval_results.json"
#: What MVLT (`metrics.json`) and mFSR (`retrieval_metrics.json`) wrote before; read in folders written then.
FORMER_METRICS_FILES = ("metrics.json", "retrieval_metrics.json")


#: Entries of a recipe's metrics file that describe the evaluation rather than measure the model (chance levels,
#: baselines, protocol settings, figure paths...): left out of a model card's metrics.
REPORT_CONTEXT_KEYS = (
    "chance", "baselines", "protocol", "figures", "table", "ablation", "attribute_types", "num_eval_images",
    "output_dir", "train_runtime_s",
    # the demo's run record (fashionvl.demo)
    "training", "diagnostics", "fusion_calibration", "itm_fusion_weight", "checkpoints", "settings", "score_methods",
    "wall_time_seconds", "step_seconds", "cpu_seconds", "step_cpu_seconds",
)


def read_metrics_file(path: str) -> dict[str, Any]:
    """The model's own metrics in a recipe's metrics file (any family), without `REPORT_CONTEXT_KEYS`."""
    with open(path, encoding="utf-8") as handle:
        report = json.load(handle)
    if not isinstance(report, dict):
        raise ValueError(f"{path} must hold a JSON object of metrics, got {type(report).__name__}.")
    return {key: value for key, value in report.items() if key not in REPORT_CONTEXT_KEYS}


def metrics_file_in(folder: str) -> str | None:
    """The metrics file of a run folder: `METRICS_FILE`, else a former name (older runs), else None."""
    for name in (METRICS_FILE, *FORMER_METRICS_FILES):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


@dataclass
class RecipeResult:
    """What a training recipe produced."""

    trainer: Any  # fashionvl.training.FashionTrainer
    processor: Any
    splits: Any
    output_dir: str


def parse_config_overrides(text: str | None, option: str = "config_overrides") -> dict[str, Any]:
    """The JSON object of configuration fields given as `--config_overrides` (empty or None: no override).

    Raises:
        ValueError: `text` is not JSON, or JSON that is not an object; the message names the value.
    """
    if text is None or not text.strip():
        return {}
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{option} must be a JSON object, got {text!r}: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{option} must be a JSON object, got {text!r}.")
    return values


def load_float32_model(model_class, path: str, **kwargs):
    """`model_class.from_pretrained(path, dtype=float32)` without transformers' table of unused / new weights, which
    is expected when a pre-training checkpoint is loaded into a task head (one log line says what was new)."""
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        model, loading_info = model_class.from_pretrained(path, dtype=torch.float32, output_loading_info=True, **kwargs)
    finally:
        transformers_logging.set_verbosity(verbosity)
    if loading_info.get("missing_keys"):
        logger.info("%s from %s: newly initialised %s", model_class.__name__, path, sorted(loading_info["missing_keys"]))
    return model


def parse_script_arguments(dataclass_types: Sequence[type], argv: Sequence[str] | None = None,
                           defaults: Mapping[str, Any] | None = None, description: str | None = None) -> tuple:
    """Parse a script's command line (`sys.argv[1:]` when `argv` is None) into its argument dataclasses.

    `defaults` are set on the parser, so `--help` prints them and a flag on the command line wins."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(tuple(dataclass_types), description=description)
    if defaults:
        parser.set_defaults(**defaults)
    return parser.parse_args_into_dataclasses(args=list(sys.argv[1:] if argv is None else argv))


def save_training_outputs(trainer, processor, output_dir: str) -> None:
    """Save the trained model, and on the saving process the processor and the Trainer's `log_history.json`."""
    trainer.save_model(output_dir)
    if trainer.args.should_save:
        processor.save_pretrained(output_dir)
        with open(os.path.join(output_dir, "log_history.json"), "w", encoding="utf-8") as file:
            json.dump(trainer.state.log_history, file, indent=1)


__all__ = [
    "METRICS_FILE",
    "RecipeResult",
    "load_float32_model",
    "metrics_file_in",
    "read_metrics_file",
    "parse_config_overrides",
    "parse_script_arguments",
    "save_training_outputs",
]
