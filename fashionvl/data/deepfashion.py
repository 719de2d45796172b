"""DeepFashion Category & Attribute Prediction benchmark (Liu et al. 2016): reader and writer.

Layout (SPEC §5): ``Anno_coarse/`` (or ``Anno/``) holds whitespace-separated text files whose
line 1 is the number of entries and line 2 the column names:

- ``list_category_cloth.txt``: category name, category type (1 upper-, 2 lower-, 3 full-body);
- ``list_category_img.txt``: image name, 1-based category label (46 of the 50 are used);
- ``list_attr_cloth.txt``: attribute name (may contain spaces: the type is the last token),
  attribute type (1 texture, 2 fabric, 3 shape, 4 part, 5 style);
- ``list_attr_img.txt``: image name, one value per attribute (1 positive, -1 negative, 0 unknown);
- ``list_eval_partition.txt`` (in ``Eval/`` in the release): image name, train/val/test;
- ``list_bbox.txt``: image name, x_1 y_1 x_2 y_2;
- ``list_landmarks.txt``: image name, clothes type, variation type, then (visibility, x, y) per
  landmark, a variable number per line.

Images are ``img/<item title>/img_XXXXXXXX.jpg`` under ``Img/`` (or the root). An image name runs to its image
extension, so names with spaces are read whole; names that are absolute or leave the image root are refused.
An image listed twice with different values, or in two partitions, is an error naming both lines.

`write_deepfashion` writes an image-text-attribute dataset (e.g. the synthetic catalog) in this layout.
"""

from __future__ import annotations

import os

import numpy as np

from ._files import (
    DataFormatError,
    image_path_under,
    iter_text_lines,
    normalise_split,
    parse_int,
    split_image_name,
    splits_to_write,
)
from .metadata import ATTRIBUTE_TYPE_NAMES

CATEGORY_TYPE_NAMES = {1: "upper-body", 2: "lower-body", 3: "full-body"}
PARTITION_FILE = "list_eval_partition.txt"
_SPLITS = ("train", "val", "test")


def read_counted_table(path, min_columns: int, keep=None, image_names: bool = False, num_values: int | None = None):
    """Yield the rows of a DeepFashion annotation file as ``(line number, tokens)``, header checked.

    Line 1 must be the entry count and equal the number of data lines (checked when the file has
    been read); line 2 holds column names. With ``image_names`` the first token is the image name, read up to
    its extension (names may contain spaces), and a name listed twice is an error; ``num_values`` then fixes
    the number of values after it (more are "extra columns", an error). With ``keep`` (a set of image names)
    only rows whose name is in it are yielded, so the 1,000-value attribute file is streamed.
    """
    count = count_line = None
    header_seen = False
    num_rows = 0
    seen: dict[str, int] = {}
    for number, raw in iter_text_lines(path):
        text = raw.strip()
        if not text:
            continue
        if count is None:
            count, count_line = parse_int(path, number, text, "entry count"), number
            continue
        if not header_seen:
            header_seen = True
            continue
        num_rows += 1
        if image_names:
            name, values = split_image_name(text)
            if name in seen:
                raise DataFormatError(path, number, f"image {name!r} is listed again (first on line {seen[name]})")
            seen[name] = number
            if keep is not None and name not in keep:
                continue
            if num_values is not None and len(values) != num_values:
                raise DataFormatError(path, number, f"expected the image name and {num_values} value(s), got "
                                                    f"{len(values)} value(s) after {name!r}: {text[:120]!r}")
            tokens = [name, *values]
        else:
            if keep is not None and text.split(maxsplit=1)[0] not in keep:
                continue
            tokens = text.split()
        if len(tokens) < min_columns:
            raise DataFormatError(path, number, f"expected at least {min_columns} columns, got {len(tokens)}: "
                                                f"{text!r}")
        yield number, tokens
    if not header_seen:
        raise DataFormatError(path, None, "expected a count line and a column-name line")
    if count != num_rows:
        raise DataFormatError(path, count_line, f"the count line says {count} entries but the file has {num_rows}")


def _named_types(path, allowed: dict[int, str]) -> tuple[list[str], list[int]]:
    """Parse '<name with spaces> <type>' lines (list_category_cloth / list_attr_cloth)."""
    names, types = [], []
    for number, tokens in read_counted_table(path, 2):
        names.append(" ".join(tokens[:-1]))
        types.append(parse_int(path, number, tokens[-1], "type", allowed=set(allowed)))
    return names, types


def find_annotation_dir(root) -> str:
    """``root/Anno_coarse``, ``root/Anno`` or ``root`` itself, whichever holds the annotation files."""
    for candidate in (os.path.join(root, "Anno_coarse"), os.path.join(root, "Anno"), os.fspath(root)):
        if os.path.isfile(os.path.join(candidate, "list_category_img.txt")):
            return candidate
    raise FileNotFoundError(f"no DeepFashion annotations under {os.fspath(root)}: expected "
                            "Anno_coarse/list_category_img.txt, Anno/list_category_img.txt or list_category_img.txt")


def _find_file(name: str, *folders) -> str | None:
    for folder in folders:
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def load_deepfashion(root, split: str, image_root=None):
    """Load one split of DeepFashion Category & Attribute Prediction as a `datasets.Dataset`.

    Args:
        root: the benchmark folder (with ``Anno_coarse/`` or ``Anno/``, ``Eval/``, ``Img/``).
        split: ``"train"``, ``"val"`` (alias ``"validation"``) or ``"test"``.
        image_root: folder the image names are relative to (default ``root/Img`` if it exists,
            else ``root``).

    Returns:
        Columns ``image`` (decoded lazily from its path), ``image_name``, ``category`` (ClassLabel
        over the cloth categories, 0-based), ``category_type`` (1 upper, 2 lower, 3 full body),
        ``attributes`` (list of -1/0/1), ``item_name`` (the item-title folder, underscores as
        spaces), ``product_id`` (index of that folder among all folders), and where the files
        exist ``bbox`` ([x_1, y_1, x_2, y_2]) and ``landmarks`` ([[visibility, x, y], ...]) with
        ``clothes_type`` and ``variation_type``. Attribute names/types: `attribute_names(ds)`,
        `attribute_types(ds)`. DeepFashion has one category level, so there is no
        ``subcategory`` column.
    """
    from datasets import ClassLabel, Dataset, DatasetInfo, Features, Image, List, Value

    from .metadata import catalog_info_description

    split = normalise_split(split, {"validation": "val", "valid": "val"}, _SPLITS)
    anno = find_annotation_dir(root)
    partition_path = _find_file(PARTITION_FILE, anno, os.path.join(root, "Eval"), root)
    if partition_path is None:
        raise FileNotFoundError(f"no {PARTITION_FILE} in {anno}, {os.path.join(root, 'Eval')} or {root}")
    if image_root is None:
        image_root = os.path.join(root, "Img") if os.path.isdir(os.path.join(root, "Img")) else os.fspath(root)

    category_names, category_types = _named_types(os.path.join(anno, "list_category_cloth.txt"), CATEGORY_TYPE_NAMES)
    attr_path = os.path.join(anno, "list_attr_cloth.txt")
    attr_names, attr_type_ids = _named_types(attr_path, ATTRIBUTE_TYPE_NAMES)

    partition = {}
    for number, tokens in read_counted_table(partition_path, 2, image_names=True, num_values=1):
        status = tokens[1]
        if status not in _SPLITS:
            raise DataFormatError(partition_path, number, f"evaluation status must be one of {_SPLITS}, got {status!r}")
        image_path_under(image_root, tokens[0], partition_path, number)
        partition[tokens[0]] = status
    image_names = [name for name, status in partition.items() if status == split]
    wanted = set(image_names)

    category_path = os.path.join(anno, "list_category_img.txt")
    categories = {}
    for number, tokens in read_counted_table(category_path, 2, image_names=True, num_values=1):
        label = parse_int(category_path, number, tokens[1], "category label (1-based)",
                          allowed=range(1, len(category_names) + 1))
        categories[tokens[0]] = label - 1

    attr_img_path = os.path.join(anno, "list_attr_img.txt")
    attributes = {}
    for number, tokens in read_counted_table(attr_img_path, 1, keep=wanted, image_names=True):
        if len(tokens) - 1 != len(attr_names):
            raise DataFormatError(attr_img_path, number, f"expected {len(attr_names)} attribute values (one per line of "
                                                         f"list_attr_cloth.txt), got {len(tokens) - 1}")
        try:
            values = np.array(tokens[1:], dtype=np.int8)
        except ValueError:
            raise DataFormatError(attr_img_path, number, f"attribute values must be -1, 0 or 1, got {tokens[1:]}") from None
        if np.any((values < -1) | (values > 1)):
            bad = tokens[1 + int(np.flatnonzero((values < -1) | (values > 1))[0])]
            raise DataFormatError(attr_img_path, number, f"attribute values must be -1, 0 or 1, got {bad!r}")
        attributes[tokens[0]] = values

    for name in image_names:
        for table, path in ((categories, category_path), (attributes, attr_img_path)):
            if name not in table:
                raise DataFormatError(path, None, f"image {name!r} of {PARTITION_FILE} has no entry")

    folders = sorted({os.path.dirname(name) for name in partition})
    folder_ids = {folder: i for i, folder in enumerate(folders)}
    columns = {
        "image": [image_path_under(image_root, name, partition_path, None) for name in image_names],
        "image_name": image_names,
        "category": [categories[name] for name in image_names],
        "category_type": [category_types[categories[name]] for name in image_names],
        "attributes": [attributes[name] for name in image_names],
        "item_name": [os.path.basename(os.path.dirname(name)).replace("_", " ") for name in image_names],
        "product_id": [folder_ids[os.path.dirname(name)] for name in image_names],
    }
    features = {
        "image": Image(),  # decoded as stored: the image processor converts any mode (transparency on white)
        "image_name": Value("string"),
        "category": ClassLabel(names=category_names),
        "category_type": Value("int8"),
        "attributes": List(Value("int8")),
        "item_name": Value("string"),
        "product_id": Value("int64"),
    }

    bbox_path = _find_file("list_bbox.txt", anno)
    if bbox_path is not None:
        boxes = {}
        for number, tokens in read_counted_table(bbox_path, 5, keep=wanted, image_names=True, num_values=4):
            boxes[tokens[0]] = [parse_int(bbox_path, number, token, "bbox coordinate") for token in tokens[1:5]]
        columns["bbox"] = [boxes.get(name) for name in image_names]
        features["bbox"] = List(Value("int32"))

    landmarks_path = _find_file("list_landmarks.txt", anno)
    if landmarks_path is not None:
        landmarks = {}
        for number, tokens in read_counted_table(landmarks_path, 3, keep=wanted, image_names=True):
            values = [parse_int(landmarks_path, number, token, "landmark value") for token in tokens[1:]]
            if (len(values) - 2) % 3:
                raise DataFormatError(landmarks_path, number, "expected clothes type, variation type, then "
                                                              f"(visibility, x, y) triplets; got {len(values)} numbers")
            points = [values[i:i + 3] for i in range(2, len(values), 3)]
            landmarks[tokens[0]] = (values[0], values[1], points)
        columns["clothes_type"] = [landmarks[name][0] if name in landmarks else None for name in image_names]
        columns["variation_type"] = [landmarks[name][1] if name in landmarks else None for name in image_names]
        columns["landmarks"] = [landmarks[name][2] if name in landmarks else None for name in image_names]
        features.update(clothes_type=Value("int8"), variation_type=Value("int8"),
                        landmarks=List(List(Value("int32"))))

    features = Features(features)
    description = catalog_info_description(
        attribute_names=attr_names,
        attribute_types=[ATTRIBUTE_TYPE_NAMES[t] for t in attr_type_ids],
        source={"format": "deepfashion-category-attribute", "root": os.fspath(root), "split": split},
    )
    return Dataset.from_dict(columns, features=features, info=DatasetInfo(description=description, features=features),
                             split=split)


# ----------------------------------------------------------------------------------------------
# Writer
# ----------------------------------------------------------------------------------------------

_DEEPFASHION_SPLITS = {"train": "train", "validation": "val", "test": "test"}
#: Landmarks DeepFashion annotates per clothes type (upper 6, lower 4, full body 8) as bbox fractions.
_LANDMARK_LAYOUT = {
    1: [(0.35, 0.05), (0.65, 0.05), (0.05, 0.6), (0.95, 0.6), (0.2, 0.98), (0.8, 0.98)],
    2: [(0.2, 0.03), (0.8, 0.03), (0.2, 0.97), (0.8, 0.97)],
    3: [(0.38, 0.04), (0.62, 0.04), (0.1, 0.3), (0.9, 0.3), (0.3, 0.4), (0.7, 0.4), (0.15, 0.97), (0.85, 0.97)],
}


def _garment_box(image: Image.Image) -> tuple[int, int, int, int]:
    pixels = np.asarray(image.convert("RGB"))
    rows, cols = np.nonzero(pixels.min(axis=2) < 250)
    if len(rows) == 0:
        return 0, 0, image.width - 1, image.height - 1
    return int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())


def _folder_name(name: str, product_id: int) -> str:
    return "_".join(name.split()).replace("/", "-") + f"_{product_id:06d}"


def _write_counted(path: str, header: str, lines: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"{len(lines)}\n{header}\n")
        handle.writelines(line + "\n" for line in lines)


def write_deepfashion(catalog, root, image_format: str = "jpg") -> None:
    """Write a catalog in the DeepFashion Category & Attribute Prediction layout under ``root``.

    DeepFashion has one category level: its categories are the catalog's *sub*-categories (with
    the clothes type 1 upper / 2 lower / 3 full body of `SubcategorySpec`). Every image goes to
    ``Img/img/<Product_Title>_<product id>/img_<row>.jpg`` (one folder per product, like
    DeepFashion's item folders); annotations to ``Anno_coarse/``, the partition to ``Eval/``.
    Bounding boxes are the garment's non-white extent; landmarks are placed in the box.
    """
    from tqdm.auto import tqdm

    from .metadata import ATTRIBUTE_TYPE_IDS, attribute_names, attribute_types, subcategory_names
    from .synthetic_products import SUBCATEGORIES  # the clothes type of each synthetic sub-category

    splits = splits_to_write(catalog, _DEEPFASHION_SPLITS)
    reference = splits[0][1]
    sub_names = subcategory_names(reference)
    types_by_name = {spec.name: spec.category_type for spec in SUBCATEGORIES}
    cloth_types = [types_by_name.get(name, 1) for name in sub_names]
    anno, evaluation = os.path.join(root, "Anno_coarse"), os.path.join(root, "Eval")
    for folder in (anno, evaluation):
        os.makedirs(folder, exist_ok=True)

    tables = {key: [] for key in ("category_img", "attr_img", "partition", "bbox", "landmarks")}
    row_number = 0
    for split, dataset in splits:
        for row in tqdm(dataset, desc=f"DeepFashion {split}", leave=False):
            folder = _folder_name(row.get("name") or sub_names[row["subcategory"]], row["product_id"])
            image_name = f"img/{folder}/img_{row_number:08d}.{image_format}"
            path = os.path.join(root, "Img", image_name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            row["image"].convert("RGB").save(path, quality=95)
            left, top, right, bottom = _garment_box(row["image"])
            cloth_type = cloth_types[row["subcategory"]]
            points = [(round(left + fx * (right - left)), round(top + fy * (bottom - top)))
                      for fx, fy in _LANDMARK_LAYOUT[cloth_type]]
            tables["category_img"].append(f"{image_name} {row['subcategory'] + 1}")
            tables["attr_img"].append(f"{image_name} " + " ".join(str(int(code)) for code in row["attributes"]))
            tables["partition"].append(f"{image_name} {split}")
            tables["bbox"].append(f"{image_name} {left} {top} {right} {bottom}")
            tables["landmarks"].append(f"{image_name} {cloth_type} 1 " + " ".join(f"0 {x} {y}" for x, y in points))
            row_number += 1

    _write_counted(os.path.join(anno, "list_category_cloth.txt"), "category_name category_type",
                   [f"{name} {kind}" for name, kind in zip(sub_names, cloth_types)])
    _write_counted(os.path.join(anno, "list_attr_cloth.txt"), "attribute_name attribute_type",
                   [f"{name} {ATTRIBUTE_TYPE_IDS[kind]}"
                    for name, kind in zip(attribute_names(reference), attribute_types(reference))])
    _write_counted(os.path.join(anno, "list_category_img.txt"), "image_name category_label", tables["category_img"])
    _write_counted(os.path.join(anno, "list_attr_img.txt"), "image_name attribute_labels", tables["attr_img"])
    _write_counted(os.path.join(anno, "list_bbox.txt"), "image_name x_1 y_1 x_2 y_2", tables["bbox"])
    _write_counted(os.path.join(anno, "list_landmarks.txt"),
                   "image_name clothes_type variation_type landmark_visibility_1 landmark_location_x_1 "
                   "landmark_location_y_1 ...", tables["landmarks"])
    _write_counted(os.path.join(evaluation, PARTITION_FILE), "image_name evaluation_status", tables["partition"])
