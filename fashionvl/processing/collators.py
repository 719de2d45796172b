"""Data collators that turn dataset rows into model batches.

Rows are dicts with the dataset columns of the team contract: ``image`` (PIL image), ``caption`` (str),
``category`` (int), ``subcategory`` (int), ``product_id`` (int). Use them with
``TrainingArguments(remove_unused_columns=False)`` so the Trainer passes the raw columns through.

- `DataCollatorForMVLTPretraining`: the "MVLT batch" for `MVLTForPreTraining` (MIR + ITM + MLM):
  ``input_ids, attention_mask, token_type_ids, pixel_values, bool_masked_pos, mlm_labels, itm_labels``.
- `DataCollatorForMVLTRetrieval`: matched / mismatched pairs for ITM fine-tuning (no masking):
  ``input_ids, attention_mask, token_type_ids, pixel_values, labels``.
- `DataCollatorForMVLTCategoryRecognition`: ``input_ids, attention_mask, token_type_ids, pixel_values,
  main_category_labels, sub_category_labels`` (no masking).

ITM negatives (SPEC §2): each row's caption is replaced, with probability `itm_negative_probability`,
by the caption of a *different product* (different ``product_id``), and its ``itm_labels`` becomes 0.
Where the negative comes from:

1. the `caption_pool` given at construction: usually the training dataset itself (only its
   ``caption``, ``product_id`` and, for hard negatives, ``subcategory`` columns are read, never the
   images), or a dict of those lists. With `hard_negatives=True` the negative is drawn from the pool
   rows of the same sub-category (a harder decision, as in the Fashion-Gen evaluation protocol) and
   from the whole pool when that sub-category holds no other product;
2. without a pool, the other rows of the batch (same rules); a row whose batch holds no other product
   stays a positive pair.

MLM (SPEC §2, BERT recipe) runs on the caption each row ends up with, so negatives' captions are
masked too: `mlm_probability` (15%) of the maskable tokens are chosen; of those 80% become [MASK],
10% a random non-special token, 10% stay unchanged; `mlm_labels` holds the original id there and -100
elsewhere. Special tokens ([CLS], [SEP], [UNK]) and padding are never chosen. By default at least one token
per caption is chosen (`min_masked_tokens_per_caption=1`), so no batch has an MLM loss over zero
tokens. `prefer_content_words=True` restricts the choice to content words (function words such as
"a", "with", "and" and punctuation are never masked): SPEC §2 measured that MLM on content words is
what lets ITM learn early on a small catalog.

Image masks come from the image processor (`return_bool_masked_pos=True`), i.e. from
`fashionvl.processing.masking.MaskGenerator`. Randomness is drawn from one `torch.Generator` seeded
with `seed`, or from torch's global generator when `seed` is None (so `transformers.set_seed` and the
Trainer's per-worker seeding apply).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch


__all__ = [
    "DataCollatorForMVLTCategoryRecognition",
    "DataCollatorForMVLTPretraining",
    "DataCollatorForMVLTRetrieval",
    "NegativeCaptionSampler",
    "mask_tokens_for_mlm",
]

# Words MLM leaves alone with `prefer_content_words=True` (plus every punctuation-only token).
FUNCTION_WORDS = frozenset(
    "a an the and or but nor so yet of in on at to for from by with without into onto over under about "
    "as is are was were be been being it its this that these those has have had do does did not no "
    "than then there their they them he she his her we our you your i me my which who whom whose "
    "what when where while if also very can will would should could may might must just only all any "
    "each both few more most other some such up down out off per via".split()
)


def mask_tokens_for_mlm(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    mask_token_id: int,
    random_token_ids: torch.Tensor,
    mlm_probability: float = 0.15,
    mask_replace_prob: float = 0.8,
    random_replace_prob: float = 0.1,
    min_masked_tokens_per_caption: int = 1,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masked-language-modelling corruption (MVLT eq. 7 input).

    Args:
        input_ids: `(batch, length)` long token ids.
        maskable: `(batch, length)` bool, True where a token may be chosen (not special, not padding,
            and, for content-word masking, not a function word).
        mask_token_id: id of [MASK].
        random_token_ids: `(vocab_subset,)` ids the "random token" replacement draws from.
        mlm_probability: probability that a maskable token is chosen.
        mask_replace_prob / random_replace_prob: shares of chosen tokens replaced by [MASK] / a random
            token; the rest stay unchanged.
        min_masked_tokens_per_caption: rows with fewer chosen tokens get random extra maskable ones.
        generator: optional torch generator.

    Returns:
        `(masked_input_ids, mlm_labels)`, both `(batch, length)` long; labels are -100 where not chosen.
    """
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"`mlm_probability` must be in [0, 1], got {mlm_probability!r}.")
    if mask_replace_prob < 0 or random_replace_prob < 0 or mask_replace_prob + random_replace_prob > 1:
        raise ValueError(
            "`mask_replace_prob` and `random_replace_prob` must be >= 0 and sum to <= 1, got "
            f"{mask_replace_prob!r} and {random_replace_prob!r}."
        )
    maskable = maskable.bool()
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & maskable
    if min_masked_tokens_per_caption > 0 and mlm_probability > 0:
        # Rows short of the minimum get extra tokens: the maskable ones with the lowest random scores.
        missing = (min_masked_tokens_per_caption - chosen.sum(dim=1)).clamp(min=0)
        if bool((missing > 0).any()):
            scores = torch.rand(input_ids.shape, generator=generator).masked_fill(~maskable | chosen, 2.0)
            rank = scores.argsort(dim=1).argsort(dim=1)
            chosen |= (rank < missing[:, None]) & maskable & ~chosen
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))

    # 80% [MASK], 10% random token, 10% unchanged (BERT).
    decision = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (decision < mask_replace_prob)
    to_random = chosen & (decision >= mask_replace_prob) & (decision < mask_replace_prob + random_replace_prob)
    masked_ids = input_ids.clone()
    masked_ids[to_mask] = mask_token_id
    if bool(to_random.any()):
        picks = torch.randint(len(random_token_ids), (int(to_random.sum()),), generator=generator)
        masked_ids[to_random] = random_token_ids[picks].to(masked_ids.dtype)
    return masked_ids, labels


def _column(source: Any, name: str) -> list | None:
    """Reads one column from a dict of lists or a `datasets.Dataset` (None if missing)."""
    names = source.column_names if hasattr(source, "column_names") else list(source.keys())
    if name not in names:
        return None
    return list(source[name])


def product_id_tensor(rows: Sequence[Mapping[str, Any]]) -> torch.Tensor:
    """`(batch,)` long ids of the rows' products, so the model keeps rows of one product from being each other's
    contrastive or ITM negatives (also across DDP ranks: integer ids are kept, other ids become a stable CRC-32 of
    their text, the same on every rank)."""
    ids = []
    for row in rows:
        product_id = row["product_id"]
        if isinstance(product_id, (int, np.integer)) and not isinstance(product_id, bool):
            ids.append(int(product_id))
        else:
            ids.append(zlib.crc32(str(product_id).encode("utf-8")))
    return torch.tensor(ids, dtype=torch.long)


class NegativeCaptionSampler:
    """Draws captions of *other* products for ITM negatives.

    Args:
        captions: the pool captions.
        product_ids: product id of each caption.
        subcategories: sub-category of each caption (needed for hard negatives).

    `sample(product_id, subcategory=None, hard=False, generator=None)` returns the index of a pool row
    whose product id differs from `product_id` (and, with `hard=True`, whose sub-category equals
    `subcategory` when such a row exists), or None when the pool holds no other product.
    """

    def __init__(self, captions: Sequence[str], product_ids: Sequence[int], subcategories: Sequence[int] | None = None):
        if len(captions) != len(product_ids):
            raise ValueError(
                f"caption pool: {len(captions)} captions but {len(product_ids)} product ids; they must match."
            )
        if subcategories is not None and len(subcategories) != len(captions):
            raise ValueError(
                f"caption pool: {len(captions)} captions but {len(subcategories)} subcategories; they must match."
            )
        self.captions = list(captions)
        self.product_ids = np.asarray(product_ids)
        self.subcategories = None if subcategories is None else np.asarray(subcategories)
        self._rows_by_subcategory: dict[Any, np.ndarray] = {}
        if self.subcategories is not None:
            order = np.argsort(self.subcategories, kind="stable")
            values, starts = np.unique(self.subcategories[order], return_index=True)
            for value, rows in zip(values.tolist(), np.split(order, starts[1:])):
                self._rows_by_subcategory[value] = rows

    @classmethod
    def from_rows(cls, source: Any) -> "NegativeCaptionSampler":
        """From a `datasets.Dataset` or a dict with `caption`, `product_id` and optional `subcategory` columns."""
        if isinstance(source, NegativeCaptionSampler):
            return source
        if not (isinstance(source, Mapping) or hasattr(source, "column_names")):
            raise ValueError(
                "`caption_pool` must be a datasets.Dataset or a dict of columns with `caption` and `product_id`, "
                f"got {type(source).__name__}."
            )
        captions, product_ids = _column(source, "caption"), _column(source, "product_id")
        if captions is None or product_ids is None:
            raise ValueError("`caption_pool` must have the columns `caption` and `product_id`.")
        return cls(captions, product_ids, _column(source, "subcategory"))

    def __len__(self) -> int:
        return len(self.captions)

    def _draw_other_product(self, rows: np.ndarray, product_id: Any, generator: torch.Generator | None):
        # Rejection sampling is cheap when no product dominates; fall back to the exact candidate set.
        for _ in range(8):
            row = int(rows[int(torch.randint(len(rows), (1,), generator=generator))])
            if self.product_ids[row] != product_id:
                return row
        candidates = rows[self.product_ids[rows] != product_id]
        if len(candidates) == 0:
            return None
        return int(candidates[int(torch.randint(len(candidates), (1,), generator=generator))])

    def sample(
        self, product_id: Any, subcategory: Any = None, hard: bool = False, generator: torch.Generator | None = None
    ) -> int | None:
        if len(self.captions) == 0:
            return None
        if hard:
            if self.subcategories is None:
                raise ValueError("Hard negatives need a `subcategory` column in the caption pool.")
            rows = self._rows_by_subcategory.get(subcategory)
            if rows is not None:
                row = self._draw_other_product(rows, product_id, generator)
                if row is not None:
                    return row
        return self._draw_other_product(np.arange(len(self.captions)), product_id, generator)


class _MVLTCollatorBase:
    """Shared set-up: tokenizer + image processor, row validation, text and image encoding."""

    required_columns: tuple[str, ...] = ("image", "caption")

    def __init__(self, processor=None, tokenizer=None, image_processor=None, max_length: int | None = None,
                 padding: str = "longest"):
        if processor is not None:
            tokenizer = tokenizer or processor.tokenizer
            image_processor = image_processor or processor.image_processor
        if tokenizer is None or image_processor is None:
            raise ValueError("Give a `processor` (MVLTProcessor) or both `tokenizer` and `image_processor`.")
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        model_max_length = getattr(tokenizer, "model_max_length", None)
        if max_length is None:
            max_length = model_max_length if isinstance(model_max_length, int) and model_max_length < 100_000 else 128
        self.max_length = max_length
        self.padding = padding

    def _check_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not isinstance(rows, Sequence) or len(rows) == 0:
            raise ValueError(f"Expected a non-empty list of dataset rows, got {rows!r}"[:200])
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise ValueError(f"Row {index} must be a dict of columns, got {type(row).__name__}.")
            missing = [name for name in self.required_columns if name not in row]
            if missing:
                raise ValueError(
                    f"Row {index} lacks the column(s) {missing}; it has {sorted(row)}. (Did the Trainer drop "
                    "them? Set `remove_unused_columns=False`.)"
                )

    def _encode_text(self, captions: list[str]) -> dict[str, torch.Tensor]:
        for index, caption in enumerate(captions):
            if not isinstance(caption, str):
                raise ValueError(f"Caption {index} must be a str, got {type(caption).__name__} {caption!r}.")
        encoding = self.tokenizer(
            captions,
            padding=self.padding,
            truncation=True,
            max_length=self.max_length,
            return_special_tokens_mask=True,
            return_token_type_ids=True,
            return_tensors="pt",
        )
        return dict(encoding)

    def _encode_images(self, rows, **kwargs) -> dict[str, torch.Tensor]:
        return dict(self.image_processor([row["image"] for row in rows], return_tensors="pt", **kwargs))

    def _encode_pairs(self, rows, captions: list[str]) -> dict[str, torch.Tensor]:
        """Unmasked model inputs `input_ids, attention_mask, token_type_ids, pixel_values` for image-caption pairs."""
        encoding = self._encode_text(captions)
        images = self._encode_images(rows, return_bool_masked_pos=False)
        return {
            "input_ids": encoding["input_ids"],
            "attention_mask": encoding["attention_mask"],
            "token_type_ids": encoding["token_type_ids"],
            "pixel_values": images["pixel_values"],
        }


class DataCollatorForMVLTPretraining(_MVLTCollatorBase):
    """Builds MVLT pre-training batches (MIR + ITM + MLM); see the module docstring for the recipe.

    Args:
        processor (`MVLTProcessor`, *optional*): gives `tokenizer` and `image_processor`.
        tokenizer, image_processor: alternatively, the two parts.
        caption_pool (`datasets.Dataset`, dict of columns or `NegativeCaptionSampler`, *optional*):
            Where ITM negatives come from (`caption`, `product_id`, `subcategory` columns). In-batch
            negatives when None.
        itm_negative_probability (`float`, defaults to 0.5): probability that a row becomes a negative pair.
        hard_negatives (`bool`, defaults to False): draw negatives from the same sub-category.
        mlm_probability (`float`, defaults to 0.15), mask_replace_prob (0.8), random_replace_prob (0.1):
            BERT MLM corruption.
        min_masked_tokens_per_caption (`int`, defaults to 1): minimum chosen tokens per caption.
        prefer_content_words (`bool`, defaults to False): never mask function words or punctuation.
        mask_unit_size, mask_ratio, mask_style (*optional*): image-mask settings; the image processor's
            when None (16 px units, ratio 0.5, "random_grid").
        max_length (`int`, *optional*): text truncation length (tokenizer's `model_max_length`, else 128).
        padding (`str`, defaults to "longest"): "longest" or "max_length" (the paper pads to 128; the
            model masks padding, so both give the same outputs).
        seed (`int`, *optional*): seed of the collator's own generator (global torch RNG when None).

    Returns (from `__call__(rows)`): dict of tensors `input_ids, attention_mask, token_type_ids`
    `(batch, L)` long, `pixel_values` `(batch, 3, H, W)` float, `bool_masked_pos` `(batch, num_units)`
    bool, `mlm_labels` `(batch, L)` long (-100 where not masked), `itm_labels` `(batch,)` long (1 match),
    `product_ids` `(batch,)` long (rows of one product share an id; numbered within the batch).
    """

    required_columns = ("image", "caption", "product_id")

    def __init__(
        self,
        processor=None,
        tokenizer=None,
        image_processor=None,
        caption_pool: Any = None,
        itm_negative_probability: float = 0.5,
        hard_negatives: bool = False,
        mlm_probability: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        min_masked_tokens_per_caption: int = 1,
        prefer_content_words: bool = False,
        mask_unit_size: int | None = None,
        mask_ratio: float | None = None,
        mask_style: str | None = None,
        mask_images: bool = True,
        max_length: int | None = None,
        padding: str = "longest",
        seed: int | None = None,
    ):
        super().__init__(processor, tokenizer, image_processor, max_length=max_length, padding=padding)
        if not 0.0 <= itm_negative_probability <= 1.0:
            raise ValueError(f"`itm_negative_probability` must be in [0, 1], got {itm_negative_probability!r}.")
        self.caption_pool = None if caption_pool is None else NegativeCaptionSampler.from_rows(caption_pool)
        if hard_negatives and self.caption_pool is not None and self.caption_pool.subcategories is None:
            raise ValueError("`hard_negatives=True` needs a `subcategory` column in `caption_pool`.")
        self.itm_negative_probability = itm_negative_probability
        self.hard_negatives = hard_negatives
        self.mlm_probability = mlm_probability
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.min_masked_tokens_per_caption = min_masked_tokens_per_caption
        self.prefer_content_words = prefer_content_words
        self.mask_images = mask_images
        self.mask_settings = {
            key: value
            for key, value in (("mask_unit_size", mask_unit_size), ("mask_ratio", mask_ratio), ("mask_style", mask_style))
            if value is not None
        }
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)
        if mlm_probability > 0 and self.tokenizer.mask_token_id is None:
            raise ValueError("MLM needs a tokenizer with a mask token ([MASK]).")
        special_ids = set(self.tokenizer.all_special_ids)
        self.random_token_ids = torch.tensor([i for i in range(len(self.tokenizer)) if i not in special_ids])
        self._function_token = None
        if prefer_content_words:
            tokens = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
            self._function_token = torch.tensor(
                [token.lower() in FUNCTION_WORDS or not any(ch.isalnum() for ch in token) for token in tokens]
            )

    # ------------------------------------------------------------------------------------------- ITM
    def _draw_negative_caption(self, index: int, rows: Sequence[Mapping[str, Any]]) -> str | None:
        row = rows[index]
        product_id, subcategory = row["product_id"], row.get("subcategory")
        if self.hard_negatives and subcategory is None:
            raise ValueError(f"Row {index} lacks `subcategory`, which hard negatives need.")
        if self.caption_pool is not None:
            pool_row = self.caption_pool.sample(product_id, subcategory, self.hard_negatives, self.generator)
            return None if pool_row is None else self.caption_pool.captions[pool_row]
        # In-batch fallback: another row of the batch with a different product (same sub-category first).
        others = [j for j, other in enumerate(rows) if other["product_id"] != product_id]
        if self.hard_negatives:
            same_subcategory = [j for j in others if rows[j].get("subcategory") == subcategory]
            others = same_subcategory or others
        if not others:
            return None
        return rows[others[int(torch.randint(len(others), (1,), generator=self.generator))]]["caption"]

    def _pair_captions(self, rows: Sequence[Mapping[str, Any]], negative_probability: float):
        captions, itm_labels = [], []
        draws = torch.rand(len(rows), generator=self.generator)
        for index, row in enumerate(rows):
            caption = None
            if draws[index] < negative_probability:
                caption = self._draw_negative_caption(index, rows)
            captions.append(row["caption"] if caption is None else caption)
            itm_labels.append(1 if caption is None else 0)
        return captions, torch.tensor(itm_labels, dtype=torch.long)

    # ------------------------------------------------------------------------------------------- MLM
    def _maskable(self, encoding: dict[str, torch.Tensor]) -> torch.Tensor:
        maskable = (encoding["special_tokens_mask"] == 0) & (encoding["attention_mask"] == 1)
        if self.tokenizer.unk_token_id is not None:  # predicting [UNK] teaches nothing
            maskable &= encoding["input_ids"] != self.tokenizer.unk_token_id
        if self._function_token is not None:
            maskable &= ~self._function_token[encoding["input_ids"]]
        return maskable

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        self._check_rows(rows)
        captions, itm_labels = self._pair_captions(rows, self.itm_negative_probability)
        encoding = self._encode_text(captions)
        input_ids, mlm_labels = mask_tokens_for_mlm(
            encoding["input_ids"],
            self._maskable(encoding),
            mask_token_id=self.tokenizer.mask_token_id if self.tokenizer.mask_token_id is not None else -1,
            random_token_ids=self.random_token_ids,
            mlm_probability=self.mlm_probability,
            mask_replace_prob=self.mask_replace_prob,
            random_replace_prob=self.random_replace_prob,
            min_masked_tokens_per_caption=self.min_masked_tokens_per_caption,
            generator=self.generator,
        )
        images = self._encode_images(
            rows, return_bool_masked_pos=self.mask_images, generator=self.generator, **self.mask_settings
        )
        batch = {
            "input_ids": input_ids,
            "attention_mask": encoding["attention_mask"],
            "token_type_ids": encoding["token_type_ids"],
            "pixel_values": images["pixel_values"],
        }
        if self.mask_images:
            batch["bool_masked_pos"] = images["bool_masked_pos"]
        batch["mlm_labels"] = mlm_labels
        batch["itm_labels"] = itm_labels
        batch["product_ids"] = product_id_tensor(rows)
        return batch


class DataCollatorForMVLTRetrieval(DataCollatorForMVLTPretraining):
    """Image-text matching pairs for retrieval fine-tuning: no MLM and no image masking.

    Same negative sampling as pre-training (`caption_pool`, `hard_negatives`, `itm_negative_probability`).
    Returns `input_ids, attention_mask, token_type_ids, pixel_values` and the match label under
    `label_name` (default "labels", 1 = matching pair).
    """

    def __init__(self, processor=None, tokenizer=None, image_processor=None, caption_pool: Any = None,
                 itm_negative_probability: float = 0.5, hard_negatives: bool = False, label_name: str = "labels",
                 max_length: int | None = None, padding: str = "longest", seed: int | None = None):
        super().__init__(processor, tokenizer, image_processor, caption_pool=caption_pool,
                         itm_negative_probability=itm_negative_probability, hard_negatives=hard_negatives,
                         mlm_probability=0.0, mask_images=False, max_length=max_length, padding=padding, seed=seed)
        self.label_name = label_name

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        self._check_rows(rows)
        captions, itm_labels = self._pair_captions(rows, self.itm_negative_probability)
        return {**self._encode_pairs(rows, captions), self.label_name: itm_labels}


class DataCollatorForMVLTCategoryRecognition(_MVLTCollatorBase):
    """Image + caption -> main/sub-category labels (MVLT category recognition fine-tuning; no masking).

    Returns `input_ids, attention_mask, token_type_ids` `(batch, L)`, `pixel_values` `(batch, 3, H, W)`,
    `main_category_labels` and `sub_category_labels` `(batch,)` long, from the `category` and
    `subcategory` columns.
    """

    required_columns = ("image", "caption", "category", "subcategory")

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        self._check_rows(rows)
        return {
            **self._encode_pairs(rows, [row["caption"] for row in rows]),
            "main_category_labels": torch.tensor([int(row["category"]) for row in rows], dtype=torch.long),
            "sub_category_labels": torch.tensor([int(row["subcategory"]) for row in rows], dtype=torch.long),
        }
