"""Lazy registration helpers behind ``import fashionvl`` (issue 14 §4): import in well under a second.

transformers keeps its own import cheap with ``_LazyModule`` and ``_LazyAutoMapping`` (class *names* per model
type, imported on first lookup). Its Auto classes cannot hold names of out-of-tree classes (``register`` takes a
class, and the lazy lookup only imports from ``transformers.models``), so this module gives the two pieces that
let fashionvl register everything on import without importing its modeling stack, the Trainer or transformers'
pipeline / processing stacks:

- `lazy_class(module, name)`: a stand-in class that the Auto mappings hold until the real class is needed. Any
  attribute (``from_pretrained``, ``_from_config``, ...), a call, ``isinstance`` / ``issubclass`` import the real
  class and forward to it. It has the real class's ``__name__`` and ``__module__``, so name lookups
  (``processor_class_from_name``, ``config.architectures``) and ``inspect.getsourcefile`` (the Hub exporter's
  ``auto_map``) see the real class.
- `after_import(module, callback)`: runs ``callback()`` right after ``module`` is first imported (at once if it is
  imported already). It defers registrations that need an expensive transformers module (``PIPELINE_REGISTRY``
  lives in ``transformers.pipelines``; the processor Auto classes import ``transformers.processing_utils``) to the
  moment the user's own code imports that module, which is before the registry can be read.

Only the standard library is imported here.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading
import warnings
from collections.abc import Callable


class _LazyClassMeta(type):
    """Metaclass of the stand-ins: forwards what the stand-in does not define to the real class."""

    def resolve(cls) -> type:
        """Import the real class (once) and run the callbacks registered with ``on_resolve``."""
        real = cls.__dict__.get("_lazy_real")
        if real is None:
            module_name, class_name = cls.__dict__["_lazy_target"]
            real = getattr(importlib.import_module(module_name), class_name)
            type.__setattr__(cls, "_lazy_real", real)
            for callback in cls.__dict__["_lazy_on_resolve"]:
                callback(real)
        return real

    def __getattr__(cls, name):  # only called for attributes the stand-in does not have itself
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # dunder probes (copy, pickle, typing) must not import the modeling stack
        return getattr(cls.resolve(), name)

    def __call__(cls, *args, **kwargs):
        return cls.resolve()(*args, **kwargs)

    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, cls.resolve())

    def __subclasscheck__(cls, subclass) -> bool:
        return issubclass(subclass, cls.resolve())

    def __repr__(cls) -> str:
        return f"<lazy class '{cls.__module__}.{cls.__name__}'>"


def lazy_class(module_name: str, class_name: str, on_resolve: Callable[[type], None] | None = None, **known):
    """A stand-in for ``module_name.class_name`` that imports it on first use.

    Args:
        module_name: absolute module path of the real class.
        class_name: its name; also the stand-in's ``__name__``.
        on_resolve: called with the real class once it is imported through the stand-in (fashionvl uses it to
            put the real class into the Auto mappings in place of the stand-in).
        **known: attributes answered without importing (e.g. ``config_class``, which ``AutoModel.register``
            reads to check the pair).
    """
    namespace = {
        "__module__": module_name,
        "__qualname__": class_name,
        "__doc__": f"Stand-in for {module_name}.{class_name}, imported on first use.",
        "_lazy_target": (module_name, class_name),
        "_lazy_real": None,
        "_lazy_on_resolve": [on_resolve] if on_resolve is not None else [],
        **known,
    }
    return _LazyClassMeta(class_name, (), namespace)


def is_lazy_class(obj) -> bool:
    return isinstance(obj, _LazyClassMeta)


class _AfterImportFinder(importlib.abc.MetaPathFinder):
    """A meta-path finder that finds nothing itself: it wraps the loader another finder returns for a watched
    module so that the module's callbacks run after the module has executed."""

    def __init__(self) -> None:
        self.callbacks: dict[str, list[Callable[[], None]]] = {}
        self.lock = threading.Lock()

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.callbacks:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_module_then_callbacks(module):
            exec_module(module)
            # The loader object is this module's own; drop the wrapper so a reload runs the plain loader.
            loader.__dict__.pop("exec_module", None)
            self.run_callbacks(fullname)

        loader.exec_module = exec_module_then_callbacks  # instance attribute: the class and isinstance unchanged
        return spec

    def run_callbacks(self, module_name: str) -> None:
        with self.lock:
            callbacks = self.callbacks.pop(module_name, [])
            if not self.callbacks and self in sys.meta_path:
                sys.meta_path.remove(self)
        for callback in callbacks:
            try:
                callback()
            except Exception as error:  # a failed registration must not break the user's import of transformers
                warnings.warn(
                    f"fashionvl could not register with {module_name} ({callback.__qualname__}): "
                    f"{type(error).__name__}: {error}",
                    RuntimeWarning,
                    stacklevel=2,
                )


_FINDER = _AfterImportFinder()


def after_import(module_name: str, callback: Callable[[], None]) -> None:
    """Run ``callback()`` once ``module_name`` has been imported: now if it is in ``sys.modules``, else right
    after its first import by anyone (``import x``, ``from x import y``, transformers' lazy attributes)."""
    if module_name in sys.modules:
        callback()
        return
    with _FINDER.lock:
        _FINDER.callbacks.setdefault(module_name, []).append(callback)
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
