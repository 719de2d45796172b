"""Round trips: generate_catalog -> write_<format> -> load_<format> keeps labels and captions."""

import numpy as np
import pytest

from fashionvl.data import (
    attribute_dimensions,
    attribute_names,
    attribute_types,
    category_names,
    load_darn,
    load_darn_retrieval_lists,
    load_deepfashion,
    load_fashiongen,
    load_karpathy,
    subcategory_names,
    write_darn,
    write_deepfashion,
    write_fashiongen_h5,
    write_karpathy,
)
from fashionvl.data.synthetic import generate_catalog


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(40, seed=1, image_size=64, views_per_product=2, progress=False)


def _named(dataset, column, names):
    return [names[i] for i in dataset[column]]


def test_fashiongen_h5_round_trip_keeps_captions_labels_products_and_pixels(catalog, tmp_path):
    pytest.importorskip("h5py")
    train = catalog["train"]
    write_fashiongen_h5(train, tmp_path / "fashiongen_256_256_train.h5")
    loaded = load_fashiongen(tmp_path / "fashiongen_256_256_train.h5")
    assert loaded["caption"] == train["caption"]
    assert loaded["product_id"] == train["product_id"]
    assert _named(loaded, "category", category_names(loaded)) == _named(train, "category", category_names(train))
    assert _named(loaded, "subcategory", subcategory_names(loaded)) == _named(train, "subcategory",
                                                                             subcategory_names(train))
    assert loaded["name"] == train["name"] and loaded["pose"][:2] == ["id_gridfs_1", "id_gridfs_2"]
    assert np.array_equal(np.asarray(loaded[5]["image"]), np.asarray(train[5]["image"]))


def test_fashiongen_present_label_space_reproduces_the_main_category_ids(catalog, tmp_path):
    pytest.importorskip("h5py")
    write_fashiongen_h5(catalog["test"], tmp_path / "test.h5")
    loaded = load_fashiongen(tmp_path / "test.h5", label_space="present")
    present = sorted(set(catalog["test"]["category"]))
    assert category_names(loaded) == [category_names(catalog["test"])[i] for i in present]


def test_deepfashion_round_trip_keeps_subcategories_and_attributes(catalog, tmp_path):
    write_deepfashion(catalog, tmp_path)
    for split, name in (("train", "train"), ("validation", "val"), ("test", "test")):
        loaded = load_deepfashion(tmp_path, name)
        original = catalog[split]
        assert len(loaded) == len(original)
        assert _named(loaded, "category", category_names(loaded)) == _named(original, "subcategory",
                                                                           subcategory_names(original))
        assert loaded["attributes"] == original["attributes"]
    assert attribute_names(loaded) == attribute_names(original)
    assert attribute_types(loaded) == attribute_types(original)
    row = loaded[0]
    assert row["image"].size == (64, 64) and len(row["bbox"]) == 4 and row["landmarks"]


def test_karpathy_round_trip_keeps_five_captions_per_image(catalog, tmp_path):
    json_path = write_karpathy(catalog, tmp_path, restval_every=3)
    train = load_karpathy(json_path, tmp_path, "train")
    assert len(train) == len(catalog["train"])  # restval rows come back into train
    assert sorted(train["captions"]) == sorted(catalog["train"]["captions"])
    test = load_karpathy(json_path, tmp_path, "test")
    assert test["captions"] == catalog["test"]["captions"]
    assert test[0]["image"].size == (64, 64)


def test_darn_round_trip_keeps_attribute_values_and_builds_query_lists(catalog, tmp_path):
    write_darn(catalog, tmp_path)
    train = load_darn(tmp_path, "train")
    assert train["attribute_values"] == catalog["train"]["attribute_values"]
    assert attribute_dimensions(train) == attribute_dimensions(catalog["train"])
    test = load_darn(tmp_path, "test")
    assert test["attribute_values"] == catalog["test"]["attribute_values"]
    lists = load_darn_retrieval_lists(tmp_path, "test")
    assert len(lists["query"]) > 0 and len(lists["candidate"]) > len(lists["query"])
    query = lists["query"][0]
    assert query["value"] == test[query["image_index"]]["attribute_values"][query["attribute"]]
