"""mFSR recipe: data, training schedule, paper Table 3 ablations over seeds; it only orchestrates.

The scripts `scripts/train_mfsr.py`, `scripts/evaluate_mfsr.py` and `scripts/ablate_mfsr.py` are thin wrappers
around this module. The pieces it puts together live in their homes:

- `fashionvl.processing.collators_mfsr`: `CaptionedImageSplit`, `MFSRPairDataset`, `MFSRDataCollator`;
- `fashionvl.evaluation.mfsr_protocol`: the VSE++ protocol (`evaluate_retrieval`, `chance_recall`, the tables);
- `fashionvl.evaluation.mfsr_diagnostics`: `separation_diagnostics`, `loss_gradient_norms`;
- `fashionvl.training.trainer_mfsr.MFSRTrainer` (the step schedule) and
  `fashionvl.training.callbacks.MaxViolationWarmupCallback`;
- `fashionvl.visualization.mfsr`: paper Fig. 5 (`save_mfsr_reconstruction_figure`).

Data (`load_retrieval_splits`; `MFSRDataArguments` are the user-data options of every recipe): image-caption data.

- `--dataset_name synthetic` (default): the bundled procedural catalog (`fashionvl.data.synthetic.generate_catalog`),
  written as a Karpathy JSON + image folder (`write_karpathy`) and read back with `load_karpathy`, the same path as
  COCO and Flickr30K (5 captions per image).
- `--dataset_name karpathy --train_file dataset_coco.json --data_dir <image folder>`: a Karpathy JSON (the former
  `--data <json> --image_root <folder>` still works).
- anything else: your own data (`fashionvl.data.user_data.load_user_dataset`: imagefolder + metadata.jsonl, a
  save_to_disk folder, a Hub dataset, `--train_file` / `--validation_file`), one row per (image, caption). Rows of
  the same image (file path, else bytes) are grouped into one image with their captions
  (`fashionvl.data.user_data.captions_by_image`): training takes every (image, caption) pair; the evaluation split
  gives each image its first k captions, k = the fewest any image has (at most 5), since the protocol needs the same
  number per image. With k = 1 (one caption per image) i2t ranks one caption per image, like t2i: the recalls are
  not comparable with COCO / Flickr30K ones, where i2t takes the best of 5 captions.

Training (`train_mfsr`): every (image, caption) pair of the training split is a sample (VSE++). The paper's
schedule (section 3.5): Adam, learning rate 2e-4 for 15 epochs then 2e-5 (`lr_decay_epochs`,
`decayed_learning_rate`); optionally with a fixed image backbone, followed by a fine-tuning phase of the
whole model at 2e-5 (`freeze_backbone`, `finetune_epochs`). The vocabulary is built from the training captions
only. Discriminators get their own optimizer inside `FashionTrainer`.

Evaluation (`fashionvl.evaluation.mfsr_protocol.evaluate_retrieval`, SPEC §6): i2t rank = best rank of the 5
captions, t2i, R@1/5/10, medr, meanr, rsum (`fashionvl.evaluation.vse_recall`); protocols `1k` (COCO 1K: mean over 5 folds of 1,000 images), `5k`
(COCO 5K), `all` (every test image at once, Flickr30K 1K and the synthetic catalog).

Ablations (`ABLATIONS`, paper Table 3): `vse++` (no separation, semantic loss only), `separation only` (the
separation head, semantic loss only: the equal-architecture control), `mo`, `sp`, `mo+sp`, `mo+sp+img-re`,
`mo+sp+cap-re`, `mfsr` (all five losses); `ablation_study` trains rows x seeds and records recalls, separation
diagnostics and the gradient norm of each loss term (the balance of eq. 6's weights).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from tqdm.auto import tqdm

from ..configs.configuration_mfsr import MFSRConfig
from ..configs.presets import load_ablations
from ..data.user_data import UserDataArguments, captions_by_image, load_user_dataset
from ..evaluation.mfsr_diagnostics import loss_gradient_norms, separation_diagnostics
from ..evaluation.mfsr_protocol import CAPTIONS_PER_IMAGE, chance_recall, evaluate_retrieval, split_captions_per_image
from ..modeling.modeling_mfsr import MFSRForRetrieval
from ..processing.collators_mfsr import CaptionedImageSplit, MFSRDataCollator, MFSRPairDataset
from ..processing.processing_mfsr import MFSRProcessor
from ..training.callbacks import MaxViolationWarmupCallback
from ..training.trainer_mfsr import MFSRTrainer
from ._common import METRICS_FILE, load_float32_model, metrics_file_in, parse_config_overrides


logger = logging.getLogger(__name__)

#: Named values of --dataset_name that this recipe reads itself; every other value is the user's own data.
DATA_FORMATS = ("synthetic", "karpathy")

# Paper Table 3 rows -> MFSRConfig overrides (every other weight keeps its value, 1 by default), data in
# `configs/ablations/mfsr.json`. "vse++" is the paper's baseline (no separation head, a `hidden_size` embedding);
# "separation only" is its control at equal architecture and embedding size: the separation head of the other rows
# trained by the semantic loss alone.
ABLATIONS: dict[str, dict[str, Any]] = load_ablations("mfsr")


def ablation_overrides(name: str) -> dict[str, Any]:
    """`MFSRConfig` keyword arguments of a paper Table 3 row (`ABLATIONS`)."""
    if name not in ABLATIONS:
        raise ValueError(f"Unknown mFSR ablation {name!r}: expected one of {list(ABLATIONS)}.")
    return dict(ABLATIONS[name])


# ---- data ------------------------------------------------------------------------------------------------


def _split_from_dataset(dataset, captions_per_image: int) -> CaptionedImageSplit:
    images, captions = [], []
    for row in tqdm(dataset, desc="reading split", leave=False):
        row_captions = list(row["captions"])[:captions_per_image]
        if len(row_captions) < captions_per_image:
            raise ValueError(
                f"Image {row.get('filename', len(images))!r} has {len(row_captions)} captions; the VSE++ protocol "
                f"needs {captions_per_image} per image."
            )
        image = row["image"]
        image.load()  # decoded as stored: the image processor handles every mode (no RGB conversion, issue 10)
        images.append(image)
        captions.append(row_captions)
    return CaptionedImageSplit(images, captions)


def _split_from_user_rows(dataset, uniform: bool) -> CaptionedImageSplit:
    """A user's rows grouped by image (`captions_by_image`); `uniform`: every image keeps its first k captions, k =
    the fewest any image has, at most `CAPTIONS_PER_IMAGE` (the evaluation protocol needs one k)."""
    first_rows, captions = captions_by_image(dataset)
    if uniform:
        keep = min(CAPTIONS_PER_IMAGE, min(len(image_captions) for image_captions in captions))
        if any(len(image_captions) > keep for image_captions in captions):
            logger.info("evaluation: every image keeps its first %d caption(s) (the fewest any image has, at most %d).",
                        keep, CAPTIONS_PER_IMAGE)
        captions = [image_captions[:keep] for image_captions in captions]
    images = [dataset[row]["image"] for row in first_rows]
    for image in images:
        image.load()
    return CaptionedImageSplit(images, captions)


@dataclass
class MFSRDataArguments(UserDataArguments):
    """Data, schedule and ablation settings of the mFSR recipe: the user-data options of
    `fashionvl.data.user_data.UserDataArguments` (``--dataset_name``, ``--train_file``, ``--caption_column``, ...)
    plus mFSR's own formats as named ``--dataset_name`` values (`DATA_FORMATS`) and the script's own arguments."""

    named_datasets: ClassVar[tuple[str, ...]] = DATA_FORMATS

    dataset_name: str | None = field(
        default="synthetic",
        metadata={"aliases": ["--data"],
                  "help": "'synthetic' (the bundled catalog), 'karpathy' (--train_file dataset_coco.json --data_dir "
                  "<images>), or your own data: a datasets name or local path (imagefolder with metadata.jsonl/.csv, "
                  "save_to_disk folder); --train_file alone replaces 'synthetic'."},
    )
    data_dir: str | None = field(
        default=None,
        metadata={"aliases": ["--image_root"],
                  "help": "karpathy: the image folder; own data: data_dir of the datasets builder (e.g. imagefolder)."},
    )
    num_products: int = field(default=400, metadata={"help": "Synthetic catalog size (products = images)."})
    image_size: int = field(default=64, metadata={"help": "Processor image size (paper: 224)."})
    preset: str = field(default="tiny", metadata={"help": "MFSRConfig preset: 'tiny' or 'paper'."})
    ablation: str = field(default="mfsr", metadata={"help": f"Paper Table 3 row: one of {list(ABLATIONS)}."})
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "JSON object of MFSRConfig arguments applied last, e.g. '{\"margin\": 0.1}'."},
    )
    min_count: int = field(default=4, metadata={"help": "Vocabulary: minimum count of a training word."})
    lr_decay_epochs: float = field(default=15, metadata={"help": "Epochs at the first learning rate (paper: 15)."})
    decayed_learning_rate: float = field(default=2e-5, metadata={"help": "Learning rate after lr_decay_epochs."})
    freeze_backbone: bool = field(default=False, metadata={"help": "Keep the image backbone fixed in the main phase."})
    pretrained_backbone: str | None = field(
        default=None, metadata={"help": "Backbone checkpoint (e.g. microsoft/resnet-152 or a local folder)."}
    )
    finetune_epochs: float = field(
        default=0, metadata={"help": "Then fine-tune everything (backbone included) for this many epochs."}
    )
    finetune_learning_rate: float = field(default=2e-5, metadata={"help": "Learning rate of the fine-tuning phase."})
    max_violation_warmup_epochs: float = field(
        default=0,
        metadata={"help": "Epochs with the hinge summed over all negatives before the hardest-negative form."},
    )
    eval_protocol: str = field(default="all", metadata={"help": "'all', '1k' (COCO 5 folds) or '5k'."})
    eval_split: str = field(
        default="test",
        metadata={"help": "Split evaluated after training; 'val+test' evaluates on both held-out splits at once."},
    )
    seed_catalog: int = field(default=0, metadata={"help": "Seed of the synthetic catalog."})
    max_train_images: int | None = field(
        default=None,
        metadata={"help": "Train on the first N training images only (with all their captions); the held-out "
                  "splits stay whole (e.g. a low-data run with the test set of the full catalog)."},
    )
    data_cache_dir: str | None = field(
        default=None,
        metadata={"help": "Folder where the synthetic catalog is generated once and reused (default: output_dir)."},
    )
    reconstruction_figure: str | None = field(
        default=None, metadata={"help": "Write a paper Fig. 5 style reconstruction PNG here after training."}
    )

    def __post_init__(self):
        if self.dataset_name is not None and self.dataset_name.endswith(".json") and self.train_file is None:
            self.dataset_name, self.train_file = "karpathy", self.dataset_name  # the former --data <Karpathy JSON>
        super().__post_init__()
        if self.max_train_images is not None and self.max_train_images < 1:
            raise ValueError(f"max_train_images must be >= 1, got {self.max_train_images}.")
        if self.dataset_name == "karpathy" and (self.train_file is None or self.data_dir is None):
            raise ValueError("dataset_name='karpathy' needs --train_file (the Karpathy JSON) and --data_dir (its images); "
                             f"got train_file={self.train_file!r}, data_dir={self.data_dir!r}.")


def load_retrieval_splits(data_args: MFSRDataArguments, splits=("train", "test"), cache_dir: str | None = None) -> dict[str, CaptionedImageSplit]:
    """Read the requested splits as `CaptionedImageSplit`s (see the module docstring for the data sources); a name
    `"a+b"` is the concatenation of splits a and b; `data_args.max_train_images` keeps the first N of "train"."""
    result = _load_retrieval_splits(data_args, splits, cache_dir)
    if data_args.max_train_images is not None and "train" in result:
        train = result["train"]
        result["train"] = CaptionedImageSplit(train.images[: data_args.max_train_images], train.captions[: data_args.max_train_images])
    return result


def _load_retrieval_splits(data_args: MFSRDataArguments, splits, cache_dir: str | None) -> dict[str, CaptionedImageSplit]:
    from ..data import load_karpathy

    if data_args.named_dataset is None:
        return _user_retrieval_splits(data_args, splits)
    if data_args.dataset_name == "synthetic":
        from ..data.synthetic import generate_catalog, write_karpathy

        root = os.path.join(
            data_args.data_cache_dir or cache_dir or "outputs", f"mfsr_synthetic_{data_args.num_products}_{data_args.image_size}_{data_args.seed_catalog}"
        )
        json_path = os.path.join(root, "dataset_fashionvl_synthetic.json")
        if not os.path.isfile(json_path):
            # One view per product: an image and its product's 5 captions, as in COCO / Flickr30K.
            catalog = generate_catalog(
                data_args.num_products, seed=data_args.seed_catalog, image_size=data_args.image_size, views_per_product=1
            )
            json_path = write_karpathy(catalog, root, dataset_name="fashionvl_synthetic")
        image_root = root
    else:
        json_path, image_root = data_args.train_file, data_args.data_dir
    result = {}
    for name in splits:
        # "val+test": the held-out splits as one (more images per evaluation: less noise in the recalls)
        parts = [_split_from_dataset(load_karpathy(json_path, image_root, split=part), CAPTIONS_PER_IMAGE) for part in name.split("+")]
        result[name] = CaptionedImageSplit(
            [image for part in parts for image in part.images], [captions for part in parts for captions in part.captions]
        )
    return result


def _user_retrieval_splits(data_args: MFSRDataArguments, names) -> dict[str, CaptionedImageSplit]:
    """The user's data: `"train"` is its training split, every other requested name its validation split."""
    user_splits = load_user_dataset(data_args, require=("image", "caption"))
    return {name: _split_from_user_rows(user_splits["train" if name == "train" else "validation"], uniform=name != "train")
            for name in names}


# ---- model and schedule -----------------------------------------------------------------------------------


def build_model(data_args: MFSRDataArguments, vocab_size: int) -> MFSRForRetrieval:
    """`MFSRForRetrieval` of the preset and ablation, optionally with pre-trained backbone weights."""
    overrides = ablation_overrides(data_args.ablation)
    overrides.update(parse_config_overrides(data_args.config_overrides, option="--config_overrides"))
    config = MFSRConfig.from_preset(
        data_args.preset, vocab_size=vocab_size, freeze_image_backbone=data_args.freeze_backbone, **overrides
    )
    model = MFSRForRetrieval(config)
    if data_args.pretrained_backbone:
        model.mfsr.load_pretrained_backbone(data_args.pretrained_backbone)
    return model


def _run_phase(model, processor, train_split, training_args, num_epochs, learning_rate, decay_epochs, decayed_learning_rate,
               max_violation_warmup_epochs: float = 0):
    dataset = MFSRPairDataset(train_split)
    args = dataclasses.replace(
        training_args, num_train_epochs=num_epochs, learning_rate=learning_rate, remove_unused_columns=False
    )
    steps_per_epoch = math.ceil(len(dataset) / (args.per_device_train_batch_size * max(1, args.gradient_accumulation_steps)))
    trainer = MFSRTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=MFSRDataCollator(processor),
        decay_step=int(decay_epochs * steps_per_epoch),
        decay_factor=decayed_learning_rate / learning_rate,
        callbacks=[MaxViolationWarmupCallback(max_violation_warmup_epochs)] if max_violation_warmup_epochs > 0 else None,
    )
    trainer.train()
    return trainer


def train_mfsr(data_args: MFSRDataArguments, training_args) -> dict[str, Any]:
    """Build the vocabulary from the training captions, train (and fine-tune), evaluate, save.

    Args:
        data_args: recipe settings.
        training_args: `FashionTrainingArguments` (`per_device_train_batch_size` = the batch size, Adam settings,
            `num_train_epochs` = epochs of the main phase, `learning_rate` = the first learning rate).

    Returns:
        `{"metrics": vse_recall dict, "chance": chance-level recalls, "ablation": name, "output_dir": path}`.
    """
    torch.manual_seed(training_args.seed)
    splits = load_retrieval_splits(data_args, splits=("train", data_args.eval_split), cache_dir=training_args.output_dir)
    train_split = splits["train"]
    processor = MFSRProcessor.from_captions(
        train_split.flat_captions(), image_size=data_args.image_size, min_count=data_args.min_count
    )
    model = build_model(data_args, vocab_size=len(processor.tokenizer))
    _run_phase(
        model, processor, train_split, training_args, training_args.num_train_epochs, training_args.learning_rate,
        data_args.lr_decay_epochs, data_args.decayed_learning_rate, data_args.max_violation_warmup_epochs,
    )
    if data_args.finetune_epochs > 0:
        # Paper section 3.5: take the model trained with a fixed image encoder, train everything at 2e-5.
        model.mfsr.set_image_backbone_trainable(True)
        _run_phase(
            model, processor, train_split, training_args, data_args.finetune_epochs, data_args.finetune_learning_rate,
            data_args.finetune_epochs, data_args.finetune_learning_rate,
        )
    from ..hub import save_model_without_remote_code

    save_model_without_remote_code(model, training_args.output_dir)  # weights first, config.json last
    processor.save_pretrained(training_args.output_dir)
    eval_split = splits[data_args.eval_split]
    metrics = evaluate_retrieval(model, processor, eval_split, protocol=data_args.eval_protocol)
    result = {
        "ablation": data_args.ablation,
        "metrics": metrics,
        "chance": chance_recall(len(eval_split), split_captions_per_image(eval_split)),
        "num_eval_images": len(eval_split),
        "output_dir": training_args.output_dir,
    }
    with open(os.path.join(training_args.output_dir, METRICS_FILE), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    if data_args.reconstruction_figure and model.config.use_feature_separation:
        save_reconstruction_figure(model, processor, eval_split, data_args.reconstruction_figure)
    return result


def run_ablations(data_args: MFSRDataArguments, training_args) -> dict[str, dict[str, Any]]:
    """Train `data_args.ablation`, a comma-separated list of Table 3 rows, or `all` of them.

    Each row trains from the same seed into `<output_dir>/<row>` (the row alone: into `output_dir`).

    Returns:
        `{row: train_mfsr result}` in the order run.
    """
    names = list(ABLATIONS) if data_args.ablation == "all" else [name.strip() for name in data_args.ablation.split(",")]
    for name in names:
        ablation_overrides(name)  # fail before any training on a misspelt row
    if len(names) == 1:
        return {names[0]: train_mfsr(dataclasses.replace(data_args, ablation=names[0]), training_args)}
    results = {}
    for name in names:
        row_args = dataclasses.replace(training_args, output_dir=os.path.join(training_args.output_dir, name.replace("+", "_").replace(" ", "_")))
        figure = data_args.reconstruction_figure if name == "mfsr" else None
        results[name] = train_mfsr(dataclasses.replace(data_args, ablation=name, reconstruction_figure=figure), row_args)
    return results


def evaluate_saved_model(model_path: str, data_args: MFSRDataArguments, cache_dir: str | None = None) -> dict:
    """Load a trained model + processor folder and evaluate it on `data_args.eval_split`."""
    model = load_float32_model(MFSRForRetrieval, model_path)
    processor = MFSRProcessor.from_pretrained(model_path)
    split = load_retrieval_splits(data_args, splits=(data_args.eval_split,), cache_dir=cache_dir)[data_args.eval_split]
    return {
        "metrics": evaluate_retrieval(model, processor, split, protocol=data_args.eval_protocol),
        "chance": chance_recall(len(split), split_captions_per_image(split)),
        "num_eval_images": len(split),
    }


# ---- ablation study over seeds (paper Table 3) ---------------------------------------------------------------


def synthetic_caption_vocabularies() -> dict[str, list[str]]:
    """Colour names and product head nouns ("sneakers" of "high-top sneakers") of the synthetic catalog: the words a
    caption reconstruction should keep."""
    import re

    from ..data.synthetic_products import COLORS, SUBCATEGORIES

    nouns = sorted({re.findall(r"[a-z]+", noun)[-1] for spec in SUBCATEGORIES for noun in spec.nouns})  # head nouns
    return {"colour": sorted(COLORS), "product": nouns}


def _finished_run(run_dir: str, config: MFSRConfig) -> dict | None:
    """The `train_mfsr` result saved in `run_dir` when that run trained a model of `config`, else None."""
    metrics_file = metrics_file_in(run_dir)
    if metrics_file is None or not os.path.isfile(os.path.join(run_dir, "config.json")):
        return None
    ignored = {"transformers_version", "architectures", "dtype", "torch_dtype"}
    saved = {key: value for key, value in MFSRConfig.from_pretrained(run_dir).to_dict().items() if key not in ignored}
    wanted = {key: value for key, value in config.to_dict().items() if key not in ignored}
    if saved != wanted:
        return None
    with open(metrics_file, encoding="utf-8") as handle:
        return json.load(handle)


def ablation_study(
    data_args: MFSRDataArguments, training_args, rows: list[str], seeds: list[int], output_file: str | None = None,
    resume: bool = False,
) -> dict[str, list[dict]]:
    """Train every row of `rows` (names of `ABLATIONS`) once per seed on the same data; evaluate each run.

    Each run: `train_mfsr` into `<output_dir>/<row>/seed<k>`, then `separation_diagnostics` on the evaluation
    split and `loss_gradient_norms` on one fixed training batch at initialisation and after training. With
    `resume`, a run folder that already holds a trained model of the same configuration is not retrained; it is
    scored on this study's `eval_split` (so finished runs can be re-scored on more held-out images).

    Returns:
        `{row: [run report per seed]}` (also written to `output_file` as JSON after every run), each report
        `{"seed", "metrics", "chance", "num_eval_images", "diagnostics", "gradient_norms": {"init", "trained"}}`.
    """
    for name in rows:
        ablation_overrides(name)
    if data_args.data_cache_dir is None:  # every run reads the one catalog generated here
        data_args = dataclasses.replace(data_args, data_cache_dir=training_args.output_dir)
    splits = load_retrieval_splits(data_args, splits=("train", data_args.eval_split), cache_dir=training_args.output_dir)
    processor = MFSRProcessor.from_captions(
        splits["train"].flat_captions(), image_size=data_args.image_size, min_count=data_args.min_count
    )
    dataset = MFSRPairDataset(splits["train"])
    generator = torch.Generator().manual_seed(0)
    probe = [dataset[index] for index in torch.randperm(len(dataset), generator=generator)[:32].tolist()]
    probe_batch = MFSRDataCollator(processor)(probe)
    vocabularies = synthetic_caption_vocabularies() if data_args.dataset_name == "synthetic" else None
    results: dict[str, list[dict]] = {}
    for name in rows:
        for seed in seeds:
            row_dir = os.path.join(training_args.output_dir, name.replace("+", "_").replace(" ", "_"), f"seed{seed}")
            run_args = dataclasses.replace(training_args, output_dir=row_dir, seed=seed)
            torch.manual_seed(seed)
            initial = build_model(dataclasses.replace(data_args, ablation=name), vocab_size=len(processor.tokenizer))
            initial.train()
            init_norms = loss_gradient_norms(initial, probe_batch)
            result = _finished_run(row_dir, initial.config) if resume else None
            if result is None:
                result = train_mfsr(dataclasses.replace(data_args, ablation=name, reconstruction_figure=None), run_args)
            model = load_float32_model(MFSRForRetrieval, row_dir)
            if resume:  # a reused run is scored on this study's evaluation split
                eval_split = splits[data_args.eval_split]
                result = {**result, "metrics": evaluate_retrieval(model, processor, eval_split, protocol=data_args.eval_protocol),
                          "chance": chance_recall(len(eval_split), split_captions_per_image(eval_split)),
                          "num_eval_images": len(eval_split)}
            model.train()
            trained_norms = loss_gradient_norms(model, probe_batch)
            results.setdefault(name, []).append({
                "seed": seed,
                "metrics": result["metrics"],
                "chance": result["chance"],
                "num_eval_images": result["num_eval_images"],
                "diagnostics": separation_diagnostics(
                    model, processor, splits[data_args.eval_split], caption_vocabularies=vocabularies
                ),
                "gradient_norms": {"init": init_norms, "trained": trained_norms},
            })
            if output_file:
                with open(output_file, "w", encoding="utf-8") as handle:
                    json.dump(results, handle, indent=2)
    return results


def save_reconstruction_figure(model, processor: MFSRProcessor, split: CaptionedImageSplit, path: str, num_examples: int = 4):
    """Paper Fig. 5 for the first `num_examples` images of `split`, each with its first caption."""
    from ..visualization.mfsr import save_mfsr_reconstruction_figure

    captions = [captions[0] for captions in split.captions[:num_examples]]
    return save_mfsr_reconstruction_figure(model, processor, split.images[:num_examples], captions, path)


__all__ = [
    "ABLATIONS",
    "DATA_FORMATS",
    "MFSRDataArguments",
    "ablation_overrides",
    "ablation_study",
    "build_model",
    "evaluate_saved_model",
    "load_retrieval_splits",
    "run_ablations",
    "save_reconstruction_figure",
    "train_mfsr",
]
