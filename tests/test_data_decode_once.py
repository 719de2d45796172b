"""DecodeOnceDataset: the rows of a datasets.Dataset with each image decoded once, then served from memory."""

import numpy as np
import pytest
import torch

from fashionvl.data import DecodeOnceDataset
from fashionvl.data.decode_once import has_decoded_image_column
from fashionvl.data.synthetic import generate_catalog


@pytest.fixture(scope="module")
def catalog_split():
    return generate_catalog(40, seed=0, image_size=32, views_per_product=1, progress=False)["train"]


def test_rows_equal_the_dataset_rows(catalog_split):
    rows = DecodeOnceDataset(catalog_split)
    assert len(rows) == len(catalog_split)
    for index in (0, 5, -1):
        expected, row = catalog_split[index], rows[index]
        assert row.keys() == expected.keys()
        assert all(row[name] == expected[name] for name in expected if name != "image")
        assert row["image"].mode == expected["image"].mode
        assert np.array_equal(np.asarray(row["image"]), np.asarray(expected["image"]))


def test_each_image_is_decoded_once_across_epochs(catalog_split, monkeypatch):
    rows = DecodeOnceDataset(catalog_split)
    decoded = []
    decode = rows._decoder.decode_example
    monkeypatch.setattr(rows._decoder, "decode_example", lambda value: decoded.append(1) or decode(value))
    loader = torch.utils.data.DataLoader(rows, batch_size=8, shuffle=True, collate_fn=list)
    for _ in range(3):
        assert sum(len(batch) for batch in loader) == len(catalog_split)
    assert len(decoded) == len(catalog_split)


def test_images_past_the_memory_budget_are_decoded_per_access(catalog_split):
    rows = DecodeOnceDataset(catalog_split, max_cached_bytes=2 * 32 * 32 * 3)
    for index in range(4):
        rows[index]
    assert rows.cached_bytes == 2 * 32 * 32 * 3
    assert rows[0]["image"] is rows[0]["image"]  # kept
    assert rows[3]["image"] is not rows[3]["image"]  # decoded again


def test_a_dataset_without_an_image_feature_is_refused_with_its_features(catalog_split):
    captions = catalog_split.select_columns(["caption"])
    assert not has_decoded_image_column(captions)
    with pytest.raises(ValueError, match="'image' column"):
        DecodeOnceDataset(captions)


def test_a_row_past_the_end_is_an_index_error_naming_it(catalog_split):
    with pytest.raises(IndexError, match=f"row {len(catalog_split)} is out of range"):
        DecodeOnceDataset(catalog_split)[len(catalog_split)]


def test_rows_for_training_wraps_only_datasets_with_a_decoded_image_column(catalog_split):
    from fashionvl.data.decode_once import rows_for_training

    assert isinstance(rows_for_training(catalog_split), DecodeOnceDataset)
    assert rows_for_training(catalog_split, decode_images_once=False) is catalog_split
    captions = catalog_split.select_columns(["caption"])
    assert rows_for_training(captions) is captions
