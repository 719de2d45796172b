"""Which checkpoint a run resumes from: the last *complete* `checkpoint-<step>` folder of `output_dir`.

The Trainer writes `trainer_state.json` last, so a checkpoint is complete when that file is readable, names the
folder's step, and model weights are present. A checkpoint left half-written by a killed run is skipped with a
warning naming it (`FashionTrainer.train(resume_from_checkpoint=True)`), where the stock Trainer would pick it and
fail.
"""

from __future__ import annotations

import json
import logging
import os
import re


logger = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
_CHECKPOINT_FOLDER = re.compile(r"^checkpoint-(\d+)$")


def is_complete_checkpoint(folder: str | os.PathLike) -> bool:
    """True when a `checkpoint-<step>` folder was written to the end: a readable `trainer_state.json` (the
    Trainer's last file) of that step, and model weights."""
    folder = os.fspath(folder)
    match = _CHECKPOINT_FOLDER.match(os.path.basename(os.path.normpath(folder)))
    state_path = os.path.join(folder, "trainer_state.json")
    try:
        with open(state_path, encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        return False
    if match is not None and state.get("global_step") != int(match.group(1)):
        return False
    return any(os.path.isfile(os.path.join(folder, name)) for name in WEIGHT_FILES)


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The `checkpoint-<step>` folder of `output_dir` with the highest step that is complete (see
    `is_complete_checkpoint`); incomplete ones after it are logged and skipped. None when there is none."""
    if not os.path.isdir(output_dir):
        return None
    steps = sorted(
        (int(match.group(1)), name)
        for name in os.listdir(output_dir)
        if (match := _CHECKPOINT_FOLDER.match(name)) and os.path.isdir(os.path.join(output_dir, name))
    )
    for _, name in reversed(steps):
        path = os.path.join(output_dir, name)
        if is_complete_checkpoint(path):
            return path
        logger.warning(
            "FashionTrainer: %s is incomplete (no readable trainer_state.json of its step, or no weights: the run "
            "that wrote it was interrupted); resuming from an earlier checkpoint.",
            path,
        )
    return None


__all__ = ["WEIGHT_FILES", "is_complete_checkpoint", "last_complete_checkpoint"]
