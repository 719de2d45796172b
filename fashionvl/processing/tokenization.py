"""Text tokenizer for MVLT: a BERT-style WordPiece tokenizer.

With Hub access use `AutoTokenizer.from_pretrained("bert-base-uncased")` (what the paper's BERT-style
text embedding assumes). Offline, `train_wordpiece_tokenizer(captions, vocab_size=...)` trains one on a
caption corpus with the `tokenizers` library, using BERT's pipeline (BERT normaliser with lower-casing,
whitespace + punctuation pre-tokenizer, "##" continuation pieces) and BERT's special tokens
``[PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4``, and returns a standard transformers
`BertTokenizer` (tokenizers-backed, BERT template post-processor with `token_type_ids`) that
round-trips through `save_pretrained` / `AutoTokenizer.from_pretrained`.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import BertTokenizer


__all__ = ["BERT_SPECIAL_TOKENS", "train_wordpiece_tokenizer"]

# Order fixes the ids: [PAD]=0 (the model's padding index), [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4.
BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_wordpiece_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 8000,
    min_frequency: int = 2,
    model_max_length: int = 128,
    lowercase: bool = True,
    show_progress: bool = False,
) -> BertTokenizer:
    """Trains a BERT-style WordPiece tokenizer on `texts` and returns it as a transformers tokenizer.

    Args:
        texts: the training captions (train split only, so no test text leaks into the vocabulary).
        vocab_size: maximum vocabulary size, special tokens and single characters included.
        min_frequency: minimum count of a merged piece.
        model_max_length: maximum sequence length the tokenizer truncates to (MVLT: 128).
        lowercase: lower-case and strip accents (as `bert-base-uncased`).
        show_progress: show the `tokenizers` training progress bar.

    Returns:
        A `transformers.BertTokenizer` with `[PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4`; calling it gives
        `input_ids`, `token_type_ids` and `attention_mask` framed as `[CLS] text [SEP]`.

    Example:

    ```python
    >>> from fashionvl.processing import train_wordpiece_tokenizer
    >>> tokenizer = train_wordpiece_tokenizer(["red cotton shirt", "blue wool coat"] * 10, vocab_size=200)
    >>> tokenizer("red coat")["input_ids"][0] == tokenizer.cls_token_id
    True
    ```
    """
    if isinstance(texts, str):
        raise ValueError("`texts` must be an iterable of captions, got a single string.")
    texts = [text for text in texts]
    bad = [index for index, text in enumerate(texts) if not isinstance(text, str)]
    if bad:
        raise ValueError(f"`texts` must hold strings; texts[{bad[0]}] is {type(texts[bad[0]]).__name__}.")
    if not any(text.strip() for text in texts):
        raise ValueError("`texts` holds no non-empty caption to train the tokenizer on.")
    if not isinstance(vocab_size, int) or vocab_size <= len(BERT_SPECIAL_TOKENS):
        raise ValueError(f"`vocab_size` must be an int larger than {len(BERT_SPECIAL_TOKENS)}, got {vocab_size!r}.")

    # The same pipeline as transformers' BertTokenizer, so the trained vocabulary matches its tokenization.
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, lowercase=lowercase, strip_accents=None)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(BERT_SPECIAL_TOKENS),
        continuing_subword_prefix="##",
        show_progress=show_progress,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    vocab = tokenizer.get_vocab()
    for expected_id, token in enumerate(BERT_SPECIAL_TOKENS):
        if vocab.get(token) != expected_id:  # guaranteed by the trainer; checked because the model relies on it
            raise RuntimeError(f"Special token {token} got id {vocab.get(token)}, expected {expected_id}.")
    # BertTokenizer builds the BERT normaliser, pre-tokenizer, decoder and [CLS] $A [SEP] template itself.
    return BertTokenizer(vocab=vocab, do_lower_case=lowercase, model_max_length=model_max_length)
