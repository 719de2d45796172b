"""A user's own data (issue 14 §1): imagefolder + metadata.jsonl, CSV / JSON lines files, save_to_disk folders,
string labels class-encoded, product ids derived, attributes encoded, bad files named."""

import json
import logging

import pytest
from PIL import Image

from fashionvl.data import attribute_names
from fashionvl.data._files import DataFormatError
from fashionvl.data.user_data import UserDataArguments, load_user_dataset

CATEGORIES = ["TOPS", "SHOES", "DRESSES"]
COLOURS = {"TOPS": (200, 30, 30), "SHOES": (30, 30, 200), "DRESSES": (30, 160, 30)}


def write_image_folder(folder, count=12, with_attributes=False, metadata_name="metadata.jsonl"):
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for number in range(count):
        category = CATEGORIES[number % 3]
        name = f"item_{number:02d}.png"
        Image.new("RGB", (40, 48), COLOURS[category]).save(folder / name)
        row = {"file_name": name, "caption": f"a {category.lower()} number {number}", "category": category,
               "subcategory": f"{category}-{number % 2}"}
        if with_attributes:
            row["attributes"] = ["red"] if category == "TOPS" else ["blue", "long sleeve"] if category == "SHOES" else []
        rows.append(row)
    with open(folder / metadata_name, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return folder


def test_an_imagefolder_with_string_categories_becomes_the_fashionvl_schema(tmp_path, caplog):
    folder = write_image_folder(tmp_path / "shop")
    args = UserDataArguments(dataset_name=str(folder), category_column="category", subcategory_column="subcategory")
    with caplog.at_level(logging.INFO, logger="fashionvl.data.user_data"):
        splits = load_user_dataset(args, require=("image", "caption", "category"))
    assert set(splits) == {"train", "validation"}
    train = splits["train"]
    assert train.features["category"].names == sorted(CATEGORIES)
    assert len(splits["train"]) + len(splits["validation"]) == 12
    row = train[0]
    assert row["image"].size == (40, 48)  # decoded on access
    assert train.features["category"].int2str(row["category"]) in CATEGORIES
    assert "one product per distinct image" in caplog.text
    # products (here: images) never straddle the two splits
    assert not set(train["product_id"]) & set(splits["validation"]["product_id"])


def test_an_explicit_validation_file_and_a_product_column_are_used(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    lines = ["path,text,kind,sku"]
    for number in range(8):
        Image.new("RGB", (32, 32), (number * 20, 0, 0)).save(folder / f"{number}.png")
        lines.append(f"{number}.png,caption {number},{CATEGORIES[number % 3]},SKU-{number // 2}")
    (folder / "train.csv").write_text("\n".join(lines[:7]) + "\n")
    (folder / "val.csv").write_text("\n".join([lines[0]] + lines[7:]) + "\n")
    args = UserDataArguments(train_file=str(folder / "train.csv"), validation_file=str(folder / "val.csv"),
                             image_column="path", caption_column="text", category_column="kind",
                             product_id_column="sku")
    splits = load_user_dataset(args)
    assert len(splits["train"]) == 6 and len(splits["validation"]) == 2
    assert splits["validation"]["product_id"] == [3, 3]
    assert splits["train"]["product_id"] == [0, 0, 1, 1, 2, 2]
    assert splits["train"]["caption"][3] == "caption 3"
    assert splits["validation"].features["category"].names == splits["train"].features["category"].names


def test_string_attributes_become_known_positive_and_negative_states(tmp_path):
    folder = write_image_folder(tmp_path / "attributes", with_attributes=True)
    splits = load_user_dataset(UserDataArguments(dataset_name=str(folder), category_column="category",
                                                 attributes_column="attributes", validation_split_percentage=25))
    names = attribute_names(splits["train"])
    assert names == ["blue", "long sleeve", "red"]
    for row in splits["train"]:
        expected = {"TOPS": [-1, -1, 1], "SHOES": [1, 1, -1], "DRESSES": [-1, -1, -1]}
        category = splits["train"].features["category"].int2str(row["category"])
        assert row["attributes"] == expected[category]


def test_max_train_samples_keeps_the_first_rows(tmp_path):
    folder = write_image_folder(tmp_path / "small")
    splits = load_user_dataset(UserDataArguments(dataset_name=str(folder), max_train_samples=3))
    assert len(splits["train"]) == 3


def test_a_save_to_disk_folder_is_read_back(tmp_path):
    folder = write_image_folder(tmp_path / "disk_source")
    from datasets import load_dataset

    load_dataset(str(folder)).save_to_disk(str(tmp_path / "saved"))
    splits = load_user_dataset(UserDataArguments(dataset_name=str(tmp_path / "saved"), category_column="category"))
    assert splits["train"].features["category"].names == sorted(CATEGORIES)


@pytest.mark.parametrize(
    "line, message",
    [("../outside.png,a caption", "leaves"), ("missing.png,a caption", "does not exist"), (",a caption", "empty image path")],
)
def test_a_bad_image_path_names_the_file_and_line(tmp_path, line, message):
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (8, 8)).save(data / "ok.png")
    (data / "train.csv").write_text(f"image,caption\nok.png,fine\n{line}\n")
    with pytest.raises(DataFormatError, match=rf"train.csv, line 3: .*{message}"):
        load_user_dataset(UserDataArguments(train_file=str(data / "train.csv")))


def test_a_missing_column_names_the_option_to_set(tmp_path):
    folder = write_image_folder(tmp_path / "no_attributes")
    with pytest.raises(ValueError, match=r"needs the 'attributes' column: set --attributes_column"):
        load_user_dataset(UserDataArguments(dataset_name=str(folder)), require=("image", "attributes"))


def test_an_empty_caption_is_refused_with_its_row(tmp_path):
    data = tmp_path / "captions"
    data.mkdir()
    Image.new("RGB", (8, 8)).save(data / "a.png")
    (data / "train.jsonl").write_text(json.dumps({"image": "a.png", "caption": "  "}) + "\n")
    with pytest.raises(ValueError, match=r"row 0: empty caption"):
        load_user_dataset(UserDataArguments(train_file=str(data / "train.jsonl")))


def test_conflicting_sources_are_refused():
    with pytest.raises(ValueError, match="not both"):
        UserDataArguments(dataset_name="x", train_file="y.csv")
    with pytest.raises(ValueError, match="must be a"):
        UserDataArguments(train_file="rows.txt")
