"""MVLT recipes: data, processor, pre-training, fine-tuning, the Fashion-Gen protocols and the demo figures.

The scripts `scripts/pretrain_mvlt.py`, `scripts/finetune_mvlt.py`, `scripts/evaluate_mvlt.py` and the demo
(`fashionvl.demo`) are thin wrappers around this module.

Data (`load_image_text_splits`): `"synthetic"` (default) generates the bundled procedural catalog
(`fashionvl.data.synthetic.generate_catalog`); `"disk"` reads a `datasets.DatasetDict` saved with
`save_to_disk` whose rows follow the team's image-text schema (`image`, `caption`, `category`,
`subcategory`, `product_id`); `"fashiongen"` reads the Fashion-Gen HDF5 files (`data_path` = train file,
`eval_data_path` = validation file).

Training (MVLT paper Sec. 4.1): pre-training optimises MIR + ITM + MLM (eq. 8, weights from the config) with
`FashionTrainer`, which logs `mir_loss`, `itm_loss` and `mlm_loss`; ITM negatives are captions of other products
(optionally of the same sub-category, the "hard" negatives of the evaluation protocol) and MLM masks content
words by default (SPEC §2: on a small catalog MLM on content words is what lets ITM leave chance). Fine-tuning
trains `MVLTForCategoryRecognition` (M-CR + S-CR) or `MVLTForImageTextRetrieval` (ITM) from a pre-trained
checkpoint.

Evaluation (SPEC §6, paper Table 2): TIR and ITR rank 1 positive + 100 negatives of the positive's
sub-category by the ITM match probability, over `num_draws` seeded draws of `num_queries` queries (R@1/5/10,
SumR), plus a full-gallery mode; category recognition reports accuracy and macro-F1 (SumC) for the main and
the sub-category. Direction names follow `fashionvl.evaluation`: TIR = a caption queries candidate images,
ITR = an image queries candidate captions. Chance levels: R@k = k / (1 + num_negatives); for recognition,
always predicting the training split's most frequent class.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import TrainerCallback

from ..configs.configuration_mvlt import MVLTConfig
from ..evaluation import (
    classification_metrics,
    evaluate_full_gallery_retrieval,
    sum_c,
    sum_r,
)
from ..modeling.modeling_mvlt import MVLTForCategoryRecognition, MVLTForImageTextRetrieval, MVLTForPreTraining
from ..processing.collators import (
    DataCollatorForMVLTCategoryRecognition,
    DataCollatorForMVLTPretraining,
    DataCollatorForMVLTRetrieval,
)
from ..processing.image_processing_mvlt import MVLTImageProcessor
from ..processing.masking import MaskGenerator
from ..processing.processing_mvlt import MVLTProcessor
from ..processing.tokenization import train_wordpiece_tokenizer
from ..training import FashionTrainer
from ..training.callbacks import TimeBudgetCallback

logger = logging.getLogger(__name__)

DATA_FORMATS = ("synthetic", "disk", "fashiongen")
FINETUNING_TASKS = ("recognition", "retrieval")
EVALUATION_TASKS = ("retrieval", "recognition", "mig")
RECALL_KS = (1, 5, 10)


# ----------------------------------------------------------------------------------------------
# Arguments (HfArgumentParser dataclasses; every field's help is what `--help` prints)
# ----------------------------------------------------------------------------------------------


@dataclass
class MVLTDataArguments:
    """Where the image-text pairs come from and how they are cut."""

    data_format: str = field(
        default="synthetic",
        metadata={"help": f"One of {DATA_FORMATS}: the bundled synthetic catalog, a save_to_disk DatasetDict, "
                  "or Fashion-Gen HDF5 files."},
    )
    data_path: str | None = field(
        default=None,
        metadata={"help": "disk: the DatasetDict folder; fashiongen: the train .h5 file (fashiongen_256_256_train.h5)."},
    )
    eval_data_path: str | None = field(
        default=None, metadata={"help": "fashiongen: the validation .h5 file, used as the evaluation split."}
    )
    num_products: int = field(
        default=2000, metadata={"help": "synthetic: number of products (80/10/10 percent train/validation/test)."}
    )
    views_per_product: int = field(default=1, metadata={"help": "synthetic: images per product."})
    catalog_seed: int = field(default=0, metadata={"help": "synthetic: seed of the catalog."})
    image_size: int = field(
        default=64, metadata={"help": "Side of the model's square input images (paper: 256; tiny CPU recipe: 64)."}
    )
    max_text_length: int = field(default=40, metadata={"help": "Captions are truncated to this many tokens (paper: 128)."})
    train_split: str = field(default="train", metadata={"help": "Split used for training."})
    eval_split: str = field(default="test", metadata={"help": "Split used for evaluation (and the Trainer's eval loss)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only the first N training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only the first N evaluation rows."})

    def __post_init__(self):
        if self.data_format not in DATA_FORMATS:
            raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {self.data_format!r}.")
        if self.data_format != "synthetic" and self.data_path is None:
            raise ValueError(f"data_format={self.data_format!r} needs --data_path.")
        if self.image_size < 32:
            raise ValueError(f"image_size must be >= 32 pixels, got {self.image_size}.")


@dataclass
class MVLTModelArguments:
    """Which MVLT configuration, initial weights and processor to use."""

    preset: str = field(default="tiny", metadata={"help": "Configuration preset: 'tiny' (CPU) or 'paper'."})
    config_json: str | None = field(
        default=None, metadata={"help": "A config.json (MVLTConfig) to use instead of the preset."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "JSON object of config fields to override, e.g. '{\"mir_loss_weight\": 1.0}'."},
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "An MVLT checkpoint to start from (pre-training: continue; fine-tuning: required)."},
    )
    pvt_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Initialise the vision stream from a transformers PVT checkpoint (e.g. Zetatech/pvt-tiny-224)."},
    )
    processor_name_or_path: str | None = field(
        default=None,
        metadata={"help": "A saved MVLTProcessor; by default the one saved with --model_name_or_path, else a "
                  "WordPiece tokenizer is trained on the training captions."},
    )
    tokenizer_vocab_size: int = field(
        default=1000, metadata={"help": "Vocabulary size of a tokenizer trained on the training captions."}
    )


@dataclass
class MVLTPretrainingArguments:
    """Masking and negative sampling of pre-training (MIR + ITM + MLM)."""

    itm_negative_probability: float = field(default=0.5, metadata={"help": "Share of ITM negative pairs."})
    hard_negatives: bool = field(
        default=True, metadata={"help": "Draw ITM negative captions from the same sub-category."}
    )
    mlm_probability: float = field(default=0.15, metadata={"help": "Share of caption tokens masked for MLM."})
    prefer_content_words: bool = field(
        default=True, metadata={"help": "MLM never masks function words or punctuation (SPEC §2)."}
    )
    mask_ratio: float = field(default=0.5, metadata={"help": "Share r_v of masked image units (MIR)."})
    mask_style: str = field(
        default="random_grid", metadata={"help": "Image masking style: random_grid, grid, stroke or center."}
    )
    max_train_minutes: float | None = field(
        default=None, metadata={"help": "Stop training after this many minutes (all ranks stop together)."}
    )


@dataclass
class MVLTFinetuningArguments:
    """What to fine-tune a pre-trained MVLT for."""

    task: str = field(
        default="recognition",
        metadata={"help": f"One of {FINETUNING_TASKS}: M-CR + S-CR category heads, or ITM retrieval."},
    )
    itm_negative_probability: float = field(default=0.5, metadata={"help": "retrieval: share of negative pairs."})
    hard_negatives: bool = field(
        default=True, metadata={"help": "retrieval: negatives from the same sub-category."}
    )
    max_train_minutes: float | None = field(
        default=None, metadata={"help": "Stop training after this many minutes (all ranks stop together)."}
    )

    def __post_init__(self):
        if self.task not in FINETUNING_TASKS:
            raise ValueError(f"task must be one of {FINETUNING_TASKS}, got {self.task!r}.")


@dataclass
class MVLTEvaluationArguments:
    """The paper's evaluation protocols (Table 2) and figures."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Pre-trained (or retrieval fine-tuned) MVLT: retrieval and MIG."}
    )
    recognition_model_name_or_path: str | None = field(
        default=None, metadata={"help": "MVLTForCategoryRecognition checkpoint: M-CR / S-CR."}
    )
    output_dir: str = field(default="outputs/mvlt-eval", metadata={"help": "Where metrics and figures are written."})
    tasks: str = field(
        default="retrieval,recognition,mig",
        metadata={"help": f"Comma-separated subset of {EVALUATION_TASKS}."},
    )
    num_queries: int = field(default=1000, metadata={"help": "Queries per draw (paper: 1,000)."})
    num_draws: int = field(default=5, metadata={"help": "Seeded draws averaged (paper: 5)."})
    num_negatives: int = field(default=100, metadata={"help": "Negatives per query, same sub-category (paper: 100)."})
    evaluation_seed: int = field(default=0, metadata={"help": "Seed of the query/negative draws."})
    full_gallery: bool = field(default=False, metadata={"help": "Also rank every query against the whole split."})
    max_full_gallery_queries: int = field(
        default=200, metadata={"help": "Queries of the full-gallery mode (it scores queries x rows pairs)."}
    )
    pair_batch_size: int = field(default=256, metadata={"help": "Image-caption pairs per forward pass."})

    def task_list(self) -> list[str]:
        tasks = [task.strip() for task in self.tasks.split(",") if task.strip()]
        unknown = [task for task in tasks if task not in EVALUATION_TASKS]
        if unknown:
            raise ValueError(f"Unknown evaluation task(s) {unknown}; choose from {EVALUATION_TASKS}.")
        return tasks


# ----------------------------------------------------------------------------------------------
# Data, processor, configuration
# ----------------------------------------------------------------------------------------------


def load_image_text_splits(data_args: MVLTDataArguments, progress: bool = True):
    """The training and evaluation splits as a `datasets.DatasetDict` (keys: `data_args.train_split`, `eval_split`)."""
    from datasets import DatasetDict, load_from_disk

    if data_args.data_format == "synthetic":
        from ..data.synthetic import generate_catalog

        splits = generate_catalog(
            data_args.num_products,
            seed=data_args.catalog_seed,
            image_size=max(data_args.image_size, 32),
            views_per_product=data_args.views_per_product,
            progress=progress,
        )
    elif data_args.data_format == "disk":
        splits = load_from_disk(data_args.data_path)
        if not isinstance(splits, DatasetDict):
            raise ValueError(f"{data_args.data_path} holds one Dataset; expected a DatasetDict with named splits.")
    else:
        from ..data import load_fashiongen

        splits = DatasetDict({data_args.train_split: load_fashiongen(data_args.data_path)})
        if data_args.eval_data_path is not None:
            splits[data_args.eval_split] = load_fashiongen(data_args.eval_data_path)
    for split, limit in ((data_args.train_split, data_args.max_train_samples), (data_args.eval_split, data_args.max_eval_samples)):
        if split in splits and limit is not None:
            splits[split] = splits[split].select(range(min(limit, len(splits[split]))))
    missing = [split for split in (data_args.train_split,) if split not in splits]
    if missing:
        raise ValueError(f"The data has no split {missing[0]!r}; it has {sorted(splits)}.")
    return splits


def num_classes(dataset, column: str) -> int:
    """Number of classes of a label column: its ClassLabel size, else max id + 1."""
    feature = dataset.features.get(column)
    if getattr(feature, "num_classes", None):
        return int(feature.num_classes)
    return int(max(dataset[column])) + 1


def build_processor(model_args: MVLTModelArguments, data_args: MVLTDataArguments, train_dataset=None) -> MVLTProcessor:
    """Load the processor of `processor_name_or_path` / `model_name_or_path`, or build one (tokenizer trained on the
    training captions, 64 px image processor by default)."""
    if model_args.processor_name_or_path is not None:
        return MVLTProcessor.from_pretrained(model_args.processor_name_or_path)
    checkpoint = model_args.model_name_or_path
    if checkpoint is not None and os.path.isdir(checkpoint) and any(
        os.path.isfile(os.path.join(checkpoint, name)) for name in ("processor_config.json", "preprocessor_config.json")
    ):
        return MVLTProcessor.from_pretrained(checkpoint)
    if train_dataset is None:
        raise ValueError("Building a processor needs the training split (its captions train the tokenizer).")
    tokenizer = train_wordpiece_tokenizer(
        train_dataset["caption"], vocab_size=model_args.tokenizer_vocab_size, model_max_length=data_args.max_text_length
    )
    image_processor = MVLTImageProcessor(size={"height": data_args.image_size, "width": data_args.image_size})
    return MVLTProcessor(image_processor=image_processor, tokenizer=tokenizer)


def build_config(model_args: MVLTModelArguments, data_args: MVLTDataArguments, processor: MVLTProcessor, train_dataset) -> MVLTConfig:
    """The MVLT configuration: preset (or JSON) + the data's image size, vocabulary, caption length and class counts
    + `config_overrides`."""
    overrides = {
        "image_size": data_args.image_size,
        "vocab_size": len(processor.tokenizer),
        "max_position_embeddings": data_args.max_text_length,
        "num_main_categories": num_classes(train_dataset, "category"),
        "num_sub_categories": num_classes(train_dataset, "subcategory"),
    }
    if model_args.config_overrides:
        extra = json.loads(model_args.config_overrides)
        if not isinstance(extra, dict):
            raise ValueError(f"config_overrides must be a JSON object, got {model_args.config_overrides!r}.")
        overrides.update(extra)
    if model_args.config_json is not None:
        with open(model_args.config_json, encoding="utf-8") as file:
            values = json.load(file)
        values.pop("model_type", None)
        return MVLTConfig(**{**values, **overrides})
    return MVLTConfig.from_preset(model_args.preset, **overrides)


@dataclass
class RecipeResult:
    """What a training recipe produced."""

    trainer: FashionTrainer
    processor: MVLTProcessor
    splits: Any
    output_dir: str


def load_mvlt(model_class, path: str, **kwargs):
    """`model_class.from_pretrained(path, dtype=float32)` without transformers' table of unused / new weights, which
    is expected when a pre-training checkpoint is loaded into a task head (one log line says what was new)."""
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        model, loading_info = model_class.from_pretrained(path, dtype=torch.float32, output_loading_info=True, **kwargs)
    finally:
        transformers_logging.set_verbosity(verbosity)
    if loading_info.get("missing_keys"):
        logger.info("%s from %s: newly initialised %s", model_class.__name__, path, sorted(loading_info["missing_keys"]))
    return model


def _data_and_processor(model_args, data_args, training_args, splits, processor):
    """The splits and the processor. With several processes rank 0 builds (trains the tokenizer) and saves the
    processor to `output_dir` first; the other ranks load that one, so every rank uses the same vocabulary."""
    splits = splits if splits is not None else load_image_text_splits(data_args, progress=training_args.process_index == 0)
    if processor is None:
        if training_args.world_size > 1:
            with training_args.main_process_first(local=False, desc="building the MVLT processor"):
                if training_args.process_index == 0:
                    processor = build_processor(model_args, data_args, splits[data_args.train_split])
                    processor.save_pretrained(training_args.output_dir)
                else:
                    processor = MVLTProcessor.from_pretrained(training_args.output_dir)
        else:
            processor = build_processor(model_args, data_args, splits[data_args.train_split])
    return splits, processor


def _train_and_save(model, collator, training_args, data_args, splits, processor, max_train_minutes,
                    callbacks: Sequence[TrainerCallback] = ()) -> RecipeResult:
    """Train with `FashionTrainer` (evaluation split as the Trainer's eval set when evaluation is on), then save the
    model, the processor and the log history to `output_dir`."""
    evaluate = training_args.eval_strategy != "no" and data_args.eval_split in splits
    trainer = FashionTrainer(
        model=model,
        args=training_args,
        train_dataset=splits[data_args.train_split],
        eval_dataset=splits[data_args.eval_split] if evaluate else None,
        data_collator=collator,
        callbacks=[*callbacks, *([TimeBudgetCallback(max_train_minutes)] if max_train_minutes else [])],
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    output_dir = training_args.output_dir
    trainer.save_model(output_dir)
    if trainer.args.should_save:
        processor.save_pretrained(output_dir)
        with open(os.path.join(output_dir, "log_history.json"), "w", encoding="utf-8") as file:
            json.dump(trainer.state.log_history, file, indent=1)
    return RecipeResult(trainer, processor, splits, output_dir)


def pretrain_mvlt(
    model_args: MVLTModelArguments,
    data_args: MVLTDataArguments,
    pretraining_args: MVLTPretrainingArguments,
    training_args,
    splits=None,
    processor: MVLTProcessor | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> RecipeResult:
    """Pre-train `MVLTForPreTraining` (MIR + ITM + MLM, + ITC when the config turns it on) and save the model and
    processor to `output_dir`.

    Args:
        training_args: `FashionTrainingArguments` (set `remove_unused_columns=False`: the collator reads raw rows).
        splits, processor: reuse already loaded data / an existing processor.
        callbacks: extra Trainer callbacks (e.g. `MVLTDiagnosticsCallback`).
    """
    splits, processor = _data_and_processor(model_args, data_args, training_args, splits, processor)
    train_dataset = splits[data_args.train_split]
    if model_args.model_name_or_path is not None:
        model = load_mvlt(MVLTForPreTraining, model_args.model_name_or_path)
    else:
        config = build_config(model_args, data_args, processor, train_dataset)
        if model_args.pvt_name_or_path is not None:
            model = MVLTForPreTraining.from_pvt_pretrained(model_args.pvt_name_or_path, config=config)
            logger.info("PVT initialisation report: %s", model.pvt_loading_report)
        else:
            model = MVLTForPreTraining(config)
    negative_probability = pretraining_args.itm_negative_probability
    if model.config.itm_negative_mining == "itc" and negative_probability > 0:
        # The model mines its ITM negatives from ITC similarities: the collator keeps every caption with its image.
        logger.info("itm_negative_mining='itc': the collator draws no ITM negatives (itm_negative_probability 0).")
        negative_probability = 0.0
    collator = DataCollatorForMVLTPretraining(
        processor=processor,
        caption_pool=train_dataset,
        itm_negative_probability=negative_probability,
        hard_negatives=pretraining_args.hard_negatives,
        mlm_probability=pretraining_args.mlm_probability,
        prefer_content_words=pretraining_args.prefer_content_words,
        mask_unit_size=model.config.mask_unit_size,
        mask_ratio=pretraining_args.mask_ratio,
        mask_style=pretraining_args.mask_style,
        max_length=data_args.max_text_length,
    )
    return _train_and_save(model, collator, training_args, data_args, splits, processor,
                           pretraining_args.max_train_minutes, callbacks)


def finetune_mvlt(
    model_args: MVLTModelArguments,
    data_args: MVLTDataArguments,
    finetuning_args: MVLTFinetuningArguments,
    training_args,
    splits=None,
    processor: MVLTProcessor | None = None,
) -> RecipeResult:
    """Fine-tune a pre-trained MVLT for category recognition (M-CR + S-CR) or ITM retrieval; save to `output_dir`."""
    if model_args.model_name_or_path is None:
        raise ValueError("Fine-tuning needs --model_name_or_path (a pre-trained MVLT checkpoint).")
    splits, processor = _data_and_processor(model_args, data_args, training_args, splits, processor)
    train_dataset = splits[data_args.train_split]
    if finetuning_args.task == "recognition":
        # The category heads are new: their sizes come from the data (Fashion-Gen 48 / 121, synthetic 10 / 20).
        model = load_mvlt(
            MVLTForCategoryRecognition,
            model_args.model_name_or_path,
            num_main_categories=num_classes(train_dataset, "category"),
            num_sub_categories=num_classes(train_dataset, "subcategory"),
        )
        collator = DataCollatorForMVLTCategoryRecognition(processor=processor, max_length=data_args.max_text_length)
    else:
        model = load_mvlt(MVLTForImageTextRetrieval, model_args.model_name_or_path)
        collator = DataCollatorForMVLTRetrieval(
            processor=processor,
            caption_pool=train_dataset,
            itm_negative_probability=finetuning_args.itm_negative_probability,
            hard_negatives=finetuning_args.hard_negatives,
            max_length=data_args.max_text_length,
        )
    return _train_and_save(model, collator, training_args, data_args, splits, processor,
                           finetuning_args.max_train_minutes)


# ----------------------------------------------------------------------------------------------
# Evaluation (SPEC §6, paper Table 2)
# ----------------------------------------------------------------------------------------------


@dataclass
class EncodedSplit:
    """Every row of a split, processed once: `(num_rows, ...)` tensors plus the label and product ids."""

    pixel_values: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    category: torch.Tensor
    subcategory: torch.Tensor
    product_id: torch.Tensor
    captions: list[str]

    def __len__(self) -> int:
        return len(self.product_id)

    def text(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """The captions of `indices`, cut to the longest of them (the model masks padding, so scores are unchanged)."""
        length = max(1, int(self.attention_mask[indices].sum(dim=1).max()))
        return {"input_ids": self.input_ids[indices, :length], "attention_mask": self.attention_mask[indices, :length],
                "token_type_ids": self.token_type_ids[indices, :length]}


def encode_split(dataset, processor: MVLTProcessor, max_length: int, batch_size: int = 128,
                 progress: bool = True) -> EncodedSplit:
    """Process every image and caption of `dataset` once (padded to `max_length`) for the evaluation loops."""
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in ("pixel_values", "input_ids", "attention_mask", "token_type_ids")}
    for start in tqdm(range(0, len(dataset), batch_size), desc="encoding split", disable=not progress):
        rows = dataset[start : start + batch_size]
        encoded = processor(images=rows["image"], text=rows["caption"], padding="max_length", truncation=True,
                            max_length=max_length, return_tensors="pt")
        for name in parts:
            parts[name].append(encoded[name])
    return EncodedSplit(
        **{name: torch.cat(values) for name, values in parts.items()},
        category=torch.tensor(dataset["category"]),
        subcategory=torch.tensor(dataset["subcategory"]),
        product_id=torch.tensor(dataset["product_id"]),
        captions=list(dataset["caption"]),
    )


def itm_score_function(model: MVLTForImageTextRetrieval, encoded: EncodedSplit, direction: str,
                       pair_batch_size: int = 256, output: str = "probability") -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A `fashionvl.evaluation.ScoreFunction` scoring (query, candidate) rows by the ITM head.

    `direction="tir"`: the query row's caption against the candidate rows' images; `"itr"`: the query row's image
    against the candidate rows' captions. `output="probability"`: the match probability (the paper's score);
    `"log_odds"`: logit(match) - logit(no match), the same ranking, the ITM term of the fused score.
    """
    if output not in ("probability", "log_odds"):
        raise ValueError(f"output must be 'probability' or 'log_odds', got {output!r}.")
    if direction not in ("tir", "itr"):
        raise ValueError(f"direction must be 'tir' or 'itr', got {direction!r}.")
    device = next(model.parameters()).device

    @torch.no_grad()
    def score(query_indices: torch.Tensor, candidate_indices: torch.Tensor) -> torch.Tensor:
        model.eval()
        queries = query_indices[:, None].expand_as(candidate_indices).reshape(-1)
        candidates = candidate_indices.reshape(-1)
        text_rows, image_rows = (queries, candidates) if direction == "tir" else (candidates, queries)
        scores = []
        for start in range(0, len(candidates), pair_batch_size):
            text = encoded.text(text_rows[start : start + pair_batch_size])
            pixel_values = encoded.pixel_values[image_rows[start : start + pair_batch_size]]
            batch = {name: value.to(device) for name, value in text.items()}
            logits = model.get_itm_logits(pixel_values=pixel_values.to(device), **batch).float().cpu()
            scores.append(logits.softmax(dim=-1)[:, 1] if output == "probability" else logits[:, 1] - logits[:, 0])
        return torch.cat(scores).view(candidate_indices.shape)

    return score


@torch.no_grad()
def encode_itc_features(model, encoded: EncodedSplit, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """ITC embeddings of every row's image and caption, `(num_rows, projection_dim)` each, L2-normalised."""
    model.eval()
    device = next(model.parameters()).device
    image_features, text_features = [], []
    for start in range(0, len(encoded), batch_size):
        rows = torch.arange(start, min(start + batch_size, len(encoded)))
        text = {name: value.to(device) for name, value in encoded.text(rows).items()}
        image_features.append(model.get_image_features(encoded.pixel_values[rows].to(device)).float().cpu())
        text_features.append(model.get_text_features(**text).float().cpu())
    return torch.cat(image_features), torch.cat(text_features)


def itc_score_function(image_features: torch.Tensor, text_features: torch.Tensor,
                       direction: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A `ScoreFunction` scoring (query, candidate) rows by the cosine of their ITC embeddings (precomputed)."""
    if direction not in ("tir", "itr"):
        raise ValueError(f"direction must be 'tir' or 'itr', got {direction!r}.")
    query_features, candidate_features = (
        (text_features, image_features) if direction == "tir" else (image_features, text_features)
    )

    def score(query_indices: torch.Tensor, candidate_indices: torch.Tensor) -> torch.Tensor:
        return torch.einsum("qd,qcd->qc", query_features[query_indices], candidate_features[candidate_indices])

    return score


def uses_itc(model) -> bool:
    """Whether `model` was trained with the ITC objective (its `get_*_features` mean something)."""
    return float(getattr(model.config, "itc_loss_weight", 0.0)) > 0


def score_retrieval_draws(model, encoded: EncodedSplit, direction: str, num_queries: int, num_draws: int,
                          num_negatives: int, seed: int, pair_batch_size: int = 256, itc_features=None,
                          progress: bool = True) -> list[dict[str, torch.Tensor]]:
    """For each seeded draw of the 1 + `num_negatives` protocol: the candidate sets and `(num_queries, 1 +
    num_negatives)` score matrices `"itm"` (ITM log-odds) and, with `itc_features`, `"itc"` (cosine)."""
    from ..evaluation import sample_same_subcategory_candidates, score_candidate_sets

    itm = itm_score_function(model, encoded, direction, pair_batch_size, output="log_odds")
    itc = None if itc_features is None else itc_score_function(*itc_features, direction)
    draws = []
    for draw in range(num_draws):
        candidate_sets = sample_same_subcategory_candidates(
            encoded.subcategory, encoded.product_id, num_queries=num_queries, num_negatives=num_negatives,
            seed=seed + draw,
        )
        scores = {"positives": candidate_sets.positives,
                  "itm": score_candidate_sets(itm, candidate_sets, progress=progress)}
        if itc is not None:
            scores["itc"] = score_candidate_sets(itc, candidate_sets, progress=False)
        draws.append(scores)
    return draws


def fused_draw_scores(draw: dict[str, torch.Tensor], logit_scale: float, itm_fusion_weight: float) -> torch.Tensor:
    """The fused score matrix of one scored draw (`fuse_retrieval_scores` on precomputed parts)."""
    return math.exp(min(logit_scale, math.log(100.0))) * draw["itc"] + itm_fusion_weight * draw["itm"]


def summarise_draws(draws: list[dict[str, torch.Tensor]], kind: str, logit_scale: float = 0.0,
                    itm_fusion_weight: float = 1.0, ks: Sequence[int] = RECALL_KS) -> dict[str, Any]:
    """R@k means over draws (and SumR) of one score `kind` ("itm", "itc" or "fused"), with the per-draw recalls."""
    from ..evaluation import recall_at_k

    per_draw = []
    for draw in draws:
        scores = fused_draw_scores(draw, logit_scale, itm_fusion_weight) if kind == "fused" else draw[kind]
        per_draw.append(recall_at_k(scores, draw["positives"], ks))
    result: dict[str, Any] = {key: float(sum(recalls[key] for recalls in per_draw) / len(per_draw)) for key in per_draw[0]}
    if all(f"R@{k}" in result for k in (1, 5, 10)):
        result["SumR"] = sum_r(result)
    result["draws"] = per_draw
    return result


FUSION_WEIGHT_GRID = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


def calibrate_fusion_weight(model, encoded: EncodedSplit, num_queries: int = 100, num_negatives: int = 50,
                            num_draws: int = 2, seed: int = 1000, grid: Sequence[float] = FUSION_WEIGHT_GRID,
                            min_gain: float = 10.0, pair_batch_size: int = 256, progress: bool = True) -> dict[str, Any]:
    """Choose `itm_fusion_weight` on a calibration split (products used neither for training nor for evaluation):
    the grid value with the highest SumR of the fused score, TIR and ITR together, but a weight > 0 only when it
    beats ITC alone (weight 0) by more than `min_gain` SumR points. The margin guards against choosing ITM on
    calibration noise (with 40 queries one query moves SumR by 2.5 points per recall level): measured, a weight picked
    on a 5-point gain lowered held-out SumR by 18 points.

    Returns `{"itm_fusion_weight": chosen, "sumr_by_weight": {weight: SumR}, "min_gain": min_gain}`.
    """
    features = encode_itc_features(model, encoded, pair_batch_size)
    logit_scale = model.mvlt.logit_scale.item()
    by_direction = [
        score_retrieval_draws(model, encoded, direction, num_queries, num_draws, num_negatives, seed,
                              pair_batch_size, itc_features=features, progress=progress)
        for direction in ("tir", "itr")
    ]
    sumr = {weight: sum(summarise_draws(draws, "fused", logit_scale, weight)["SumR"] for draws in by_direction)
            for weight in grid}
    return {"itm_fusion_weight": choose_fusion_weight(sumr, min_gain),
            "sumr_by_weight": {str(weight): value for weight, value in sumr.items()}, "min_gain": min_gain}


def choose_fusion_weight(sumr_by_weight: dict[float, float], min_gain: float = 10.0) -> float:
    """The weight with the highest SumR (the smaller weight on ties); 0 (ITC alone) unless the best beats weight 0 by
    more than `min_gain`."""
    best = max(sumr_by_weight, key=lambda weight: (sumr_by_weight[weight], -weight))
    if 0.0 in sumr_by_weight and sumr_by_weight[best] - sumr_by_weight[0.0] <= min_gain:
        return 0.0  # ITM does not clearly help on this split: rank by ITC alone
    return float(best)


def evaluate_retrieval(model: MVLTForImageTextRetrieval, encoded: EncodedSplit, eval_args: MVLTEvaluationArguments,
                       progress: bool = True) -> dict[str, dict]:
    """TIR and ITR with 1 positive + `num_negatives` same-sub-category negatives (and the full-gallery mode).

    A model trained with ITC is scored three ways on the same draws: `tir` / `itr` = the fused score (ITC + ITM,
    `config.itm_fusion_weight`; our default), `tir_itc` / `itr_itc` (ITC alone), `tir_itm` / `itr_itm` (ITM
    alone: the paper's method). Without ITC, `tir` / `itr` are the ITM scores.
    """
    results = {}
    with_itc = uses_itc(model)
    features = encode_itc_features(model, encoded, eval_args.pair_batch_size) if with_itc else None
    logit_scale = model.mvlt.logit_scale.item() if with_itc else 0.0
    fusion_weight = float(model.config.itm_fusion_weight)
    for direction in ("tir", "itr"):
        draws = score_retrieval_draws(
            model, encoded, direction, eval_args.num_queries, eval_args.num_draws, eval_args.num_negatives,
            eval_args.evaluation_seed, eval_args.pair_batch_size, itc_features=features, progress=progress,
        )
        if with_itc:
            results[direction] = summarise_draws(draws, "fused", logit_scale, fusion_weight)
            results[f"{direction}_itc"] = summarise_draws(draws, "itc")
            results[f"{direction}_itm"] = summarise_draws(draws, "itm")
        else:
            results[direction] = summarise_draws(draws, "itm")
        if eval_args.full_gallery:
            score = itm_score_function(model, encoded, direction, eval_args.pair_batch_size)
            generator = torch.Generator().manual_seed(eval_args.evaluation_seed)
            queries = torch.randperm(len(encoded), generator=generator)[: eval_args.max_full_gallery_queries]
            results[f"{direction}_full_gallery"] = evaluate_full_gallery_retrieval(
                score, encoded.product_id, query_indices=queries, ks=RECALL_KS, progress=progress
            )
    return results


@torch.no_grad()
def predict_categories(model: MVLTForCategoryRecognition, encoded: EncodedSplit, batch_size: int = 128,
                       progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted (main, sub) category ids of every row, `(num_rows,)` each."""
    model.eval()
    device = next(model.parameters()).device
    main, sub = [], []
    for start in tqdm(range(0, len(encoded), batch_size), desc="recognising categories", disable=not progress):
        rows = torch.arange(start, min(start + batch_size, len(encoded)))
        batch = {name: value.to(device) for name, value in encoded.text(rows).items()}
        output = model(pixel_values=encoded.pixel_values[rows].to(device), **batch)
        main.append(output.main_category_logits.argmax(-1).cpu())
        sub.append(output.sub_category_logits.argmax(-1).cpu())
    return torch.cat(main), torch.cat(sub)


def evaluate_category_recognition(model: MVLTForCategoryRecognition, encoded: EncodedSplit, batch_size: int = 128,
                                  progress: bool = True) -> dict[str, dict[str, float]]:
    """M-CR and S-CR: accuracy, macro-F1 and SumC."""
    main, sub = predict_categories(model, encoded, batch_size, progress)
    results = {}
    for name, predictions, labels in (("main_category", main, encoded.category), ("sub_category", sub, encoded.subcategory)):
        metrics = classification_metrics(predictions, labels)
        metrics["SumC"] = sum_c(metrics)
        results[name] = metrics
    return results


def chance_levels(train_labels: dict[str, Sequence[int]], eval_labels: dict[str, Sequence[int]],
                  num_negatives: int = 100, ks: Sequence[int] = RECALL_KS) -> dict[str, dict[str, float]]:
    """What guessing scores: R@k = k / (1 + num_negatives) for TIR/ITR; for recognition, the accuracy and macro-F1
    of always predicting the training split's most frequent class (`train_labels` / `eval_labels` map
    "main_category" / "sub_category" to label lists)."""
    recalls = {f"R@{k}": min(1.0, k / (1 + num_negatives)) for k in ks}
    if all(f"R@{k}" in recalls for k in (1, 5, 10)):
        recalls["SumR"] = sum_r(recalls)
    chance: dict[str, dict[str, float]] = {"tir": dict(recalls), "itr": dict(recalls)}
    for name, labels in eval_labels.items():
        majority = torch.as_tensor(list(train_labels[name])).bincount().argmax()
        labels = torch.as_tensor(list(labels))
        metrics = classification_metrics(torch.full_like(labels, int(majority)), labels)
        metrics["SumC"] = sum_c(metrics)
        chance[name] = metrics
    return chance


def format_results_table(metrics: dict[str, dict], chance: dict[str, dict] | None = None, title: str = "MVLT") -> str:
    """A Markdown table in the layout of the paper's Table 2 (Task, Metric, value[, chance]).

    When the metrics hold ITC and ITM rows (`tir_itc`, `tir_itm`, ...), TIR / ITR show the fused score (ours) with the
    ITC-only (ours) and ITM-only (the paper's method) values next to it in the same cell."""
    rows = []
    for task, key in (("TIR", "tir"), ("ITR", "itr")):
        if key in metrics:
            parts = [(key, "")] + [(f"{key}_{kind}", kind.upper()) for kind in ("itc", "itm") if f"{key}_{kind}" in metrics]

            def cell(metric, percent=True):
                values = [(f"{100 * metrics[name][metric]:.2f}%" if percent else f"{metrics[name][metric]:.2f}")
                          + (f" ({label})" if label else "") for name, label in parts]
                return values[0] + (" · " + " · ".join(values[1:]) if len(values) > 1 else "")

            for metric in ("R@1", "R@5", "R@10"):
                rows.append((task, metric, cell(metric), f"{100 * chance[key][metric]:.2f}%" if chance else None))
            rows.append((task, "SumR", cell("SumR", percent=False), f"{chance[key]['SumR']:.2f}" if chance else None))
    for task, key in (("M-CR", "main_category"), ("S-CR", "sub_category")):
        if key in metrics:
            values, reference = metrics[key], chance.get(key) if chance else None
            rows.append((task, "A", f"{100 * values['accuracy']:.2f}%",
                         f"{100 * reference['accuracy']:.2f}%" if reference else None))
            rows.append((task, "macro-F", f"{values['macro_f1']:.3f}", f"{reference['macro_f1']:.3f}" if reference else None))
            rows.append((task, "SumC", f"{values['SumC']:.2f}", f"{reference['SumC']:.2f}" if reference else None))
    header = f"| Task | Metric | {title} |" + (" Chance |" if chance else "")
    separator = "|---|---|---:|" + ("---:|" if chance else "")
    lines = [header, separator]
    for task, metric, value, reference in rows:
        lines.append(f"| {task} | {metric} | {value} |" + (f" {reference} |" if chance else ""))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


@torch.no_grad()
def save_reconstruction_grid(model: MVLTForPreTraining, processor: MVLTProcessor, encoded: EncodedSplit, path: str,
                             num_images: int = 8, mask_ratio: float = 0.5, seed: int = 0) -> str:
    """MIG (paper Task 4 / Fig. 7): originals, masked inputs and the MIR reconstructions of the first rows."""
    from ..visualization import plot_reconstruction_grid

    model.eval()
    rows = torch.arange(min(num_images, len(encoded)))
    image_processor = processor.image_processor
    mask_generator = MaskGenerator(
        image_size=model.config.image_size, mask_unit_size=model.config.mask_unit_size, mask_ratio=mask_ratio
    )
    bool_masked_pos = mask_generator(len(rows), generator=torch.Generator().manual_seed(seed))
    device = next(model.parameters()).device
    text = {name: value.to(device) for name, value in encoded.text(rows).items()}
    pixel_values = encoded.pixel_values[rows]
    output = model(pixel_values=pixel_values.to(device), bool_masked_pos=bool_masked_pos.to(device), **text)
    plot_reconstruction_grid(
        pixel_values, output.reconstruction.float().cpu(), bool_masked_pos=bool_masked_pos,
        mask_unit_size=model.config.mask_unit_size, mean=image_processor.image_mean, std=image_processor.image_std,
        path=path, max_images=num_images,
    )
    return path


def save_retrieval_examples(model: MVLTForImageTextRetrieval, processor: MVLTProcessor, encoded: EncodedSplit,
                            path: str, num_queries: int = 3, num_negatives: int = 100, top_k: int = 5,
                            seed: int = 0, pair_batch_size: int = 256) -> str:
    """TIR examples (paper Fig. 5): each query caption above its top-k images among 1 + `num_negatives` candidates."""
    from ..evaluation import sample_same_subcategory_candidates
    from ..visualization import denormalize, figure_to_image, make_image_grid, plot_retrieval_results

    candidate_sets = sample_same_subcategory_candidates(
        encoded.subcategory, encoded.product_id, num_queries=num_queries, num_negatives=num_negatives, seed=seed
    )
    queries, candidates = candidate_sets.query_indices, candidate_sets.candidate_indices
    if uses_itc(model):  # the fused score (the default ranking of a model trained with ITC)
        draw = {"itm": itm_score_function(model, encoded, "tir", pair_batch_size, output="log_odds")(queries, candidates),
                "itc": itc_score_function(*encode_itc_features(model, encoded, pair_batch_size), "tir")(queries, candidates)}
        scores = fused_draw_scores(draw, model.mvlt.logit_scale.item(), float(model.config.itm_fusion_weight))
    else:
        scores = itm_score_function(model, encoded, "tir", pair_batch_size)(queries, candidates)
    image_processor = processor.image_processor
    panels = []
    for query, candidates, query_scores in zip(candidate_sets.query_indices, candidate_sets.candidate_indices, scores):
        # Pessimistic order for display too: the positive (column 0) goes after candidates with the same score.
        order = sorted(range(len(candidates)), key=lambda column: (-float(query_scores[column]), column == 0))[:top_k]
        images = denormalize(encoded.pixel_values[candidates[order]], image_processor.image_mean, image_processor.image_std)
        positive = order.index(0) if 0 in order else None
        figure = plot_retrieval_results(
            encoded.captions[int(query)], list(images), scores=[float(query_scores[c]) for c in order],
            positive_index=positive,
        )
        panels.append(figure_to_image(figure))
    width = max(panel.width for panel in panels)
    make_image_grid([panel.resize((width, round(panel.height * width / panel.width))) for panel in panels],
                    num_columns=1).save(path)
    return path


def save_diagnostic_curves(log_history: Sequence[dict], path: str, chance_recall_at_10: float | None = None) -> str | None:
    """The `MVLTDiagnosticsCallback` values against the step (one panel per diagnostic), or None when none was logged."""
    from ..visualization import plot_grouped_curves

    if not any(key.startswith("diag_") for entry in log_history for key in entry):
        return None
    groups = {
        "ITM accuracy by pair kind (held-out)": [f"diag_itm_acc_{kind}" for kind in ("positive", "random", "same_sub", "itc_hard")],
        "same-sub-category TIR R@10 (held-out)": [f"diag_{score}_r@10" for score in ("itc", "itm", "fused")],
        "colour-word probe: MLM accuracy (true vs shuffled image)": ["diag_grounding_true", "diag_grounding_shuffled"],
        "[CLS] attention mass on vision keys, per stage": [f"diag_cls_vision_attention_{stage}" for stage in range(1, 5)],
    }
    references = {}
    if chance_recall_at_10 is not None:
        references["same-sub-category TIR R@10 (held-out)"] = chance_recall_at_10
    plot_grouped_curves(log_history, groups, reference_lines=references, path=path)
    return path


def save_training_curves(log_history: Sequence[dict], path: str) -> str | None:
    """Training curves of a Trainer log history (every `*_loss` component), or None when nothing was logged."""
    from ..visualization import plot_training_curves

    if not any("loss" in entry for entry in log_history):
        return None
    keys = sorted({key for entry in log_history for key in entry if key == "loss" or key.endswith("_loss")}
                  - {"train_loss"})
    plot_training_curves(log_history, keys=keys, path=path)
    return path


def evaluate_mvlt(eval_args: MVLTEvaluationArguments, data_args: MVLTDataArguments, splits=None,
                  progress: bool = True) -> dict[str, Any]:
    """Run the requested protocols on the evaluation split; write `metrics.json`, `results.md` and the figures."""
    tasks = eval_args.task_list()
    splits = splits if splits is not None else load_image_text_splits(data_args, progress=progress)
    if data_args.eval_split not in splits:
        raise ValueError(f"The data has no evaluation split {data_args.eval_split!r}; it has {sorted(splits)}.")
    eval_dataset, train_dataset = splits[data_args.eval_split], splits.get(data_args.train_split)
    os.makedirs(eval_args.output_dir, exist_ok=True)
    processor_path = eval_args.model_name_or_path or eval_args.recognition_model_name_or_path
    if processor_path is None:
        raise ValueError("Give --model_name_or_path and/or --recognition_model_name_or_path.")
    processor = MVLTProcessor.from_pretrained(processor_path)
    encoded = encode_split(eval_dataset, processor, data_args.max_text_length, progress=progress)
    metrics: dict[str, Any] = {}
    figures: dict[str, str] = {}
    if ("retrieval" in tasks or "mig" in tasks) and eval_args.model_name_or_path is None:
        raise ValueError("Retrieval and MIG need --model_name_or_path (a pre-trained MVLT).")
    if "retrieval" in tasks:
        model = load_mvlt(MVLTForImageTextRetrieval, eval_args.model_name_or_path)
        metrics.update(evaluate_retrieval(model, encoded, eval_args, progress=progress))
        figures["retrieval"] = save_retrieval_examples(
            model, processor, encoded, os.path.join(eval_args.output_dir, "retrieval_examples.png"),
            num_negatives=eval_args.num_negatives, seed=eval_args.evaluation_seed, pair_batch_size=eval_args.pair_batch_size,
        )
    if "recognition" in tasks:
        if eval_args.recognition_model_name_or_path is None:
            raise ValueError("Recognition needs --recognition_model_name_or_path (MVLTForCategoryRecognition).")
        model = load_mvlt(MVLTForCategoryRecognition, eval_args.recognition_model_name_or_path)
        metrics.update(evaluate_category_recognition(model, encoded, progress=progress))
    if "mig" in tasks:
        model = load_mvlt(MVLTForPreTraining, eval_args.model_name_or_path)
        if model.config.mir_loss_weight > 0:
            figures["mig"] = save_reconstruction_grid(
                model, processor, encoded, os.path.join(eval_args.output_dir, "reconstruction_grid.png")
            )
        else:
            logger.warning("The model was trained without MIR (mir_loss_weight=0): no reconstruction grid.")
    reference = train_dataset if train_dataset is not None else eval_dataset
    chance = chance_levels(
        {"main_category": reference["category"], "sub_category": reference["subcategory"]},
        {"main_category": eval_dataset["category"], "sub_category": eval_dataset["subcategory"]},
        num_negatives=eval_args.num_negatives,
    )
    report = {**metrics, "chance": chance, "figures": figures,
              "protocol": {key: value for key, value in asdict(eval_args).items() if key != "output_dir"}}
    with open(os.path.join(eval_args.output_dir, "metrics.json"), "w", encoding="utf-8") as file:
        json.dump(report, file, indent=2)
    table = format_results_table(metrics, chance)
    with open(os.path.join(eval_args.output_dir, "results.md"), "w", encoding="utf-8") as file:
        file.write(table + "\n")
    report["table"] = table
    return report


__all__ = [
    "EncodedSplit",
    "MVLTDataArguments",
    "MVLTEvaluationArguments",
    "MVLTFinetuningArguments",
    "MVLTModelArguments",
    "MVLTPretrainingArguments",
    "RecipeResult",
    "TimeBudgetCallback",
    "build_config",
    "build_processor",
    "calibrate_fusion_weight",
    "chance_levels",
    "choose_fusion_weight",
    "encode_itc_features",
    "encode_split",
    "evaluate_category_recognition",
    "evaluate_mvlt",
    "evaluate_retrieval",
    "finetune_mvlt",
    "format_results_table",
    "itc_score_function",
    "itm_score_function",
    "load_image_text_splits",
    "load_mvlt",
    "predict_categories",
    "pretrain_mvlt",
    "save_diagnostic_curves",
    "save_reconstruction_grid",
    "save_retrieval_examples",
    "save_training_curves",
    "score_retrieval_draws",
    "summarise_draws",
    "uses_itc",
]
