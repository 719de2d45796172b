"""COCO / Flickr30K in Karpathy's split files (``dataset_coco.json``, ``dataset_flickr30k.json``): reader.

Format (SPEC §5): ``{"images": [{"filepath" (COCO only), "filename", "split" (train / val / test /
restval), "sentences": [{"raw", "tokens"}, ...], ...}, ...]}``. Five captions are kept per image
(the VSE++ protocol); COCO's ``restval`` images join ``train``. ``filepath/filename`` must stay inside the image
root (absolute paths and ``..`` escapes are refused); a file name or ``imgid`` listed twice is an error.
"""

from __future__ import annotations

import json
import os

from ._files import DataFormatError, image_path_under, normalise_split, splits_to_write

_SPLITS = ("train", "val", "test")


def load_karpathy(json_path, image_root, split: str, num_captions: int = 5, restval_in_train: bool = True):
    """Load one Karpathy split as a `datasets.Dataset`, one row per image with its captions.

    Args:
        json_path: ``dataset_coco.json`` or ``dataset_flickr30k.json``.
        image_root: folder holding the images (COCO: ``filepath/filename`` below it, e.g.
            ``val2014/COCO_val2014_...jpg``; Flickr30K: ``filename``).
        split: ``"train"``, ``"val"`` (alias ``"validation"``) or ``"test"``.
        num_captions: captions kept per image (the first ones); an image with fewer is an error.
        restval_in_train: put ``restval`` images in ``train`` (the VSE++ / mFSR protocol).

    Returns:
        Columns ``image`` (decoded lazily from its path), ``caption`` (the first caption),
        ``captions`` (``num_captions`` raw sentences), ``filename``, ``image_id`` and
        ``product_id`` (both the image's ``imgid``, or its position when absent). General-domain
        images have no categories, so there are no ``category`` / ``subcategory`` columns.
        Use `flatten_captions` for one row per (image, caption).
    """
    from datasets import Dataset, DatasetInfo, Features, Image, List, Value

    from .metadata import catalog_info_description

    split = normalise_split(split, {"validation": "val", "valid": "val"}, _SPLITS)
    if not os.path.isfile(json_path):
        raise FileNotFoundError(f"Karpathy split file {os.fspath(json_path)} does not exist")
    with open(json_path, encoding="utf-8-sig") as handle:
        try:
            payload = json.load(handle)
        except json.JSONDecodeError as error:
            raise DataFormatError(json_path, error.lineno, f"invalid JSON: {error.msg}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("images"), list):
        raise DataFormatError(json_path, None, "expected a JSON object with an 'images' list")

    wanted = {split} | ({"restval"} if split == "train" and restval_in_train else set())
    columns = {name: [] for name in ("image", "caption", "captions", "filename", "image_id", "product_id")}
    seen_files: dict[str, int] = {}
    seen_ids: dict[int, int] = {}
    for position, entry in enumerate(payload["images"]):
        where = f"images[{position}]"
        if not isinstance(entry, dict):
            raise DataFormatError(json_path, None, f"{where} must be an object, got {type(entry).__name__}")
        for key in ("filename", "split", "sentences"):
            if key not in entry:
                raise DataFormatError(json_path, None, f"{where} has no {key!r} (keys: {sorted(entry)})")
        filepath, filename = entry.get("filepath", ""), entry["filename"]
        if not isinstance(filename, str) or not filename or not isinstance(filepath, str):
            raise DataFormatError(json_path, None, f"{where}: 'filename' (and 'filepath') must be non-empty strings, "
                                                   f"got {filename!r} / {filepath!r}")
        relative = os.path.join(filepath, filename)
        try:
            image_path = image_path_under(image_root, relative, json_path, None)
        except DataFormatError as error:
            raise DataFormatError(json_path, None, f"{where}: {str(error).split(': ', 1)[1]}") from None
        if relative in seen_files:
            raise DataFormatError(json_path, None, f"{where} repeats the image {relative!r} of "
                                                   f"images[{seen_files[relative]}]")
        seen_files[relative] = position
        raw_id = entry.get("imgid", position)
        if isinstance(raw_id, bool) or not isinstance(raw_id, int):
            raise DataFormatError(json_path, None, f"{where} ({filename}): 'imgid' must be an integer, got {raw_id!r}")
        if raw_id in seen_ids:
            raise DataFormatError(json_path, None, f"{where} ({filename}) repeats imgid {raw_id} of "
                                                   f"images[{seen_ids[raw_id]}]")
        seen_ids[raw_id] = position
        if not isinstance(entry["sentences"], list):
            raise DataFormatError(json_path, None, f"{where} ({filename}): 'sentences' must be a list")
        if entry["split"] not in (*_SPLITS, "restval"):
            raise DataFormatError(json_path, None, f"{where} ({entry['filename']}) has split {entry['split']!r}; "
                                                   "expected train, val, test or restval")
        if entry["split"] not in wanted:
            continue
        sentences = entry["sentences"]
        if len(sentences) < num_captions:
            raise DataFormatError(json_path, None, f"{where} ({entry['filename']}) has {len(sentences)} sentences; "
                                                   f"expected at least {num_captions}")
        try:
            captions = [" ".join(sentence["raw"].split()) for sentence in sentences[:num_captions]]
        except (KeyError, TypeError, AttributeError):
            raise DataFormatError(json_path, None, f"{where} ({entry['filename']}): every sentence needs a 'raw' "
                                                   "string") from None
        image_id = raw_id
        columns["image"].append(image_path)
        columns["caption"].append(captions[0])
        columns["captions"].append(captions)
        columns["filename"].append(entry["filename"])
        columns["image_id"].append(image_id)
        columns["product_id"].append(image_id)

    features = Features(
        {
            "image": Image(),  # decoded as stored: the image processor converts any mode
            "caption": Value("string"),
            "captions": List(Value("string")),
            "filename": Value("string"),
            "image_id": Value("int64"),
            "product_id": Value("int64"),
        }
    )
    description = catalog_info_description(
        source={"format": "karpathy-json", "path": os.fspath(json_path), "dataset": payload.get("dataset"),
                "split": split}
    )
    return Dataset.from_dict(columns, features=features, info=DatasetInfo(description=description, features=features),
                             split=split)


def flatten_captions(dataset):
    """One row per (image, caption): ``caption`` takes each of ``captions`` in turn (VSE++ training).

    The image column is repeated, not decoded, so this is cheap.
    """
    text_columns = [name for name in dataset.column_names if name != "captions"]

    def explode(batch):
        output = {name: [] for name in text_columns}
        output["caption_index"] = []
        for row in range(len(batch["captions"])):
            for index, caption in enumerate(batch["captions"][row]):
                for name in text_columns:
                    output[name].append(caption if name == "caption" else batch[name][row])
                output["caption_index"].append(index)
        return output

    image_feature = dataset.features.get("image")
    undecoded = dataset.cast_column("image", type(image_feature)(decode=False)) if image_feature is not None else dataset
    flat = undecoded.map(explode, batched=True, remove_columns=undecoded.column_names)
    return flat.cast_column("image", image_feature) if image_feature is not None else flat


_KARPATHY_SPLITS = {"train": "train", "validation": "val", "test": "test"}


def write_karpathy(catalog, root, dataset_name: str = "fashionvl_synthetic", restval_every: int | None = None) -> str:
    """Write a catalog as a Karpathy split file + image folder; returns the JSON path.

    One JSON image per row (view) with the product's five ``captions`` as sentences; images go to
    ``root/images/<split>/<product id>_<view>.jpg`` (``filepath`` = ``images/<split>``). With
    ``restval_every=k`` every k-th train product is marked ``restval``, like COCO's extra images.
    """
    from tqdm.auto import tqdm

    images = []
    sentence_id = 0
    for split, dataset in splits_to_write(catalog, _KARPATHY_SPLITS):
        filepath = f"images/{split}"
        os.makedirs(os.path.join(root, filepath), exist_ok=True)
        for row in tqdm(dataset, desc=f"Karpathy {split}", leave=False):
            filename = f"{row['product_id']:06d}_{row.get('view', 0)}.jpg"
            row["image"].convert("RGB").save(os.path.join(root, filepath, filename), quality=95)
            captions = row.get("captions") or [row["caption"]]
            image_id = len(images)
            sentences = [{"raw": caption, "tokens": caption.lower().replace(",", " ").replace(".", " ").split(),
                          "imgid": image_id, "sentid": sentence_id + k} for k, caption in enumerate(captions)]
            marked = split
            if split == "train" and restval_every and row["product_id"] % restval_every == 0:
                marked = "restval"
            images.append({"filepath": filepath, "filename": filename, "imgid": image_id, "split": marked,
                           "sentences": sentences, "sentids": [s["sentid"] for s in sentences],
                           "cocoid": int(row["product_id"])})
            sentence_id += len(sentences)
    json_path = os.path.join(root, f"dataset_{dataset_name}.json")
    with open(json_path, "w", encoding="utf-8") as handle:
        json.dump({"images": images, "dataset": dataset_name}, handle)
    return json_path
