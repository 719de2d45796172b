"""transformers' own common model tests, fetched for the installed version (issue 13 §6).

No transformers test code lives in this repository. On first use, `load_transformers_tests()` downloads the source
distribution of the installed transformers version with pip (the one place the library ships ``tests/``), extracts
the two files we run (``tests/test_modeling_common.py``, ``tests/test_configuration_common.py``) into a cache outside
the repository, puts it on ``sys.path`` and imports them. Later runs reuse the cache (no network).

The sdist ships only the top-level ``tests/*.py``; three sub-modules those two files import are not in it. They are
provided here as empty stand-ins (not copies), so the test classes that need them are absent, not wrong:

- ``exporters.test_export.ExportTesterMixin``: the torch.export tests (not run);
- ``generation.test_utils.GenerationTesterMixin``: generation tests (fashionvl models do not generate);
- ``utils.test_configuration_utils.config_common_kwargs``: the common config arguments that
  `ConfigTester.check_config_arguments_init` sets and reads back; we give our own small set (below).

Set ``FASHIONVL_TRANSFORMERS_TESTS`` to a folder that already holds ``transformers_tests/`` to skip the download, or
``FASHIONVL_CACHE`` to move the cache (default ``~/.cache/fashionvl``).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
from pathlib import Path

import transformers


PACKAGE = "transformers_tests"  # the sdist's tests/ folder, renamed so it cannot clash with this repo's tests/
FILES = ("test_modeling_common.py", "test_configuration_common.py")
DOWNLOAD_TIMEOUT_S = 120
# Common PreTrainedConfig arguments set to non-default values (fashionvl's choice, see the module docstring).
CONFIG_COMMON_KWARGS = {
    "return_dict": False,
    "output_hidden_states": True,
    "output_attentions": True,
    "dtype": "float16",
    "problem_type": "regression",
    "id2label": {0: "label_a", 1: "label_b"},
    "label2id": {"label_a": 0, "label_b": 1},
    "chunk_size_feed_forward": 5,
    "tie_word_embeddings": False,
}


class TransformersTestsUnavailable(RuntimeError):
    """The sdist could not be fetched or read (offline, registry down); the reason is the message."""


def cache_folder() -> Path:
    if os.environ.get("FASHIONVL_TRANSFORMERS_TESTS"):
        return Path(os.environ["FASHIONVL_TRANSFORMERS_TESTS"])
    root = Path(os.environ.get("FASHIONVL_CACHE", Path.home() / ".cache" / "fashionvl"))
    return root / "transformers-tests" / transformers.__version__


def _download_sdist(version: str, folder: Path) -> Path:
    """`pip download` the sdist of transformers==version into folder (timeout, one retry)."""
    command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "--quiet",
               "--disable-pip-version-check", f"transformers=={version}", "--dest", str(folder)]
    errors = []
    for _ in range(2):
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            errors.append(f"timed out after {DOWNLOAD_TIMEOUT_S} s")
            continue
        found = sorted(folder.glob(f"transformers-{version}.tar.gz"))
        if result.returncode == 0 and found:
            return found[0]
        errors.append((result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit {result.returncode}"])
    raise TransformersTestsUnavailable(f"pip download transformers=={version} (sdist) failed twice: {errors}")


def _extract(archive: Path, version: str, target: Path) -> None:
    """The FILES of the sdist's tests/ into target/PACKAGE, written to a sibling folder and renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        package = staging / PACKAGE
        package.mkdir()
        with tarfile.open(archive) as sdist:
            for name in FILES:
                member = sdist.getmember(f"transformers-{version}/tests/{name}")
                source = sdist.extractfile(member)
                if source is None:
                    raise TransformersTestsUnavailable(f"{member.name} is not a file in {archive.name}")
                (package / name).write_bytes(source.read())
        (package / "__init__.py").write_text("")
        try:
            os.rename(staging, target)
        except OSError:  # another process put it in place first
            if not (target / PACKAGE / FILES[0]).is_file():
                raise
    except KeyError as error:
        raise TransformersTestsUnavailable(f"{archive.name} has no {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _ensure_cached() -> Path:
    folder = cache_folder()
    if all((folder / PACKAGE / name).is_file() for name in FILES):
        return folder
    if os.environ.get("FASHIONVL_TRANSFORMERS_TESTS"):
        raise TransformersTestsUnavailable(f"FASHIONVL_TRANSFORMERS_TESTS={folder} holds no {PACKAGE}/{FILES[0]}")
    version = transformers.__version__
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder.parent) as download:
        _extract(_download_sdist(version, Path(download)), version, folder)
    return folder


def _install_stand_ins() -> None:
    """Empty stand-ins for the sub-modules the sdist does not ship (see the module docstring)."""
    stand_ins = {
        "exporters": {}, "exporters.test_export": {"ExportTesterMixin": type("ExportTesterMixin", (), {})},
        "generation": {}, "generation.test_utils": {"GenerationTesterMixin": type("GenerationTesterMixin", (), {})},
        "utils": {}, "utils.test_configuration_utils": {"config_common_kwargs": CONFIG_COMMON_KWARGS},
    }
    for name, attributes in stand_ins.items():
        module = types.ModuleType(f"{PACKAGE}.{name}")
        module.__path__ = []  # a package, so that its sub-module resolves
        vars(module).update(attributes)
        sys.modules.setdefault(module.__name__, module)


def load_transformers_tests() -> tuple[types.ModuleType, types.ModuleType]:
    """(test_modeling_common, test_configuration_common) of the installed transformers version.

    Raises:
        TransformersTestsUnavailable: the sdist could not be fetched (e.g. offline); callers skip with the message.
    """
    folder = _ensure_cached()
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    _install_stand_ins()
    try:
        return (importlib.import_module(f"{PACKAGE}.test_modeling_common"),
                importlib.import_module(f"{PACKAGE}.test_configuration_common"))
    except ImportError as error:  # e.g. a test dependency (parameterized) missing
        raise TransformersTestsUnavailable(f"cannot import transformers' common tests: {error}") from error
