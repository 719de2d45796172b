"""Checks that a loaded checkpoint is what it claims to be: its weights belong to the model's architecture, and its
tokenizer matches the model's vocabulary. `fashionvl.hub.load_checkpoint` and the ``fashion-retrieval`` pipeline
(through `check_checkpoint_folder`) run them; each raises a ``ValueError`` naming the checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path


MAX_MISSING_WEIGHT_FRACTION = 0.5


def check_loaded_weights(model, missing_keys, source: str, max_missing_fraction: float = MAX_MISSING_WEIGHT_FRACTION) -> None:
    """Refuse a model most of whose weights were not in the checkpoint (weights of another architecture).

    Raises:
        ValueError: naming the checkpoint, how many of the model's weights are missing, and the first keys.
    """
    names = [name for name, _ in model.state_dict().items()]
    missing = sorted(set(missing_keys) & set(names)) if missing_keys else []
    if names and len(missing) > max_missing_fraction * len(names):
        raise ValueError(
            f"{source}: {len(missing)} of the {len(names)} weights of {type(model).__name__} are not in the checkpoint "
            f"(e.g. {missing[:5]}); the weights belong to another model, and loading them would give a randomly "
            "initialised one."
        )


def check_tokenizer_matches(config, tokenizer, source: str) -> None:
    """Refuse a tokenizer whose vocabulary does not match ``config.vocab_size`` (models with text input only).

    A checkpoint without its ``tokenizer.json`` / ``vocab.txt`` gives a tokenizer of the few special tokens, which
    maps every word to [UNK]; one larger than the vocabulary gives ids the embedding cannot look up.
    """
    vocab_size = getattr(config, "vocab_size", None)
    if tokenizer is None or not isinstance(vocab_size, int):
        return
    if len(tokenizer) != vocab_size:
        raise ValueError(
            f"{source}: the tokenizer has {len(tokenizer)} tokens but the model's vocab_size is {vocab_size}; "
            "the tokenizer files (tokenizer.json / vocab.txt) are missing or belong to another checkpoint."
        )


def check_checkpoint_folder(model, processor) -> None:
    """Checks of a loaded ``model`` against the folder it came from (``config._name_or_path``), for callers that
    did not load it themselves (the pipeline): the weights file holds most of the model's weights, and the
    tokenizer matches the vocabulary (the weights check needs a local folder with ``model.safetensors``)."""
    source = getattr(model.config, "_name_or_path", None)
    weights = Path(source) / "model.safetensors" if source and os.path.isdir(source) else None
    if weights is not None and weights.is_file():
        _check_saved_weight_names(model, weights, source)
    check_tokenizer_matches(model.config, getattr(processor, "tokenizer", None), str(source or type(model).__name__))


def _check_saved_weight_names(model, weights: Path, source: str) -> None:
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as handle:
        saved = set(handle.keys())
    names = set(model.state_dict())
    prefix = getattr(model, "base_model_prefix", "")
    found = {name for name in names if name in saved or (prefix and name.startswith(prefix + ".")
                                                             and name[len(prefix) + 1:] in saved)
             or f"{prefix}.{name}" in saved}
    check_loaded_weights(model, sorted(names - found), source)


__all__ = ["MAX_MISSING_WEIGHT_FRACTION", "check_checkpoint_folder", "check_loaded_weights", "check_tokenizer_matches"]
