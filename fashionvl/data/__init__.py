"""Datasets for fashionvl: loaders of the papers' datasets and the bundled synthetic catalog.

Every loader returns a `datasets.Dataset` whose images are decoded lazily, on row access:

- `load_fashiongen(h5_path)`: Fashion-Gen HDF5 (images read from the HDF5 file by a transform).
- `load_deepfashion(root, split)`: DeepFashion Category & Attribute Prediction (image paths).
- `load_karpathy(json_path, image_root, split)`: COCO / Flickr30K Karpathy splits (image paths).
- `load_darn(root, split)` and `load_darn_retrieval_lists(root, split)`: DARN, ASEN release.
- `fashionvl.data.synthetic.generate_catalog(num_products, seed=0, image_size=256)`: the bundled
  procedural catalog (PNG bytes in memory).

`DecodeOnceDataset(dataset)` serves the rows of a dataset with an ``Image`` column with each image decoded once (on
first access) instead of at every access; the recipes hand it to the Trainer.

Each format's writer lives next to its reader (`write_fashiongen_h5`, `write_deepfashion`, `write_karpathy`,
`write_darn`), so a catalog can be exported in every on-disk format the loaders read.

Malformed files raise `DataFormatError` (a ``ValueError``) whose message starts with
``<path>, line <n>:``. Text files are read as UTF-8 (a BOM is dropped). Image names from annotation files are
resolved against the dataset's image root; absolute names and names leaving it are refused.

Row schema (image-text datasets): ``image`` (PIL.Image as stored, EXIF orientation applied: RGB for
JPEGs and Fashion-Gen, possibly RGBA / L / 16-bit for PNGs; the image processor converts every mode), ``caption`` (str), ``category``
(int main-category id), ``subcategory`` (int sub-category id), ``product_id`` (int). Attribute
datasets add ``attributes`` (list of int in {-1, 0, 1}: negative, unknown, positive). Each loader's
docstring lists its extra columns.

Where the label metadata lives:

- Category names: the ``ClassLabel`` features of the ``category`` and ``subcategory`` columns;
  read them with `category_names(ds)` / `subcategory_names(ds)`.
- Attribute names and types, categorical attribute dimensions (DARN style) and the parent main
  category of each sub-category: a JSON object under the key ``"fashionvl"`` in
  ``ds.info.description`` (kept by ``map``/``filter``/``select``/``shuffle``/``save_to_disk``);
  read them with `attribute_names(ds)`, `attribute_types(ds)` (``"texture"``, ``"fabric"``,
  ``"shape"``, ``"part"``, ``"style"``), `attribute_dimensions(ds)` (``{name: [value names]}``,
  in the order of the ``attribute_values`` column) and `subcategory_parents(ds)`.
"""

from ._files import DataFormatError
from .decode_once import DecodeOnceDataset
from .darn import load_darn, load_darn_retrieval_lists, write_darn
from .deepfashion import load_deepfashion, write_deepfashion
from .fashiongen import FashionGenImageReader, load_fashiongen, write_fashiongen_h5
from .karpathy import flatten_captions, load_karpathy, write_karpathy
from .metadata import (
    ATTRIBUTE_TYPE_IDS,
    ATTRIBUTE_TYPE_NAMES,
    attribute_dimensions,
    attribute_names,
    attribute_types,
    category_names,
    subcategory_names,
    subcategory_parents,
)
from .synthetic import generate_catalog

__all__ = [
    "ATTRIBUTE_TYPE_IDS",
    "ATTRIBUTE_TYPE_NAMES",
    "DataFormatError",
    "DecodeOnceDataset",
    "FashionGenImageReader",
    "flatten_captions",
    "load_darn",
    "load_darn_retrieval_lists",
    "load_deepfashion",
    "load_fashiongen",
    "load_karpathy",
    "attribute_dimensions",
    "attribute_names",
    "attribute_types",
    "category_names",
    "generate_catalog",
    "subcategory_names",
    "subcategory_parents",
    "write_darn",
    "write_deepfashion",
    "write_fashiongen_h5",
    "write_karpathy",
]
