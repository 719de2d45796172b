"""Fashion-Gen (Rostamzadeh et al. 2018) HDF5 files: reader and writer.

The release ships ``fashiongen_256_256_{train,validation}.h5`` with (SPEC §5):

- ``input_image``: (N, 256, 256, 3) uint8;
- string fields, (N, 1) fixed-length byte strings: ``input_description``, ``input_name``,
  ``input_category``, ``input_subcategory``, ``input_department``, ``input_gender``,
  ``input_composition``, ``input_brand``, ``input_season``, ``input_concat_description``,
  ``input_pose``;
- numeric fields, (N, 1): ``input_productID`` (the rows of one product are contiguous),
  ``input_msrpUSD``, ``index``, ``index_2``.

`load_fashiongen` reads the text and numeric fields once and the images lazily, one HDF5 row per
accessed example. h5py is an optional dependency (``pip install fashionvl[h5]``).
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from importlib import resources

import numpy as np
from PIL import Image

from ._files import DataFormatError, decode_text

STRING_FIELDS = (
    "input_description",
    "input_name",
    "input_category",
    "input_subcategory",
    "input_department",
    "input_gender",
    "input_composition",
    "input_brand",
    "input_season",
    "input_concat_description",
    "input_pose",
)
NUMERIC_FIELDS = ("input_productID", "input_msrpUSD", "index", "index_2")
IMAGE_FIELD = "input_image"
_REQUIRED = (IMAGE_FIELD, "input_category", "input_subcategory", "input_productID")
#: Extra text columns of a loaded dataset and the HDF5 field each comes from.
_TEXT_COLUMNS = {
    "name": "input_name",
    "department": "input_department",
    "gender": "input_gender",
    "composition": "input_composition",
    "brand": "input_brand",
    "season": "input_season",
    "pose": "input_pose",
}


def _require_h5py():
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - h5py is installed in the dev environment
        raise ImportError(
            "reading or writing Fashion-Gen HDF5 files needs h5py: pip install 'fashionvl[h5]' (or pip install h5py)"
        ) from error
    return h5py


@lru_cache(maxsize=1)
def fashiongen_category_names() -> tuple[list[str], list[str]]:
    """The official Fashion-Gen (main, sub) category name lists; a name's position is its id."""
    text = resources.files("fashionvl.data").joinpath("fashiongen_category_names.txt").read_text(encoding="utf-8")
    lists: list[list[str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line.startswith("#"):
            lists.append([])
        elif line:
            index, _, name = line.partition(" ")
            if not lists or not index.isdigit() or int(index) != len(lists[-1]):
                raise DataFormatError("fashionvl/data/fashiongen_category_names.txt", number,
                                      f"expected '<id> <NAME>' with consecutive ids, got {line!r}")
            lists[-1].append(name.strip())
    main, sub = lists
    return main, sub


def _label_names(found: list[str], official: list[str], label_space: str, what: str, path) -> list[str]:
    if label_space == "present":
        order = {name: i for i, name in enumerate(official)}
        return sorted(set(found), key=lambda name: (order.get(name, len(order)), name))
    unknown = sorted(set(found) - set(official))
    if unknown:
        warnings.warn(f"{os.fspath(path)}: {what} names not in the Fashion-Gen list get new ids after the official "
                      f"ones: {unknown}", stacklevel=3)
    return list(official) + unknown


class FashionGenImageReader:
    """Reads ``input_image`` rows of a Fashion-Gen HDF5 file on demand (picklable, fork-safe)."""

    def __init__(self, h5_path):
        self.h5_path = os.fspath(h5_path)
        self._file = None
        self._pid = None

    def __getstate__(self):
        return {"h5_path": self.h5_path, "_file": None, "_pid": None}

    def _images(self):
        if self._file is None or self._pid != os.getpid():
            self._file = _require_h5py().File(self.h5_path, "r")
            self._pid = os.getpid()
        return self._file[IMAGE_FIELD]

    def read(self, row: int) -> Image.Image:
        """The RGB image of HDF5 row ``row``."""
        return Image.fromarray(np.asarray(self._images()[int(row)], dtype=np.uint8), mode="RGB")

    def __call__(self, batch: dict) -> dict:
        """`datasets` transform: add an ``image`` column read from the ``h5_index`` column."""
        batch = dict(batch)
        batch["image"] = [self.read(row) for row in batch["h5_index"]]
        return batch


def load_fashiongen(h5_path, caption_field: str = "input_description", label_space: str = "fashiongen"):
    """Load a Fashion-Gen HDF5 file as a `datasets.Dataset` whose images are read lazily.

    Args:
        h5_path: path of ``fashiongen_256_256_{train,validation}.h5``.
        caption_field: the string field used as ``caption`` (``"input_description"``, the product
            description; ``"input_name"`` the title; ``"input_concat_description"``).
        label_space: ``"fashiongen"`` numbers categories as in the official list (48 main, 121 sub;
            names not in it get ids after those, with a warning), the same ids for every split;
            ``"present"`` keeps only the names present in this file (official order first).

    Returns:
        A dataset with columns ``caption``, ``category`` and ``subcategory`` (ClassLabel),
        ``product_id``, ``h5_index`` (the HDF5 row), ``name``, ``department``, ``gender``,
        ``composition``, ``brand``, ``season``, ``pose`` (strings, empty if the field is absent)
        and ``msrp`` (float), plus ``image`` (PIL, RGB) added on access by a `set_transform`
        (`FashionGenImageReader`). Rows keep the file order, so the rows of a product stay
        contiguous. Calling ``set_transform``/``with_format`` again replaces the image reader;
        chain ``FashionGenImageReader(h5_path)`` into your own transform in that case.
    """
    h5py = _require_h5py()
    from datasets import ClassLabel, Dataset, DatasetInfo, Features, Value

    from .metadata import catalog_info_description

    if label_space not in ("fashiongen", "present"):
        raise ValueError(f"label_space must be 'fashiongen' or 'present', got {label_space!r}")
    if caption_field not in STRING_FIELDS:
        raise ValueError(f"caption_field must be one of {STRING_FIELDS}, got {caption_field!r}")
    if not os.path.isfile(h5_path):
        raise FileNotFoundError(f"Fashion-Gen HDF5 file {os.fspath(h5_path)} does not exist")

    try:
        opened = h5py.File(h5_path, "r")
    except OSError as error:
        raise DataFormatError(h5_path, None, f"not a readable HDF5 file: {error}") from None
    with opened as handle:
        missing = [key for key in (*_REQUIRED, caption_field) if key not in handle]
        if missing:
            raise DataFormatError(h5_path, None, f"missing HDF5 dataset(s) {missing}; found {sorted(handle.keys())}")
        images = handle[IMAGE_FIELD]
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise DataFormatError(h5_path, None, f"'{IMAGE_FIELD}' must be (N, H, W, 3) uint8, got "
                                                 f"{images.shape} {images.dtype}")
        num_rows = images.shape[0]
        if images.shape[1] == 0 or images.shape[2] == 0:
            raise DataFormatError(h5_path, None, f"'{IMAGE_FIELD}' holds empty images of shape {images.shape}")

        def column(key: str) -> np.ndarray:
            data = handle[key]
            if data.shape not in ((num_rows, 1), (num_rows,)):
                raise DataFormatError(h5_path, None, f"'{key}' must have shape ({num_rows}, 1) like '{IMAGE_FIELD}', "
                                                     f"got {data.shape}")
            return data[()].reshape(num_rows)

        def text_column(key: str) -> list[str]:
            if key not in handle:
                return [""] * num_rows
            values = column(key)
            if values.dtype.kind not in ("S", "U", "O"):
                raise DataFormatError(h5_path, None, f"'{key}' must hold strings (fixed-length bytes), got dtype "
                                                     f"{values.dtype}")
            return [decode_text(value) for value in values]

        def product_ids() -> list[int]:
            values = column("input_productID")
            if values.dtype.kind == "f":
                bad = ~np.isfinite(values) | (values != np.round(values))
                if bad.any():
                    row = int(np.flatnonzero(bad)[0])
                    raise DataFormatError(h5_path, None, f"'input_productID' row {row} is {values[row]!r}; product "
                                                         "ids must be integers")
            elif values.dtype.kind not in ("i", "u"):
                raise DataFormatError(h5_path, None, f"'input_productID' must be integers, got dtype {values.dtype}")
            return values.astype(np.int64).tolist()

        categories = text_column("input_category")
        subcategories = text_column("input_subcategory")
        columns = {
            "caption": text_column(caption_field),
            "product_id": product_ids(),
            "h5_index": list(range(num_rows)),
            **{name: text_column(key) for name, key in _TEXT_COLUMNS.items()},
            "msrp": column("input_msrpUSD").astype(np.float64).tolist() if "input_msrpUSD" in handle
            else [float("nan")] * num_rows,
        }

    official_main, official_sub = fashiongen_category_names()
    main_names = _label_names(categories, official_main, label_space, "category", h5_path)
    sub_names = _label_names(subcategories, official_sub, label_space, "sub-category", h5_path)
    main_ids = {name: i for i, name in enumerate(main_names)}
    sub_ids = {name: i for i, name in enumerate(sub_names)}
    columns["category"] = [main_ids[name] for name in categories]
    columns["subcategory"] = [sub_ids[name] for name in subcategories]

    parents = {}
    for main, sub in zip(columns["category"], columns["subcategory"]):
        parents.setdefault(sub, main)
    features = Features(
        {
            "caption": Value("string"),
            "category": ClassLabel(names=main_names),
            "subcategory": ClassLabel(names=sub_names),
            "product_id": Value("int64"),
            "h5_index": Value("int64"),
            **{name: Value("string") for name in _TEXT_COLUMNS},
            "msrp": Value("float64"),
        }
    )
    description = catalog_info_description(
        subcategory_parents=[parents.get(sub, -1) for sub in range(len(sub_names))],
        source={"format": "fashiongen-h5", "path": os.fspath(h5_path), "caption_field": caption_field},
    )
    dataset = Dataset.from_dict({name: columns[name] for name in features}, features=features,
                                info=DatasetInfo(description=description, features=features))
    dataset.set_transform(FashionGenImageReader(h5_path))
    return dataset


def _fixed_bytes(values: list[str]) -> np.ndarray:
    encoded = [value.encode("utf-8") for value in values]
    width = max([1, *map(len, encoded)])
    return np.array(encoded, dtype=f"S{width}").reshape(-1, 1)


def write_fashiongen_h5(dataset, path, chunk_size: int = 256) -> None:
    """Write an image-text dataset in the Fashion-Gen HDF5 layout (rows grouped by product).

    ``dataset`` needs ``image``, ``caption``, ``category``, ``subcategory`` (ClassLabel) and
    ``product_id``; optional ``name`` (title), ``view`` (pose number), ``department``,
    ``gender``, ``composition``, ``brand``, ``season``. All images must have one size.
    """
    h5py = _require_h5py()
    from tqdm.auto import tqdm

    required = ("image", "caption", "category", "subcategory", "product_id")
    missing = [name for name in required if name not in dataset.column_names]
    if missing:
        raise ValueError(f"write_fashiongen_h5 needs the columns {list(required)}; missing {missing}")
    category_names = dataset.features["category"].names
    subcategory_names = dataset.features["subcategory"].names
    text = dataset.remove_columns("image")
    product_ids = np.asarray(text["product_id"], dtype=np.int64)
    order = np.argsort(product_ids, kind="stable")  # the rows of one product are contiguous
    num_rows = len(order)

    def optional(name: str, default: str) -> list[str]:
        return [str(v) for v in text[name]] if name in text.column_names else [default] * num_rows

    captions = list(text["caption"])
    names = optional("name", "")
    views = [int(v) for v in text["view"]] if "view" in text.column_names else [0] * num_rows
    strings = {
        "input_description": captions,
        "input_name": names,
        "input_category": [category_names[i] for i in text["category"]],
        "input_subcategory": [subcategory_names[i] for i in text["subcategory"]],
        "input_department": optional("department", "CLOTHING"),
        "input_gender": optional("gender", "UNISEX"),
        "input_composition": optional("composition", ""),
        "input_brand": optional("brand", "FASHIONVL"),
        "input_season": optional("season", "SS18"),
        "input_concat_description": [f"{name} {caption}".strip() for name, caption in zip(names, captions)],
        "input_pose": [f"id_gridfs_{view + 1}" for view in views],
    }
    first = dataset[int(order[0])]["image"] if num_rows else Image.new("RGB", (256, 256), "white")
    height, width = first.height, first.width
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with h5py.File(path, "w") as handle:
        images = handle.create_dataset(IMAGE_FIELD, shape=(num_rows, height, width, 3), dtype=np.uint8,
                                       chunks=(1, height, width, 3) if num_rows else None)
        for start in tqdm(range(0, num_rows, chunk_size), desc=f"writing {os.path.basename(path)}", leave=False):
            rows = order[start:start + chunk_size]
            for offset, image in enumerate(dataset.select(rows.tolist())["image"]):
                if image.size != (width, height):
                    raise ValueError(f"row {int(rows[offset])}: image size {image.size} differs from the first "
                                     f"image's {(width, height)}; Fashion-Gen stores one size")
                images[start + offset] = np.asarray(image.convert("RGB"), dtype=np.uint8)
        for key, values in strings.items():
            handle.create_dataset(key, data=_fixed_bytes([values[i] for i in order]))
        handle.create_dataset("input_productID", data=product_ids[order].reshape(-1, 1))
        handle.create_dataset("input_msrpUSD", data=np.zeros((num_rows, 1), dtype=np.float32))
        handle.create_dataset("index", data=np.arange(num_rows, dtype=np.int64).reshape(-1, 1))
        handle.create_dataset("index_2", data=np.arange(num_rows, dtype=np.int64).reshape(-1, 1))
