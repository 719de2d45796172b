"""M2FashionProcessor (attribute-state encoding, save/load) and in-batch triplet sampling (Sec. 3.4)."""

import pytest
import torch
from PIL import Image

from fashionvl import M2FashionProcessor
from fashionvl.processing.collators_m2fashion import M2FashionDataCollator, sample_triplet_indices

NAMES = ["floral", "denim", "long sleeve", "v-neck", "casual"]
TYPES = ["texture", "fabric", "shape", "part", "style"]


@pytest.fixture
def processor():
    return M2FashionProcessor.from_attribute_list(NAMES, TYPES, image_size=32)


def test_processor_returns_normalised_pixels_and_states(processor):
    images = [Image.new("RGB", (40, 30), "red"), Image.new("RGB", (20, 50), "blue")]
    batch = processor(images=images, attributes=[["floral", "v-neck"], None])
    assert batch["pixel_values"].shape == (2, 3, 32, 32)
    assert batch["attribute_states"].tolist() == [[1, 0, 0, 1, 0], [0, 0, 0, 0, 0]]


def test_attributes_can_be_given_by_name_index_or_mapping(processor):
    assert processor.encode_attributes(["denim", 4]).tolist() == [0, 1, 0, 0, 1]
    assert processor.encode_attributes({"floral": True, 2: -1, "casual": False}).tolist() == [1, 0, -1, 0, -1]
    assert processor.encode_attributes(torch.tensor([1, -1, 0, 0, 1])).tolist() == [1, -1, 0, 0, 1]
    assert processor.encode_attributes(None).tolist() == [0, 0, 0, 0, 0]


def test_a_single_image_takes_its_own_attribute_list(processor):
    batch = processor(images=Image.new("RGB", (32, 32)), attributes=["long sleeve"])
    assert batch["attribute_states"].tolist() == [[0, 0, 1, 0, 0]]


def test_unknown_attribute_names_and_bad_states_are_rejected(processor):
    with pytest.raises(ValueError, match="'silk'"):
        processor.encode_attributes(["silk"])
    with pytest.raises(ValueError, match="out of range"):
        processor.encode_attributes([5])
    with pytest.raises(ValueError, match="must be 1, -1, 0"):
        processor.encode_attributes({"denim": 2})
    with pytest.raises(ValueError, match=r"\(batch, 5\)"):
        processor(attribute_states=torch.zeros(2, 4))


def test_processor_validates_its_vocabulary():
    with pytest.raises(ValueError, match="duplicates"):
        M2FashionProcessor.from_attribute_list(["a", "a"])
    with pytest.raises(ValueError, match="one per attribute"):
        M2FashionProcessor.from_attribute_list(["a", "b"], ["texture"])


def test_processor_save_and_load_keeps_names_types_and_image_settings(tmp_path, processor):
    processor.save_pretrained(tmp_path)
    reloaded = M2FashionProcessor.from_pretrained(tmp_path)
    assert reloaded.attribute_names == NAMES and reloaded.attribute_types == TYPES
    image = Image.new("RGB", (45, 45), "green")
    assert torch.equal(reloaded(images=image)["pixel_values"], processor(images=image)["pixel_values"])


def test_decode_attributes_names_the_top_scoring_attributes(processor):
    logits = torch.tensor([[3.0, -2.0, 1.0, -1.0, 0.5]])
    assert processor.decode_attributes(logits, top_k=2) == [["floral", "long sleeve"]]
    assert processor.decode_attributes(logits, threshold=0.6) == [["floral", "long sleeve", "casual"]]


def test_triplets_have_a_positive_sharing_an_attribute_and_a_negative_sharing_none():
    labels = torch.where(torch.rand(64, 12) < 0.2, 1, -1)
    triplets = sample_triplet_indices(labels)
    assert len(triplets) > 0
    positive = labels == 1
    for anchor, pos, neg in triplets.tolist():
        assert anchor != pos and anchor != neg
        assert (positive[anchor] & positive[pos]).any()
        assert not (positive[anchor] & positive[neg]).any()


def test_anchor_without_a_valid_negative_forms_no_triplet():
    # every row shares attribute 0 with every other: there is no valid negative anywhere
    labels = torch.tensor([[1, 1, -1], [1, -1, 1], [1, 1, 1]])
    assert sample_triplet_indices(labels).shape == (0, 3)


def test_only_anchors_with_both_a_positive_and_a_negative_are_used():
    labels = torch.tensor(
        [
            [1, -1, -1],  # anchor 0: positive 1 (shares attribute 0); negatives 2 and 3 share nothing
            [1, 1, -1],  # anchor 1: positives 0 and 3; the only negative is 2
            [-1, -1, 1],  # anchor 2: nobody else has attribute 2 -> no positive -> skipped
            [-1, 1, -1],  # anchor 3: positive 1; negatives 0 and 2
        ]
    )
    for _ in range(20):
        triplets = {row[0]: tuple(row) for row in sample_triplet_indices(labels).tolist()}
        assert sorted(triplets) == [0, 1, 3]
        assert triplets[0] in {(0, 1, 2), (0, 1, 3)}
        assert triplets[1] in {(1, 0, 2), (1, 3, 2)}
        assert triplets[3] in {(3, 1, 0), (3, 1, 2)}


def test_collator_builds_labels_attribute_labels_and_valid_triplets(processor):
    rows = [
        {"image": Image.new("RGB", (32, 32), color), "category": category, "attributes": attributes}
        for color, category, attributes in [
            ("red", 0, [1, -1, -1, 1, -1]),
            ("blue", 1, [1, 1, -1, -1, -1]),
            ("green", 2, [-1, -1, 1, -1, 1]),
        ]
    ]
    batch = M2FashionDataCollator(processor, seed=0)(rows)
    assert batch["pixel_values"].shape == (3, 3, 32, 32)
    assert batch["labels"].tolist() == [0, 1, 2]
    assert batch["attribute_labels"].shape == (3, 5)
    assert {tuple(row) for row in batch["triplet_indices"].tolist()} == {(0, 1, 2), (1, 0, 2)}


def test_image_classification_pipeline_uses_the_category_head(processor):
    from transformers import pipeline

    from fashionvl import M2FashionConfig, M2FashionForAttributePrediction

    config = M2FashionConfig.from_preset(
        "tiny", num_attributes=len(NAMES), id2label={0: "dress", 1: "skirt", 2: "shirt"}
    )
    model = M2FashionForAttributePrediction(config).eval()
    classify = pipeline("image-classification", model=model, image_processor=processor.image_processor)
    image = Image.new("RGB", (32, 32), "red")
    predictions = classify(image, top_k=3)
    expected = model(processor(images=image)["pixel_values"]).logits.softmax(-1)[0]
    assert {p["label"] for p in predictions} == {"dress", "skirt", "shirt"}
    label_ids = {name: index for index, name in config.id2label.items()}
    for prediction in predictions:
        assert prediction["score"] == pytest.approx(expected[label_ids[prediction["label"]]].item(), abs=1e-5)
