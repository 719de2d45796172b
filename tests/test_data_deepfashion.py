"""DeepFashion Category & Attribute Prediction loader on tiny files in the exact release layout."""

import numpy as np
import pytest
from PIL import Image

from fashionvl.data import DataFormatError, attribute_names, attribute_types, category_names, load_deepfashion

_IMAGES = [
    # image name, 1-based category, attribute values, partition
    ("img/Sheer_Pleated-Front_Blouse/img_00000001.jpg", 1, "-1 1 0 -1", "train"),
    ("img/Sheer_Pleated-Front_Blouse/img_00000002.jpg", 1, "1 -1 -1 0", "train"),
    ("img/Classic_Denim_Shorts/img_00000001.jpg", 2, "-1 -1 1 1", "val"),
    ("img/Floral_Maxi_Dress/img_00000001.jpg", 3, "1  -1 -1 -1", "test"),  # two spaces, as in the release
]
_FILES = {
    "Anno_coarse/list_category_cloth.txt": "3\ncategory_name  category_type\nBlouse                       1\n"
                                           "Shorts                       2\nDress                        3\n",
    "Anno_coarse/list_attr_cloth.txt": "4\nattribute_name  attribute_type\nfloral                 1\n"
                                       "denim                  2\nlong sleeve            3\nv-neck                 4\n",
}


def _tables(images):
    category = [f"{name} {label}" for name, label, _, _ in images]
    attrs = [f"{name} {values}" for name, _, values, _ in images]
    partition = [f"{name} {split}" for name, _, _, split in images]
    bbox = [f"{name} 1 2 6 7" for name, *_ in images]
    landmarks = [f"{name} 1 1 0 1 1 0 6 1 1 3 6 0 1 4 0 6 4 2 1 7" if i != 2 else f"{name} 2 1 0 2 1 0 5 1 0 2 7 0 5 7"
                 for i, (name, *_) in enumerate(images)]
    return category, attrs, partition, bbox, landmarks


def _write(root, images=_IMAGES, overrides=None):
    category, attrs, partition, bbox, landmarks = _tables(images)
    files = dict(_FILES)
    files["Anno_coarse/list_category_img.txt"] = f"{len(category)}\nimage_name  category_label\n" + "\n".join(category) + "\n"
    files["Anno_coarse/list_attr_img.txt"] = f"{len(attrs)}\nimage_name  attribute_labels\n" + "\n".join(attrs) + "\n"
    files["Eval/list_eval_partition.txt"] = f"{len(partition)}\nimage_name  evaluation_status\n" + "\n".join(partition) + "\n"
    files["Anno_coarse/list_bbox.txt"] = f"{len(bbox)}\nimage_name  x_1  y_1  x_2  y_2\n" + "\n".join(bbox) + "\n"
    files["Anno_coarse/list_landmarks.txt"] = (f"{len(landmarks)}\nimage_name  clothes_type  variation_type  ...\n"
                                               + "\n".join(landmarks) + "\n")
    files.update(overrides or {})
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    for name, *_ in images:
        (root / "Img" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (200, 30, 30)).save(root / "Img" / name)
    return root


def test_each_split_has_its_partition_images(tmp_path):
    root = _write(tmp_path)
    assert len(load_deepfashion(root, "train")) == 2
    assert len(load_deepfashion(root, "validation")) == 1
    assert load_deepfashion(root, "test")["image_name"] == [_IMAGES[3][0]]


def test_categories_are_zero_based_with_names_and_types(tmp_path):
    dataset = load_deepfashion(_write(tmp_path), "train")
    assert dataset["category"] == [0, 0]
    assert category_names(dataset) == ["Blouse", "Shorts", "Dress"]
    assert load_deepfashion(tmp_path, "val")["category_type"] == [2]


def test_attribute_values_and_typed_names_with_spaces(tmp_path):
    dataset = load_deepfashion(_write(tmp_path), "train")
    assert dataset["attributes"] == [[-1, 1, 0, -1], [1, -1, -1, 0]]
    assert attribute_names(dataset) == ["floral", "denim", "long sleeve", "v-neck"]
    assert attribute_types(dataset) == ["texture", "fabric", "shape", "part"]


def test_bboxes_and_variable_length_landmarks_are_parsed(tmp_path):
    root = _write(tmp_path)
    train = load_deepfashion(root, "train")
    assert train[0]["bbox"] == [1, 2, 6, 7]
    assert len(train[0]["landmarks"]) == 6 and train[0]["landmarks"][1] == [0, 6, 1]
    val = load_deepfashion(root, "val")
    assert val[0]["clothes_type"] == 2 and len(val[0]["landmarks"]) == 4


def test_images_are_paths_decoded_on_access(tmp_path):
    dataset = load_deepfashion(_write(tmp_path), "train")
    assert dataset.data.column("image")[0].as_py()["bytes"] is None
    image = dataset[0]["image"]
    assert image.mode == "RGB" and np.asarray(image)[4, 4, 0] > 150


def test_item_folders_give_item_names_and_product_ids(tmp_path):
    dataset = load_deepfashion(_write(tmp_path), "train")
    assert dataset["item_name"] == ["Sheer Pleated-Front Blouse"] * 2
    assert len(set(dataset["product_id"])) == 1


def test_count_line_that_disagrees_names_file_and_line_1(tmp_path):
    root = _write(tmp_path, overrides={"Anno_coarse/list_attr_cloth.txt": "5\nattribute_name attribute_type\na 1\nb 2\nc 3\nd 4\n"})
    with pytest.raises(DataFormatError, match=r"list_attr_cloth\.txt, line 1: the count line says 5"):
        load_deepfashion(root, "train")


def test_attribute_value_outside_minus_one_zero_one_names_file_and_line(tmp_path):
    images = list(_IMAGES)
    images[1] = (images[1][0], 1, "1 -1 2 0", "train")
    with pytest.raises(DataFormatError, match=r"list_attr_img\.txt, line 4: .*got '2'"):
        load_deepfashion(_write(tmp_path, images), "train")


def test_wrong_number_of_attribute_values_names_file_and_line(tmp_path):
    images = list(_IMAGES)
    images[0] = (images[0][0], 1, "1 -1 0", "train")
    with pytest.raises(DataFormatError, match=r"list_attr_img\.txt, line 3: expected 4 attribute values"):
        load_deepfashion(_write(tmp_path, images), "train")


def test_category_label_out_of_range_names_file_and_line(tmp_path):
    images = list(_IMAGES)
    images[2] = (images[2][0], 9, "1 1 1 1", "val")
    with pytest.raises(DataFormatError, match=r"list_category_img\.txt, line 5: .*got 9"):
        load_deepfashion(_write(tmp_path, images), "val")


def test_unknown_partition_status_names_file_and_line(tmp_path):
    images = list(_IMAGES)
    images[0] = (images[0][0], 1, "1 1 1 1", "training")
    with pytest.raises(DataFormatError, match=r"list_eval_partition\.txt, line 3: .*'training'"):
        load_deepfashion(_write(tmp_path, images), "train")


def test_unknown_split_name_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match="'dev'"):
        load_deepfashion(_write(tmp_path), "dev")
