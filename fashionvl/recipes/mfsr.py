"""mFSR recipes: data, training schedule, paper Table 3 ablations, the VSE++ evaluation protocol, Fig. 5.

The scripts `scripts/train_mfsr.py` and `scripts/evaluate_mfsr.py` are thin wrappers around this module.

Data (`load_retrieval_splits`): image-caption retrieval data with 5 captions per image.

- `"synthetic"` (default): the bundled procedural catalog (`fashionvl.data.synthetic.generate_catalog`), written
  as a Karpathy JSON + image folder (`write_karpathy`) and read back with `load_karpathy`, the same path as COCO
  and Flickr30K.
- a path to a Karpathy JSON (`dataset_coco.json`, `dataset_flickr30k.json`) with `--image_root`.

Training (`train_mfsr`): every (image, caption) pair of the training split is a sample (VSE++). The paper's
schedule (section 3.5): Adam, learning rate 2e-4 for 15 epochs then 2e-5 (`lr_decay_epochs`,
`decayed_learning_rate`); optionally with a fixed image backbone, followed by a fine-tuning phase of the
whole model at 2e-5 (`freeze_backbone`, `finetune_epochs`). The vocabulary is built from the training captions
only. Discriminators get their own optimizer inside `FashionTrainer`.

Evaluation (`evaluate_retrieval`, SPEC §6): i2t rank = best rank of the 5 captions, t2i, R@1/5/10, medr, meanr,
rsum (`fashionvl.evaluation.vse_recall`); protocols `1k` (COCO 1K: mean over 5 folds of 1,000 images), `5k`
(COCO 5K), `all` (every test image at once, Flickr30K 1K and the synthetic catalog).

Ablations (`ABLATIONS`, paper Table 3): `vse++` (no separation, semantic loss only), `separation only` (the
separation head, semantic loss only: the equal-architecture control), `mo`, `sp`, `mo+sp`, `mo+sp+img-re`,
`mo+sp+cap-re`, `mfsr` (all five losses). `loss_gradient_norms` measures how strongly each term pulls on the
encoders (the balance of eq. 6's weights).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR
from tqdm.auto import tqdm

from ..configs.configuration_mfsr import MFSRConfig
from ..modeling.modeling_mfsr import MFSRForRetrieval
from ..processing.processing_mfsr import MFSRProcessor

CAPTIONS_PER_IMAGE = 5

_NO_RECONSTRUCTION = {"image_reconstruction_loss_weight": 0.0, "caption_reconstruction_loss_weight": 0.0}
# Paper Table 3 rows -> MFSRConfig overrides (every other weight keeps its value, 1 by default).
# "vse++" is the paper's baseline (no separation head, a `hidden_size` embedding); "separation only" is its control
# at equal architecture and embedding size: the separation head of the other rows trained by the semantic loss alone.
ABLATIONS: dict[str, dict[str, Any]] = {
    "vse++": {"use_feature_separation": False, "modal_loss_weight": 0.0, "specific_loss_weight": 0.0, **_NO_RECONSTRUCTION},
    "separation only": {"modal_loss_weight": 0.0, "specific_loss_weight": 0.0, **_NO_RECONSTRUCTION},
    "mo": {"specific_loss_weight": 0.0, **_NO_RECONSTRUCTION},
    "sp": {"modal_loss_weight": 0.0, **_NO_RECONSTRUCTION},
    "mo+sp": dict(_NO_RECONSTRUCTION),
    "mo+sp+img-re": {"caption_reconstruction_loss_weight": 0.0},
    "mo+sp+cap-re": {"image_reconstruction_loss_weight": 0.0},
    "mfsr": {},
}


def ablation_overrides(name: str) -> dict[str, Any]:
    """`MFSRConfig` keyword arguments of a paper Table 3 row (`ABLATIONS`)."""
    if name not in ABLATIONS:
        raise ValueError(f"Unknown mFSR ablation {name!r}: expected one of {list(ABLATIONS)}.")
    return dict(ABLATIONS[name])


# ---- data ------------------------------------------------------------------------------------------------


@dataclass
class RetrievalSplit:
    """One split: `images[i]` (PIL, RGB) and its captions `captions[i]` (5 for COCO / Flickr30K)."""

    images: list
    captions: list[list[str]]

    def __len__(self) -> int:
        return len(self.images)

    def pairs(self) -> list[tuple[int, str]]:
        """(image index, caption) for every caption: the training samples."""
        return [(index, caption) for index, captions in enumerate(self.captions) for caption in captions]

    def flat_captions(self) -> list[str]:
        """All captions, image by image (the order `vse_recall` expects)."""
        return [caption for captions in self.captions for caption in captions]


def _split_from_dataset(dataset, captions_per_image: int) -> RetrievalSplit:
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
    return RetrievalSplit(images, captions)


@dataclass
class MFSRDataArguments:
    """Data, schedule and ablation settings of the mFSR recipe (the script's own arguments)."""

    data: str = field(
        default="synthetic", metadata={"help": "'synthetic' or the path of a Karpathy JSON (dataset_coco.json, ...)."}
    )
    image_root: str | None = field(default=None, metadata={"help": "Image folder of a Karpathy JSON."})
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
    eval_split: str = field(default="test", metadata={"help": "Split evaluated after training."})
    seed_catalog: int = field(default=0, metadata={"help": "Seed of the synthetic catalog."})
    data_cache_dir: str | None = field(
        default=None,
        metadata={"help": "Folder where the synthetic catalog is generated once and reused (default: output_dir)."},
    )
    reconstruction_figure: str | None = field(
        default=None, metadata={"help": "Write a paper Fig. 5 style reconstruction PNG here after training."}
    )


def load_retrieval_splits(data_args: MFSRDataArguments, splits=("train", "test"), cache_dir: str | None = None) -> dict[str, RetrievalSplit]:
    """Read the requested splits as `RetrievalSplit`s (see the module docstring for the data sources)."""
    from ..data import load_karpathy

    if data_args.data == "synthetic":
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
        json_path, image_root = data_args.data, data_args.image_root
        if image_root is None:
            raise ValueError(f"--image_root is needed with a Karpathy JSON ({json_path!r}).")
    return {
        split: _split_from_dataset(load_karpathy(json_path, image_root, split=split), CAPTIONS_PER_IMAGE) for split in splits
    }


class MFSRPairDataset(torch.utils.data.Dataset):
    """Training samples of a split: one row per (image, caption) pair, `{"image": PIL, "caption": str}`."""

    def __init__(self, split: RetrievalSplit):
        self.split = split
        self.index = split.pairs()

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict:
        image_index, caption = self.index[item]
        return {"image": self.split.images[image_index], "caption": caption, "image_id": image_index}


class MFSRDataCollator:
    """Rows `{"image", "caption"[, "image_id"]}` -> `pixel_values`, `input_ids`, `attention_mask` (through an
    `MFSRProcessor`) and `image_ids` `(batch,)` when the rows carry them (the semantic hinge then never takes
    another caption of the same image as a negative)."""

    def __init__(self, processor: MFSRProcessor):
        self.processor = processor
        self._pixel_cache: dict[int, torch.Tensor] = {}

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = dict(self.processor(text=[row["caption"] for row in rows]))
        if all("image_id" in row for row in rows):
            # Each training image is pre-processed once (5 captions per image: 5 visits per epoch).
            missing = [row for row in rows if row["image_id"] not in self._pixel_cache]
            if missing:
                pixels = self.processor(images=[row["image"] for row in missing])["pixel_values"]
                self._pixel_cache.update({row["image_id"]: value for row, value in zip(missing, pixels)})
            batch["pixel_values"] = torch.stack([self._pixel_cache[row["image_id"]] for row in rows])
            batch["image_ids"] = torch.tensor([row["image_id"] for row in rows], dtype=torch.long)
        else:
            batch["pixel_values"] = self.processor(images=[row["image"] for row in rows])["pixel_values"]
        return batch


# ---- model and schedule -----------------------------------------------------------------------------------


def build_model(data_args: MFSRDataArguments, vocab_size: int) -> MFSRForRetrieval:
    """`MFSRForRetrieval` of the preset and ablation, optionally with pre-trained backbone weights."""
    overrides = ablation_overrides(data_args.ablation)
    if data_args.config_overrides:
        try:
            overrides.update(json.loads(data_args.config_overrides))
        except (json.JSONDecodeError, TypeError, ValueError) as error:
            raise ValueError(f"--config_overrides must be a JSON object, got {data_args.config_overrides!r}: {error}") from None
    config = MFSRConfig.from_preset(
        data_args.preset, vocab_size=vocab_size, freeze_image_backbone=data_args.freeze_backbone, **overrides
    )
    model = MFSRForRetrieval(config)
    if data_args.pretrained_backbone:
        model.mfsr.load_pretrained_backbone(data_args.pretrained_backbone)
    return model


LOSS_TERMS = ("semantic_loss", "modal_loss", "specific_loss", "image_reconstruction_loss", "caption_reconstruction_loss")


def loss_gradient_norms(model: MFSRForRetrieval, batch: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Gradient norm of each *weighted* eq. 6 term on the shared encoders, one backward pass per term.

    Diagnostic of the loss balance: a term whose gradient is 100x smaller than the semantic one barely acts.
    The model's gradients are left as they were (zeroed before and after).

    Args:
        model: an `MFSRForRetrieval` (its train/eval mode is kept).
        batch: a training batch (`pixel_values`, `input_ids`, `attention_mask`, optional `image_ids`).

    Returns:
        `{term: {"value": unweighted loss, "image_encoder": norm, "text_encoder": norm, "separation": norm}}`
        for every computed term (`separation` is 0 without a separation head).
    """
    groups = {
        "image_encoder": [p for p in model.mfsr.image_encoder.parameters() if p.requires_grad],
        "text_encoder": [p for p in model.mfsr.text_encoder.parameters() if p.requires_grad],
        "separation": [
            p for name in ("image_separation", "text_separation") if hasattr(model.mfsr, name)
            for p in getattr(model.mfsr, name).parameters()
        ],
    }
    report = {}
    for term in LOSS_TERMS:
        model.zero_grad(set_to_none=True)
        output = model(**batch)
        value = getattr(output, term)
        if value is None:
            continue
        (getattr(model.config, f"{term}_weight") * value).backward()
        report[term] = {"value": value.item()}
        for group, parameters in groups.items():
            squares = [p.grad.pow(2).sum() for p in parameters if p.grad is not None]
            report[term][group] = torch.stack(squares).sum().sqrt().item() if squares else 0.0
    model.zero_grad(set_to_none=True)
    return report


def step_decay_lambda(decay_step: int, factor: float):
    """Learning-rate multiplier: 1 before `decay_step` optimizer steps, `factor` from then on (paper section 3.5)."""
    return lambda step: 1.0 if step < decay_step else factor


def _mfsr_trainer_class():
    from ..training import FashionTrainer

    class MFSRTrainer(FashionTrainer):
        """`FashionTrainer` with the paper's step schedule (one learning-rate drop after `decay_step` steps)."""

        def __init__(self, *args, decay_step: int, decay_factor: float, **kwargs):
            super().__init__(*args, **kwargs)
            self.decay_step, self.decay_factor = decay_step, decay_factor

        def create_scheduler(self, num_training_steps: int, optimizer=None):
            if self.lr_scheduler is None:
                self.lr_scheduler = LambdaLR(
                    optimizer if optimizer is not None else self.optimizer, step_decay_lambda(self.decay_step, self.decay_factor)
                )
                self._created_lr_scheduler = True
            return self.lr_scheduler

    return MFSRTrainer


def _max_violation_warmup_callback(warmup_epochs: float):
    from transformers import TrainerCallback

    class MaxViolationWarmup(TrainerCallback):
        """Sum the hinge over every negative (VSE0) for the first epochs, then use the hardest one (VSE++).

        From randomly initialised encoders the hardest-negative loss alone can collapse every embedding onto one
        point (loss = 2 * margin * batch); VSE++ itself starts from ImageNet features.
        """

        def on_step_begin(self, args, state, control, model=None, **kwargs):
            model.config.max_violation = state.epoch is None or state.epoch >= warmup_epochs

        on_train_end = on_step_begin

    return MaxViolationWarmup()


def _run_phase(model, processor, train_split, training_args, num_epochs, learning_rate, decay_epochs, decayed_learning_rate,
               max_violation_warmup_epochs: float = 0):
    import dataclasses

    dataset = MFSRPairDataset(train_split)
    args = dataclasses.replace(
        training_args, num_train_epochs=num_epochs, learning_rate=learning_rate, remove_unused_columns=False
    )
    steps_per_epoch = math.ceil(len(dataset) / (args.per_device_train_batch_size * max(1, args.gradient_accumulation_steps)))
    trainer = _mfsr_trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=MFSRDataCollator(processor),
        decay_step=int(decay_epochs * steps_per_epoch),
        decay_factor=decayed_learning_rate / learning_rate,
        callbacks=[_max_violation_warmup_callback(max_violation_warmup_epochs)] if max_violation_warmup_epochs > 0 else None,
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
        "chance": chance_recall(len(eval_split)),
        "num_eval_images": len(eval_split),
        "output_dir": training_args.output_dir,
    }
    with open(os.path.join(training_args.output_dir, "retrieval_metrics.json"), "w", encoding="utf-8") as handle:
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
    import dataclasses

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


# ---- evaluation -------------------------------------------------------------------------------------------


@torch.no_grad()
def encode_split(model, processor: MFSRProcessor, split: RetrievalSplit, batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Semantic embeddings of every image `(num_images, dim)` and caption `(num_images * 5, dim)` of a split."""
    model.eval()
    device = next(model.parameters()).device
    image_embeds, text_embeds = [], []
    for start in tqdm(range(0, len(split), batch_size), desc="encoding images", leave=False):
        pixel_values = processor(images=split.images[start : start + batch_size])["pixel_values"].to(device)
        image_embeds.append(model.get_image_features(pixel_values).cpu())
    captions = split.flat_captions()
    for start in tqdm(range(0, len(captions), batch_size), desc="encoding captions", leave=False):
        text = processor(text=captions[start : start + batch_size])
        text_embeds.append(model.get_text_features(text["input_ids"].to(device), text["attention_mask"].to(device)).cpu())
    return torch.cat(image_embeds), torch.cat(text_embeds)


PROTOCOLS = {"all": {"fold5": False}, "5k": {"fold5": False}, "1k": {"fold5": True}}


def evaluate_retrieval(model, processor: MFSRProcessor, split: RetrievalSplit, protocol: str = "all", batch_size: int = 128) -> dict:
    """VSE++ recall on a split: `{"i2t": {R@1, R@5, R@10, medr, meanr}, "t2i": {...}, "rsum"}` (percent).

    Protocols: `all` (every image), `5k` (COCO 5K: the same on the 5,000 test images), `1k` (COCO 1K: mean
    over 5 folds of a fifth of the images each).
    """
    from ..evaluation import vse_recall

    if protocol not in PROTOCOLS:
        raise ValueError(f"Unknown evaluation protocol {protocol!r}: expected one of {list(PROTOCOLS)}.")
    image_embeds, text_embeds = encode_split(model, processor, split, batch_size=batch_size)
    return vse_recall(image_embeds, text_embeds, captions_per_image=CAPTIONS_PER_IMAGE, **PROTOCOLS[protocol])


def chance_recall(num_images: int, captions_per_image: int = CAPTIONS_PER_IMAGE, ks=(1, 5, 10)) -> dict:
    """Expected R@K (percent) of a random ranking: t2i = K / N; i2t (best of the image's captions among
    N * c) = 1 - C(N*c - c, K) / C(N*c, K)."""
    num_captions = num_images * captions_per_image
    i2t = {f"R@{k}": 100 * (1 - math.comb(num_captions - captions_per_image, k) / math.comb(num_captions, k)) for k in ks}
    t2i = {f"R@{k}": 100 * min(k, num_images) / num_images for k in ks}
    return {"i2t": i2t, "t2i": t2i, "rsum": sum(i2t.values()) + sum(t2i.values())}


def evaluate_saved_model(model_path: str, data_args: MFSRDataArguments, cache_dir: str | None = None) -> dict:
    """Load a trained model + processor folder and evaluate it on `data_args.eval_split`."""
    model = MFSRForRetrieval.from_pretrained(model_path, dtype=torch.float32)
    processor = MFSRProcessor.from_pretrained(model_path)
    split = load_retrieval_splits(data_args, splits=(data_args.eval_split,), cache_dir=cache_dir)[data_args.eval_split]
    return {
        "metrics": evaluate_retrieval(model, processor, split, protocol=data_args.eval_protocol),
        "chance": chance_recall(len(split)),
        "num_eval_images": len(split),
    }


def format_recall_table(rows: dict[str, dict]) -> str:
    """Markdown table, one row per name: i2t R@1/5/10, t2i R@1/5/10, rsum (the paper's Table 3 layout)."""
    lines = [
        "| model | i2t R@1 | i2t R@5 | i2t R@10 | t2i R@1 | t2i R@5 | t2i R@10 | rsum |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, metrics in rows.items():
        values = [metrics["i2t"][f"R@{k}"] for k in (1, 5, 10)] + [metrics["t2i"][f"R@{k}"] for k in (1, 5, 10)]
        lines.append(f"| {name} | " + " | ".join(f"{value:.1f}" for value in values) + f" | {metrics['rsum']:.1f} |")
    return "\n".join(lines)


# ---- ablation study over seeds (paper Table 3) ---------------------------------------------------------------


@torch.no_grad()
def separation_diagnostics(model, processor: MFSRProcessor, split: RetrievalSplit, num_examples: int = 64) -> dict:
    """What the separated parts and the reconstructions of a trained model do, on the first images of `split`.

    Returns:
        `cos_image_semantic_specific` / `cos_text_semantic_specific`: mean cosine <se, sp> (eq. 10 pushes it to
        -1 in its printed form, to 0 as an orthogonality penalty); `image_modal_spread` / `text_modal_spread`:
        mean distance of the modal parts to their mean (eq. 7); `reconstruction_pixel_spread`: mean distance of
        the generated images to their mean divided by the same for the real images (0 = one image for every
        input); `distinct_caption_fraction`: distinct greedy caption reconstructions / inputs (1 / inputs = the
        same caption for every input). Keys of parts the model does not have are left out.
    """
    if not model.config.use_feature_separation:
        return {}
    model.eval()
    device = next(model.parameters()).device
    images = split.images[:num_examples]
    captions = [captions[0] for captions in split.captions[:num_examples]]
    batch = {key: value.to(device) for key, value in processor(images=images, text=captions).items()}
    _, v_mo, v_se, v_sp = model.mfsr.encode_image(batch["pixel_values"])
    _, l_mo, l_se, l_sp = model.mfsr.encode_text(batch["input_ids"], batch["attention_mask"])
    spread = lambda values: (values - values.mean(dim=0)).norm(dim=-1).mean().item()  # noqa: E731
    report = {
        "cos_image_semantic_specific": (v_se * v_sp).sum(-1).mean().item(),
        "cos_text_semantic_specific": (l_se * l_sp).sum(-1).mean().item(),
        "image_modal_spread": spread(v_mo),
        "text_modal_spread": spread(l_mo),
    }
    generated, words = model.reconstruct(batch["pixel_values"], batch["input_ids"], batch["attention_mask"])
    if generated is not None:
        real = (model.reconstruction_target(batch["pixel_values"]) + 1) / 2
        report["reconstruction_pixel_spread"] = spread(generated.flatten(1)) / spread(real.flatten(1))
        report["reconstruction_l1_to_input"] = (generated - real).abs().mean().item()
    if words is not None:
        decoded = processor.batch_decode(words)
        report["distinct_caption_fraction"] = len(set(decoded)) / len(decoded)
    return report


def _finished_run(run_dir: str, config: MFSRConfig) -> dict | None:
    """The `train_mfsr` result saved in `run_dir` when that run trained a model of `config`, else None."""
    metrics_file = os.path.join(run_dir, "retrieval_metrics.json")
    if not (os.path.isfile(metrics_file) and os.path.isfile(os.path.join(run_dir, "config.json"))):
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
    `resume`, a run folder that already holds a trained model of the same configuration is evaluated, not retrained.

    Returns:
        `{row: [run report per seed]}` (also written to `output_file` as JSON after every run), each report
        `{"seed", "metrics", "chance", "num_eval_images", "diagnostics", "gradient_norms": {"init", "trained"}}`.
    """
    import dataclasses

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
            model = MFSRForRetrieval.from_pretrained(row_dir, dtype=torch.float32)
            model.train()
            trained_norms = loss_gradient_norms(model, probe_batch)
            results.setdefault(name, []).append({
                "seed": seed,
                "metrics": result["metrics"],
                "chance": result["chance"],
                "num_eval_images": result["num_eval_images"],
                "diagnostics": separation_diagnostics(model, processor, splits[data_args.eval_split]),
                "gradient_norms": {"init": init_norms, "trained": trained_norms},
            })
            if output_file:
                with open(output_file, "w", encoding="utf-8") as handle:
                    json.dump(results, handle, indent=2)
    return results


def _mean_sd(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((value - mean) ** 2 for value in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, sd


def format_ablation_table(results: dict[str, list[dict]]) -> str:
    """Markdown table of `ablation_study` results: mean +- sd over seeds of R@1/5/10 (both directions), rsum, and
    the chance row of a random ranking on the same number of images."""
    lines = [
        "| row | seeds | i2t R@1 | i2t R@5 | i2t R@10 | t2i R@1 | t2i R@5 | t2i R@10 | rsum |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = [("i2t", f"R@{k}") for k in (1, 5, 10)] + [("t2i", f"R@{k}") for k in (1, 5, 10)]
    for name, runs in results.items():
        cells = []
        for direction, key in keys:
            mean, sd = _mean_sd([run["metrics"][direction][key] for run in runs])
            cells.append(f"{mean:.1f} ± {sd:.1f}")
        mean, sd = _mean_sd([run["metrics"]["rsum"] for run in runs])
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + f" | **{mean:.1f} ± {sd:.1f}** |")
    first = next(iter(results.values()))[0]
    chance = first["chance"]
    values = [chance[direction][key] for direction, key in keys]
    lines.append(
        f"| chance ({first['num_eval_images']} images) | - | " + " | ".join(f"{value:.1f}" for value in values)
        + f" | {chance['rsum']:.1f} |"
    )
    return "\n".join(lines)


# ---- paper Fig. 5 -----------------------------------------------------------------------------------------


def save_reconstruction_figure(model, processor: MFSRProcessor, split: RetrievalSplit, path: str, num_examples: int = 4):
    """Input image / input caption / reconstructed image / reconstructed caption for the first examples."""
    from ..visualization import plot_mfsr_reconstruction

    model.eval()
    device = next(model.parameters()).device
    images = split.images[:num_examples]
    captions = [captions[0] for captions in split.captions[:num_examples]]
    batch = processor(images=images, text=captions)
    reconstructed_images, reconstructed_ids = model.reconstruct(
        batch["pixel_values"].to(device), batch["input_ids"].to(device), batch["attention_mask"].to(device)
    )
    reconstructed_captions = processor.batch_decode(reconstructed_ids) if reconstructed_ids is not None else None
    return plot_mfsr_reconstruction(images, captions, reconstructed_images, reconstructed_captions, path=path)


__all__ = [
    "ABLATIONS",
    "MFSRDataArguments",
    "MFSRDataCollator",
    "MFSRPairDataset",
    "RetrievalSplit",
    "ablation_overrides",
    "ablation_study",
    "build_model",
    "chance_recall",
    "encode_split",
    "evaluate_retrieval",
    "evaluate_saved_model",
    "format_ablation_table",
    "format_recall_table",
    "load_retrieval_splits",
    "loss_gradient_norms",
    "run_ablations",
    "save_reconstruction_figure",
    "separation_diagnostics",
    "step_decay_lambda",
    "train_mfsr",
]
