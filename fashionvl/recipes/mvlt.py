"""MVLT recipe: arguments and the orchestration of data, model, pre-training, fine-tuning and evaluation.

The scripts `scripts/pretrain_mvlt.py`, `scripts/finetune_mvlt.py`, `scripts/evaluate_mvlt.py` and the demo
(`fashionvl.demo`) are thin wrappers around this module. Its interface is the one of every family's recipe:
`build_model`, `train(...) -> RecipeResult`, `evaluate(...)`. What it calls lives where it is tested:

- data: `fashionvl.data` (the synthetic catalog, Fashion-Gen HDF5, your own data through `fashionvl.data.user_data`);
- batches: the collators of `fashionvl.processing.collators`;
- training: `fashionvl.training` (`FashionTrainer`, `TimeBudgetCallback`);
- protocols, metrics and chance levels: `fashionvl.evaluation.mvlt_protocol`;
- figures: `fashionvl.visualization.mvlt`.

Data (`load_image_text_splits`, options of `MVLTDataArguments`, the user-data options of every recipe):
`--dataset_name synthetic` (default) generates the bundled procedural catalog
(`fashionvl.data.synthetic.generate_catalog`); `fashiongen` reads the Fashion-Gen HDF5 files (`--train_file` /
`--validation_file`, or `--data_dir` holding them); any other value is your own data
(`fashionvl.data.user_data.load_user_dataset`: an imagefolder with `metadata.jsonl`, a `save_to_disk` folder, a
Hub dataset, or `--train_file` / `--validation_file` CSV / JSON lines) with a caption column; its string
categories are class-encoded and their names stored in the saved config (`id2label` / `label2id`,
`sub_category_names`). Former flags still accepted: `--data_format` (= `--dataset_name`, with `disk` = a
save_to_disk folder in `--data_dir`), `--data_path` (= `--data_dir`), `--eval_data_path` (= `--validation_file`).

Training (MVLT paper Sec. 4.1): pre-training (`MVLTPretrainingArguments`) optimises MIR + ITM + MLM (eq. 8, weights
from the config) with `FashionTrainer`, which logs `mir_loss`, `itm_loss` and `mlm_loss`; ITM negatives are captions
of other products (optionally of the same sub-category, the "hard" negatives of the evaluation protocol) and MLM
masks content words by default (SPEC §2: on a small catalog MLM on content words is what lets ITM leave chance).
Fine-tuning (`MVLTFinetuningArguments`) trains `MVLTForCategoryRecognition` (M-CR + S-CR) or
`MVLTForImageTextRetrieval` (ITM) from a pre-trained checkpoint.

Evaluation (SPEC §6, paper Table 2): see `fashionvl.evaluation.mvlt_protocol`; `evaluate` runs the requested
protocols on the evaluation split and writes `eval_results.json` (the name of transformers' `Trainer.save_metrics`,
the same file for every family: `fashionvl.recipes._common.METRICS_FILE`), `results.md` and the figures.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from transformers import TrainerCallback

from ..configs.configuration_mvlt import MVLTConfig
from ..data.decode_once import rows_for_training
from ..data.image_text_data import category_label_fields, load_image_text_splits, num_classes
from ..data.user_data import UserDataArguments
from ..evaluation.mvlt_protocol import (
    chance_levels,
    encode_image_text_split,
    evaluate_category_recognition,
    evaluate_retrieval,
    format_results_table,
)
from ..modeling.modeling_mvlt import MVLTForCategoryRecognition, MVLTForImageTextRetrieval, MVLTForPreTraining
from ..processing.collators import (
    DataCollatorForMVLTCategoryRecognition,
    DataCollatorForMVLTPretraining,
    DataCollatorForMVLTRetrieval,
)
from ..processing.image_processing_mvlt import MVLTImageProcessor
from ..processing.processing_mvlt import MVLTProcessor
from ..processing.tokenization import train_wordpiece_tokenizer
from ..training import FashionTrainer
from ..training.callbacks import TimeBudgetCallback
from ..visualization.mvlt import save_reconstruction_grid, save_retrieval_examples
from ._common import METRICS_FILE, RecipeResult, load_float32_model, parse_config_overrides, save_training_outputs

logger = logging.getLogger(__name__)

# Named values of --dataset_name that this recipe reads itself; every other value is the user's own data.
DATA_FORMATS = ("synthetic", "fashiongen", "disk")
FINETUNING_TASKS = ("recognition", "retrieval")
EVALUATION_TASKS = ("retrieval", "recognition", "mig")

# `TrainingArguments` defaults that the pre-training and fine-tuning scripts share (each adds its own schedule):
# the collators read raw rows (remove_unused_columns=False) and every loss part goes to TensorBoard.
TRAINING_DEFAULTS = dict(
    per_device_train_batch_size=32,
    lr_scheduler_type="cosine",
    weight_decay=1e-4,
    logging_steps=20,
    report_to=["tensorboard"],
    remove_unused_columns=False,
    seed=0,
)


# ----------------------------------------------------------------------------------------------
# Arguments (HfArgumentParser dataclasses; every field's help is what `--help` prints)
# ----------------------------------------------------------------------------------------------


@dataclass
class MVLTDataArguments(UserDataArguments):
    """Where the image-text pairs come from and how they are cut: the user-data options of
    `fashionvl.data.user_data.UserDataArguments` (``--dataset_name``, ``--train_file``, ``--caption_column``, ...)
    plus MVLT's own formats as named ``--dataset_name`` values (`DATA_FORMATS`)."""

    named_datasets: ClassVar[tuple[str, ...]] = DATA_FORMATS

    dataset_name: str | None = field(
        default="synthetic",
        metadata={"aliases": ["--data_format"],
                  "help": "'synthetic' (the bundled catalog), 'fashiongen' (Fashion-Gen HDF5: --train_file / "
                  "--validation_file .h5, or --data_dir holding fashiongen_256_256_{train,validation}.h5), 'disk' "
                  "(a save_to_disk folder in --data_dir), or your own data: a datasets name or local path "
                  "(imagefolder with metadata.jsonl/.csv, save_to_disk folder); --train_file replaces 'synthetic'."},
    )
    data_dir: str | None = field(
        default=None,
        metadata={"aliases": ["--data_path"],
                  "help": "fashiongen: folder of the .h5 files (or the train .h5 file); disk: the save_to_disk folder; "
                  "own data: data_dir of the datasets builder (e.g. imagefolder)."},
    )
    validation_file: str | None = field(
        default=None,
        metadata={"aliases": ["--eval_data_path"],
                  "help": "fashiongen: the validation .h5 file; own data: CSV / JSON lines of the validation rows."},
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
    eval_split: str = field(
        default="test",
        metadata={"help": "Split used for evaluation (and the Trainer's eval loss); own data: its validation split "
                  "(or held-out products) is stored under this name."},
    )
    decode_images_once: bool = field(
        default=True,
        metadata={"help": "Training / evaluation rows decode each stored image once and keep it in memory (up to 2 "
                  "GiB of pixels; fashionvl.data.DecodeOnceDataset) instead of at every access (each epoch)."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.dataset_name == "fashiongen" and self.train_file is None and self.data_dir is None:
            raise ValueError("dataset_name='fashiongen' needs --train_file (the train .h5) or --data_dir (its folder).")
        if self.dataset_name == "disk" and self.data_dir is None:
            raise ValueError("dataset_name='disk' needs --data_dir (the save_to_disk folder).")
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

    def retrieval_protocol(self) -> dict[str, Any]:
        """The keyword arguments of `fashionvl.evaluation.mvlt_protocol.evaluate_retrieval`."""
        names = ("num_queries", "num_draws", "num_negatives", "evaluation_seed", "pair_batch_size", "full_gallery",
                 "max_full_gallery_queries")
        return {name: getattr(self, name) for name in names}

    def task_list(self) -> list[str]:
        tasks = [task.strip() for task in self.tasks.split(",") if task.strip()]
        unknown = [task for task in tasks if task not in EVALUATION_TASKS]
        if unknown:
            raise ValueError(f"Unknown evaluation task(s) {unknown}; choose from {EVALUATION_TASKS}.")
        return tasks



# ----------------------------------------------------------------------------------------------
# Data, processor, configuration
# ----------------------------------------------------------------------------------------------


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
        **category_label_fields(train_dataset),  # pre-training checkpoints name the categories too
    }
    overrides.update(parse_config_overrides(model_args.config_overrides))
    if model_args.config_json is not None:
        with open(model_args.config_json, encoding="utf-8") as file:
            values = json.load(file)
        values.pop("model_type", None)
        return MVLTConfig(**{**values, **overrides})
    return MVLTConfig.from_preset(model_args.preset, **overrides)



# ----------------------------------------------------------------------------------------------
# Model and batches
# ----------------------------------------------------------------------------------------------


def build_model(model_args: MVLTModelArguments, data_args: MVLTDataArguments, processor: MVLTProcessor, train_dataset,
                task: str = "pretraining"):
    """The model that `train` trains for `task`: `"pretraining"` (`MVLTForPreTraining`: continued from
    `model_name_or_path`, else built from `build_config`, its vision stream optionally from `pvt_name_or_path`),
    `"recognition"` or `"retrieval"` (task heads on the pre-trained `model_name_or_path`)."""
    if task == "pretraining":
        if model_args.model_name_or_path is not None:
            return load_float32_model(MVLTForPreTraining, model_args.model_name_or_path)
        config = build_config(model_args, data_args, processor, train_dataset)
        if model_args.pvt_name_or_path is None:
            return MVLTForPreTraining(config)
        model = MVLTForPreTraining.from_pvt_pretrained(model_args.pvt_name_or_path, config=config)
        logger.info("PVT initialisation report: %s", model.pvt_loading_report)
        return model
    if task not in FINETUNING_TASKS:
        raise ValueError(f"task must be 'pretraining' or one of {FINETUNING_TASKS}, got {task!r}.")
    if model_args.model_name_or_path is None:
        raise ValueError("Fine-tuning needs --model_name_or_path (a pre-trained MVLT checkpoint).")
    if task == "recognition":
        # The category heads are new: their sizes come from the data (Fashion-Gen 48 / 121, synthetic 10 / 20).
        return load_float32_model(
            MVLTForCategoryRecognition,
            model_args.model_name_or_path,
            num_main_categories=num_classes(train_dataset, "category"),
            num_sub_categories=num_classes(train_dataset, "subcategory"),
            **category_label_fields(train_dataset),
        )
    return load_float32_model(MVLTForImageTextRetrieval, model_args.model_name_or_path)


def build_collator(task_args: MVLTPretrainingArguments | MVLTFinetuningArguments, model, processor: MVLTProcessor,
                   data_args: MVLTDataArguments, train_dataset):
    """The data collator of pre-training (MIR masks, ITM negatives, MLM) or of the fine-tuning task."""
    if isinstance(task_args, MVLTFinetuningArguments):
        if task_args.task == "recognition":
            return DataCollatorForMVLTCategoryRecognition(processor=processor, max_length=data_args.max_text_length)
        return DataCollatorForMVLTRetrieval(
            processor=processor,
            caption_pool=train_dataset,
            itm_negative_probability=task_args.itm_negative_probability,
            hard_negatives=task_args.hard_negatives,
            max_length=data_args.max_text_length,
        )
    negative_probability = task_args.itm_negative_probability
    if model.config.itm_negative_mining == "itc" and negative_probability > 0:
        # The model mines its ITM negatives from ITC similarities: the collator keeps every caption with its image.
        logger.info("itm_negative_mining='itc': the collator draws no ITM negatives (itm_negative_probability 0).")
        negative_probability = 0.0
    return DataCollatorForMVLTPretraining(
        processor=processor,
        caption_pool=train_dataset,
        itm_negative_probability=negative_probability,
        hard_negatives=task_args.hard_negatives,
        mlm_probability=task_args.mlm_probability,
        prefer_content_words=task_args.prefer_content_words,
        mask_unit_size=model.config.mask_unit_size,
        mask_ratio=task_args.mask_ratio,
        mask_style=task_args.mask_style,
        max_length=data_args.max_text_length,
    )


# ----------------------------------------------------------------------------------------------
# Training and evaluation
# ----------------------------------------------------------------------------------------------


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


def train(
    model_args: MVLTModelArguments,
    data_args: MVLTDataArguments,
    task_args: MVLTPretrainingArguments | MVLTFinetuningArguments,
    training_args,
    splits=None,
    processor: MVLTProcessor | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> RecipeResult:
    """Pre-train `MVLTForPreTraining` (MIR + ITM + MLM, + ITC when the config turns it on) when `task_args` are
    `MVLTPretrainingArguments`, or fine-tune a pre-trained MVLT for category recognition (M-CR + S-CR) or ITM
    retrieval when they are `MVLTFinetuningArguments`; save the model, the processor and the log history to
    `output_dir`.

    Args:
        training_args: `FashionTrainingArguments` (set `remove_unused_columns=False`: the collator reads raw rows).
        splits, processor: reuse already loaded data / an existing processor.
        callbacks: extra Trainer callbacks (e.g. `fashionvl.training.MVLTDiagnosticsCallback`).
    """
    task = task_args.task if isinstance(task_args, MVLTFinetuningArguments) else "pretraining"
    if task != "pretraining" and model_args.model_name_or_path is None:
        raise ValueError("Fine-tuning needs --model_name_or_path (a pre-trained MVLT checkpoint).")
    splits, processor = _data_and_processor(model_args, data_args, training_args, splits, processor)
    train_dataset = splits[data_args.train_split]
    model = build_model(model_args, data_args, processor, train_dataset, task)
    collator = build_collator(task_args, model, processor, data_args, train_dataset)
    evaluate_during_training = training_args.eval_strategy != "no" and data_args.eval_split in splits
    budget = [TimeBudgetCallback(task_args.max_train_minutes)] if task_args.max_train_minutes else []
    trainer = FashionTrainer(
        model=model,
        args=training_args,
        train_dataset=rows_for_training(train_dataset, data_args.decode_images_once),
        eval_dataset=rows_for_training(splits[data_args.eval_split], data_args.decode_images_once)
        if evaluate_during_training else None,
        data_collator=collator,
        callbacks=[*callbacks, *budget],
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    save_training_outputs(trainer, processor, training_args.output_dir)
    return RecipeResult(trainer, processor, splits, training_args.output_dir)


def evaluate(eval_args: MVLTEvaluationArguments, data_args: MVLTDataArguments, splits=None,
             progress: bool = True) -> dict[str, Any]:
    """Run the requested protocols on the evaluation split; write `eval_results.json`, `results.md` and the figures."""
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
    encoded = encode_image_text_split(eval_dataset, processor, data_args.max_text_length, progress=progress)
    metrics: dict[str, Any] = {}
    figures: dict[str, str] = {}
    if ("retrieval" in tasks or "mig" in tasks) and eval_args.model_name_or_path is None:
        raise ValueError("Retrieval and MIG need --model_name_or_path (a pre-trained MVLT).")
    if "retrieval" in tasks:
        model = load_float32_model(MVLTForImageTextRetrieval, eval_args.model_name_or_path)
        metrics.update(evaluate_retrieval(model, encoded, **eval_args.retrieval_protocol(), progress=progress))
        figures["retrieval"] = save_retrieval_examples(
            model, processor, encoded, os.path.join(eval_args.output_dir, "retrieval_examples.png"),
            num_negatives=eval_args.num_negatives, seed=eval_args.evaluation_seed, pair_batch_size=eval_args.pair_batch_size,
        )
    if "recognition" in tasks:
        if eval_args.recognition_model_name_or_path is None:
            raise ValueError("Recognition needs --recognition_model_name_or_path (MVLTForCategoryRecognition).")
        model = load_float32_model(MVLTForCategoryRecognition, eval_args.recognition_model_name_or_path)
        metrics.update(evaluate_category_recognition(model, encoded, progress=progress))
    if "mig" in tasks:
        model = load_float32_model(MVLTForPreTraining, eval_args.model_name_or_path)
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
    with open(os.path.join(eval_args.output_dir, METRICS_FILE), "w", encoding="utf-8") as file:
        json.dump(report, file, indent=2)
    table = format_results_table(metrics, chance)
    with open(os.path.join(eval_args.output_dir, "results.md"), "w", encoding="utf-8") as file:
        file.write(table + "\n")
    report["table"] = table
    return report


__all__ = [
    "MVLTDataArguments",
    "MVLTEvaluationArguments",
    "MVLTFinetuningArguments",
    "MVLTModelArguments",
    "MVLTPretrainingArguments",
    "RecipeResult",
    "TRAINING_DEFAULTS",
    "build_collator",
    "build_config",
    "build_model",
    "build_processor",
    "category_label_fields",
    "evaluate",
    "load_image_text_splits",
    "num_classes",
    "train",
]
