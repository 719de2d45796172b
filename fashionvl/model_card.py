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
) -> Path:
    """Write ``README.md``: model-index metadata, intended use, usage, the evaluation's metrics. Returns the path."""
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
from transformers import AutoModel, AutoProcessor

model = AutoModel.from_pretrained("{model_name}", trust_remote_code=True)   # {class_name}
processor = AutoProcessor.from_pretrained("{model_name}", trust_remote_code=True)
```

With fashionvl installed, as a retrieval pipeline:

```python
import fashionvl
from transformers import pipeline

retriever = pipeline("fashion-retrieval", model="{model_name}")
```

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


__all__ = ["MODEL_CARD_TASKS", "write_model_card"]
