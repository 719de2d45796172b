"""fashionvl.metrics: the papers' metrics as Hugging Face ``evaluate`` modules that load offline from this folder.

    import evaluate
    from fashionvl.metrics import metric_path

    recall = evaluate.load(metric_path("fashion_retrieval"))
    recall.compute(predictions=score_rows, references=positive_rows)  # {"R@1": ..., "R@5": ..., "R@10": ..., "SumR": ...}

Each module is a thin wrapper over `fashionvl.evaluation` (one home per metric), so it gives the same numbers.
Available: ``fashion_retrieval`` (recall@k with pessimistic ties, SumR). The DeepFashion attribute recall and the
DARN mAP are plain functions only (`fashionvl.evaluation.attribute_topk_recall`, `attribute_retrieval_map`).
"""

from pathlib import Path


METRICS_DIR = Path(__file__).resolve().parent


def metric_path(name: str) -> str:
    """Folder of the ``evaluate`` module ``name``, for ``evaluate.load``."""
    folder = METRICS_DIR / name
    if not (folder / f"{name}.py").is_file():
        available = sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file())
        raise ValueError(f"no fashionvl metric {name!r}; available: {available}.")
    return str(folder)
