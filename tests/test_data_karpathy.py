"""Karpathy split files (COCO / Flickr30K) loader on tiny files in the exact layout."""

import json

import pytest
from PIL import Image

from fashionvl.data import DataFormatError, flatten_captions, load_karpathy


def _sentences(prefix, count):
    return [{"raw": f"{prefix} caption {k} .", "tokens": [prefix, "caption", str(k)], "imgid": 0, "sentid": k}
            for k in range(count)]


def _coco(tmp_path, images=None):
    images = images or [
        {"filepath": "train2014", "filename": "COCO_train2014_1.jpg", "imgid": 0, "split": "train",
         "sentences": _sentences("a", 5), "cocoid": 1},
        {"filepath": "val2014", "filename": "COCO_val2014_2.jpg", "imgid": 1, "split": "restval",
         "sentences": _sentences("b", 6), "cocoid": 2},
        {"filepath": "val2014", "filename": "COCO_val2014_3.jpg", "imgid": 2, "split": "val",
         "sentences": _sentences("c", 5), "cocoid": 3},
        {"filepath": "val2014", "filename": "COCO_val2014_4.jpg", "imgid": 3, "split": "test",
         "sentences": _sentences("d", 7), "cocoid": 4},
    ]
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps({"images": images, "dataset": "coco"}))
    for image in images:
        (tmp_path / image.get("filepath", "") / image["filename"]).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4), "blue").save(tmp_path / image.get("filepath", "") / image["filename"])
    return path


def test_coco_restval_joins_train(tmp_path):
    train = load_karpathy(_coco(tmp_path), tmp_path, "train")
    assert train["filename"] == ["COCO_train2014_1.jpg", "COCO_val2014_2.jpg"]
    assert len(load_karpathy(tmp_path / "dataset_coco.json", tmp_path, "train", restval_in_train=False)) == 1


def test_five_captions_are_kept_per_image(tmp_path):
    test = load_karpathy(_coco(tmp_path), tmp_path, "test")
    assert test[0]["captions"] == [f"d caption {k} ." for k in range(5)]
    assert test[0]["caption"] == "d caption 0 ."


def test_images_resolve_under_filepath_and_decode_lazily(tmp_path):
    val = load_karpathy(_coco(tmp_path), tmp_path, "validation")
    assert val.data.column("image")[0].as_py()["path"].endswith("val2014/COCO_val2014_3.jpg")
    assert val[0]["image"].size == (4, 4) and val[0]["image_id"] == 2


def test_flickr_files_without_filepath(tmp_path):
    images = [{"filename": "1000.jpg", "imgid": 0, "split": "test", "sentences": _sentences("f", 5)}]
    dataset = load_karpathy(_coco(tmp_path, images), tmp_path, "test")
    assert dataset[0]["image"].mode == "RGB"


def test_flatten_captions_gives_one_row_per_caption(tmp_path):
    flat = flatten_captions(load_karpathy(_coco(tmp_path), tmp_path, "train"))
    assert len(flat) == 10 and flat["caption_index"][:6] == [0, 1, 2, 3, 4, 0]
    assert flat[6]["caption"] == "b caption 1 ." and flat[6]["image"].size == (4, 4)


def test_image_with_too_few_sentences_names_the_file_and_image(tmp_path):
    images = [{"filename": "x.jpg", "imgid": 0, "split": "val", "sentences": _sentences("x", 4)}]
    with pytest.raises(DataFormatError, match=r"dataset_coco\.json: images\[0\] \(x\.jpg\) has 4 sentences"):
        load_karpathy(_coco(tmp_path, images), tmp_path, "val")


def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "dataset_flickr30k.json"
    path.write_text('{"images": [\n{"filename": "a.jpg",\n "split": }\n]}')
    with pytest.raises(DataFormatError, match=r"dataset_flickr30k\.json, line 3"):
        load_karpathy(path, tmp_path, "test")


def test_unknown_split_in_file_is_reported(tmp_path):
    images = [{"filename": "y.jpg", "imgid": 0, "split": "dev", "sentences": _sentences("y", 5)}]
    with pytest.raises(DataFormatError, match="'dev'"):
        load_karpathy(_coco(tmp_path, images), tmp_path, "val")
