"""transformers' zero-shot-image-classification pipeline on tiny mFSR and MVLT checkpoints saved to disk.

The models are trained for a few steps on three solid-colour images and their template captions ("This is a photo
of red."), which makes a clearly separable case: the right label must come first, with a probability well above
1 / 3 (the scaled logits), where the plain cosine similarities gave a nearly flat softmax.
"""

import pytest
import torch
from PIL import Image
from transformers import AutoModelForZeroShotImageClassification, pipeline

import fashionvl
from fashionvl.hub import save_model_without_remote_code
from fashionvl.processing.processing_mfsr import ZERO_SHOT_TEMPLATE_WORDS, MFSRProcessor


LABELS = ["red", "green", "blue"]
COLOURS = {"red": (220, 20, 20), "green": (20, 200, 40), "blue": (30, 40, 220)}
TEMPLATE = "This is a photo of {}."
IMAGE_SIZE = 32


def colour_images() -> list[Image.Image]:
    return [Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), COLOURS[label]) for label in LABELS]


def fit_zero_shot(model, processor, steps: int, learning_rate: float) -> None:
    """A few steps of CLIP's symmetric cross-entropy over the three (image, template caption) pairs."""
    batch = processor(images=colour_images(), text=[TEMPLATE.format(label) for label in LABELS], padding=True,
                      return_tensors="pt")
    inputs = {name: batch[name] for name in ("pixel_values", "input_ids", "attention_mask")}
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    targets = torch.arange(len(LABELS))
    model.train()
    for _ in range(steps):
        logits = model(**inputs).logits_per_image
        loss = (torch.nn.functional.cross_entropy(logits, targets) + torch.nn.functional.cross_entropy(logits.t(), targets)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


@pytest.fixture(scope="module")
def mfsr_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mfsr_zero_shot")
    processor = MFSRProcessor.from_captions(["a dress", "a jacket"], image_size=IMAGE_SIZE, min_count=1,
                                            extra_words=[*LABELS, ZERO_SHOT_TEMPLATE_WORDS])
    torch.manual_seed(0)
    config = fashionvl.MFSRConfig.from_preset("tiny", vocab_size=len(processor.tokenizer))
    model = fashionvl.MFSRForZeroShotImageClassification(config)
    fit_zero_shot(model, processor, steps=40, learning_rate=3e-3)
    save_model_without_remote_code(model, folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def mvlt_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mvlt_zero_shot")
    processor = fashionvl.MVLTProcessor.from_captions([TEMPLATE.format(label) for label in LABELS] * 4, vocab_size=60,
                                                      image_size=IMAGE_SIZE, model_max_length=16)
    torch.manual_seed(0)
    config = fashionvl.MVLTConfig.from_preset("tiny", vocab_size=len(processor.tokenizer), image_size=IMAGE_SIZE,
                                              itc_loss_weight=1.0)
    model = fashionvl.MVLTForZeroShotImageClassification(config)
    fit_zero_shot(model, processor, steps=20, learning_rate=3e-4)
    save_model_without_remote_code(model, folder)
    processor.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("family", ["mfsr", "mvlt"])
def test_zero_shot_pipeline_ranks_the_right_colour_first_with_a_peaked_softmax(family, request):
    folder = request.getfixturevalue(f"{family}_folder")
    classifier = pipeline("zero-shot-image-classification", model=str(folder))
    assert type(classifier.model).__name__ == f"{family.upper()}ForZeroShotImageClassification"
    for label, image in zip(LABELS, colour_images()):
        result = classifier(image, candidate_labels=LABELS)  # transformers' default template "This is a photo of {}."
        assert result[0]["label"] == label, result
        assert result[0]["score"] > 0.6, result  # 1 / 3 would be flat
        assert sum(entry["score"] for entry in result) == pytest.approx(1.0, abs=1e-5)


def test_mfsr_zero_shot_logits_are_the_cosines_times_exp_logit_scale(mfsr_folder):
    """The temperature makes the difference between a flat and a peaked softmax: the same cosines, unscaled, give
    probabilities close to 1 / 3 (the case the issue measured: 0.336 / 0.335 / 0.329)."""
    model = AutoModelForZeroShotImageClassification.from_pretrained(mfsr_folder).eval()
    processor = MFSRProcessor.from_pretrained(mfsr_folder)
    batch = processor(images=colour_images()[:1], text=[TEMPLATE.format(label) for label in LABELS], return_tensors="pt")
    with torch.no_grad():
        outputs = model(pixel_values=batch["pixel_values"], input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    cosines = outputs.image_embeds @ outputs.text_embeds.T
    torch.testing.assert_close(outputs.logits_per_image, torch.exp(torch.tensor(model.config.logit_scale)) * cosines)
    torch.testing.assert_close(outputs.logits_per_text, outputs.logits_per_image.T)
    assert outputs.logits_per_image.softmax(-1).max() > 0.6 > cosines.softmax(-1).max()


def test_an_mfsr_retrieval_checkpoint_loads_as_the_zero_shot_classifier_with_the_same_embeddings(tmp_path):
    processor = MFSRProcessor.from_captions(["red dress"], image_size=IMAGE_SIZE, min_count=1)
    config = fashionvl.MFSRConfig.from_preset("tiny", vocab_size=len(processor.tokenizer))
    trained = fashionvl.MFSRForRetrieval(config).eval()
    save_model_without_remote_code(trained, tmp_path)
    loaded = AutoModelForZeroShotImageClassification.from_pretrained(tmp_path).eval()
    assert type(loaded).__name__ == "MFSRForZeroShotImageClassification"
    pixel_values = processor(images=colour_images(), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        torch.testing.assert_close(loaded.get_image_features(pixel_values), trained.get_image_features(pixel_values))


def test_mvlt_without_itc_is_refused_with_the_reason(tmp_path):
    processor = fashionvl.MVLTProcessor.from_captions(["red dress"] * 4, vocab_size=40, image_size=IMAGE_SIZE)
    config = fashionvl.MVLTConfig.from_preset("tiny", vocab_size=len(processor.tokenizer), image_size=IMAGE_SIZE)
    save_model_without_remote_code(fashionvl.MVLTForImageTextRetrieval(config), tmp_path)
    processor.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="itc_loss_weight=0"):
        pipeline("zero-shot-image-classification", model=str(tmp_path))


def test_mfsr_vocabulary_built_with_extra_words_knows_the_labels_and_the_default_template():
    processor = MFSRProcessor.from_captions(["a red dress", "a red coat"], min_count=2,
                                            extra_words=["Denim jeans", ZERO_SHOT_TEMPLATE_WORDS])
    tokenizer = processor.tokenizer
    unk = tokenizer.unk_token_id
    words = tokenizer(TEMPLATE.format("denim jeans"))["input_ids"][1:-1]  # without <start> / <end>
    assert tokenizer.convert_ids_to_tokens(words) == ["this", "is", "a", "photo", "of", "denim", "jeans", "."]
    assert unk not in words
    # counted words keep their ids (frequency order) and words below min_count still need extra_words
    assert tokenizer.convert_ids_to_tokens([4, 5]) == ["a", "red"]
    plain = MFSRProcessor.from_captions(["a red dress", "a red coat"], min_count=2).tokenizer
    assert plain(TEMPLATE.format("denim jeans"))["input_ids"][1:-1].count(plain.unk_token_id) == 7  # all but "a"
