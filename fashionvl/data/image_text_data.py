"""Image-text data for MVLT's recipes: the synthetic catalog, Fashion-Gen, or a user's own data (`load_user_dataset`)
as a ``DatasetDict`` with the category columns MVLT reads, and the config fields that name its classes."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any

from .user_data import load_user_dataset


logger = logging.getLogger(__name__)

FASHIONGEN_FILES = {"train": "fashiongen_256_256_train.h5", "validation": "fashiongen_256_256_validation.h5"}


def load_image_text_splits(data_args, progress: bool = True):
    """The training and evaluation splits as a `datasets.DatasetDict` (keys: `data_args.train_split`, `eval_split`);
    `data_args` is the MVLT recipe's `MVLTDataArguments` (`UserDataArguments` plus the catalog's settings).

    The synthetic catalog and Fashion-Gen are read by their loaders; every other `dataset_name` (and `"disk"`) is
    the user's own data (`load_user_dataset`: string labels class-encoded, product ids derived when absent), whose
    validation split becomes `eval_split`, with the category columns MVLT needs (`_with_category_columns`)."""
    from datasets import DatasetDict

    if data_args.dataset_name == "synthetic":
        from .synthetic import generate_catalog

        splits = generate_catalog(
            data_args.num_products,
            seed=data_args.catalog_seed,
            image_size=max(data_args.image_size, 32),
            views_per_product=data_args.views_per_product,
            progress=progress,
        )
    elif data_args.dataset_name == "fashiongen":
        from .fashiongen import load_fashiongen

        train_file, validation_file = _fashiongen_files(data_args)
        splits = DatasetDict({data_args.train_split: load_fashiongen(train_file)})
        if validation_file is not None:
            splits[data_args.eval_split] = load_fashiongen(validation_file)
    else:
        user_args = data_args
        if data_args.dataset_name == "disk":  # the former --data_format disk --data_path FOLDER
            user_args = replace(data_args, dataset_name=data_args.data_dir, data_dir=None)
        user_splits = _with_category_columns(load_user_dataset(user_args, require=("image", "caption")))
        splits = DatasetDict({data_args.train_split: user_splits["train"], data_args.eval_split: user_splits["validation"]})
    for split, limit in ((data_args.train_split, data_args.max_train_samples), (data_args.eval_split, data_args.max_eval_samples)):
        if split in splits and limit is not None:
            splits[split] = splits[split].select(range(min(limit, len(splits[split]))))
    missing = [split for split in (data_args.train_split,) if split not in splits]
    if missing:
        raise ValueError(f"The data has no split {missing[0]!r}; it has {sorted(splits)}.")
    return splits


def _fashiongen_files(data_args) -> tuple[str, str | None]:
    """The Fashion-Gen train and validation .h5 files: --train_file / --validation_file, else the standard names in
    --data_dir (a --data_dir that is itself an .h5 file is the train file, as the former --data_path)."""
    train_file, validation_file = data_args.train_file, data_args.validation_file
    folder = data_args.data_dir
    if train_file is None and folder is not None and os.path.isfile(folder):
        train_file, folder = folder, None
    if train_file is None:
        train_file = os.path.join(folder, FASHIONGEN_FILES["train"])
    if validation_file is None and folder is not None and os.path.isfile(os.path.join(folder, FASHIONGEN_FILES["validation"])):
        validation_file = os.path.join(folder, FASHIONGEN_FILES["validation"])
    return train_file, validation_file


def _with_category_columns(splits):
    """MVLT reads `category` (M-CR, chance levels) and `subcategory` (hard ITM negatives, S-CR, the evaluation's
    negatives): data without them gets one category "all", and the categories as sub-categories (log lines)."""
    from datasets import ClassLabel

    if "category" not in splits["train"].column_names:
        logger.info("the data has no category column: every row is in one category 'all' (hard negatives: any product).")
        label = ClassLabel(names=["all"])
        splits = {name: split.add_column("category", [0] * len(split)).cast_column("category", label)
                  for name, split in splits.items()}
    if "subcategory" not in splits["train"].column_names:
        logger.info("the data has no subcategory column: the categories serve as sub-categories (hard negatives, S-CR).")
        splits = {name: split.add_column("subcategory", split["category"]).cast_column("subcategory", split.features["category"])
                  for name, split in splits.items()}
    return splits


def category_label_fields(dataset) -> dict[str, Any]:
    """The config fields that name the classes of `dataset`'s ClassLabel columns: `id2label` / `label2id` for the
    main categories (M-CR head, transformers' convention) and `sub_category_names` (S-CR head, id = position).
    Empty for integer columns without names."""
    fields_ = {}
    names = getattr(dataset.features.get("category"), "names", None)
    if names:
        fields_["id2label"] = dict(enumerate(names))
        fields_["label2id"] = {name: index for index, name in enumerate(names)}
    sub_names = getattr(dataset.features.get("subcategory"), "names", None)
    if sub_names:
        fields_["sub_category_names"] = list(sub_names)
    return fields_


def num_classes(dataset, column: str) -> int:
    """Number of classes of a label column: its ClassLabel size, else max id + 1."""
    feature = dataset.features.get(column)
    if getattr(feature, "num_classes", None):
        return int(feature.num_classes)
    return int(max(dataset[column])) + 1


__all__ = ["FASHIONGEN_FILES", "category_label_fields", "load_image_text_splits", "num_classes"]
