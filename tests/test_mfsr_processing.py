"""mFSR vocabulary (word level, training captions only, min count 4) and MFSRProcessor."""

import pytest
from transformers import AutoTokenizer

from fashionvl.processing.processing_mfsr import MFSR_SPECIAL_TOKENS, build_mfsr_tokenizer

TRAIN_CAPTIONS = ["A red dress, with buttons."] * 4 + ["Blue shirt"] * 3 + ["RED coat!"]


def test_special_tokens_take_the_first_four_ids():
    tokenizer = build_mfsr_tokenizer(TRAIN_CAPTIONS)
    assert [tokenizer.convert_tokens_to_ids(token) for token in MFSR_SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert tokenizer.pad_token_id == 0 and tokenizer.unk_token == "<unk>"


def test_words_seen_fewer_than_min_count_times_are_unknown():
    tokenizer = build_mfsr_tokenizer(TRAIN_CAPTIONS, min_count=4)
    vocabulary = tokenizer.get_vocab()
    assert {"red", "dress", "a", "with", "buttons", ",", "."} <= vocabulary.keys()  # 4 or 5 occurrences
    assert "blue" not in vocabulary and "coat" not in vocabulary and "!" not in vocabulary  # 3 and 1


def test_captions_are_lowercased_split_at_punctuation_and_wrapped_in_start_end():
    tokenizer = build_mfsr_tokenizer(TRAIN_CAPTIONS)
    ids = tokenizer("A RED dress, blue")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["<start>", "a", "red", "dress", ",", "<unk>", "<end>"]


def test_a_word_only_in_test_captions_stays_unknown():
    tokenizer = build_mfsr_tokenizer(TRAIN_CAPTIONS)
    test_caption = "zebra " * 10
    assert set(tokenizer(test_caption)["input_ids"][1:-1]) == {tokenizer.unk_token_id}


def test_batches_are_right_padded_with_pad():
    tokenizer = build_mfsr_tokenizer(TRAIN_CAPTIONS)
    batch = tokenizer(["a red dress", "red"], padding=True)
    assert batch["input_ids"][1] == [1, tokenizer.convert_tokens_to_ids("red"), 2, 0, 0]
    assert batch["attention_mask"][1] == [1, 1, 1, 0, 0]


def test_tokenizer_round_trips_through_auto_tokenizer(tmp_path):
    tokenizer = build_mfsr_tokenizer(TRAIN_CAPTIONS)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded("A red dress, blue")["input_ids"] == tokenizer("A red dress, blue")["input_ids"]
    assert reloaded.pad_token_id == 0


def test_empty_training_captions_are_rejected():
    with pytest.raises(ValueError, match="at least one training caption"):
        build_mfsr_tokenizer([])


def _processor():
    from fashionvl import MFSRProcessor

    return MFSRProcessor.from_captions(TRAIN_CAPTIONS, image_size=32)


def test_processor_returns_pixel_values_and_right_padded_ids():
    from PIL import Image

    batch = _processor()(images=[Image.new("RGB", (50, 40), (255, 0, 0))] * 2, text=["a red dress", "red"])
    assert batch["pixel_values"].shape == (2, 3, 32, 32)
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, 5)
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 0, 0]
    assert "token_type_ids" not in batch


def test_processor_keeps_the_whole_image_without_cropping_to_content():
    assert _processor().image_processor.do_crop_to_content is False


def test_processor_round_trips_through_auto_processor(tmp_path):
    from transformers import AutoProcessor

    from fashionvl import MFSRProcessor

    processor = _processor()
    processor.save_pretrained(tmp_path)
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(reloaded, MFSRProcessor)
    assert reloaded(text="a red dress")["input_ids"].tolist() == processor(text="a red dress")["input_ids"].tolist()
    assert reloaded.image_processor.size.height == 32


def test_processor_needs_images_or_text():
    with pytest.raises(ValueError, match="images, text, or both"):
        _processor()()
