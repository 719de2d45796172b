"""MVLT collators: MLM statistics, ITM negatives (other products, hard negatives), the MVLT batch contract."""

import pytest
import torch
from PIL import Image

from fashionvl import (
    DataCollatorForMVLTCategoryRecognition,
    DataCollatorForMVLTPretraining,
    DataCollatorForMVLTRetrieval,
    MVLTConfig,
    MVLTForPreTraining,
    MVLTImageProcessor,
    train_wordpiece_tokenizer,
)
from fashionvl.processing.collators import mask_tokens_for_mlm

# Product p's captions contain its own name word, so a caption's product can be read back from its tokens.
PRODUCT_NAMES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
SUBCATEGORY_OF_PRODUCT = [0, 0, 0, 1, 1, 1, 2, 2, 3, 4]  # sub-categories 3 and 4 hold a single product each
COLOURS = ["red", "blue"]


def make_rows():
    rows = []
    for product_id, name in enumerate(PRODUCT_NAMES):
        for colour in COLOURS:  # two rows (views / captions) per product
            rows.append(
                {
                    "image": Image.new("RGB", (24, 24), (product_id * 20, 100, 50)),
                    "caption": f"{name} {colour} cotton shirt with long sleeves and a collar",
                    "category": product_id % 3,
                    "subcategory": SUBCATEGORY_OF_PRODUCT[product_id],
                    "product_id": product_id,
                }
            )
    return rows


ROWS = make_rows()
POOL = {key: [row[key] for row in ROWS] for key in ("caption", "product_id", "subcategory")}


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece_tokenizer([row["caption"] for row in ROWS] * 3, vocab_size=200, model_max_length=32)


@pytest.fixture(scope="module")
def image_processor():
    return MVLTImageProcessor(size={"height": 64, "width": 64})


def product_of(input_ids, tokenizer):
    names = [token for token in tokenizer.convert_ids_to_tokens(input_ids.tolist()) if token in PRODUCT_NAMES]
    assert len(names) == 1, names
    return PRODUCT_NAMES.index(names[0])


def test_pretraining_batch_matches_the_mvlt_batch_contract(tokenizer, image_processor):
    collator = DataCollatorForMVLTPretraining(tokenizer=tokenizer, image_processor=image_processor, caption_pool=POOL, seed=0)
    batch = collator(ROWS[:6])
    assert list(batch) == [
        "input_ids", "attention_mask", "token_type_ids", "pixel_values", "bool_masked_pos", "mlm_labels", "itm_labels",
        "product_ids",
    ]
    length = batch["input_ids"].shape[1]
    for key in ("input_ids", "attention_mask", "token_type_ids", "mlm_labels"):
        assert batch[key].shape == (6, length) and batch[key].dtype == torch.long, key
    assert batch["pixel_values"].shape == (6, 3, 64, 64) and batch["pixel_values"].dtype == torch.float32
    assert batch["bool_masked_pos"].shape == (6, 16) and batch["bool_masked_pos"].dtype == torch.bool
    assert (batch["bool_masked_pos"].sum(dim=1) == 8).all()
    assert batch["itm_labels"].shape == (6,) and set(batch["itm_labels"].tolist()) <= {0, 1}
    assert batch["product_ids"].tolist() == [int(row["product_id"]) for row in ROWS[:6]]


def test_tiny_mvlt_pretraining_model_accepts_the_batch(tokenizer, image_processor):
    collator = DataCollatorForMVLTPretraining(tokenizer=tokenizer, image_processor=image_processor, seed=0)
    model = MVLTForPreTraining(MVLTConfig.from_preset("tiny", vocab_size=len(tokenizer)))
    output = model(**collator(ROWS[:4]))
    assert torch.isfinite(output.loss) and output.mlm_loss is not None and output.itm_loss is not None


def test_mlm_masks_fifteen_percent_with_80_10_10_replacement():
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, 1000, (400, 100), generator=generator)
    maskable = torch.ones_like(input_ids, dtype=torch.bool)
    maskable[:, 0] = maskable[:, -1] = False  # e.g. [CLS] and [SEP]
    masked, labels = mask_tokens_for_mlm(
        input_ids, maskable, mask_token_id=4, random_token_ids=torch.arange(5, 1000), generator=generator
    )
    chosen = labels != -100
    assert abs(chosen[maskable].float().mean().item() - 0.15) < 0.005  # ~5,900 chosen of 39,200
    assert not chosen[~maskable].any()
    assert torch.equal(labels[chosen], input_ids[chosen])
    became_mask = (masked == 4)[chosen].float().mean().item()
    unchanged = (masked == input_ids)[chosen].float().mean().item()
    became_random = 1 - became_mask - unchanged
    assert abs(became_mask - 0.8) < 0.02 and abs(became_random - 0.1) < 0.015 and abs(unchanged - 0.1) < 0.015
    assert torch.equal(masked[~chosen], input_ids[~chosen])


def test_mlm_chooses_at_least_one_token_per_caption():
    input_ids = torch.full((50, 6), 7)
    maskable = torch.ones_like(input_ids, dtype=torch.bool)
    _, labels = mask_tokens_for_mlm(input_ids, maskable, 4, torch.arange(5, 10), mlm_probability=0.01)
    assert ((labels != -100).sum(dim=1) >= 1).all()


def test_collator_never_masks_special_or_padding_tokens_over_many_draws(tokenizer, image_processor):
    collator = DataCollatorForMVLTPretraining(tokenizer=tokenizer, image_processor=image_processor, caption_pool=POOL, seed=1)
    rows = [dict(ROWS[0], caption="alpha shirt"), *ROWS[1:8]]  # one short caption: the others pad it
    chosen = total = 0
    for _ in range(30):
        batch = collator(rows)
        labelled = batch["mlm_labels"] != -100
        padding = batch["attention_mask"] == 0
        assert not labelled[padding].any()
        assert (batch["input_ids"][padding] == tokenizer.pad_token_id).all()
        assert (batch["input_ids"][:, 0] == tokenizer.cls_token_id).all()
        assert not torch.isin(batch["mlm_labels"][labelled], torch.tensor(tokenizer.all_special_ids)).any()
        last_real = batch["attention_mask"].sum(dim=1) - 1  # position of each caption's [SEP]
        assert (batch["input_ids"].gather(1, last_real[:, None]) == tokenizer.sep_token_id).all()
        chosen += labelled.sum().item()
        total += (batch["attention_mask"].sum() - 2 * len(rows)).item()  # tokens between [CLS] and [SEP]
    assert 0.12 < chosen / total < 0.19


def test_itm_negatives_never_reuse_the_same_products_caption(tokenizer, image_processor):
    collator = DataCollatorForMVLTRetrieval(
        tokenizer=tokenizer, image_processor=image_processor, caption_pool=POOL, itm_negative_probability=1.0, seed=0
    )
    for _ in range(10):
        batch = collator(ROWS)
        assert (batch["labels"] == 0).all()
        for row, ids in zip(ROWS, batch["input_ids"]):
            assert product_of(ids, tokenizer) != row["product_id"]


def test_itm_negative_rate_is_about_one_half(tokenizer, image_processor):
    collator = DataCollatorForMVLTRetrieval(tokenizer=tokenizer, image_processor=image_processor, caption_pool=POOL, seed=0)
    labels = torch.cat([collator(ROWS)["labels"] for _ in range(15)])  # 300 rows
    assert abs(labels.float().mean().item() - 0.5) < 0.1
    batch = collator(ROWS)
    for row, ids, label in zip(ROWS, batch["input_ids"], batch["labels"]):
        assert (product_of(ids, tokenizer) == row["product_id"]) == bool(label)


def test_hard_negatives_come_from_the_same_subcategory_when_it_has_another_product(tokenizer, image_processor):
    collator = DataCollatorForMVLTRetrieval(
        tokenizer=tokenizer, image_processor=image_processor, caption_pool=POOL, itm_negative_probability=1.0,
        hard_negatives=True, seed=0,
    )
    for _ in range(10):
        batch = collator(ROWS)
        for row, ids in zip(ROWS, batch["input_ids"]):
            negative_product = product_of(ids, tokenizer)
            assert negative_product != row["product_id"]
            if row["subcategory"] in (3, 4):  # single-product sub-categories: any other product
                continue
            assert SUBCATEGORY_OF_PRODUCT[negative_product] == row["subcategory"]


def test_in_batch_negatives_are_used_without_a_pool(tokenizer, image_processor):
    collator = DataCollatorForMVLTRetrieval(tokenizer=tokenizer, image_processor=image_processor, itm_negative_probability=1.0, seed=0)
    batch = collator(ROWS[:6])  # products 0, 0, 1, 1, 2, 2
    for row, ids in zip(ROWS[:6], batch["input_ids"]):
        assert product_of(ids, tokenizer) in {0, 1, 2} - {row["product_id"]}


def test_a_batch_of_one_product_without_a_pool_stays_positive(tokenizer, image_processor):
    collator = DataCollatorForMVLTRetrieval(tokenizer=tokenizer, image_processor=image_processor, itm_negative_probability=1.0)
    assert (collator(ROWS[:2])["labels"] == 1).all()


def test_negatives_captions_are_masked_for_mlm_too(tokenizer, image_processor):
    collator = DataCollatorForMVLTPretraining(
        tokenizer=tokenizer, image_processor=image_processor, caption_pool=POOL, itm_negative_probability=1.0, seed=0
    )
    batch = collator(ROWS[:8])
    assert (batch["itm_labels"] == 0).all()
    labelled = batch["mlm_labels"] != -100
    assert (labelled.sum(dim=1) >= 1).all()
    # The labels are the negative caption's own tokens: putting them back restores another product's caption.
    restored = torch.where(labelled, batch["mlm_labels"], batch["input_ids"])
    for row, ids in zip(ROWS[:8], restored):
        assert product_of(ids, tokenizer) != row["product_id"]
        caption = tokenizer.decode(ids, skip_special_tokens=True)
        assert caption in {pool_caption.lower() for pool_caption in POOL["caption"]}, caption


def test_content_word_masking_never_chooses_function_words(tokenizer, image_processor):
    collator = DataCollatorForMVLTPretraining(
        tokenizer=tokenizer, image_processor=image_processor, prefer_content_words=True, mlm_probability=0.5, seed=0
    )
    labelled = torch.cat([collator(ROWS)["mlm_labels"].flatten() for _ in range(5)])
    words = set(tokenizer.convert_ids_to_tokens(labelled[labelled != -100].tolist()))
    assert words and not words & {"with", "and", "a"}
    assert words & {"cotton", "shirt", "sleeves", "collar", "red", "blue"}


def test_same_seed_gives_the_same_batch(tokenizer, image_processor):
    first, second = (
        DataCollatorForMVLTPretraining(tokenizer=tokenizer, image_processor=image_processor, caption_pool=POOL, seed=7)(ROWS[:5])
        for _ in range(2)
    )
    for key in first:
        assert torch.equal(first[key], second[key]), key


def test_category_collator_gives_main_and_sub_category_labels(tokenizer, image_processor):
    batch = DataCollatorForMVLTCategoryRecognition(tokenizer=tokenizer, image_processor=image_processor)(ROWS[:5])
    assert batch["main_category_labels"].tolist() == [row["category"] for row in ROWS[:5]]
    assert batch["sub_category_labels"].tolist() == [row["subcategory"] for row in ROWS[:5]]
    assert "bool_masked_pos" not in batch and batch["pixel_values"].shape == (5, 3, 64, 64)


def test_missing_columns_are_reported_with_the_trainer_hint(tokenizer, image_processor):
    collator = DataCollatorForMVLTPretraining(tokenizer=tokenizer, image_processor=image_processor)
    with pytest.raises(ValueError, match=r"Row 0 lacks the column\(s\) \['product_id'\].*remove_unused_columns=False"):
        collator([{"image": ROWS[0]["image"], "caption": "red shirt"}])


def test_hard_negatives_need_a_subcategory_column_in_the_pool(tokenizer, image_processor):
    with pytest.raises(ValueError, match="subcategory"):
        DataCollatorForMVLTPretraining(
            tokenizer=tokenizer, image_processor=image_processor, hard_negatives=True,
            caption_pool={"caption": POOL["caption"], "product_id": POOL["product_id"]},
        )


def test_caption_pool_reads_a_datasets_dataset_columns():
    import datasets

    from fashionvl.processing.collators import NegativeCaptionSampler

    dataset = datasets.Dataset.from_list([{key: row[key] for key in ("image", "caption", "product_id", "subcategory")} for row in ROWS])
    sampler = NegativeCaptionSampler.from_rows(dataset)
    assert sampler.captions == POOL["caption"]
    row = sampler.sample(product_id=0, subcategory=0, hard=True, generator=torch.Generator().manual_seed(0))
    assert POOL["product_id"][row] != 0 and POOL["subcategory"][row] == 0
