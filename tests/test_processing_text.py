"""WordPiece tokenizer training and MVLTProcessor (image processor + tokenizer)."""

import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, AutoTokenizer

from fashionvl import MVLTImageProcessor, MVLTProcessor, train_wordpiece_tokenizer

CAPTIONS = [
    "Red cotton shirt with long sleeves and a pointed collar.",
    "Blue wool coat, double-breasted, with notched lapels.",
    "Black leather ankle boots with a chunky heel.",
    "White linen trousers with a drawstring waist.",
] * 5


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece_tokenizer(CAPTIONS, vocab_size=300, model_max_length=16)


@pytest.fixture
def processor(tokenizer):
    return MVLTProcessor(MVLTImageProcessor(size={"height": 32, "width": 32}), tokenizer)


def test_trained_tokenizer_has_bert_special_tokens_at_fixed_ids(tokenizer):
    ids = [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id]
    assert ids == [0, 1, 2, 3, 4]
    assert tokenizer.convert_ids_to_tokens(ids) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_trained_tokenizer_frames_lowercased_words_with_cls_and_sep(tokenizer):
    encoding = tokenizer("RED Wool, Boots.")
    assert tokenizer.convert_ids_to_tokens(encoding["input_ids"]) == ["[CLS]", "red", "wool", ",", "boots", ".", "[SEP]"]
    assert encoding["token_type_ids"] == [0] * 7 and encoding["attention_mask"] == [1] * 7


def test_unseen_words_split_into_wordpieces_or_unk(tokenizer):
    tokens = tokenizer.tokenize("bootsred")
    assert tokens[0] == "boots" and all(token.startswith("##") or token == "[UNK]" for token in tokens[1:])


def test_trained_tokenizer_round_trips_through_auto_tokenizer(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded("blue coat with a collar")["input_ids"] == tokenizer("blue coat with a collar")["input_ids"]
    assert loaded.model_max_length == 16 and loaded.mask_token == "[MASK]"


def test_tokenizer_training_rejects_bad_corpora():
    with pytest.raises(ValueError, match="single string"):
        train_wordpiece_tokenizer("red shirt")
    with pytest.raises(ValueError, match=r"texts\[1\] is int"):
        train_wordpiece_tokenizer(["red shirt", 3])
    with pytest.raises(ValueError, match="vocab_size.*3"):
        train_wordpiece_tokenizer(["red shirt"], vocab_size=3)


def test_processor_returns_image_and_text_inputs(processor):
    batch = processor(images=[Image.new("RGB", (20, 30))] * 2, text=CAPTIONS[:2], return_tensors="pt", return_bool_masked_pos=True)
    assert batch["pixel_values"].shape == (2, 3, 32, 32)
    assert batch["bool_masked_pos"].shape == (2, 4)
    assert batch["input_ids"].shape == batch["attention_mask"].shape == batch["token_type_ids"].shape
    assert batch["input_ids"].shape[0] == 2 and batch["input_ids"].dtype == torch.long


def test_processor_truncates_long_captions_to_max_length_by_default(processor):
    batch = processor(text=[" ".join(["red"] * 50)], return_tensors="pt")
    assert batch["input_ids"].shape == (1, 16) and batch["input_ids"][0, -1] == processor.tokenizer.sep_token_id


def test_processor_refuses_overlong_captions_without_truncation(processor):
    with pytest.raises(ValueError, match=r"`text\[1\]` is 52 tokens long, more than max_length=16"):
        processor(text=["red shirt", " ".join(["red"] * 50)], truncation=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"text": []}, "`text` is an empty list"),
        ({"images": [Image.new("RGB", (4, 4))] * 2, "text": ["one caption"]}, "2 image.*1 caption"),
        ({"text": ["fine", None]}, r"`text\[1\]` must be a str, got NoneType"),
        ({}, "needs `images`, `text` or both"),
        ({"images": None, "text": None}, "needs `images`, `text` or both"),
        ({"images": []}, "empty list"),
    ],
)
def test_processor_errors_name_the_bad_input(processor, kwargs, message):
    with pytest.raises(ValueError, match=message):
        processor(**kwargs)


def test_processor_round_trips_through_auto_processor(processor, tmp_path):
    processor.image_processor.do_crop_to_content = True
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, MVLTProcessor) and loaded.image_processor.do_crop_to_content
    image, caption = Image.new("RGB", (40, 20), "red"), "white linen trousers"
    original, restored = processor(images=image, text=caption, return_tensors="pt"), loaded(images=image, text=caption, return_tensors="pt")
    assert original.keys() == restored.keys()
    for key in original:
        assert torch.equal(original[key], restored[key]), key


def test_processor_from_captions_builds_everything_offline():
    processor = MVLTProcessor.from_captions(CAPTIONS, vocab_size=200, image_size=64)
    assert processor.image_processor.size.height == 64 and processor.tokenizer.mask_token_id == 4
