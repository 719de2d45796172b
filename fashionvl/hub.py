"""Hub-ready checkpoints: ``export_for_hub`` writes a folder that loads with ``trust_remote_code=True`` anywhere.

The folder holds ``config.json`` (with an ``auto_map``), ``model.safetensors``, the processor / tokenizer files
(with ``auto_map`` entries for fashionvl's own processor classes), a model card ``README.md`` (model-index
metadata with the metrics of the evaluation that produced the checkpoint) and the remote code: the model's
``configuration_<m>.py`` (+ ``presets.py``), ``modeling_<m>.py`` (+ ``losses.py``) and the processor's
``processing_*.py`` files, copied flat into the folder with their relative imports rewritten to same-directory
imports (``from ..configs.configuration_mvlt import`` -> ``from .configuration_mvlt import``). So::

    AutoModel.from_pretrained(folder, trust_remote_code=True)        # no fashionvl needed
    AutoProcessor.from_pretrained(folder, trust_remote_code=True)

``auto_map`` lists every transformers Auto class that ``import fashionvl`` registers for the configuration
(e.g. mFSR: ``AutoModel`` -> ``MFSRModel``, ``AutoModelForPreTraining`` -> ``MFSRForRetrieval``); a class no
Auto class covers (``MVLTForImageTextRetrieval``) is what ``AutoModel`` loads.

The ``fashion-retrieval`` pipeline ships too (transformers' ``custom_pipelines`` in ``config.json``, as for any
custom pipeline): its module and the modules it imports, with ``families.py`` written as the exported family's row
of the family table (`remote_family_table`; the real one registers with transformers and cannot travel). So::

    pipeline("fashion-retrieval", model=folder, trust_remote_code=True)   # with or without fashionvl

transformers prefers a folder's ``custom_pipelines`` to a registered task, so ``trust_remote_code=True`` is needed
with fashionvl installed too. The gallery index (``index=``) is not shipped: its optional FAISS backend would become
a load-time requirement.

``push_to_hub(folder, repo_id)`` uploads such a folder with ``huggingface_hub``.

Writes survive a ``kill -9``: ``export_for_hub`` builds the whole folder in a temporary sibling and swaps it into
place (the target must be absent, empty, or an earlier export, whose files, stale ``*.py`` and weights included,
are all replaced); ``save_model_without_remote_code`` writes into a temporary folder and moves the files in with
the weights first and ``config.json`` last. ``load_checkpoint`` (and the ``fashion-retrieval`` pipeline, through
``check_checkpoint_folder``) refuses a checkpoint whose weights belong to another architecture or whose tokenizer
does not match the model's vocabulary.

The model card is written by `fashionvl.model_card`; the checkpoint checks live in `fashionvl.checkpoint_checks`
(both re-exported here).
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._safe_io import atomic_folder, replace_files_in_order
from .checkpoint_checks import check_checkpoint_folder, check_loaded_weights, check_tokenizer_matches
from .families import find_model_class
from .model_card import write_model_card

logger = logging.getLogger(__name__)

# `from .x import ...` and `from ..configs.x import ...` (a bare `from . import x` is rejected when collecting)
RELATIVE_IMPORT = re.compile(r"^(\s*)from\s+(\.+)([\w.]*)\s+import\s", flags=re.MULTILINE)

@contextlib.contextmanager
def _without_auto_class(*objects):
    """Temporarily clear ``_auto_class`` on the classes of ``objects`` (set by ``register_for_auto_class``).

    transformers' ``save_pretrained`` then skips ``custom_object_save``, which cannot follow fashionvl's
    cross-package relative imports (``from ..configs...``) and would fail; the exporter writes the remote code
    and ``auto_map`` itself.
    """
    saved = []
    for obj in objects:
        cls = type(obj)
        if "_auto_class" in cls.__dict__:
            saved.append((cls, cls.__dict__["_auto_class"]))
            cls._auto_class = None
    try:
        yield
    finally:
        for cls, value in saved:
            cls._auto_class = value


def save_model_without_remote_code(model, folder: str | os.PathLike, **kwargs: Any) -> None:
    """``model.save_pretrained(folder)`` (safetensors) without transformers' remote-code copying step.

    The files are written into a temporary folder next to ``folder`` and then moved in one by one, the weights
    first and ``config.json`` last (``save_pretrained`` itself writes the configuration first): a process killed
    meanwhile leaves the old configuration, never a configuration ahead of its weights. Other files in ``folder``
    are kept.
    """
    folder = Path(folder).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.save-", dir=folder.parent))
    try:
        with _without_auto_class(model, model.config):
            model.save_pretrained(temporary, **kwargs)
        if any(path.is_dir() for path in temporary.iterdir()):
            raise RuntimeError(f"save_pretrained wrote sub-folders into {temporary}; expected flat files.")
        replace_files_in_order(temporary, folder)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _resolve_relative_import(source_file: Path, dots: str, module: str) -> Path:
    """The file a relative import in ``source_file`` refers to (``dots`` = "." / "..", ``module`` = "a.b")."""
    base = source_file.parent
    for _ in range(len(dots) - 1):
        base = base.parent
    if not module:
        raise ValueError(f"{source_file}: 'from {dots} import ...' cannot be exported as remote code; import a module.")
    target = base.joinpath(*module.split(".")).with_suffix(".py")
    if not target.is_file():
        raise ValueError(f"{source_file}: relative import '{dots}{module}' does not resolve to a file ({target}).")
    return target


def collect_remote_code_files(*start_files: Path, provided: frozenset[str] = frozenset()) -> dict[str, Path]:
    """Every fashionvl file reachable from ``start_files`` by relative imports, keyed by flat file name.

    Files named in ``provided`` (flat names, e.g. ``"families.py"``) are not collected or followed: the caller
    writes them (`export_for_hub` writes the family table's row of the exported model as ``families.py``).

    Raises:
        ValueError: if a file imports ``fashionvl`` absolutely (it would fail where fashionvl is not installed),
            or two reachable files share a name (they cannot live in one flat folder).
    """
    files: dict[str, Path] = {}
    pending = [Path(path).resolve() for path in start_files]
    while pending:
        path = pending.pop()
        if files.get(path.name) == path or path.name in provided:
            continue
        if path.name in files:
            raise ValueError(f"two remote-code files are both named {path.name}: {files[path.name]} and {path}.")
        files[path.name] = path
        source = path.read_text(encoding="utf-8")
        absolute = _absolute_fashionvl_import(source)
        if absolute:
            raise ValueError(
                f"{path} imports fashionvl absolutely ({absolute!r}); remote code may only use relative imports of "
                "modules that travel with it."
            )
        for _, dots, module in RELATIVE_IMPORT.findall(source):
            pending.append(_resolve_relative_import(path, dots, module))
    return files


def _absolute_fashionvl_import(source: str) -> str | None:
    """The first import statement of ``source`` that imports fashionvl absolutely (in code: a usage example in a
    docstring does not count), or None."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "fashionvl" for alias in node.names):
            return ast.unparse(node)
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "fashionvl":
            return ast.unparse(node)
    return None


def flatten_relative_imports(source: str) -> str:
    """Rewrite ``from ..configs.configuration_x import`` / ``from .losses import`` to ``from .<module> import``."""
    return RELATIVE_IMPORT.sub(lambda match: f"{match.group(1)}from .{match.group(3).split('.')[-1]} import ", source)


def _class_reference(cls: type) -> str:
    """``"modeling_mvlt.MVLTForImageTextRetrieval"``: module file stem and class name, as ``auto_map`` wants."""
    return f"{Path(inspect.getsourcefile(cls)).stem}.{cls.__name__}"


def remote_auto_map(model) -> dict[str, str]:
    """``auto_map`` of an exported model: every transformers Auto class registered (by ``import fashionvl``) for
    its configuration, pointing at the same class; ``AutoModel`` points at the exported class itself when no
    registered Auto class gives it (e.g. ``MVLTForImageTextRetrieval``), so its heads are not dropped."""
    import transformers.models.auto.modeling_auto as modeling_auto
    from transformers.models.auto.auto_factory import _BaseAutoModelClass

    config_class, model_class = type(model.config), type(model)
    auto_map = {"AutoConfig": _class_reference(config_class)}
    for name, auto_class in sorted(vars(modeling_auto).items()):
        if not (isinstance(auto_class, type) and issubclass(auto_class, _BaseAutoModelClass)) or auto_class._model_mapping is None:
            continue
        try:
            registered = auto_class._model_mapping[config_class]
        except KeyError:
            continue
        if isinstance(registered, type) and _is_fashionvl_class(registered):
            auto_map[name] = _class_reference(registered)
    if _class_reference(model_class) not in auto_map.values():
        auto_map["AutoModel"] = _class_reference(model_class)
    return auto_map


REMOTE_PIPELINE_TASK = "fashion-retrieval"

_REMOTE_FAMILY_TABLE = '''"""The fashionvl family table (fashionvl/families.py) reduced to the {model_type} row, for the fashion-retrieval
pipeline shipped in this folder (written by fashionvl.hub.export_for_hub): the processor class and the retrieval
adapter of the model, imported from the files next to this one."""

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelFamily:
    model_type: str
    modeling: str
    model_classes: tuple
    processor: tuple
    retrieval_adapter: str

    def model_class(self, name):
        return getattr(importlib.import_module(f"{{__package__}}.{{self.modeling}}"), name)

    def processor_class(self):
        return getattr(importlib.import_module(f"{{__package__}}.{{self.processor[0]}}"), self.processor[1])


FAMILIES = {{family.model_type: family for family in (ModelFamily(**{row}),)}}


def find_model_class(name):
    """The model class called `name` of this folder's family, or None."""
    for family in FAMILIES.values():
        if name in family.model_classes:
            return family.model_class(name)
    return None
'''


def remote_family_table(model) -> str:
    """Source of the ``families.py`` an export ships: the exported model's row of `fashionvl.families.FAMILIES`
    (module paths as the flat file names), what the shipped pipeline and checkpoint checks read."""
    from .families import get_family

    family = get_family(model.config.model_type)
    row = {
        "model_type": family.model_type,
        "modeling": family.modeling.rsplit(".", 1)[-1],
        "model_classes": tuple(family.model_classes),
        "processor": (family.processor[0].rsplit(".", 1)[-1], family.processor[1]),
        "retrieval_adapter": family.retrieval_adapter,
    }
    return _REMOTE_FAMILY_TABLE.format(model_type=family.model_type, row=repr(row))


def remote_custom_pipelines(model, auto_map: Mapping[str, str]) -> dict[str, Any]:
    """``custom_pipelines`` of an exported model (transformers' format for a pipeline shipped with a checkpoint):
    the ``fashion-retrieval`` task, implemented by the folder's ``fashion_retrieval.py``, loading the model with the
    Auto class whose ``auto_map`` entry is the exported class (so ``MFSRForRetrieval`` stays itself, as the installed
    pipeline keeps it)."""
    from .pipelines.fashion_retrieval import FashionRetrievalPipeline

    reference = _class_reference(type(model))
    auto_name = next((name for name, value in auto_map.items() if value == reference and name != "AutoConfig"), "AutoModel")
    return {
        REMOTE_PIPELINE_TASK: {
            "impl": _class_reference(FashionRetrievalPipeline),
            "pt": [auto_name],
            "type": "multimodal",
        }
    }


def _update_json(path: Path, updates: Mapping[str, Any]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    for key, value in updates.items():
        if isinstance(value, Mapping) and isinstance(data.get(key), Mapping):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _is_fashionvl_class(cls: type) -> bool:
    return cls.__module__.split(".")[0] == "fashionvl"


def _processor_components(processor) -> list:
    """The processor and its sub-processors (image processor, tokenizer) that are fashionvl classes."""
    components = [processor]
    for name in ("image_processor", "tokenizer", "feature_extractor"):
        component = getattr(processor, name, None)
        if component is not None:
            components.append(component)
    return [component for component in components if _is_fashionvl_class(type(component))]


def _write_processor_auto_maps(processor, folder: Path) -> None:
    """Add ``auto_map`` entries for fashionvl processor classes to the JSON the processor saved.

    transformers 5.x nests the image processor's settings in ``processor_config.json`` (key
    ``"image_processor"``) unless it saved a separate ``preprocessor_config.json``; the entry goes where the
    settings are, which is where ``AutoImageProcessor`` looks for it.
    """
    from transformers import ProcessorMixin
    from transformers.image_processing_utils import BaseImageProcessor

    processor_config = folder / "processor_config.json"
    for component in _processor_components(processor):
        reference = _class_reference(type(component))
        if isinstance(component, ProcessorMixin):
            if processor_config.is_file():
                _update_json(processor_config, {"auto_map": {"AutoProcessor": reference}})
            else:  # processors without settings of their own may save no processor_config.json
                description = {"auto_map": {"AutoProcessor": reference}, "processor_class": type(component).__name__}
                processor_config.write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
        elif isinstance(component, BaseImageProcessor):
            separate = folder / "preprocessor_config.json"
            if separate.is_file():
                _update_json(separate, {"auto_map": {"AutoImageProcessor": reference}})
            else:
                nested = json.loads(processor_config.read_text(encoding="utf-8")).get("image_processor")
                if not isinstance(nested, dict):
                    raise ValueError(f"{type(component).__name__}'s settings were not saved in {folder}; cannot map it.")
                nested["auto_map"] = {**nested.get("auto_map", {}), "AutoImageProcessor": reference}
                _update_json(processor_config, {"image_processor": nested})
        else:
            reference = [None, reference] if getattr(component, "is_fast", False) else [reference, None]
            _update_json(folder / "tokenizer_config.json", {"auto_map": {"AutoTokenizer": reference}})


def export_for_hub(
    model,
    processor,
    folder: str | os.PathLike,
    metrics: Mapping[str, Any] | None = None,
    model_name: str | None = None,
    dataset_name: str | None = None,
    dataset_type: str | None = None,
    evaluation_protocol: str | None = None,
    license: str = "apache-2.0",
) -> Path:
    """Write a Hub-ready folder for ``model`` + ``processor`` (see the module docstring). Returns the folder.

    Args:
        model: a fashionvl model (``MVLTForImageTextRetrieval``, ``MFSRModel``, ``M2FashionModel``, ...).
        processor: its processor (saved next to it; 5.23's ``Pipeline.save_pretrained`` would drop it).
        folder: output folder: absent, empty, or an earlier export (a folder holding ``config.json`` and no
            sub-folder), which is replaced as a whole, so no stale weights or ``*.py`` file of an earlier export
            survives to be uploaded by ``push_to_hub``; the removed files are logged. Any other non-empty folder
            is refused. The folder is written in a temporary sibling and swapped into place, so a process killed
            meanwhile leaves the earlier folder intact.
        metrics: evaluation results to record in the model card, e.g. ``{"R@1": 0.31, "SumR": 180.2}``;
            nested dicts (``vse_recall`` output) are flattened to ``"i2t/R@1"``.
        model_name: name in the model card (default: the folder name, use the Hub repo id).
        dataset_name, dataset_type: the evaluation data set (model-index metadata).
        evaluation_protocol: one paragraph describing how the metrics were measured.
    """
    folder = Path(folder)
    model_class, config_class = type(model), type(model.config)
    if not _is_fashionvl_class(model_class):
        raise ValueError(f"export_for_hub exports fashionvl models, got {model_class.__module__}.{model_class.__name__}.")
    if processor is None or not hasattr(processor, "save_pretrained"):
        raise ValueError(f"export_for_hub needs the model's processor (a checkpoint is unusable without it), got {processor!r}.")

    from .pipelines.fashion_retrieval import FashionRetrievalPipeline

    start_files = [Path(inspect.getsourcefile(model_class)), Path(inspect.getsourcefile(config_class))]
    start_files += [Path(inspect.getsourcefile(type(component))) for component in _processor_components(processor)]
    start_files.append(Path(inspect.getsourcefile(FashionRetrievalPipeline)))  # the pipeline ships too
    remote_files = collect_remote_code_files(*start_files, provided=frozenset({"families.py"}))
    previous = _check_export_target(folder)

    with atomic_folder(folder) as staging:
        with _without_auto_class(model, model.config):
            model.save_pretrained(staging)
        with _without_auto_class(processor, *[getattr(processor, n, None) for n in ("image_processor", "tokenizer")]):
            processor.save_pretrained(staging)
        for name, path in remote_files.items():
            (staging / name).write_text(flatten_relative_imports(path.read_text(encoding="utf-8")), encoding="utf-8")
        (staging / "families.py").write_text(remote_family_table(model), encoding="utf-8")

        auto_map = remote_auto_map(model)
        _update_json(staging / "config.json",
                     {"auto_map": auto_map, "custom_pipelines": remote_custom_pipelines(model, auto_map)})
        _write_processor_auto_maps(processor, staging)
        write_model_card(
            staging,
            model,
            auto_map=auto_map,
            metrics=metrics,
            model_name=model_name or folder.name,
            dataset_name=dataset_name,
            dataset_type=dataset_type,
            evaluation_protocol=evaluation_protocol,
            license=license,
        )
        stale = sorted(previous - {path.name for path in staging.iterdir()})
    if stale:
        logger.warning("export_for_hub: replaced the earlier export in %s; removed files it no longer has: %s",
                       folder, ", ".join(stale))
    return folder


def _check_export_target(folder: Path) -> set[str]:
    """The file names of an earlier export in ``folder`` (empty if absent or empty); refuses any other folder."""
    if not folder.exists():
        return set()
    if not folder.is_dir():
        raise ValueError(f"export_for_hub: {folder} exists and is not a folder.")
    entries = list(folder.iterdir())
    if not entries:
        return set()
    subfolders = [entry.name for entry in entries if entry.is_dir()]
    if not (folder / "config.json").is_file() or subfolders:
        shown = ", ".join(sorted(entry.name for entry in entries)[:10])
        raise ValueError(
            f"export_for_hub writes a folder that push_to_hub uploads whole, so it exports into an absent, empty "
            f"or earlier export folder; {folder} holds other content ({shown}{', ...' if len(entries) > 10 else ''}). "
            "Choose a new folder."
        )
    return {entry.name for entry in entries}


def load_checkpoint(model_path: str | os.PathLike, model_class: str | None = None, **kwargs: Any):
    """Load a fashionvl checkpoint folder (or Hub id) with the class it was saved as, and its processor.

    Args:
        model_path: folder written by ``save_pretrained`` / a trainer, or a Hub id.
        model_class: fashionvl class name (e.g. ``"MVLTForImageTextRetrieval"``); default: the first entry of
            ``config.architectures``.
        **kwargs: passed to ``from_pretrained`` of the model.

    Returns:
        ``(model, processor)``, the model in float32 and eval mode.
    """
    import torch
    from transformers import AutoConfig, AutoProcessor

    config = AutoConfig.from_pretrained(model_path)
    name = model_class or (config.architectures or [None])[0]
    cls = find_model_class(name)
    if cls is None:
        raise ValueError(
            f"cannot tell which fashionvl class to load from {model_path}: config.architectures = "
            f"{config.architectures}, model_class = {model_class!r}; pass model_class= a class exported by fashionvl."
        )
    kwargs.setdefault("dtype", torch.float32)
    if not isinstance(config, getattr(cls, "config_class", type(config))):
        raise ValueError(
            f"{model_path} holds a {type(config).__name__} ({config.model_type}) checkpoint; {name} needs a "
            f"{cls.config_class.__name__}: loading it would give a randomly initialised model."
        )
    model, loading_info = cls.from_pretrained(model_path, output_loading_info=True, **kwargs)
    check_loaded_weights(model, loading_info.get("missing_keys", ()), str(model_path))
    processor = AutoProcessor.from_pretrained(model_path)
    check_tokenizer_matches(model.config, getattr(processor, "tokenizer", None), str(model_path))
    return model.eval(), processor


def push_to_hub(
    folder: str | os.PathLike, repo_id: str, token: str | None = None, private: bool = False, commit_message: str | None = None
) -> str:
    """Create ``repo_id`` (if needed) and upload an exported folder; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    commit = api.upload_folder(
        repo_id=repo_id, folder_path=str(folder), commit_message=commit_message or "Upload fashionvl checkpoint"
    )
    return str(commit)


__all__ = [
    "collect_remote_code_files",
    "check_checkpoint_folder",
    "check_loaded_weights",
    "check_tokenizer_matches",
    "export_for_hub",
    "flatten_relative_imports",
    "load_checkpoint",
    "push_to_hub",
    "save_model_without_remote_code",
    "write_model_card",
]
