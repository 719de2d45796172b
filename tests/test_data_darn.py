"""DARN loader (ASEN release files) on tiny files in the exact layout."""

import json

import pytest
from PIL import Image

from fashionvl.data import DataFormatError, attribute_dimensions, load_darn, load_darn_retrieval_lists
from fashionvl.data.darn import DARN_ATTRIBUTES


def _write(root, label_train="0 0 3 2 10\n1 0 5\n1 8 16\n", query="0 2 7\n", candidate="1 2 7\n2 2 9\n2 0 1\n",
           meta=None):
    files = {
        "filenames_train.txt": "img/a.jpg\nimg/b.jpg\n",
        "label_train.txt": label_train,
        "filenames_test.txt": "img/c.jpg\nimg/d.jpg\nimg/e.jpg\n",
        "query_test.txt": query,
        "candidate_test.txt": candidate,
    }
    for name, text in files.items():
        (root / name).write_text(text)
    if meta is not None:
        (root / "meta.json").write_text(json.dumps(meta))
    (root / "img").mkdir(exist_ok=True)
    for name in "abcde":
        Image.new("RGB", (4, 4), "green").save(root / "img" / f"{name}.jpg")
    return root


def test_train_labels_merge_pairs_and_lines_per_image(tmp_path):
    train = load_darn(_write(tmp_path), "train")
    assert train["image_name"] == ["img/a.jpg", "img/b.jpg"]
    assert train["attribute_values"][0] == [3, -1, 10, -1, -1, -1, -1, -1, -1]
    assert train["attribute_values"][1] == [5, -1, -1, -1, -1, -1, -1, -1, 16]


def test_default_dimensions_are_darns_nine_attributes(tmp_path):
    dims = attribute_dimensions(load_darn(_write(tmp_path), "train"))
    assert list(dims) == list(DARN_ATTRIBUTES) and len(dims["clothes color"]) == 55


def test_meta_json_names_dimensions_and_values(tmp_path):
    meta = {"ATTRIBUTES": ["colour", "neck"], "ATTRIBUTES_NUM": {"colour": 3, "neck": 2},
            "ATTRIBUTES_VALUES": {"colour": ["red", "blue", "green"], "neck": ["crew", "v"]}}
    root = _write(tmp_path, label_train="0 0 2\n1 1 1\n", query="0 0 1\n", candidate="1 0 1\n", meta=meta)
    train = load_darn(root, "train")
    assert attribute_dimensions(train) == meta["ATTRIBUTES_VALUES"]
    assert train["attribute_values"] == [[2, -1], [-1, 1]]


def test_test_split_labels_come_from_query_and_candidate_lists(tmp_path):
    test = load_darn(_write(tmp_path), "test")
    assert test["attribute_values"] == [[-1, -1, 7] + [-1] * 6, [-1, -1, 7] + [-1] * 6, [1, -1, 9] + [-1] * 6]
    assert test[2]["image"].mode == "RGB"


def test_retrieval_lists_keep_one_row_per_line(tmp_path):
    lists = load_darn_retrieval_lists(_write(tmp_path), "test")
    assert lists["query"]["image_name"] == ["img/c.jpg"] and lists["query"]["value"] == [7]
    assert lists["candidate"]["attribute"] == [2, 2, 0] and lists["candidate"]["image_index"] == [1, 2, 2]


def test_value_out_of_range_names_file_and_line(tmp_path):
    root = _write(tmp_path, label_train="0 0 3\n1 3 7\n")  # clothes length has 7 values: 0..6
    with pytest.raises(DataFormatError, match=r"label_train\.txt, line 2: value of attribute 3"):
        load_darn(root, "train")


def test_dangling_attribute_without_value_names_file_and_line(tmp_path):
    root = _write(tmp_path, label_train="0 0 3 2\n")
    with pytest.raises(DataFormatError, match=r"label_train\.txt, line 1: expected 'img attr val"):
        load_darn(root, "train")


def test_query_line_with_two_pairs_is_rejected(tmp_path):
    root = _write(tmp_path, query="0 2 7 0 1\n")
    with pytest.raises(DataFormatError, match=r"query_test\.txt, line 1: expected 'img attr val'"):
        load_darn_retrieval_lists(root, "test")


def test_image_index_outside_the_filenames_list_names_file_and_line(tmp_path):
    root = _write(tmp_path, candidate="1 2 7\n5 2 7\n")
    with pytest.raises(DataFormatError, match=r"candidate_test\.txt, line 2: image index"):
        load_darn(root, "test")


def test_label_lines_may_name_the_image_instead_of_its_index(tmp_path):
    train = load_darn(_write(tmp_path, label_train="img/b.jpg 2 4\nimg/a.jpg 0 1\n"), "train")
    assert train["attribute_values"][0][0] == 1 and train["attribute_values"][1][2] == 4
