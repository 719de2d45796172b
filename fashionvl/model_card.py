"""The model card (``README.md``) of an exported checkpoint: model-index metadata with the metrics of the evaluation
that produced it, intended use, and how to load it with and without fashionvl (`fashionvl.hub.export_for_hub`
writes it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


MODEL_CARD_TASKS = {
    "mvlt": ("image-text-retrieval", "Fashion-Gen text-image / image-text retrieval, category recognition"),
    "mfsr": ("image-text-retrieval", "cross-modal image-caption retrieval"),
    "m2fashion": ("image-classification", "clothing category and attribute prediction, attribute-specific retrieval"),
}


def _flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten_metrics(value, prefix=f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def write_model_card(
    folder: str | os.PathLike,
    model,
    metrics: Mapping[str, Any] | None = None,
    model_name: str | None = None,
    dataset_name: str | None = None,
    dataset_type: str | None = None,
    evaluation_protocol: str | None = None,
    license: str = "apache-2.0",
    auto_map: Mapping[str, str] | None = None,
) -> Path:
    """Write ``README.md``: model-index metadata, intended use, usage, the evaluation's metrics. Returns the path.

    ``auto_map`` (the export's, ``{"AutoModel": "modeling_mfsr.MFSRModel", ...}``) names the class each Auto class
    loads in "How to use": ``AutoModel`` gives its entry, and the Auto class that gives the exported class itself is
    shown when that is another one (an ``MFSRForRetrieval`` export: ``AutoModel`` -> ``MFSRModel``,
    ``AutoModelForPreTraining`` -> ``MFSRForRetrieval``)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    model_type = model.config.model_type
    task_type, task_description = MODEL_CARD_TASKS.get(model_type, ("other", "fashion vision-language"))
    model_name = model_name or Path(folder).name
    flat_metrics = _flatten_metrics(metrics or {})
    eval_results = [
        EvalResult(
            task_type=task_type,
            dataset_type=dataset_type or (dataset_name or "custom").lower().replace(" ", "-"),
            dataset_name=dataset_name or "custom evaluation set",
            metric_type=name.split("/")[-1].lower().replace("@", "_at_"),
            metric_name=name,
            metric_value=value,
        )
        for name, value in flat_metrics.items()
    ]
    card_data = ModelCardData(
        model_name=model_name,
        license=license,
        library_name="transformers",
        tags=["fashionvl", model_type, "fashion", "vision-language", "custom_code"],
        eval_results=eval_results or None,
    )
    class_name = type(model).__name__
    from .pipelines.model_adapters import RETRIEVAL_ADAPTERS

    adapter = RETRIEVAL_ADAPTERS.get(model_type)
    query = ('retriever("query.jpg", attributes=["floral"], images=["a.jpg", "b.jpg"], top_k=1)'
             if adapter is not None and not adapter.ranks_texts
             else 'retriever("black leather jacket", images=["a.jpg", "b.jpg"], top_k=1)')
    usage = _auto_class_usage(model_name, class_name, auto_map or {"AutoModel": f"modeling.{class_name}"})
    metrics_table = "\n".join(f"| {name} | {value:.4f} |" for name, value in flat_metrics.items())
    body = f"""
# {model_name}

A `{class_name}` checkpoint made with the `fashionvl` package ({model_type}): {task_description}.

## Intended use

Research and prototyping of fashion product search and tagging: ranking product images for a text query (and
captions for an image), recognising categories and attributes. Not evaluated for decisions about people; the
training data's product catalogue biases (brands, body types, photography style) carry over to the rankings.

## How to use

Without fashionvl installed (remote code shipped in this folder):

```python
{usage}
```

As a retrieval pipeline (shipped in this folder as `fashion_retrieval.py`, so fashionvl is not needed either):

```python
from transformers import pipeline

retriever = pipeline("fashion-retrieval", model="{model_name}", trust_remote_code=True)
{query}
```

The gallery index (`index=...`) needs the fashionvl package.

## Evaluation

{evaluation_protocol or "Metrics of the evaluation run that produced this checkpoint."}

| metric | value |
|---|---|
{metrics_table or "| (no metrics recorded) | |"}
"""
    card = ModelCard(f"---\n{card_data.to_yaml()}\n---\n{body}")
    path = Path(folder) / "README.md"
    card.save(path)
    return path


def _auto_class_usage(model_name: str, class_name: str, auto_map: Mapping[str, str]) -> str:
    """The "How to use" loading lines: each Auto class with the class it really returns."""
    loads = {name: reference.rsplit(".", 1)[-1] for name, reference in auto_map.items() if name.startswith("AutoModel")}
    shown = ["AutoModel"]
    own = next((name for name, loaded in loads.items() if loaded == class_name), None)
    if own not in (None, "AutoModel"):
        shown.append(own)
    lines = [f"from transformers import {', '.join(sorted(shown))}, AutoProcessor", ""]
    for name in shown:
        note = " (this checkpoint's class)" if loads.get(name) == class_name and len(shown) > 1 else ""
        lines.append(f'model = {name}.from_pretrained("{model_name}", trust_remote_code=True)   # {loads.get(name, class_name)}{note}')
    lines.append(f'processor = AutoProcessor.from_pretrained("{model_name}", trust_remote_code=True)')
    return "\n".join(lines)


__all__ = ["MODEL_CARD_TASKS", "write_model_card"]
