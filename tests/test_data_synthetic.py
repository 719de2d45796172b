"""The bundled synthetic catalog: deterministic, balanced, and its texts agree with its pixels."""

from collections import Counter

import numpy as np
import pytest

from fashionvl.data import attribute_dimensions, attribute_names, attribute_types, category_names, subcategory_names
from fashionvl.data.fashiongen import fashiongen_category_names
from fashionvl.data.synthetic import (
    ATTRIBUTES,
    COLORS,
    MAIN_CATEGORIES,
    SUBCATEGORIES,
    generate_catalog,
    make_captions,
    render_product,
    sample_product,
)

_COLOR_SYNONYMS = {"grey": ("grey", "gray")}
_PATTERN_WORDS = {
    "solid": ("solid", "plain", "no print"),
    "striped": ("stripe",),
    "dotted": ("dot",),
    "checked": ("check", "plaid"),
    "floral": ("flower", "floral"),
}


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(60, seed=3, image_size=64, views_per_product=2, progress=False)


def _all_rows(catalog):
    return [row for split in catalog.values() for row in split.select_columns(
        [c for c in split.column_names if c != "image"])]


def test_same_seed_gives_identical_images_and_texts():
    first = generate_catalog(20, seed=5, image_size=64, progress=False)
    second = generate_catalog(20, seed=5, image_size=64, progress=False)
    for split in first:
        assert first[split]["caption"] == second[split]["caption"]
        images_a = first[split].cast_column("image", first[split].features["image"].__class__(decode=False))["image"]
        images_b = second[split].cast_column("image", second[split].features["image"].__class__(decode=False))["image"]
        assert [image["bytes"] for image in images_a] == [image["bytes"] for image in images_b]


def test_different_seeds_give_different_products():
    first = generate_catalog(20, seed=0, image_size=64, progress=False)
    second = generate_catalog(20, seed=1, image_size=64, progress=False)
    assert first["train"]["caption"] != second["train"]["caption"]


def test_small_catalog_is_a_prefix_of_a_larger_one():
    small = [make_captions(sample_product(i, seed=2), seed=2) for i in range(10)]
    large = [make_captions(sample_product(i, seed=2), seed=2) for i in range(30)]
    assert large[:10] == small


def test_main_and_sub_categories_are_exactly_balanced(catalog):
    rows = [row for row in _all_rows(catalog) if row["view"] == 0]
    assert Counter(row["subcategory"] for row in rows) == {sub: 3 for sub in range(len(SUBCATEGORIES))}
    assert Counter(row["category"] for row in rows) == {main: 6 for main in range(len(MAIN_CATEGORIES))}


def test_taxonomy_is_modest_and_named_after_fashiongen(catalog):
    train = catalog["train"]
    assert category_names(train) == list(MAIN_CATEGORIES)
    assert 6 <= len(category_names(train)) <= 10 and 15 <= len(subcategory_names(train)) <= 25
    official_main, official_sub = fashiongen_category_names()
    assert set(category_names(train)) <= set(official_main) and set(subcategory_names(train)) <= set(official_sub)
    # Main-category ids follow the official order, so Fashion-Gen's "present" label space gives the same ids.
    assert category_names(train) == sorted(category_names(train), key=official_main.index)


def test_splits_are_by_product_and_cover_every_product(catalog):
    products = {split: set(catalog[split]["product_id"]) for split in catalog}
    assert set(catalog) == {"train", "validation", "test"}
    assert not products["train"] & products["validation"]
    assert not products["train"] & products["test"]
    assert not products["validation"] & products["test"]
    assert set().union(*products.values()) == set(range(60))
    assert len(products["validation"]) >= 4 and len(products["test"]) >= 4


def test_views_of_a_product_share_texts_but_not_pixels(catalog):
    train = catalog["train"]
    rows = [row for row in train.select(range(4))]
    assert rows[0]["product_id"] == rows[1]["product_id"] and (rows[0]["view"], rows[1]["view"]) == (0, 1)
    assert rows[0]["caption"] == rows[1]["caption"]
    assert not np.array_equal(np.asarray(rows[0]["image"]), np.asarray(rows[1]["image"]))


def test_images_are_rgb_at_the_requested_size(catalog):
    image = catalog["validation"][0]["image"]
    assert image.mode == "RGB" and image.size == (64, 64)


def test_every_caption_names_the_colour_pattern_fabric_and_product_type():
    for product_id in range(60):
        product = sample_product(product_id, seed=4)
        for caption in make_captions(product, seed=4):
            assert any(word in caption for word in _COLOR_SYNONYMS.get(product.color, (product.color,))), caption
            assert any(word in caption for word in _PATTERN_WORDS[product.pattern]), caption
            assert product.fabric in caption, caption
            assert any(noun in caption for noun in product.spec.nouns), caption


def test_five_differently_worded_captions_per_product(catalog):
    row = catalog["train"][0]
    assert len(row["captions"]) == 5 and row["caption"] == row["captions"][0]
    texts = [make_captions(sample_product(i, seed=0), seed=0) for i in range(40)]
    assert sum(len(set(captions)) for captions in texts) / len(texts) >= 3.5


def _dominant_colour(image) -> str:
    palette = np.array(list(COLORS.values()), dtype=np.float32)
    pixels = np.asarray(image).reshape(-1, 3).astype(np.float32)
    garment = pixels[pixels.min(axis=1) < 235]
    nearest = ((garment[:, None, :] - palette[None]) ** 2).sum(-1).argmin(1)
    return list(COLORS)[np.bincount(nearest, minlength=len(palette)).argmax()]


def test_dominant_garment_colour_is_the_colour_label():
    for product_id in range(200):
        product = sample_product(product_id, seed=6)
        assert _dominant_colour(render_product(product, 64)) == product.color, (product_id, product)


def test_dominant_colour_survives_the_view_jitter(catalog):
    dims = list(attribute_dimensions(catalog["train"]))
    for row in catalog["train"]:
        colour = list(COLORS)[row["attribute_values"][dims.index("color")]]
        assert _dominant_colour(row["image"]) == colour, (row["product_id"], row["view"])


def test_products_of_one_subcategory_differ_in_what_captions_name(catalog):
    rows = [row for row in _all_rows(catalog) if row["view"] == 0 and row["subcategory"] == 0]
    values = np.array([row["attribute_values"] for row in rows])
    dims = list(attribute_dimensions(catalog["train"]))
    assert len(set(values[:, dims.index("color")])) >= 2
    products = [sample_product(i, seed=0) for i in range(0, 400, len(SUBCATEGORIES))]
    assert len({p.color for p in products}) == len(COLORS)
    assert len({p.pattern for p in products}) == 5


def test_attributes_are_typed_minus_one_or_one_codes_consistent_with_values(catalog):
    train = catalog["train"]
    names, types = attribute_names(train), attribute_types(train)
    assert names == [name for name, _ in ATTRIBUTES] and len(types) == len(names)
    assert "polka dot" in names  # attribute names may contain spaces, as in DeepFashion
    dims = attribute_dimensions(train)
    for row in train.select_columns(["attributes", "attribute_values"]):
        codes = dict(zip(names, row["attributes"]))
        assert set(row["attributes"]) <= {-1, 1}
        for kind in ("texture", "fabric", "style"):
            assert sum(code == 1 for code, t in zip(row["attributes"], types) if t == kind) == 1
        fabric = dims["fabric"][row["attribute_values"][list(dims).index("fabric")]]
        assert codes[fabric] == 1
        color = row["attribute_values"][list(dims).index("color")]
        assert 0 <= color < len(COLORS)


def test_not_applicable_dimensions_are_minus_one():
    sneaker = next(sample_product(i) for i in range(40) if SUBCATEGORIES[i % 20].shape == "sneaker_low")
    values = sneaker.attribute_values()
    assert values[4] == -1 and values[5] == -1  # sleeve length and neckline of a sneaker


@pytest.mark.parametrize("kwargs", [{"num_products": 0}, {"num_products": 4, "image_size": 8},
                                    {"num_products": 4, "views_per_product": 0}])
def test_bad_arguments_name_the_bad_value(kwargs):
    with pytest.raises(ValueError, match="got"):
        generate_catalog(progress=False, **kwargs)
