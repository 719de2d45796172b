"""mFSR processor: the shared image processor plus a word-level caption tokenizer.

The vocabulary follows VSE++ (which mFSR builds on): lower-cased words, punctuation split off, every word seen at
least `min_count` (4) times in the TRAINING captions, plus `<pad>` (0), `<start>` (1), `<end>` (2), `<unk>` (3).
VSE++'s vocabulary script also counts validation/test captions; `build_mfsr_tokenizer` takes only the captions
it is given, and the recipe passes the training split alone, so test words are `<unk>` unless seen in training.

The tokenizer is a `tokenizers` WordLevel model wrapped in `PreTrainedTokenizerFast`, so it saves / loads with
`save_pretrained` / `AutoTokenizer.from_pretrained` like any transformers tokenizer. Encoded captions are
`<start> w_1 ... w_n <end>`, right-padded with `<pad>`.
"""

from collections.abc import Iterable

from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.processors import TemplateProcessing
from tokenizers.trainers import WordLevelTrainer
from transformers import BatchFeature, PreTrainedTokenizerFast
from transformers.processing_utils import ProcessorMixin

MFSR_SPECIAL_TOKENS = ("<pad>", "<start>", "<end>", "<unk>")
# The words of transformers' zero-shot-image-classification template "This is a photo of {}.": give it to
# `extra_words` so that the template is not `<unk>` for a vocabulary built from product captions.
ZERO_SHOT_TEMPLATE_WORDS = "This is a photo of."


def build_mfsr_tokenizer(
    train_captions: Iterable[str], min_count: int = 4, extra_words: Iterable[str] = ()
) -> PreTrainedTokenizerFast:
    """Build the word-level mFSR tokenizer from training captions.

    Args:
        train_captions: captions of the training split only (never validation or test captions).
        min_count: a word enters the vocabulary when it occurs at least this many times (VSE++: 4).
        extra_words: texts whose words enter the vocabulary whatever their count, after the counted words (e.g.
            the category names and the zero-shot template "This is a photo of {}.", so that zero-shot labels are
            not `<unk>`; see `ZERO_SHOT_TEMPLATE_WORDS`). Normalised and split as captions are.

    Returns:
        A `PreTrainedTokenizerFast` with ids 0-3 = `<pad>`, `<start>`, `<end>`, `<unk>`, then the words by
        decreasing frequency; `tokenizer(text)` gives `<start> ... <end>`.
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}.")
    tokenizer = Tokenizer(WordLevel(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    # `Whitespace` splits on \w+|[^\w\s]+: words and runs of punctuation become separate tokens
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = WordLevelTrainer(min_frequency=min_count, special_tokens=list(MFSR_SPECIAL_TOKENS), show_progress=False)
    captions = [caption for caption in train_captions]
    if not captions:
        raise ValueError("build_mfsr_tokenizer needs at least one training caption, got none.")
    tokenizer.train_from_iterator(captions, trainer=trainer)
    vocab = tokenizer.get_vocab()
    added = [word for text in extra_words for word, _ in
             tokenizer.pre_tokenizer.pre_tokenize_str(tokenizer.normalizer.normalize_str(text))]
    added = [word for word in dict.fromkeys(added) if word not in vocab]
    if added:  # appended after the counted words: the ids of the counted words do not change
        vocab.update({word: len(vocab) + position for position, word in enumerate(added)})
        normalizer, pre_tokenizer = tokenizer.normalizer, tokenizer.pre_tokenizer
        tokenizer = Tokenizer(WordLevel(vocab=vocab, unk_token="<unk>"))
        tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, pre_tokenizer
    tokenizer.post_processor = TemplateProcessing(
        single="<start> $A <end>",
        special_tokens=[("<start>", tokenizer.token_to_id("<start>")), ("<end>", tokenizer.token_to_id("<end>"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        bos_token="<start>",
        eos_token="<end>",
        unk_token="<unk>",
        padding_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )


class MFSRProcessor(ProcessorMixin):
    """Image processor + word-level tokenizer for mFSR.

    `processor(images=..., text=...)` returns `pixel_values` `(batch, 3, H, W)`, `input_ids` and `attention_mask`
    `(batch, length)` (right-padded; the model takes caption lengths from the mask).

    Args:
        image_processor: the shared `FashionImageProcessor` (mFSR setting: 224x224, no crop; see
            `MFSRProcessor.from_captions`) or any transformers image processor.
        tokenizer: from `build_mfsr_tokenizer`.
    """

    def __init__(self, image_processor=None, tokenizer=None, **kwargs):
        super().__init__(image_processor, tokenizer, **kwargs)

    @classmethod
    def from_captions(
        cls, train_captions: Iterable[str], image_size: int = 224, min_count: int = 4, extra_words: Iterable[str] = ()
    ) -> "MFSRProcessor":
        """Processor with a vocabulary built from `train_captions` (plus the words of `extra_words`, whatever their
        count: category names, `ZERO_SHOT_TEMPLATE_WORDS`) and the shared image processor at `image_size`."""
        from .image_processing_fashion import FashionImageProcessor

        image_processor = FashionImageProcessor(size={"height": image_size, "width": image_size}, do_crop_to_content=False)
        tokenizer = build_mfsr_tokenizer(train_captions, min_count=min_count, extra_words=extra_words)
        return cls(image_processor=image_processor, tokenizer=tokenizer)

    def __call__(self, images=None, text=None, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        """Process images and/or captions (`str` or list of `str`); keyword arguments go to the tokenizer."""
        if images is None and text is None:
            raise ValueError("MFSRProcessor needs images, text, or both.")
        data = {}
        if images is not None:
            data.update(self.image_processor(images, return_tensors=return_tensors))
        if text is not None:
            kwargs.setdefault("padding", True)
            data.update(self.tokenizer(text, return_tensors=return_tensors, **kwargs))
            data.pop("token_type_ids", None)
        return BatchFeature(data=data, tensor_type=return_tensors)

    def batch_decode(self, sequences, **kwargs) -> list[str]:
        """Word ids -> captions (special tokens dropped by default)."""
        kwargs.setdefault("skip_special_tokens", True)
        return self.tokenizer.batch_decode(sequences, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return ["pixel_values", "input_ids", "attention_mask"]


__all__ = ["MFSRProcessor", "build_mfsr_tokenizer", "MFSR_SPECIAL_TOKENS", "ZERO_SHOT_TEMPLATE_WORDS"]
