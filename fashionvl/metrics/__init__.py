"""fashionvl.metrics: the papers' metrics as Hugging Face ``evaluate`` modules that load offline from this folder.

    import evaluate
    from fashionvl.metrics import metric_path

    recall = evaluate.load(metric_path("fashion_retrieval"))
    recall.compute(predictions=score_rows, references=positive_rows)  # {"R@1": ..., "R@5": ..., "R@10": ..., "SumR": ...}

Each module is a thin wrapper over `fashionvl.evaluation` (one home per metric), so it gives the same numbers.
Available:
- ``fashion_retrieval``: recall@k with pessimistic ties and SumR (MVLT Table 2, mFSR's R@K);
- ``deepfashion_category``: DeepFashion-C top-k category accuracy (M2Fashion Table 1);
- ``deepfashion_attributes``: DeepFashion-C top-k attribute recall pooled per attribute type (M2Fashion Table 1);
- ``darn_map``: DARN attribute-specific retrieval mAP (M2Fashion Table 3).
"""

from pathlib import Path


METRICS_DIR = Path(__file__).resolve().parent


def metric_info(description: str, inputs_description: str, predictions, references):
    """The ``evaluate.MetricInfo`` of a fashionvl metric: ``predictions`` / ``references`` are ``datasets`` features
    (e.g. ``Sequence(Value("float64"))`` for one score row per query)."""
    import datasets
    import evaluate

    return evaluate.MetricInfo(
        description=description,
        citation="",
        inputs_description=inputs_description,
        features=datasets.Features({"predictions": predictions, "references": references}),
    )


def metric_path(name: str) -> str:
    """Folder of the ``evaluate`` module ``name``, for ``evaluate.load``."""
    folder = METRICS_DIR / name
    if not (folder / f"{name}.py").is_file():
        available = sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file())
        raise ValueError(f"no fashionvl metric {name!r}; available: {available}.")
    return str(folder)
