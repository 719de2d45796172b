"""M2Fashion recipe: data preparation, training, evaluation and the ablation study over seeds, orchestrated from
the pieces that live where they belong (the scripts `scripts/train_m2fashion.py`, `scripts/evaluate_m2fashion.py`
and `scripts/ablate_m2fashion.py` are thin wrappers around this module):

- data: `fashionvl.data.attribute_data` (`load_attribute_data`, `encode_rows`, the DARN query / candidate lists);
  `M2FashionDataArguments` are the user-data options of every recipe: `--dataset_name synthetic` (default) |
  `deepfashion` | `darn` with `--data_dir`, anything else your own data with an attributes column
  (`load_user_attribute_data`; string categories are saved as the config's `id2label`). The former `--data_format`
  and `--data_root` still work (aliases of `--dataset_name` and `--data_dir`);
- batches: `fashionvl.processing.collators_m2fashion` (collator, attribute-conditioned triplet sampler);
- training: `fashionvl.training.trainer_m2fashion.M2FashionTripletTrainer`;
- protocols and tables: `fashionvl.evaluation.m2fashion_protocol` (DeepFashion-C, DARN, conditioned retrieval);
- attention analyses: `fashionvl.evaluation.m2fashion_attention` (TV, localisation, saturation, counterfactual);
- figures: `fashionvl.visualization.m2fashion` (paper Fig. 5);
- the paper's ablations (Tables 1-2): `ABLATIONS`, config overrides per variant.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ..configs.configuration_m2fashion import M2FashionConfig
from .._safe_io import atomic_write_text
from ..configs.presets import load_ablations
from ..data.attribute_data import (
    DATA_FORMATS,
    AttributeData,
    dimension_one_hot,
    encode_rows,
    load_attribute_data,
    load_user_attribute_data,
    retrieval_queries_and_candidates,
    with_dimension_attributes,
)
from ..data.user_data import UserDataArguments
from ..evaluation.m2fashion_attention import attention_analysis, attention_maps_for_examples, group_query_counterfactual
from ..evaluation.m2fashion_protocol import (
    conditioned_retrieval_map,
    darn_retrieval_map,
    deepfashion_metrics,
    exclusive_attribute_groups,
    format_report_table,
    frequency_baselines,
    predict,
)
from ..modeling.modeling_m2fashion import M2FashionForAttributePrediction
from ..processing.collators_m2fashion import M2FashionDataCollator, M2FashionTripletBatchSampler, M2FashionTripletDataset
from ..processing.processing_m2fashion import M2FashionProcessor
from ._common import METRICS_FILE, parse_config_overrides


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------


def build_model(
    preset: str, num_labels: int, num_attributes: int, category_names: Sequence[str] | None = None, **overrides
) -> M2FashionForAttributePrediction:
    """An M2Fashion model from a preset sized for the data (categories, attributes); `overrides` go to the config."""
    id2label = {index: name for index, name in enumerate(category_names)} if category_names else None
    config = M2FashionConfig.from_preset(
        preset,
        num_labels=num_labels,
        num_attributes=num_attributes,
        **({"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}} if id2label else {}),
        **overrides,
    )
    return M2FashionForAttributePrediction(config)


def attribute_query_groups(data: AttributeData) -> list[int]:
    """The group id of each attribute for `attribute_prediction="per_group"`: the data's exclusive dimensions
    (neckline, sleeve length, ...) when they cover every attribute, else its attribute types (DeepFashion's five)."""
    dimension_groups = exclusive_attribute_groups(data.attribute_names, data.dimensions)
    covered = sorted(index for group in dimension_groups.values() for index in group)
    if covered == list(range(len(data.attribute_names))):
        group_of = {index: number for number, group in enumerate(dimension_groups.values()) for index in group}
        return [group_of[index] for index in range(len(data.attribute_names))]
    if not data.attribute_types:
        raise ValueError(
            "attribute_prediction='per_group' needs attribute groups: the data has neither dimensions that cover "
            "every attribute nor attribute types; pass attribute_groups in --config_overrides."
        )
    type_ids = {name: number for number, name in enumerate(dict.fromkeys(data.attribute_types))}
    return [type_ids[name] for name in data.attribute_types]


def model_config_overrides(
    data_args: M2FashionDataArguments, data: AttributeData, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`data_args`' config overrides, then `overrides`; a per-group model without `attribute_groups` gets the
    data's (`attribute_query_groups`); `attribute_prediction="auto"` is per_group when the data has groups."""
    merged = {**data_args.config_overrides(), **(overrides or {})}
    if merged.get("attribute_prediction") not in ("auto", "per_group"):
        return merged
    groups = merged.get("attribute_groups")
    if groups is None:
        try:
            groups = attribute_query_groups(data)
        except ValueError:
            if merged["attribute_prediction"] == "per_group":
                raise
            groups = []
    if merged["attribute_prediction"] == "auto" and len(set(groups)) < 2:  # no groups, or one: the shared head
        merged["attribute_prediction"] = "shared"
        return merged
    merged.update(attribute_prediction="per_group", attribute_groups=groups)
    return merged


def load_backbone_weights(model, checkpoint: str) -> dict[str, list[str]]:
    """Load ImageNet (or any) ResNet weights into the backbone, e.g. `"microsoft/resnet-50"` or a local folder.

    Reads the checkpoint with `transformers.ResNetModel.from_pretrained` (which also accepts
    `ResNetForImageClassification` checkpoints) and copies its stem and stages into `model`'s backbone.

    Returns:
        `{"missing": [...], "unexpected": [...]}` backbone keys that were not found / not used.
    """
    from transformers import ResNetModel

    source = ResNetModel.from_pretrained(checkpoint, dtype=torch.float32)
    base = model.m2fashion if hasattr(model, "m2fashion") else model
    state = {key: value for key, value in source.state_dict().items() if not key.startswith("pooler")}
    result = base.backbone.load_state_dict(state, strict=False)
    return {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys)}


# ----------------------------------------------------------------------------------------------
# Training and evaluation entry points (used by the scripts)
# ----------------------------------------------------------------------------------------------


@dataclass
class M2FashionDataArguments(UserDataArguments):
    """Data and model arguments of `scripts/train_m2fashion.py` / `scripts/evaluate_m2fashion.py`: the user-data
    options of `fashionvl.data.user_data.UserDataArguments` plus M2Fashion's own formats (`DATA_FORMATS`)."""

    named_datasets: ClassVar[tuple[str, ...]] = DATA_FORMATS

    dataset_name: str | None = field(
        default="synthetic",
        metadata={"aliases": ["--data_format"],
                  "help": f"One of {DATA_FORMATS} (deepfashion / darn: with --data_dir), or your own data with an "
                  "attributes column: a datasets name or local path (imagefolder with metadata.jsonl/.csv, "
                  "save_to_disk folder); --train_file alone replaces 'synthetic'."},
    )
    data_dir: str | None = field(
        default=None,
        metadata={"aliases": ["--data_root"],
                  "help": "deepfashion / darn: the folder of the data set; own data: data_dir of the datasets builder."},
    )
    num_products: int = field(default=400, metadata={"help": "Synthetic catalog size (products; 2 views each)."})
    image_size: int = field(default=64, metadata={"help": "Input image side (paper: 224)."})
    preset: str = field(default="tiny", metadata={"help": "Config preset: tiny or paper."})
    backbone_checkpoint: str | None = field(
        default=None, metadata={"help": "ResNet weights for the backbone (e.g. microsoft/resnet-50 or a folder)."}
    )
    use_spatial_attention: bool = field(default=True, metadata={"help": "False = ablation 'w/o ASA'."})
    use_channel_attention: bool = field(default=True, metadata={"help": "False = ablation 'w/o ACA'."})
    pooling: str = field(default="max", metadata={"help": "max (GMP, paper) or avg (GAP)."})
    category_loss_weight: float = field(default=1.0, metadata={"help": "0 = ablation 'attribute only'."})
    attribute_loss_weight: float = field(default=1.0, metadata={"help": "lambda; 0 = ablation 'category only'."})
    triplet_loss_weight: float = field(default=0.5, metadata={"help": "gamma of eq. 15."})
    attribute_prediction: str = field(
        default="auto",
        metadata={"help": "per_group: each attribute group predicted from its own group-queried pass (issue 12 "
                  "departure; groups from the data's dimensions or attribute types); shared: one Z for all "
                  "attributes (the paper); auto: per_group when the data defines groups, else shared."},
    )
    known_fractions: str = field(
        default="0,0.5,1", metadata={"help": "Fractions of attributes known at inference, comma separated."}
    )
    attribute_source: str = field(
        default="typed",
        metadata={
            "help": "typed: the data set's binary attributes (DeepFashion-C style); dimensions: one binary attribute "
            "per value of each categorical dimension (DARN style; enables attribute_scores retrieval)."
        },
    )
    eval_split: str = field(default="test", metadata={"help": "Split to evaluate."})
    ablations: str | None = field(
        default=None,
        metadata={"help": "Train these variants of ABLATIONS (comma separated, or 'all') instead of one model."},
    )
    attention_figure: str | None = field(
        default=None, metadata={"help": "Write the attention figure (paper Fig. 5) to this PNG."}
    )
    config_overrides_json: str | None = field(
        default=None,
        metadata={"aliases": ["--config_overrides"],
                  "help": "JSON object of M2FashionConfig arguments applied after the options above, e.g. "
                  "'{\"spatial_attention_temperature\": 0.5}'."},
    )

    def config_overrides(self) -> dict[str, Any]:
        return {
            "use_spatial_attention": self.use_spatial_attention,
            "use_channel_attention": self.use_channel_attention,
            "pooling": self.pooling,
            "category_loss_weight": self.category_loss_weight,
            "attribute_loss_weight": self.attribute_loss_weight,
            "triplet_loss_weight": self.triplet_loss_weight,
            "attribute_prediction": self.attribute_prediction,
            **parse_config_overrides(self.config_overrides_json, option="--config_overrides"),
        }

    def parsed_known_fractions(self) -> list[float]:
        return [float(value) for value in self.known_fractions.split(",") if value.strip()]


#: The paper's ablations (Tables 1-2) as config overrides, data in `configs/ablations/m2fashion.json`. The triplet
#: term stays on in every variant; without ASA there is no V_s that depends on the query, so "w/o ASA" has the
#: triplet term read Z (after ACA) instead (`triplet_embedding="shared"`).
ABLATIONS: dict[str, dict[str, Any]] = load_ablations("m2fashion")


@dataclass
class EncodedAttributeData:
    """An attribute data set with its train and evaluation rows pre-processed once (shared by the runs of a study)."""

    data: AttributeData
    processor: M2FashionProcessor
    train_rows: list[dict]
    eval_rows: list[dict]
    num_labels: int


def prepare_data(
    data_args: M2FashionDataArguments, seed: int = 0, processor: M2FashionProcessor | None = None
) -> EncodedAttributeData:
    """Load the data of `data_args` and pre-process the train and evaluation splits.

    Args:
        processor: the processor of a trained model (its attribute vocabulary must match the data); a new one is
            built from the data when None.
    """
    if data_args.named_dataset is None:
        data = load_user_attribute_data(data_args, eval_split=data_args.eval_split)
    else:
        data = load_attribute_data(
            data_args.dataset_name, data_args.data_dir, data_args.num_products, data_args.image_size, seed,
            splits=("train", data_args.eval_split),
        )
    if data_args.attribute_source == "dimensions" and data.dimension_attribute_indices is None:
        data = with_dimension_attributes(data)
    if processor is None:
        processor = M2FashionProcessor.from_attribute_list(
            data.attribute_names, data.attribute_types, data_args.image_size
        )
    elif processor.attribute_names != data.attribute_names:
        raise ValueError(
            f"The data's {len(data.attribute_names)} attributes differ from the processor's {processor.num_attributes} "
            f"(first ones: {data.attribute_names[:3]} vs {processor.attribute_names[:3]})."
        )
    train_rows = encode_rows(data.splits["train"], processor, desc="encoding train")
    eval_rows = encode_rows(data.splits[data_args.eval_split], processor, desc="encoding eval")
    if data.dimension_attribute_indices is not None:
        for row in train_rows + eval_rows:
            row["attributes"] = dimension_one_hot(row["attribute_values"], data.dimensions)
    if data.category_names:
        num_labels = len(data.category_names)
    elif "category" in train_rows[0]:
        num_labels = 1 + max(row["category"] for row in train_rows)
    else:
        num_labels = 1  # no categories (DARN): the category head is unused and its loss never computed
    return EncodedAttributeData(data, processor, train_rows, eval_rows, num_labels)


def train_m2fashion(
    data_args: M2FashionDataArguments,
    training_args,
    prepared: EncodedAttributeData | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train on `data_args`' data with a `FashionTrainingArguments`, save model + processor, evaluate.

    Args:
        prepared: data from `prepare_data` (loaded here when None).
        overrides: config overrides on top of `data_args.config_overrides()` (e.g. an entry of `ABLATIONS`).

    Returns the evaluation report of `evaluate_m2fashion` (also written to `<output_dir>/eval_results.json`).
    """
    from transformers import set_seed

    from ..training import FashionTrainer
    from ..training.trainer_m2fashion import M2FashionTripletTrainer

    set_seed(training_args.seed)
    prepared = prepared or prepare_data(data_args, training_args.seed)
    data, processor = prepared.data, prepared.processor
    model = build_model(
        data_args.preset, prepared.num_labels, len(data.attribute_names), data.category_names,
        **model_config_overrides(data_args, data, overrides),
    )
    if data_args.backbone_checkpoint:
        report = load_backbone_weights(model, data_args.backbone_checkpoint)
        print(f"backbone weights from {data_args.backbone_checkpoint}: {report}")
    collator = M2FashionDataCollator(processor, seed=training_args.seed)
    if model.config.triplet_conditioning == "query_attribute" and model.config.triplet_loss_weight > 0:
        # ASEN-style: batches of whole triplets, every anchor with a valid positive and negative (issue 12).
        batch_sampler = triplet_batch_sampler(
            prepared.train_rows, training_args.per_device_train_batch_size, training_args.seed,
            same_category_positives=model.config.triplet_positive_category == "anchor",
        )
        trainer = M2FashionTripletTrainer(
            model=model, args=training_args, train_dataset=M2FashionTripletDataset(prepared.train_rows),
            data_collator=collator, batch_sampler=batch_sampler,
        )
    else:
        trainer = FashionTrainer(model=model, args=training_args, train_dataset=prepared.train_rows, data_collator=collator)
    trainer.train()
    trainer.save_model(training_args.output_dir)
    processor.save_pretrained(training_args.output_dir)
    report = evaluate_m2fashion(model, processor, prepared.eval_rows, data, data_args, train_rows=prepared.train_rows)
    report["train_runtime_s"] = trainer.state.log_history[-1].get("train_runtime")
    if data_args.attention_figure:
        save_attention_figure(model, processor, data, data_args.eval_split, data_args.attention_figure)
    with open(os.path.join(training_args.output_dir, METRICS_FILE), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    return report


def triplet_batch_sampler(
    rows: list[dict], batch_size: int, seed: int = 0, same_category_positives: bool = False
) -> M2FashionTripletBatchSampler:
    """`M2FashionTripletBatchSampler` over pre-processed rows: `batch_size // 3` triplets per batch."""
    return M2FashionTripletBatchSampler(
        torch.tensor([row["attributes"] for row in rows]),
        torch.tensor([row["category"] for row in rows]) if "category" in rows[0] else None,
        torch.tensor([row["product_id"] for row in rows]) if "product_id" in rows[0] else None,
        triplets_per_batch=max(1, batch_size // 3),
        seed=seed,
        same_category_positives=same_category_positives,
    )


def run_ablations(data_args: M2FashionDataArguments, training_args, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Train and evaluate each named variant of `ABLATIONS` on the same data (one sub-folder per variant).

    Writes `<output_dir>/results.md`: the DeepFashion-C table (nothing known at inference) with the baselines.
    """
    import dataclasses

    unknown = [name for name in names if name not in ABLATIONS]
    if unknown:
        raise ValueError(f"Unknown ablation(s) {unknown}; expected names from {list(ABLATIONS)}.")
    prepared = prepare_data(data_args, training_args.seed)
    reports = {}
    for name in names:
        folder = os.path.join(training_args.output_dir, name.replace("/", "").replace(" ", "_"))
        run_args = dataclasses.replace(training_args, output_dir=folder)
        run_data_args = dataclasses.replace(data_args, attention_figure=data_args.attention_figure if name == "M2Fashion" else None)
        reports[name] = train_m2fashion(run_data_args, run_args, prepared=prepared, overrides=ABLATIONS[name])
    table = ablation_table(reports, prepared.processor.attribute_types)
    with open(os.path.join(training_args.output_dir, "results.md"), "w", encoding="utf-8") as handle:
        handle.write(table + "\n")
    return reports


def ablation_table(reports: dict[str, dict[str, Any]], attribute_types: Sequence[str] | None) -> str:
    """Markdown table of runs (nothing known at inference) plus the frequency baselines of the first run.

    A variant trained without a task shows "-" for that task's metrics ("category only", "attribute only").
    """
    rows = {}
    for name, report in reports.items():
        metrics = dict(report["deepfashion_c"].get("known=0", next(iter(report["deepfashion_c"].values()))))
        overrides = ABLATIONS.get(name, {})
        if overrides.get("category_loss_weight") == 0.0:
            metrics.pop("category", None)
        if overrides.get("attribute_loss_weight") == 0.0:
            metrics = {key: value for key, value in metrics.items() if not key.startswith("attribute_")}
        rows[name] = metrics
    first = next(iter(reports.values()))
    rows.update(first.get("baselines", {}))
    return format_report_table(rows, attribute_types)


def evaluate_m2fashion(
    model,
    processor: M2FashionProcessor,
    eval_rows: list[dict],
    data: AttributeData,
    data_args: M2FashionDataArguments,
    train_rows: list[dict] | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """The DeepFashion-C metrics at each known-attribute fraction, baselines, and DARN-style retrieval mAP."""
    report: dict[str, Any] = {"attribute_types": processor.attribute_types, "deepfashion_c": {}}
    groups = exclusive_attribute_groups(processor.attribute_names, data.dimensions)
    has_categories = "category" in eval_rows[0]
    unconditioned = None
    for fraction in data_args.parsed_known_fractions():
        predictions = predict(model, eval_rows, batch_size=batch_size, known_fraction=fraction)
        report["deepfashion_c"][f"known={fraction:g}"] = deepfashion_metrics(
            predictions.get("logits") if has_categories else None,
            predictions.get("labels"),
            predictions["attribute_logits"],
            predictions["attribute_labels"],
            processor.attribute_types,
            attribute_states=predictions["attribute_states"],
        )
        if 0 < fraction < 1:
            # Control: the same labels are left out of the recall, but the model is not told them. The gap to the
            # row above is what conditioning on the known attributes adds (fewer candidates alone raise recall).
            unconditioned = unconditioned or predict(model, eval_rows, batch_size=batch_size, known_fraction=0.0)
            report["deepfashion_c"][f"known={fraction:g}, not input"] = deepfashion_metrics(
                unconditioned.get("logits") if has_categories else None,
                unconditioned.get("labels"),
                unconditioned["attribute_logits"],
                unconditioned["attribute_labels"],
                processor.attribute_types,
                attribute_states=predictions["attribute_states"],
            )
    if "attributes" in eval_rows[0] and model.config.use_spatial_attention:
        report["attention"] = attention_analysis(model, eval_rows, groups)
    if groups and "attributes" in eval_rows[0] and "product_id" in eval_rows[0]:
        queries, candidates = retrieval_queries_and_candidates(eval_rows, data, processor)
        report["conditioned_retrieval"] = conditioned_retrieval_map(model, queries, candidates, groups)
    if train_rows is not None and has_categories:
        report["baselines"] = frequency_baselines(train_rows, eval_rows, model.config.num_labels, processor.attribute_types)
    if data.dimensions and "attribute_values" in eval_rows[0]:
        queries, candidates = retrieval_queries_and_candidates(eval_rows, data, processor)
        query_predictions = predict(model, queries, batch_size=batch_size, known_fraction=0.0)
        candidate_predictions = predict(model, candidates, batch_size=batch_size, known_fraction=0.0)
        query_values = torch.tensor([row["attribute_values"] for row in queries])
        candidate_values = torch.tensor([row["attribute_values"] for row in candidates])
        report["darn_retrieval"] = {}
        embeddings = ["z"] + (["attribute_scores"] if data.dimension_attribute_indices else [])
        for embedding in embeddings:
            report["darn_retrieval"][embedding] = darn_retrieval_map(
                query_predictions, query_values, candidate_predictions, candidate_values, list(data.dimensions),
                data.dimension_attribute_indices, embedding=embedding,
            )
        # Chance level: random embeddings (seeded), the baseline of the retrieval table.
        generator = torch.Generator().manual_seed(0)
        random_queries = {"attribute_aware_embeds": torch.randn(len(queries), 16, generator=generator)}
        random_candidates = {"attribute_aware_embeds": torch.randn(len(candidates), 16, generator=generator)}
        report["darn_retrieval"]["random embeddings"] = darn_retrieval_map(
            random_queries, query_values, random_candidates, candidate_values, list(data.dimensions), embedding="z"
        )
    return report


def evaluate_saved_model(model_path: str, data_args: M2FashionDataArguments, seed: int = 0) -> dict[str, Any]:
    """Load a model + processor saved by `train_m2fashion` and run `evaluate_m2fashion` (+ attention figure)."""
    model = M2FashionForAttributePrediction.from_pretrained(model_path, dtype=torch.float32)
    processor = M2FashionProcessor.from_pretrained(model_path)
    prepared = prepare_data(data_args, seed, processor=processor)
    report = evaluate_m2fashion(
        model, processor, prepared.eval_rows, prepared.data, data_args, train_rows=prepared.train_rows
    )
    if data_args.attention_figure:
        save_attention_figure(model, processor, prepared.data, data_args.eval_split, data_args.attention_figure)
    return report


# ----------------------------------------------------------------------------------------------
# Attention figure (paper Fig. 5)
# ----------------------------------------------------------------------------------------------


FIGURE_COLUMNS = ("neckline", "sleeve length", "length", "pattern", "style")


def save_attention_figure(model, processor: M2FashionProcessor, data: AttributeData, split: str, path: str):
    """Paper Fig. 5 style: one row per held-out image, one column per queried attribute group (`FIGURE_COLUMNS`
    where the data has them, else the image's first positive attributes)."""
    groups = exclusive_attribute_groups(data.attribute_names, data.dimensions)
    from ..visualization.m2fashion import attention_examples, attention_examples_by_group, plot_attribute_attention

    if groups:
        columns = [column for column in FIGURE_COLUMNS if column in groups]
        examples = attention_examples_by_group(data.splits[split], data.attribute_names, groups, columns)
    else:
        examples = attention_examples(data.splits[split], data.attribute_names)
    return plot_attribute_attention(examples, attention_maps_for_examples(model, processor, examples), path=path)


# ----------------------------------------------------------------------------------------------
# Ablation study over seeds (paper Tables 1-2)
# ----------------------------------------------------------------------------------------------


def ablation_study(
    data_args: M2FashionDataArguments,
    training_args,
    names: Sequence[str],
    seeds: Sequence[int],
    output_file: str | None = None,
) -> dict[str, Any]:
    """Train every variant of `names` (keys of `ABLATIONS`) once per training seed on the same data.

    The catalog (seed `data_args`-independent: catalog seed 0) is loaded once. For each seed an untrained
    M2Fashion (the same initialisation as its trained run) gives the init-only control of the attention analyses.

    Returns (and writes to `output_file` after every run) `{"runs": {name: [report per seed]}, "init_control":
    [analysis per seed], "baselines": frequency baselines}`; each report is `evaluate_m2fashion`'s plus `seed`.
    """
    import dataclasses

    from transformers import set_seed

    unknown = [name for name in names if name not in ABLATIONS]
    if unknown:
        raise ValueError(f"Unknown ablation(s) {unknown}; expected names from {list(ABLATIONS)}.")
    prepared = prepare_data(data_args, seed=0)
    study: dict[str, Any] = {"runs": {}, "init_control": []}

    def write():
        if output_file:
            atomic_write_text(output_file, json.dumps(study, indent=2))

    def untrained(seed, overrides=None):
        set_seed(seed)
        return build_model(
            data_args.preset, prepared.num_labels, len(prepared.data.attribute_names), prepared.data.category_names,
            **model_config_overrides(data_args, prepared.data, overrides),
        )

    per_group = any(  # resolved as each run will be (the default "auto" included)
        model_config_overrides(data_args, prepared.data, ABLATIONS[name]).get("attribute_prediction") == "per_group"
        for name in names
    )
    for seed in seeds:
        initial = untrained(seed)
        groups = exclusive_attribute_groups(prepared.data.attribute_names, prepared.data.dimensions)
        control = {"seed": seed, "attention": attention_analysis(initial, prepared.eval_rows, groups)}
        if per_group and "counterfactual_group_query" not in control["attention"]:
            # the per-group probe's own control: an untrained per-group model of the same seed
            control["attention"]["counterfactual_group_query"] = group_query_counterfactual(
                untrained(seed, {"attribute_prediction": "per_group"}), prepared.eval_rows
            )
        if groups:
            queries, candidates = retrieval_queries_and_candidates(prepared.eval_rows, prepared.data, prepared.processor)
            control["conditioned_retrieval"] = conditioned_retrieval_map(initial, queries, candidates, groups)
        study["init_control"].append(control)
    for name in names:
        for seed in seeds:
            folder = os.path.join(training_args.output_dir, name.replace("/", "").replace(" ", "_"), f"seed{seed}")
            run_args = dataclasses.replace(training_args, output_dir=folder, seed=seed)
            run_data_args = dataclasses.replace(data_args, attention_figure=None)
            report = train_m2fashion(run_data_args, run_args, prepared=prepared, overrides=ABLATIONS[name])
            study["baselines"] = report.get("baselines")
            report["seed"] = seed
            study["runs"].setdefault(name, []).append(report)
            write()
    write()
    return study


__all__ = [
    "ABLATIONS",
    "EncodedAttributeData",
    "M2FashionDataArguments",
    "ablation_study",
    "ablation_table",
    "attribute_query_groups",
    "build_model",
    "evaluate_m2fashion",
    "evaluate_saved_model",
    "load_backbone_weights",
    "model_config_overrides",
    "prepare_data",
    "run_ablations",
    "save_attention_figure",
    "train_m2fashion",
    "triplet_batch_sampler",
]
