"""A user's own image-text / attribute data, in the conventions of transformers' ``examples/pytorch`` (issue 14 §1).

`UserDataArguments` holds the options of ``run_clip.py`` (``--dataset_name``, ``--dataset_config_name``,
``--data_dir``, ``--train_file`` / ``--validation_file``, ``--image_column``, ``--caption_column``,
``--max_train_samples``) plus the columns fashion models need (``--category_column``, ``--subcategory_column``,
``--attributes_column``, ``--product_id_column``). `load_user_dataset` turns any of these sources into the row
schema every fashionvl loader returns (see `fashionvl.data`), so the three recipes read it like their own formats:

- ``--dataset_name``: a dataset of the Hugging Face Hub, a local dataset folder (e.g. an ``imagefolder`` with a
  ``metadata.jsonl`` / ``metadata.csv``, found by ``datasets``' own detection), a folder written by
  ``save_to_disk``, or a builder name such as ``imagefolder`` with ``--data_dir``;
- ``--train_file`` / ``--validation_file``: CSV or JSON lines with one row per image, whose image column holds a
  path relative to the file's folder (paths leaving it, absolute paths and URLs are refused, naming file and
  line).

What it does to the rows:
- ``image``: decoded lazily by ``datasets`` on row access, as stored (the image processor converts every mode);
- ``caption``: the caption column as text; an empty caption is an error naming its row;
- ``category`` / ``subcategory``: integer columns kept, string columns class-encoded (sorted names, the same ids
  in every split) into ``ClassLabel`` features, whose names recipes store as ``id2label`` in the saved config;
- ``product_id``: the given column (any hashable values, renumbered 0..n-1), or derived when absent: one product
  per distinct image (file path, or the image bytes), with a log line saying so;
- ``attributes``: for attribute models, a list of attribute names per row (strings, "a|b" or a JSON list) or a
  multi-hot / {-1, 0, 1} list, turned into {-1, 1} per attribute (a name not listed is a known negative), with the
  attribute names in the dataset metadata (`fashionvl.data.attribute_names`);
- no validation split: ``validation_split_percentage`` of the products (not rows) are held out.

The recipes' data arguments (`MVLTDataArguments`, `MFSRDataArguments`, `M2FashionDataArguments`) are subclasses of
`UserDataArguments`: one option style for the three models. Their ``--dataset_name`` also takes the names of the
formats the recipe reads itself (``named_datasets``: ``synthetic``, the default, and the paper formats, e.g.
``fashiongen`` / ``karpathy`` / ``deepfashion`` / ``darn`` with ``--data_dir``); any other value is the user's own
data, read here. ``--train_file`` without a ``--dataset_name`` replaces the default synthetic catalog.

`captions_by_image` groups rows into images with their captions (mFSR's VSE++ protocol, image -> captions).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from .._safe_io import UnsafePathError, resolve_under_root
from ._files import DataFormatError
from .metadata import catalog_info_description


logger = logging.getLogger(__name__)

TRAIN, VALIDATION = "train", "validation"
DATA_FILE_TYPES = {".csv": "csv", ".json": "json", ".jsonl": "json"}


@dataclass
class UserDataArguments:
    """Where a user's data is and which columns hold what (the names of transformers' ``run_clip.py``)."""

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "A datasets name or local path (imagefolder with metadata.jsonl/.csv, save_to_disk folder, "
                          "Hub dataset), or a builder such as 'imagefolder' with --data_dir."},
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "The dataset's configuration name."})
    data_dir: str | None = field(default=None, metadata={"help": "data_dir of the datasets builder (e.g. imagefolder)."})
    train_file: str | None = field(default=None, metadata={"help": "CSV / JSON lines of the training rows."})
    validation_file: str | None = field(default=None, metadata={"help": "CSV / JSON lines of the validation rows."})
    image_column: str = field(default="image", metadata={"help": "Column of the images (or image paths in files)."})
    caption_column: str | None = field(default="caption", metadata={"help": "Column of the captions (None: none)."})
    category_column: str | None = field(default=None, metadata={"help": "Column of the main categories."})
    subcategory_column: str | None = field(default=None, metadata={"help": "Column of the sub-categories."})
    attributes_column: str | None = field(default=None, metadata={"help": "Column of the attributes (M2Fashion)."})
    product_id_column: str | None = field(
        default="product_id", metadata={"help": "Column of product ids (derived per distinct image when absent)."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N validation rows."})
    validation_split_percentage: int = field(
        default=15, metadata={"help": "Products held out for validation when the data has no validation split."}
    )
    validation_split_seed: int = field(default=0, metadata={"help": "Seed of the validation hold-out."})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "datasets cache folder."})

    #: Values of ``dataset_name`` that a recipe reads itself (the synthetic catalog, the paper formats); every other
    #: value is the user's own data. The recipes' subclasses set it.
    named_datasets: ClassVar[tuple[str, ...]] = ()

    @property
    def named_dataset(self) -> str | None:
        """The recipe's own format named by ``dataset_name`` (e.g. ``"synthetic"``), or None for the user's data."""
        return self.dataset_name if self.dataset_name in self.named_datasets else None

    def __post_init__(self):
        if self.train_file is not None and self.dataset_name == "synthetic":
            self.dataset_name = None  # --train_file replaces the default synthetic catalog
        if self.named_dataset is not None:
            return  # the recipe checks the options of its own formats
        if self.dataset_name is None and self.train_file is None:
            raise ValueError("give --dataset_name or --train_file for your own data.")
        if self.dataset_name is not None and self.train_file is not None:
            raise ValueError(f"give --dataset_name ({self.dataset_name!r}) or --train_file ({self.train_file!r}), not both.")
        for name in ("train_file", "validation_file"):
            path = getattr(self, name)
            if path is not None and os.path.splitext(path)[1].lower() not in DATA_FILE_TYPES:
                raise ValueError(f"--{name} must be a {sorted(DATA_FILE_TYPES)} file, got {path!r}.")
        if not 0 < self.validation_split_percentage < 100:
            raise ValueError(f"validation_split_percentage must be in (0, 100), got {self.validation_split_percentage}.")


def load_user_dataset(args: UserDataArguments, require: tuple[str, ...] = ("image",)):
    """The user's data as a ``DatasetDict`` with ``train`` and ``validation`` in fashionvl's row schema.

    Args:
        args: where the data is and which columns hold what.
        require: canonical columns the calling model needs (``"caption"``, ``"category"``, ``"attributes"``...);
            a missing one is an error naming the column option and the columns found.
    """
    from datasets import DatasetDict

    raw = _load_raw(args)
    splits = {TRAIN: raw[TRAIN]}
    if VALIDATION in raw or "test" in raw:
        splits[VALIDATION] = raw[VALIDATION if VALIDATION in raw else "test"]
    splits = {name: _rename_columns(split, args, name) for name, split in splits.items()}
    for column in require:
        if column not in splits[TRAIN].column_names:
            option = {"caption": "caption_column", "category": "category_column", "subcategory": "subcategory_column",
                      "attributes": "attributes_column", "image": "image_column"}.get(column, column)
            raise ValueError(f"this model needs the {column!r} column: set --{option} (the data has the columns "
                             f"{raw[TRAIN].column_names}).")
    splits = _with_product_ids(splits)
    splits = _class_encode(splits, ("category", "subcategory"))
    attribute_names = None
    if "attributes" in splits[TRAIN].column_names:
        splits, attribute_names = _encode_attributes(splits)
    if VALIDATION not in splits:
        splits = _hold_out_products(splits[TRAIN], args)
    if args.max_train_samples is not None:
        splits[TRAIN] = splits[TRAIN].select(range(min(args.max_train_samples, len(splits[TRAIN]))))
    if args.max_eval_samples is not None:
        splits[VALIDATION] = splits[VALIDATION].select(range(min(args.max_eval_samples, len(splits[VALIDATION]))))
    description = catalog_info_description(attribute_names=attribute_names, source={"user_data": _source(args)})
    for split in splits.values():
        split.info.description = description
    return DatasetDict(splits)


# --------------------------------------------------------------------------------------------------- sources


def _source(args: UserDataArguments) -> dict[str, Any]:
    names = [item.name for item in fields(UserDataArguments) if item.name.endswith(("name", "file", "dir"))]
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _load_raw(args: UserDataArguments):
    from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

    if args.train_file is not None:
        return _load_files(args)
    path = args.dataset_name
    if os.path.isdir(path) and (os.path.isfile(os.path.join(path, "dataset_dict.json"))
                                or os.path.isfile(os.path.join(path, "dataset_info.json"))):
        loaded = load_from_disk(path)  # a save_to_disk folder
        return DatasetDict({TRAIN: loaded}) if isinstance(loaded, Dataset) else loaded
    loaded = load_dataset(path, args.dataset_config_name, data_dir=args.data_dir, cache_dir=args.dataset_cache_dir)
    if TRAIN not in loaded:
        raise ValueError(f"dataset {path!r} has no 'train' split (found {sorted(loaded)}).")
    return loaded


def _load_files(args: UserDataArguments):
    from datasets import DatasetDict, Image, load_dataset

    splits = {}
    for name, path in ((TRAIN, args.train_file), (VALIDATION, args.validation_file)):
        if path is None:
            continue
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--{name}_file {path!r} does not exist.")
        kind = DATA_FILE_TYPES[os.path.splitext(path)[1].lower()]
        split = load_dataset(kind, data_files={name: path}, cache_dir=args.dataset_cache_dir)[name]
        if args.image_column not in split.column_names:
            raise DataFormatError(path, None, f"no image column {args.image_column!r} (columns: {split.column_names}); "
                                              "set --image_column")
        root = os.path.dirname(os.path.abspath(path))
        # line numbers as the user sees them: CSV has a header line, JSON lines none
        first_line = 2 if kind == "csv" else 1
        paths = []
        for row_number, image_path in enumerate(split[args.image_column]):
            if not isinstance(image_path, str) or not image_path:
                raise DataFormatError(path, row_number + first_line, f"empty image path in column {args.image_column!r}")
            try:
                paths.append(resolve_under_root(image_path, root, f"column {args.image_column!r}"))
            except UnsafePathError as error:
                raise DataFormatError(path, row_number + first_line, str(error)) from None
            if not os.path.isfile(paths[-1]):
                raise DataFormatError(path, row_number + first_line, f"image file {image_path!r} does not exist under {root}")
        split = split.remove_columns(args.image_column).add_column(args.image_column, paths)
        splits[name] = split.cast_column(args.image_column, Image())
    return DatasetDict(splits)


# --------------------------------------------------------------------------------------------------- columns


def _rename_columns(split, args: UserDataArguments, split_name: str):
    mapping = {
        args.image_column: "image",
        args.caption_column: "caption",
        args.category_column: "category",
        args.subcategory_column: "subcategory",
        args.attributes_column: "attributes",
        args.product_id_column: "product_id",
    }
    for source, target in mapping.items():
        if source is None or source == target:
            continue
        if source not in split.column_names:
            raise ValueError(f"split {split_name!r} has no column {source!r} (for {target}); columns: {split.column_names}.")
        if target in split.column_names:
            split = split.remove_columns(target)
        split = split.rename_column(source, target)
    if "caption" in split.column_names:
        for row, caption in enumerate(split["caption"]):
            if not isinstance(caption, str) or not caption.strip():
                raise ValueError(f"split {split_name!r}, row {row}: empty caption {caption!r} in the caption column.")
    return split


def _with_feature(features, column: str, feature):
    features = features.copy()
    features[column] = feature
    return features


def _image_key(image: dict | None) -> str:
    """What identifies an image: its file path, else a hash of its bytes."""
    if image is None:
        raise ValueError("a row has no image.")
    if image.get("path"):
        return os.path.abspath(image["path"])
    return hashlib.sha256(image["bytes"]).hexdigest()


def _with_product_ids(splits: dict):
    from datasets import Image, Value

    if "product_id" in splits[TRAIN].column_names:
        values = sorted({str(value) for split in splits.values() for value in split["product_id"]})
        ids = {value: number for number, value in enumerate(values)}
        return {name: split.map(lambda row: {"product_id": ids[str(row["product_id"])]},
                                features=_with_feature(split.features, "product_id", Value("int64")),
                                desc="product ids") for name, split in splits.items()}
    logger.info("the data has no product id column: one product per distinct image (path, or image bytes).")
    keys: dict[str, int] = {}
    result = {}
    for name, split in splits.items():
        undecoded = split.cast_column("image", Image(decode=False))
        product_ids = [keys.setdefault(_image_key(image), len(keys)) for image in undecoded["image"]]
        result[name] = split.add_column("product_id", product_ids)
    return result


def _class_encode(splits: dict, columns: tuple[str, ...]):
    from datasets import ClassLabel

    for column in columns:
        if column not in splits[TRAIN].column_names:
            continue
        feature = splits[TRAIN].features[column]
        if isinstance(feature, ClassLabel):
            continue
        values = [value for split in splits.values() for value in split[column]]
        if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
            names = [str(number) for number in range(max(values) + 1)]
            splits = {name: split.cast_column(column, ClassLabel(names=names)) for name, split in splits.items()}
            continue
        names = sorted({str(value) for value in values})
        label = ClassLabel(names=names)
        splits = {
            name: split.map(lambda row: {column: label.str2int(str(row[column]))},
                            features=_with_feature(split.features, column, label), desc=f"encoding {column}")
            for name, split in splits.items()
        }
        logger.info("class-encoded %r: %d names (%s)", column, len(names), ", ".join(names[:8]) + (" ..." if len(names) > 8 else ""))
    return splits


def _attribute_list(value, row: int) -> list:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return list(json.loads(text))
            except json.JSONDecodeError as error:
                raise ValueError(f"row {row}: attributes {value!r} are not a JSON list ({error.msg}).") from None
        return [part.strip() for part in text.split("|") if part.strip()]
    return list(value or [])


def _encode_attributes(splits: dict):
    """Attribute names per row (or a multi-hot / {-1, 0, 1} vector) -> {-1, 0, 1} per attribute, and the names."""
    from datasets import List, Value

    lists = {name: [_attribute_list(value, row) for row, value in enumerate(split["attributes"])]
             for name, split in splits.items()}
    every = [item for rows in lists.values() for items in rows for item in items]
    if every and all(isinstance(item, str) for item in every):
        names = sorted(set(every))
        position = {name: index for index, name in enumerate(names)}

        def encode(items):
            vector = [-1] * len(names)
            for item in items:
                vector[position[item]] = 1
            return vector
    elif all(isinstance(item, int) and item in (-1, 0, 1) for item in every):
        widths = {len(items) for rows in lists.values() for items in rows}
        if len(widths) != 1:
            raise ValueError(f"attribute vectors of different lengths {sorted(widths)}; expected one length.")
        names = [f"attribute_{index}" for index in range(widths.pop())]
        # {-1, 0, 1} vectors (known negative / unknown / positive) are kept; 0/1 multi-hot: 0 = known negative
        multi_hot = -1 not in every

        def encode(items):
            return [-1 if multi_hot and item == 0 else item for item in items]
    else:
        raise ValueError("the attributes column must hold attribute names (strings) or multi-hot / {-1, 0, 1} vectors.")
    encoded = {}
    for name, split in splits.items():
        vectors = [encode(items) for items in lists[name]]
        encoded[name] = split.remove_columns("attributes").add_column("attributes", vectors)
        encoded[name] = encoded[name].cast_column("attributes", List(Value("int8")))
    return encoded, names


def captions_by_image(split) -> tuple[list[int], list[list[str]]]:
    """The rows of `split` grouped by image, for image -> captions protocols (mFSR's VSE++).

    Rows that show the same image (the same file path, else the same bytes) are one image whose captions are those
    rows' captions in row order (an exact repeat is dropped). Returns, per distinct image in order of first
    appearance, the index of its first row and its captions.
    """
    from datasets import Image

    first_rows: list[int] = []
    captions: list[list[str]] = []
    position: dict[str, int] = {}
    undecoded = split.cast_column("image", Image(decode=False))
    for row, (image, caption) in enumerate(zip(undecoded["image"], split["caption"])):
        key = _image_key(image)
        if key not in position:
            position[key] = len(first_rows)
            first_rows.append(row)
            captions.append([])
        if caption not in captions[position[key]]:
            captions[position[key]].append(caption)
    return first_rows, captions


def _hold_out_products(train, args: UserDataArguments) -> dict:
    """Hold out ``validation_split_percentage`` of the products (all rows of a product go to one side)."""
    import random

    products = sorted(set(train["product_id"]))
    if len(products) < 2:
        raise ValueError(f"cannot hold out a validation split from {len(products)} product; give --validation_file.")
    random.Random(args.validation_split_seed).shuffle(products)
    count = max(1, round(len(products) * args.validation_split_percentage / 100))
    held_out = set(products[:count])
    product_ids = train["product_id"]
    logger.info("no validation split: holding out %d of %d products (%d%%)", count, len(products),
                args.validation_split_percentage)
    return {
        TRAIN: train.select([row for row, product in enumerate(product_ids) if product not in held_out]),
        VALIDATION: train.select([row for row, product in enumerate(product_ids) if product in held_out]),
    }


__all__ = ["UserDataArguments", "captions_by_image", "load_user_dataset"]
