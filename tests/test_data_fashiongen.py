"""Fashion-Gen HDF5 loader on a tiny file in the exact release layout (SPEC §5)."""

import pickle

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from fashionvl.data import DataFormatError, category_names, load_fashiongen, subcategory_names  # noqa: E402
from fashionvl.data.fashiongen import STRING_FIELDS, FashionGenImageReader, fashiongen_category_names  # noqa: E402

_ROWS = [
    # productID, category, subcategory, description (bytes, as stored), pose
    (101, b"TOPS", b"T-SHIRTS", b"Red cotton t-shirt with a crew neck.", b"id_gridfs_1"),
    (101, b"TOPS", b"T-SHIRTS", b"Red cotton t-shirt with a crew neck.", b"id_gridfs_2"),
    (102, b"SHIRTS", b"SHIRTS", b"Caf\xe9 au lait shirt in poplin.", b"id_gridfs_1"),  # Latin-1 byte
    (103, b"DRESSES", b"LONG DRESSES", "Ivory silk gown, plissé".encode("utf-8"), b"id_gridfs_1"),
    (103, b"DRESSES", b"LONG DRESSES", "Ivory silk gown, plissé".encode("utf-8"), b"id_gridfs_2"),
]


def _write_release_file(path, rows=_ROWS, drop=(), image_shape=None):
    num_rows = len(rows)
    images = np.arange(num_rows * 8 * 8 * 3, dtype=np.uint32).reshape(num_rows, 8, 8, 3) % 251
    strings = {key: [b"x"] * num_rows for key in STRING_FIELDS}
    strings["input_productID"] = None
    strings["input_category"] = [row[1] for row in rows]
    strings["input_subcategory"] = [row[2] for row in rows]
    strings["input_description"] = [row[3] for row in rows]
    strings["input_pose"] = [row[4] for row in rows]
    strings["input_name"] = [b"NAME %d" % row[0] for row in rows]
    with h5py.File(path, "w") as handle:
        handle.create_dataset("input_image", data=images.astype(np.uint8).reshape(image_shape or images.shape))
        for key in STRING_FIELDS:
            if key not in drop:
                width = max(len(v) for v in strings[key])
                handle.create_dataset(key, data=np.array(strings[key], dtype=f"S{width}").reshape(-1, 1))
        if "input_productID" not in drop:
            handle.create_dataset("input_productID", data=np.array([r[0] for r in rows], dtype=np.int32).reshape(-1, 1))
        handle.create_dataset("input_msrpUSD", data=np.full((num_rows, 1), 99.0, dtype=np.float32))
        handle.create_dataset("index", data=np.arange(num_rows).reshape(-1, 1))
        handle.create_dataset("index_2", data=np.arange(num_rows).reshape(-1, 1))
    return images.astype(np.uint8)


@pytest.fixture()
def release_file(tmp_path):
    path = tmp_path / "fashiongen_256_256_train.h5"
    images = _write_release_file(path)
    return path, images


def test_official_category_lists_have_48_main_and_121_sub_categories():
    main, sub = fashiongen_category_names()
    assert len(main) == 48 and main[4] == "TOPS" and len(sub) == 121 and sub[10] == "T-SHIRTS"


def test_rows_labels_and_product_ids_are_read(release_file):
    path, _ = release_file
    dataset = load_fashiongen(path)
    assert len(dataset) == 5
    assert dataset["product_id"] == [101, 101, 102, 103, 103]
    assert dataset["category"] == [4, 4, 0, 13, 13]  # ids of the official list
    assert category_names(dataset)[13] == "DRESSES" and subcategory_names(dataset)[35] == "LONG DRESSES"
    assert dataset["pose"][:2] == ["id_gridfs_1", "id_gridfs_2"]
    assert dataset["name"][2] == "NAME 102"


def test_byte_strings_are_decoded_as_utf8_or_latin1(release_file):
    dataset = load_fashiongen(release_file[0])
    assert dataset[2]["caption"] == "Café au lait shirt in poplin."
    assert dataset[3]["caption"] == "Ivory silk gown, plissé"


def test_images_are_not_stored_but_read_from_the_file_on_access(release_file):
    path, images = release_file
    dataset = load_fashiongen(path)
    assert "image" not in dataset.data.column_names
    row = dataset[3]
    assert row["image"].mode == "RGB" and np.array_equal(np.asarray(row["image"]), images[3])
    assert np.array_equal(np.asarray(dataset.select([4])[0]["image"]), images[4])


def test_image_reader_pickles_without_its_open_file(release_file):
    reader = FashionGenImageReader(release_file[0])
    reader.read(0)
    clone = pickle.loads(pickle.dumps(reader))
    assert np.array_equal(np.asarray(clone.read(1)), release_file[1][1])


def test_present_label_space_keeps_only_the_names_in_the_file(release_file):
    dataset = load_fashiongen(release_file[0], label_space="present")
    assert category_names(dataset) == ["SHIRTS", "TOPS", "DRESSES"]
    assert dataset["category"] == [1, 1, 0, 2, 2]


def test_unknown_category_names_get_ids_after_the_official_ones(tmp_path):
    rows = list(_ROWS) + [(104, b"CAPES", b"CAPES", b"A cape", b"id_gridfs_1")]
    _write_release_file(tmp_path / "f.h5", rows)
    with pytest.warns(UserWarning, match="CAPES"):
        dataset = load_fashiongen(tmp_path / "f.h5")
    assert dataset["category"][-1] == 48 and category_names(dataset)[48] == "CAPES"


def test_missing_field_error_names_the_file_and_the_field(tmp_path):
    _write_release_file(tmp_path / "broken.h5", drop=("input_productID",))
    with pytest.raises(DataFormatError, match=r"broken\.h5.*input_productID"):
        load_fashiongen(tmp_path / "broken.h5")


def test_image_array_of_the_wrong_shape_is_rejected(tmp_path):
    _write_release_file(tmp_path / "flat.h5", image_shape=(5, 8, 24))
    with pytest.raises(DataFormatError, match=r"flat\.h5.*input_image"):
        load_fashiongen(tmp_path / "flat.h5")


def test_bad_caption_field_names_the_choices(release_file):
    with pytest.raises(ValueError, match="input_title"):
        load_fashiongen(release_file[0], caption_field="input_title")


def test_map_and_filter_keep_the_lazy_image_column(release_file):
    dataset = load_fashiongen(release_file[0])
    lengths = dataset.map(lambda row: {"caption_length": len(row["caption"])})
    tops = dataset.filter(lambda row: row["category"] == 4)
    assert lengths[0]["caption_length"] == 36 and lengths[0]["image"].size == (8, 8)
    assert len(tops) == 2 and np.array_equal(np.asarray(tops[1]["image"]), release_file[1][1])
