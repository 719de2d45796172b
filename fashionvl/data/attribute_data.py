"""Attribute datasets as the M2Fashion recipes use them: splits + label vocabulary (`AttributeData`), loaded from
the synthetic catalog, DeepFashion-C or DARN (`load_attribute_data`), and pre-processed rows (`encode_rows`).

- `"synthetic"` (default): the bundled procedural catalog (`fashionvl.data.synthetic.generate_catalog`),
  main category as the class, its 23 typed attributes (texture / fabric / shape / part / style) as the -1/1
  attribute vector, and its 9 categorical dimensions for DARN-style attribute-specific retrieval.
- `"deepfashion"`: DeepFashion Category & Attribute Prediction on disk (`fashionvl.data.load_deepfashion`).
- `"darn"`: the ASEN release of DARN on disk (`fashionvl.data.load_darn`).
- your own data (`load_user_attribute_data`): anything `fashionvl.data.user_data.load_user_dataset` reads, with an
  attributes column (names per row, or multi-hot vectors) and optionally a category column (string names become
  the model's `id2label`); its validation split (or held-out products) is the evaluation split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm


if TYPE_CHECKING:
    from ..processing.processing_m2fashion import M2FashionProcessor


DATA_FORMATS = ("synthetic", "deepfashion", "darn")


@dataclass
class AttributeData:
    """Splits of an attribute data set and its label vocabulary.

    Each split is a list of rows `{"image": PIL, "category": int, "attributes": list[int] in {-1, 0, 1}}`
    (DARN rows add `"attribute_values"`: the value index per dimension, -1 = not applicable).
    """

    splits: dict[str, Any]
    attribute_names: list[str]
    attribute_types: list[str] | None
    category_names: list[str] | None
    dimensions: dict[str, list[str]] | None = None
    dimension_attribute_indices: dict[str, list[int]] | None = None
    retrieval_lists: Any = None  # DARN: DatasetDict with "query" / "candidate" rows (image, attribute, value)


def load_attribute_data(
    data_format: str = "synthetic",
    data_root: str | None = None,
    num_products: int = 400,
    image_size: int = 64,
    seed: int = 0,
    splits: Sequence[str] = ("train", "validation", "test"),
) -> AttributeData:
    """Load an attribute data set: the synthetic catalog (default) or DeepFashion-C / DARN from `data_root`."""
    from . import attribute_dimensions, attribute_names, attribute_types, category_names
    from .metadata import read_catalog_metadata

    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}.")
    if data_format == "synthetic":
        from .synthetic import generate_catalog

        catalog = generate_catalog(num_products, seed=seed, image_size=image_size)
        loaded = {split: catalog[split] for split in splits}
    else:
        if data_root is None:
            raise ValueError(f"data_format={data_format!r} needs data_root (the folder of the data set).")
        from .darn import load_darn
        from .deepfashion import load_deepfashion

        loader = {"deepfashion": load_deepfashion, "darn": load_darn}[data_format]
        loaded = {split: loader(data_root, split) for split in splits}
    reference = next(iter(loaded.values()))
    metadata = read_catalog_metadata(reference)
    dimensions = attribute_dimensions(reference) if "attribute_dimensions" in metadata else None
    try:
        categories = category_names(reference)
    except (ValueError, KeyError):
        categories = None  # DARN: no category column (its "clothes category" is an attribute dimension)
    data = AttributeData(
        splits=loaded,
        attribute_names=attribute_names(reference) if "attribute_names" in metadata else [],
        attribute_types=attribute_types(reference) if "attribute_types" in metadata else None,
        category_names=categories,
        dimensions=dimensions,
    )
    if data_format == "darn":
        from . import load_darn_retrieval_lists

        data = with_dimension_attributes(data)  # DARN has only categorical dimensions
        evaluated = [split for split in splits if split != "train"]
        data.retrieval_lists = load_darn_retrieval_lists(data_root, evaluated[-1]) if evaluated else None
    return data


def load_user_attribute_data(args, eval_split: str = "test") -> AttributeData:
    """A user's own attribute data (`args`: `fashionvl.data.user_data.UserDataArguments`): splits `"train"` and
    `eval_split` (the data's validation split), attribute names from the data, category names from its ClassLabel
    (None when the data has no category column: the category head is then unused, as for DARN)."""
    from .metadata import attribute_names
    from .user_data import load_user_dataset

    splits = load_user_dataset(args, require=("image", "attributes"))
    train = splits["train"]
    return AttributeData(
        splits={"train": train, eval_split: splits["validation"]},
        attribute_names=attribute_names(train),
        attribute_types=None,
        category_names=list(train.features["category"].names) if "category" in train.column_names else None,
    )


def encode_rows(dataset, processor: M2FashionProcessor, batch_size: int = 64, desc: str = "encoding images") -> list[dict]:
    """Pre-process every image once: rows `{"pixel_values", "category", "attributes", ["attribute_values"]}`.

    For data sets that fit in memory (the synthetic catalog, evaluation subsets); large data sets go to the
    collator row by row instead (it processes `image` columns itself).
    """
    rows = []
    columns = [
        name for name in ("category", "attributes", "attribute_values", "product_id") if name in dataset.column_names
    ]
    for start in tqdm(range(0, len(dataset), batch_size), desc=desc, leave=False):
        batch = dataset[start : start + batch_size]
        pixel_values = processor(images=list(batch["image"]))["pixel_values"]
        for offset in range(len(pixel_values)):
            row = {"pixel_values": pixel_values[offset]}
            for name in columns:
                row[name] = batch[name][offset]
            rows.append(row)
    return rows


def dimension_one_hot(values: Sequence[int], dimensions: dict[str, list[str]]) -> list[int]:
    """Categorical values per dimension -> binary attributes, one per (dimension, value) (DARN: 179).

    For an annotated dimension its value is 1 and its other values -1; a dimension marked -1 (not applicable or
    not annotated) leaves all its values 0 (unknown).
    """
    attributes = []
    for value, (_, names) in zip(values, dimensions.items()):
        if value < 0:
            attributes += [0] * len(names)
        else:
            attributes += [1 if index == value else -1 for index in range(len(names))]
    return attributes


def with_dimension_attributes(data: AttributeData) -> AttributeData:
    """`data` with one binary attribute per (dimension, value), typed by dimension name."""
    if not data.dimensions:
        raise ValueError("attribute_source='dimensions' needs a data set with categorical attribute dimensions.")
    names, indices = [], {}
    for dimension, values in data.dimensions.items():
        indices[dimension] = list(range(len(names), len(names) + len(values)))
        names += [f"{dimension}: {value}" for value in values]
    return AttributeData(
        splits=data.splits,
        attribute_names=names,
        attribute_types=None,
        category_names=data.category_names,
        dimensions=data.dimensions,
        dimension_attribute_indices=indices,
        retrieval_lists=data.retrieval_lists,
    )


def retrieval_queries_and_candidates(
    eval_rows: list[dict], data: AttributeData, processor: M2FashionProcessor
) -> tuple[list[dict], list[dict]]:
    """Query and candidate rows (`pixel_values`, `attribute_values` with -1 = not a query/candidate there).

    DARN on disk: the `query_` / `candidate_` lists, one row per line (only the line's dimension is set).
    Otherwise (synthetic catalog): the products of the evaluation split with an even id are the queries and the
    others the candidates, so no query meets another view of its own product among the candidates.
    """
    if data.retrieval_lists is not None:
        num_dimensions = len(data.dimensions)
        roles = []
        for role in ("query", "candidate"):
            entries = data.retrieval_lists[role]
            images = encode_rows(entries.select_columns(["image"]), processor, desc=f"encoding {role} images")
            rows = []
            for image_row, attribute, value in zip(images, entries["attribute"], entries["value"]):
                values = [-1] * num_dimensions
                values[attribute] = value
                rows.append({"pixel_values": image_row["pixel_values"], "attribute_values": values})
            roles.append(rows)
        return roles[0], roles[1]
    if "product_id" not in eval_rows[0]:
        raise ValueError("Splitting evaluation rows into queries and candidates needs a product_id column.")
    queries = [row for row in eval_rows if row["product_id"] % 2 == 0]
    candidates = [row for row in eval_rows if row["product_id"] % 2 == 1]
    return queries, candidates


__all__ = [
    "DATA_FORMATS",
    "AttributeData",
    "dimension_one_hot",
    "encode_rows",
    "load_attribute_data",
    "retrieval_queries_and_candidates",
    "with_dimension_attributes",
]
