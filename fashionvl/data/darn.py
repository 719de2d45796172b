"""DARN (Huang et al. 2015) in the release of ASEN (Ma et al. 2020): reader.

Files (SPEC §5), all in one folder:

- ``filenames_{train,valid,test}.txt``: one image path per line; line k is image k of the split;
- ``label_train.txt``: ``img attr val [attr val ...]`` per line, ``img`` the image's index in
  ``filenames_train.txt`` (or its path), ``attr`` the attribute index (0-8), ``val`` the value
  index; an image may appear on several lines;
- ``query_{valid,test}.txt`` / ``candidate_{valid,test}.txt``: ``img attr val`` per line;
- optional ``meta.json`` (ASEN): ``{"ATTRIBUTES": [...], "ATTRIBUTES_NUM": {name: count},
  "ATTRIBUTES_VALUES": {name: [...]}}``; without it the 9 DARN attributes below are assumed.

Image paths must stay inside the image root; a file name listed twice and a label file without any label are
errors naming the file (and line).
"""

from __future__ import annotations

import json
import os

from ._files import DataFormatError, image_path_under, normalise_split, parse_int, read_lines, splits_to_write

#: DARN's 9 attribute dimensions and their number of values (ASEN's make_triplet_DARN.py).
DARN_ATTRIBUTES = {
    "clothes category": 20,
    "clothes button": 13,
    "clothes color": 55,
    "clothes length": 7,
    "clothes pattern": 28,
    "clothes shape": 11,
    "collar shape": 26,
    "sleeve length": 8,
    "sleeve shape": 17,
}
_SPLITS = ("train", "valid", "test")
_ALIASES = {"validation": "valid", "val": "valid"}


def read_darn_meta(root) -> dict[str, list[str]]:
    """Attribute dimensions ``{name: [value names]}`` from ``meta.json`` or the DARN defaults."""
    path = os.path.join(root, "meta.json")
    if not os.path.isfile(path):
        return {name: [str(v) for v in range(count)] for name, count in DARN_ATTRIBUTES.items()}
    with open(path, encoding="utf-8-sig") as handle:
        try:
            meta = json.load(handle)
        except json.JSONDecodeError as error:
            raise DataFormatError(path, error.lineno, f"invalid JSON: {error.msg}") from None
    try:
        names = meta["ATTRIBUTES"]
        values = meta.get("ATTRIBUTES_VALUES", {})
        return {name: list(values.get(name, [str(v) for v in range(int(meta["ATTRIBUTES_NUM"][name]))]))
                for name in names}
    except (KeyError, TypeError, ValueError) as error:
        raise DataFormatError(path, None, f"expected ATTRIBUTES and ATTRIBUTES_NUM (or ATTRIBUTES_VALUES) for every "
                                          f"attribute: {error!r}") from None


def _read_filenames(root, split: str, image_root=None) -> list[str]:
    """The image names of ``filenames_<split>.txt``, each checked to stay inside the image root, none twice."""
    path = os.path.join(root, f"filenames_{split}.txt")
    base = image_root if image_root is not None else root
    names, seen = [], {}
    for number, text in read_lines(path):
        if text in seen:
            raise DataFormatError(path, number, f"image {text!r} is listed again (first on line {seen[text]})")
        seen[text] = number
        image_path_under(base, text, path, number)
        names.append(text)
    if not names:
        raise DataFormatError(path, None, "lists no image")
    return names


def _read_labels(path, filenames: list[str], dimensions: dict[str, list[str]], pairs_per_line=None):
    """Parse ``img attr val [attr val ...]`` lines into (line, image index, attribute, value) tuples."""
    index_of = {name: i for i, name in enumerate(filenames)}
    counts = [len(values) for values in dimensions.values()]
    entries = []
    lines = read_lines(path)
    if not lines:
        raise DataFormatError(path, None, "holds no label line (expected 'img attr val ...' lines)")
    for number, text in lines:
        tokens = text.split()
        if len(tokens) < 3 or len(tokens) % 2 == 0 or (pairs_per_line and len(tokens) != 1 + 2 * pairs_per_line):
            expected = "'img attr val'" if pairs_per_line == 1 else "'img attr val [attr val ...]'"
            raise DataFormatError(path, number, f"expected {expected}, got {text!r}")
        image = tokens[0]
        if image.isdigit():
            image_index = parse_int(path, number, image, "image index", allowed=range(len(filenames)))
        elif image in index_of:
            image_index = index_of[image]
        else:
            raise DataFormatError(path, number, f"image {image!r} is neither an index nor a name in the filenames list")
        for pair in range(1, len(tokens), 2):
            attribute = parse_int(path, number, tokens[pair], "attribute index", allowed=range(len(counts)))
            value = parse_int(path, number, tokens[pair + 1], f"value of attribute {attribute}",
                              allowed=range(counts[attribute]))
            entries.append((number, image_index, attribute, value))
    return entries


def _image_column(root, image_root, filenames, indices):
    base = os.fspath(image_root if image_root is not None else root)
    return [os.path.join(base, filenames[i]) for i in indices]


def load_darn(root, split: str, image_root=None):
    """Load one DARN split as a `datasets.Dataset`, one row per image of ``filenames_<split>.txt``.

    Args:
        root: folder with the ASEN files.
        split: ``"train"``, ``"valid"`` (aliases ``"val"``, ``"validation"``) or ``"test"``.
        image_root: folder the file names are relative to (default ``root``).

    Returns:
        Columns ``image`` (decoded lazily from its path), ``image_name``, ``image_index`` (line in
        the filenames file) and ``attribute_values`` (value index per attribute dimension, -1 where
        the image has no label). Train labels come from ``label_train.txt``; valid/test labels
        from the query and candidate lists (see `load_darn_retrieval_lists`). Dimension names and
        value names: `attribute_dimensions(ds)`.
    """
    from datasets import Dataset, DatasetInfo, Features, Image, List, Value

    from .metadata import catalog_info_description

    split = normalise_split(split, _ALIASES, _SPLITS)
    dimensions = read_darn_meta(root)
    filenames = _read_filenames(root, split, image_root)
    label_files = [f"label_{split}.txt"] if split == "train" else [f"query_{split}.txt", f"candidate_{split}.txt"]
    values = [[-1] * len(dimensions) for _ in filenames]
    for label_file in label_files:
        path = os.path.join(root, label_file)
        for number, image_index, attribute, value in _read_labels(path, filenames, dimensions):
            if values[image_index][attribute] not in (-1, value):
                raise DataFormatError(path, number, f"image {image_index} gets value {value} for attribute {attribute} "
                                                    f"but has value {values[image_index][attribute]} elsewhere")
            values[image_index][attribute] = value

    features = Features({"image": Image(), "image_name": Value("string"), "image_index": Value("int64"),
                         "attribute_values": List(Value("int32"))})
    columns = {
        "image": _image_column(root, image_root, filenames, range(len(filenames))),
        "image_name": filenames,
        "image_index": list(range(len(filenames))),
        "attribute_values": values,
    }
    description = catalog_info_description(attribute_dimensions=dimensions,
                                           source={"format": "darn-asen", "root": os.fspath(root), "split": split})
    return Dataset.from_dict(columns, features=features, info=DatasetInfo(description=description, features=features))


def load_darn_retrieval_lists(root, split: str, image_root=None):
    """The query and candidate lists of DARN's attribute-specific retrieval protocol (SPEC §6).

    Returns:
        A `datasets.DatasetDict` with ``"query"`` and ``"candidate"``, one row per line of
        ``query_<split>.txt`` / ``candidate_<split>.txt``: ``image`` (lazy), ``image_name``,
        ``image_index``, ``attribute`` (the dimension the line is about) and ``value`` (its value
        index; relevant candidates share the query's value for that attribute).
    """
    from datasets import Dataset, DatasetDict, DatasetInfo, Features, Image, Value

    from .metadata import catalog_info_description

    split = normalise_split(split, _ALIASES, _SPLITS)
    if split == "train":
        raise ValueError("DARN has query/candidate lists for 'valid' and 'test' only, got 'train'")
    dimensions = read_darn_meta(root)
    filenames = _read_filenames(root, split, image_root)
    features = Features({"image": Image(), "image_name": Value("string"), "image_index": Value("int64"),
                         "attribute": Value("int32"), "value": Value("int32")})
    description = catalog_info_description(attribute_dimensions=dimensions,
                                           source={"format": "darn-asen", "root": os.fspath(root), "split": split})
    lists = {}
    for role in ("query", "candidate"):
        entries = _read_labels(os.path.join(root, f"{role}_{split}.txt"), filenames, dimensions, pairs_per_line=1)
        indices = [entry[1] for entry in entries]
        columns = {
            "image": _image_column(root, image_root, filenames, indices),
            "image_name": [filenames[i] for i in indices],
            "image_index": indices,
            "attribute": [entry[2] for entry in entries],
            "value": [entry[3] for entry in entries],
        }
        lists[role] = Dataset.from_dict(columns, features=features,
                                        info=DatasetInfo(description=description, features=features))
    return DatasetDict(lists)


_DARN_SPLITS = {"train": "train", "validation": "valid", "test": "test"}


def write_darn(catalog, root, query_every: int = 4) -> None:
    """Write a catalog in the ASEN release layout of DARN under ``root``.

    ``filenames_<split>.txt`` lists ``images/<split>/<product id>_<view>.jpg``; ``label_train.txt``
    has one line per train image with every applicable ``attr val`` pair of ``attribute_values``;
    for valid/test, every ``query_every``-th image goes to ``query_<split>.txt`` and the others to
    ``candidate_<split>.txt``, one ``img attr val`` line per applicable attribute. ``meta.json``
    names the dimensions and their values.
    """
    from tqdm.auto import tqdm

    from .metadata import attribute_dimensions

    splits = splits_to_write(catalog, _DARN_SPLITS)
    dimensions = attribute_dimensions(splits[0][1])
    os.makedirs(root, exist_ok=True)
    for split, dataset in splits:
        folder = f"images/{split}"
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        filenames, labels, queries, candidates = [], [], [], []
        for index, row in enumerate(tqdm(dataset, desc=f"DARN {split}", leave=False)):
            filename = f"{folder}/{row['product_id']:06d}_{row.get('view', 0)}.jpg"
            row["image"].convert("RGB").save(os.path.join(root, filename), quality=95)
            filenames.append(filename)
            pairs = [(attribute, value) for attribute, value in enumerate(row["attribute_values"]) if value >= 0]
            if split == "train":
                labels.append(f"{index} " + " ".join(f"{attribute} {value}" for attribute, value in pairs))
            else:
                target = queries if index % query_every == 0 else candidates
                target.extend(f"{index} {attribute} {value}" for attribute, value in pairs)
        outputs = {f"filenames_{split}.txt": filenames}
        if split == "train":
            outputs["label_train.txt"] = labels
        else:
            outputs.update({f"query_{split}.txt": queries, f"candidate_{split}.txt": candidates})
        for name, lines in outputs.items():
            with open(os.path.join(root, name), "w", encoding="utf-8") as handle:
                handle.writelines(line + "\n" for line in lines)
    meta = {"ATTRIBUTES": list(dimensions), "ATTRIBUTES_NUM": {name: len(v) for name, v in dimensions.items()},
            "ATTRIBUTES_VALUES": dimensions}
    with open(os.path.join(root, "meta.json"), "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=1)
