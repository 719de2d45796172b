"""Named configuration presets: ``<Config>.from_preset(name)``.

Architectures are data: a preset is a JSON file ``fashionvl/configs/presets/<model_type>_<name>.json``
(for example ``mvlt_tiny.json``, ``mvlt_paper.json``, ``mfsr_tiny.json``) holding keyword arguments of the
configuration class. ``PresetMixin`` gives every configuration class the classmethod::

    config = MVLTConfig.from_preset("tiny")                    # loads presets/mvlt_tiny.json
    config = MVLTConfig.from_preset("tiny", vocab_size=1000)    # keyword arguments override the preset

How to use it in a configuration file (decision for all three model families)
------------------------------------------------------------------------------
Put the mixin FIRST in the bases and import it with a same-directory relative import::

    from .presets import PresetMixin

    @strict
    class MFSRConfig(PresetMixin, PreTrainedConfig):
        model_type = "mfsr"

This module imports only the standard library and nothing from fashionvl, so it can travel with a
configuration file into a flat remote-code folder: ``from .presets import ...`` stays a same-directory
import there. ``save_pretrained`` of a config registered with ``register_for_auto_class`` copies it
automatically (transformers' ``custom_object_save`` follows relative imports), and the Hub exporter
(issue 7) must copy ``fashionvl/configs/presets.py`` next to ``configuration_<model>.py``. The preset JSON
files themselves are not exported: in a remote-code folder the configuration is read from ``config.json``
and ``from_preset`` raises a clear error naming the missing file.
"""

import dataclasses
import difflib
import inspect
import json
from pathlib import Path
from typing import Any


PRESETS_DIR = Path(__file__).resolve().parent / "presets"
ABLATIONS_DIR = Path(__file__).resolve().parent / "ablations"


def available_presets(model_type: str) -> list[str]:
    """Names of the presets shipped for ``model_type`` (e.g. ``["large", "medium", "paper", "small", "tiny"]`` for ``"mvlt"``)."""
    prefix = f"{model_type}_"
    return sorted(path.stem[len(prefix) :] for path in PRESETS_DIR.glob(f"{prefix}*.json"))


def load_preset(model_type: str, name: str) -> dict[str, Any]:
    """Read ``presets/<model_type>_<name>.json`` into a dict of configuration keyword arguments.

    Raises:
        ValueError: if no such preset exists (the message lists the available names) or the file is not a
            JSON object (the message names the file and the position of the error).
    """
    path = PRESETS_DIR / f"{model_type}_{name}.json"
    if not path.is_file():
        raise ValueError(
            f"Unknown {model_type!r} preset {name!r}: expected one of {available_presets(model_type)} "
            f"(a file {PRESETS_DIR / f'{model_type}_<name>.json'})."
        )
    try:
        with open(path, encoding="utf-8") as handle:
            values = json.load(handle)
    except json.JSONDecodeError as error:
        raise ValueError(f"Malformed preset file {path}, line {error.lineno} column {error.colno}: {error.msg}") from error
    if not isinstance(values, dict):
        raise ValueError(f"Preset file {path} must hold a JSON object of config arguments, got {type(values).__name__}.")
    return values


class PresetMixin:
    """Adds ``from_preset(name, **overrides)`` to a ``PreTrainedConfig`` subclass (uses its ``model_type``)."""

    @classmethod
    def from_preset(cls, name: str, **kwargs: Any):
        """Build the configuration stored in ``presets/<model_type>_<name>.json``.

        Args:
            name: preset name, e.g. ``"tiny"`` or ``"paper"``.
            **kwargs: configuration arguments that override the preset's values (e.g. ``vocab_size``).
        """
        values = load_preset(cls.model_type, name)
        known = _known_arguments(cls)
        unknown = sorted(set(kwargs) - known)
        if unknown:
            # PreTrainedConfig keeps unknown keyword arguments as attributes, so a misspelt override
            # (e.g. from --config_overrides) would be stored and never read.
            hints = []
            for key in unknown:
                nearest = difflib.get_close_matches(key, known, n=1)
                hints.append(f"{key!r} (did you mean {nearest[0]!r}?)" if nearest else repr(key))
            raise ValueError(f"{cls.__name__} has no argument {', '.join(hints)}.")
        values.update(kwargs)
        return cls(**values)


def _known_arguments(config_class) -> set[str]:
    """Field names of a (dataclass) configuration class, plus ``num_labels`` (an init-only argument)."""
    names = {field.name for field in dataclasses.fields(config_class)} if dataclasses.is_dataclass(config_class) else set()
    names |= set(inspect.signature(config_class.__init__).parameters) - {"self", "args", "kwargs"}
    return names | {"num_labels"}


__all__ = ["PRESETS_DIR", "PresetMixin", "available_presets", "load_preset"]


def load_ablations(model_type: str) -> dict[str, dict[str, Any]]:
    """A paper's ablation rows as data: ``ablations/<model_type>.json`` maps each row name (e.g. ``"w/o ASA"``) to
    the configuration keyword arguments that make it (applied on top of the preset and the user's overrides).

    Raises:
        ValueError: if the file is missing, not JSON (naming file, line and column) or not an object of objects.
    """
    path = ABLATIONS_DIR / f"{model_type}.json"
    if not path.is_file():
        raise ValueError(f"No ablation table for {model_type!r}: expected the file {path}.")
    try:
        with open(path, encoding="utf-8") as handle:
            rows = json.load(handle)
    except json.JSONDecodeError as error:
        raise ValueError(f"Malformed ablation file {path}, line {error.lineno} column {error.colno}: {error.msg}") from error
    if not isinstance(rows, dict) or not all(isinstance(value, dict) for value in rows.values()):
        raise ValueError(f"Ablation file {path} must be a JSON object of row name -> config overrides (objects).")
    return rows
