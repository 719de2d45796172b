"""Dataset-level metadata of fashionvl datasets: label names, attribute names and types.

Category names live in the ``ClassLabel`` features of the ``category`` / ``subcategory`` columns.
Everything else (attribute names and types, categorical attribute dimensions, the parent main
category of each sub-category, where the data came from) is one JSON object stored under the key
``"fashionvl"`` in ``dataset.info.description``; it survives ``map``, ``filter``, ``select``,
``shuffle``, ``train_test_split`` and ``save_to_disk``.
"""

from __future__ import annotations

import json

#: DeepFashion-C attribute type ids (list_attr_cloth.txt) and their names.
ATTRIBUTE_TYPE_IDS = {"texture": 1, "fabric": 2, "shape": 3, "part": 4, "style": 5}
ATTRIBUTE_TYPE_NAMES = {type_id: name for name, type_id in ATTRIBUTE_TYPE_IDS.items()}

_KEY = "fashionvl"


def catalog_info_description(
    attribute_names: list[str] | None = None,
    attribute_types: list[str] | None = None,
    attribute_dimensions: dict[str, list[str]] | None = None,
    subcategory_parents: list[int] | None = None,
    source: dict | None = None,
) -> str:
    """Serialise metadata into the JSON string stored in ``dataset.info.description``."""
    if attribute_names is not None and attribute_types is not None and len(attribute_names) != len(attribute_types):
        raise ValueError(
            f"{len(attribute_names)} attribute names but {len(attribute_types)} attribute types; expected one type per name"
        )
    for kind in attribute_types or ():
        if kind not in ATTRIBUTE_TYPE_IDS:
            raise ValueError(f"unknown attribute type {kind!r}; expected one of {sorted(ATTRIBUTE_TYPE_IDS)}")
    metadata = {
        "attribute_names": attribute_names,
        "attribute_types": attribute_types,
        "attribute_dimensions": attribute_dimensions,
        "subcategory_parents": subcategory_parents,
        "source": source,
    }
    return json.dumps({_KEY: {key: value for key, value in metadata.items() if value is not None}})


def read_catalog_metadata(dataset) -> dict:
    """The fashionvl metadata dict of ``dataset`` (empty if it has none)."""
    description = getattr(getattr(dataset, "info", None), "description", None) or ""
    try:
        payload = json.loads(description)
    except json.JSONDecodeError:
        return {}
    return payload.get(_KEY, {}) if isinstance(payload, dict) else {}


def _required(dataset, key: str):
    metadata = read_catalog_metadata(dataset)
    if key not in metadata:
        raise ValueError(
            f"dataset has no {key!r} in info.description; it was not made by a fashionvl loader "
            f"(found keys {sorted(metadata)})"
        )
    return metadata[key]


def attribute_names(dataset) -> list[str]:
    """Names of the binary attributes, in the order of the ``attributes`` column."""
    return list(_required(dataset, "attribute_names"))


def attribute_types(dataset) -> list[str]:
    """Type of each binary attribute: ``"texture"``, ``"fabric"``, ``"shape"``, ``"part"`` or ``"style"``."""
    return list(_required(dataset, "attribute_types"))


def attribute_dimensions(dataset) -> dict[str, list[str]]:
    """Categorical attribute dimensions (DARN style) ``{name: [value names]}``, in column order."""
    return dict(_required(dataset, "attribute_dimensions"))


def subcategory_parents(dataset) -> list[int]:
    """Main-category id of every sub-category id."""
    return list(_required(dataset, "subcategory_parents"))


def _class_names(dataset, column: str) -> list[str]:
    feature = dataset.features.get(column) if dataset.features is not None else None
    names = getattr(feature, "names", None)
    if names is None:
        raise ValueError(f"column {column!r} of the dataset is not a ClassLabel; found {feature!r}")
    return list(names)


def category_names(dataset) -> list[str]:
    """Names of the ``category`` ids (from its ClassLabel feature)."""
    return _class_names(dataset, "category")


def subcategory_names(dataset) -> list[str]:
    """Names of the ``subcategory`` ids (from its ClassLabel feature)."""
    return _class_names(dataset, "subcategory")
