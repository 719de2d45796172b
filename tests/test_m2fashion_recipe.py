"""M2Fashion recipe: inference with known attributes, DeepFashion-C metrics, baselines, backbone weights, training."""

import json

import pytest
import torch
from transformers import ResNetModel

from fashionvl import M2FashionConfig, M2FashionForAttributePrediction, M2FashionProcessor
from fashionvl.data import attribute_data
from fashionvl.evaluation import m2fashion_attention as attention
from fashionvl.evaluation import m2fashion_protocol as protocol
from fashionvl.recipes import m2fashion as recipe
from fashionvl.visualization import m2fashion as figures


def plot_figure(model, processor, examples, path=None):
    """The paper's Fig. 5 of `examples` under `model`: its maps, then the drawing."""
    return figures.plot_attribute_attention(examples, attention.attention_maps_for_examples(model, processor, examples), path=path)




def test_reveal_attributes_knows_nothing_everything_or_a_fraction():
    labels = torch.where(torch.rand(200, 10) < 0.5, 1, -1)
    generator = torch.Generator().manual_seed(0)
    assert torch.all(protocol.reveal_attributes(labels, 0.0, generator) == 0)
    assert torch.equal(protocol.reveal_attributes(labels, 1.0, generator), labels)
    half = protocol.reveal_attributes(labels, 0.5, generator)
    known = half != 0
    assert torch.equal(half[known], labels[known])
    assert 0.4 < known.float().mean().item() < 0.6


def test_deepfashion_metrics_leave_known_attributes_out_of_the_recall():
    scores = torch.tensor([[0.9, 0.8, 0.1, 0.0]])
    labels = torch.tensor([[1, -1, 1, -1]])
    types = ["texture", "texture", "shape", "shape"]
    # nothing known: top-3 of all = {0, 1, 2} holds both positives
    assert protocol.deepfashion_metrics(None, None, scores, labels, types)["attribute_all"]["top3"] == 1.0
    # attribute 0 known: only attribute 2 counts, and it is in the top 3 of the remaining ones
    states = torch.tensor([[1, 0, 0, 0]])
    metrics = protocol.deepfashion_metrics(None, None, scores, labels, types, attribute_states=states)
    assert metrics["attribute_all"]["top3"] == 1.0
    assert metrics["attribute_texture"]["top3"] != metrics["attribute_texture"]["top3"]  # NaN: no unknown positive
    assert "category" not in metrics  # no category logits given


def test_frequency_baseline_predicts_the_majority_class_and_most_frequent_attributes():
    train = [{"category": 2, "attributes": [1, -1, -1]}] * 3 + [{"category": 0, "attributes": [-1, 1, -1]}]
    test = [{"category": 2, "attributes": [1, -1, -1]}, {"category": 1, "attributes": [-1, -1, 1]}]
    metrics = protocol.frequency_baselines(train, test, num_labels=3, attribute_types=None)["majority / frequency"]
    assert metrics["category"]["top1"] == 0.5  # class 2 for everyone
    assert metrics["category"]["top3"] == 1.0
    # attribute ranking 0 > 1 > 2: the first image's positive is top-1; the second's is third
    assert metrics["attribute_all"]["top3"] == 1.0


def test_backbone_weights_load_from_a_resnet_checkpoint(tmp_path):
    config = M2FashionConfig.from_preset("tiny", num_labels=3, num_attributes=4)
    resnet = ResNetModel(config.backbone_config)
    resnet.save_pretrained(tmp_path)
    model = M2FashionForAttributePrediction(config)
    report = recipe.load_backbone_weights(model, str(tmp_path))
    assert report == {"missing": [], "unexpected": []}
    for name, parameter in resnet.state_dict().items():
        assert torch.equal(model.m2fashion.backbone.state_dict()[name], parameter), name


def test_darn_map_with_attribute_scores_ranks_by_the_dimension_values():
    # two dimensions of two values each, attribute indices 0-1 and 2-3
    logits = torch.tensor([[5.0, -5.0, 5.0, -5.0], [5.0, -5.0, -5.0, 5.0], [-5.0, 5.0, 5.0, -5.0]])
    predictions = {"attribute_logits": logits, "attribute_aware_embeds": torch.ones(3, 2)}
    values = torch.tensor([[0, 0], [0, 1], [1, 0]])
    result = protocol.darn_retrieval_map(
        predictions, values, predictions, values, ["a", "b"], {"a": [0, 1], "b": [2, 3]}, embedding="attribute_scores"
    )
    assert result["mAP"] == pytest.approx(1.0)


def test_darn_format_trains_on_dimension_values_and_evaluates_query_candidate_lists(tmp_path):
    from fashionvl.data.synthetic import generate_catalog, write_darn

    write_darn(generate_catalog(40, seed=0, image_size=32, progress=False), tmp_path / "darn")
    data_args = recipe.M2FashionDataArguments(
        dataset_name="darn", data_dir=str(tmp_path / "darn"), image_size=32, known_fractions="0"
    )
    prepared = recipe.prepare_data(data_args)
    dimensions = prepared.data.dimensions
    assert prepared.processor.num_attributes == sum(len(values) for values in dimensions.values())
    assert set(prepared.train_rows[0]["attributes"]) <= {-1, 0, 1}
    model = recipe.build_model("tiny", prepared.num_labels, prepared.processor.num_attributes)
    report = recipe.evaluate_m2fashion(model, prepared.processor, prepared.eval_rows, prepared.data, data_args)
    retrieval = report["darn_retrieval"]
    assert set(retrieval) == {"z", "attribute_scores", "random embeddings"}
    assert set(retrieval["z"]) == {"mAP", *dimensions}
    assert all(0.0 < value <= 1.0 for value in retrieval["attribute_scores"].values())


def test_deepfashion_format_gives_typed_attributes_and_its_categories(tmp_path):
    from fashionvl.data.synthetic import generate_catalog, write_deepfashion

    write_deepfashion(generate_catalog(40, seed=0, image_size=32, progress=False), tmp_path / "deepfashion")
    data_args = recipe.M2FashionDataArguments(
        dataset_name="deepfashion", data_dir=str(tmp_path / "deepfashion"), image_size=32, known_fractions="0,0.5"
    )
    prepared = recipe.prepare_data(data_args)
    assert prepared.num_labels == len(prepared.data.category_names) == 20  # DeepFashion's one level: sub-categories
    assert set(prepared.processor.attribute_types) == {"texture", "fabric", "shape", "part", "style"}
    model = recipe.build_model("tiny", prepared.num_labels, prepared.processor.num_attributes)
    report = recipe.evaluate_m2fashion(model, prepared.processor, prepared.eval_rows, prepared.data, data_args)
    assert set(report["deepfashion_c"]) == {"known=0", "known=0.5", "known=0.5, not input"}
    assert set(report["deepfashion_c"]["known=0"]["category"]) == {"top1", "top3", "top5"}
    assert "darn_retrieval" not in report  # DeepFashion has no categorical dimensions


def test_attention_figure_has_one_row_per_image_and_one_column_per_attribute(tmp_path):
    data = attribute_data.load_attribute_data("synthetic", num_products=20, image_size=32, splits=("test",))
    processor = M2FashionProcessor.from_attribute_list(data.attribute_names, data.attribute_types, 32)
    model = recipe.build_model("tiny", 10, processor.num_attributes)
    examples = figures.attention_examples(data.splits["test"], data.attribute_names, num_images=2, per_image=2)
    figure = plot_figure(model, processor, examples, path=tmp_path / "attention.png")
    assert (tmp_path / "attention.png").is_file()
    assert len(examples) == 2 and all(len(names) == 2 for _, names in examples)
    # 2 rows x (image + 2 overlays): half as wide again as the same rows with one overlay, one row half as tall
    one_overlay = plot_figure(model, processor, [(image, names[:1]) for image, names in examples])
    one_row = plot_figure(model, processor, examples[:1])
    assert figure.width / one_overlay.width == pytest.approx(3 / 2, rel=0.02)
    assert figure.height / one_row.height == pytest.approx(2, rel=0.02)


@pytest.mark.slow
def test_short_cpu_training_beats_majority_and_frequency_baselines(tmp_path):
    from fashionvl.training import FashionTrainingArguments

    data_args = recipe.M2FashionDataArguments(num_products=300, image_size=32, known_fractions="0")
    training_args = FashionTrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=10, per_device_train_batch_size=32, learning_rate=3e-3,
        save_strategy="no", report_to=[], remove_unused_columns=False, use_cpu=True, seed=0, disable_tqdm=True,
        logging_steps=10,
    )
    report = recipe.train_m2fashion(data_args, training_args)
    model = report["deepfashion_c"]["known=0"]
    baseline = report["baselines"]["majority / frequency"]
    assert model["category"]["top1"] > baseline["category"]["top1"] + 0.3
    assert model["attribute_all"]["top3"] > baseline["attribute_all"]["top3"] + 0.05
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "processor_config.json").is_file()


def test_attention_sensitivity_is_zero_between_attributes_without_spatial_attention():
    rows = [{"pixel_values": torch.randn(3, 32, 32), "attributes": [1, 1, -1, 1]} for _ in range(3)]
    uniform = recipe.build_model("tiny", 2, 4, use_spatial_attention=False)
    stats = attention.attention_sensitivity(uniform, rows)
    assert stats["tv_between_attributes_same_image"] == pytest.approx(0.0, abs=1e-6)
    assert stats["mean_max_weight"] == pytest.approx(stats["uniform_weight"])
    attended = attention.attention_sensitivity(recipe.build_model("tiny", 2, 4), rows)
    assert 0.0 < attended["tv_between_images"] <= 1.0


def test_exclusive_attribute_groups_of_the_synthetic_catalog_map_each_value_to_one_attribute():
    data = attribute_data.load_attribute_data("synthetic", num_products=20, image_size=32, splits=("test",))
    groups = protocol.exclusive_attribute_groups(data.attribute_names, data.dimensions)
    assert set(groups) == {"pattern", "fabric", "sleeve length", "neckline", "length", "fit", "style"}
    names = lambda group: [data.attribute_names[k] for k in groups[group]]  # noqa: E731
    assert names("neckline") == ["crew neck", "v-neck", "collar", "turtleneck"]
    assert names("length") == ["short length", "long length"] and "polka dot" in names("pattern")
    for row in data.splits["test"]:
        for group in groups.values():
            assert sum(row["attributes"][k] == 1 for k in group) <= 1  # at most one value per product


def test_attention_figure_by_group_has_one_column_per_queried_attribute_group(tmp_path):
    data = attribute_data.load_attribute_data("synthetic", num_products=100, image_size=64, splits=("test",))
    processor = M2FashionProcessor.from_attribute_list(data.attribute_names, data.attribute_types, 64)
    model = recipe.build_model("tiny", 10, processor.num_attributes)
    groups = protocol.exclusive_attribute_groups(data.attribute_names, data.dimensions)
    columns = ["neckline", "sleeve length", "length"]
    examples = figures.attention_examples_by_group(data.splits["test"], data.attribute_names, groups, columns, num_images=3)
    assert len(examples) == 3
    for _, names in examples:
        assert len(names) == 3
        for name, column in zip(names, columns):
            assert name is None or data.attribute_names.index(name) in groups[column]
    figure = plot_figure(model, processor, examples, path=tmp_path / "attention.png")
    one_row = plot_figure(model, processor, examples[:1])
    assert figure.height / one_row.height == pytest.approx(3, rel=0.02)


def test_conditioned_retrieval_and_attention_analyses_report_their_measurements():
    data = attribute_data.load_attribute_data("synthetic", num_products=40, image_size=64, splits=("test",))
    processor = M2FashionProcessor.from_attribute_list(data.attribute_names, data.attribute_types, 64)
    rows = attribute_data.encode_rows(data.splits["test"], processor)
    model = recipe.build_model("tiny", 10, processor.num_attributes)
    groups = protocol.exclusive_attribute_groups(data.attribute_names, data.dimensions)
    queries, candidates = attribute_data.retrieval_queries_and_candidates(rows, data, processor)
    retrieval = protocol.conditioned_retrieval_map(model, queries, candidates, groups)
    assert set(retrieval) == {"z | query attribute", "z (all unknown)", "random"}
    assert all(0.0 <= retrieval[name]["mAP"] <= 1.0 for name in retrieval)
    analysis = attention.attention_analysis(model, rows, groups)
    assert analysis["saturation"]["saturated_fraction"] < 0.01  # the initialisation of issue 12
    assert set(analysis) == {"sensitivity", "saturation", "counterfactual", "counterfactual_label_mask", "localisation"}
    assert 0.0 < analysis["localisation"]["centroid_y"]["neckline"] < 1.0
    assert set(analysis["localisation"]["pairs"]) == {"neckline<length", "neckline<sleeve length"}
    assert analysis["counterfactual"]["attribute_loss"] > 0


def test_triplet_training_batches_come_from_the_sampler_with_valid_triplets(tmp_path):
    from fashionvl.training import FashionTrainingArguments

    data_args = recipe.M2FashionDataArguments(num_products=40, image_size=32, known_fractions="0")
    training_args = FashionTrainingArguments(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=9, learning_rate=1e-3, save_strategy="no",
        report_to=[], remove_unused_columns=False, use_cpu=True, seed=0, disable_tqdm=True, logging_steps=1,
    )
    prepared = recipe.prepare_data(data_args)
    sampler = recipe.triplet_batch_sampler(prepared.train_rows, batch_size=9)
    batch = next(iter(sampler))
    assert len(batch) == 9
    report = recipe.train_m2fashion(data_args, training_args, prepared=prepared)
    assert "conditioned_retrieval" in report
    logged = json.loads((tmp_path / "eval_results.json").read_text())
    assert logged["conditioned_retrieval"]["z | query attribute"]["mAP"] == report["conditioned_retrieval"]["z | query attribute"]["mAP"]


def test_counterfactual_probe_measures_a_variant_trained_without_the_attribute_loss():
    rows = [{"pixel_values": torch.randn(3, 32, 32), "attributes": [1, -1, 1, -1]} for _ in range(4)]
    model = recipe.build_model("tiny", 2, 4, attribute_loss_weight=0.0)
    report = attention.spatial_counterfactual(model, rows)
    assert report["attribute_loss"] > 0 and set(report) == {
        "attribute_loss", "counterfactual_attribute_loss", "relative_change", "mean_absolute_relative_change_per_image",
        "uniform_attention_relative_change",
    }
    assert report["mean_absolute_relative_change_per_image"] >= 0


def test_no_asa_reference_is_the_loss_under_uniform_attention_and_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    rows = [{"pixel_values": torch.randn(3, 32, 32), "attributes": [1, -1, 1, -1, 1, 1]} for _ in range(6)]
    model = recipe.build_model("tiny", 2, 6)
    report = attention.spatial_counterfactual(model, rows)
    pixel_values = torch.stack([row["pixel_values"] for row in rows])
    with attention._uniform_spatial_attention(model), torch.no_grad():
        uniform = model(pixel_values)
    assert torch.allclose(uniform.spatial_attention, torch.full_like(uniform.spatial_attention, 1 / uniform.spatial_attention[0].numel()))
    assert model.m2fashion.spatial_attention.use_attention  # restored
    assert report["uniform_attention_relative_change"] != 0.0  # ASA moves this model's loss at all
    without_asa = recipe.build_model("tiny", 2, 6, use_spatial_attention=False)
    assert attention.spatial_counterfactual(without_asa, rows)["uniform_attention_relative_change"] == pytest.approx(0.0, abs=1e-6)


def test_label_mask_probe_states_are_the_labels_with_a_hidden_subset():
    labels = torch.tensor([[1, -1, 1, -1, 1, 0, -1, 1]] * 50)
    model = recipe.build_model("tiny", 2, 8)
    states = attention._probe_states(model, labels, "label_mask", torch.Generator().manual_seed(0))
    known = states != 0
    assert bool((states[known] == labels.float()[known]).all())
    hidden = (labels != 0) & ~known
    assert hidden.sum(dim=1).min() >= 1 and known.any(dim=1).any()  # >= min_unknown_fraction * K hidden, some known
    with pytest.raises(ValueError, match="'sideways'"):
        attention._probe_states(model, labels, "sideways", torch.Generator())


def test_config_overrides_reach_the_model_config_and_bad_json_is_named():
    from transformers import HfArgumentParser

    parser = HfArgumentParser(recipe.M2FashionDataArguments)
    (data_args,) = parser.parse_args_into_dataclasses(args=["--config_overrides", '{"spatial_attention_temperature": 0.5}'])
    assert data_args.config_overrides()["spatial_attention_temperature"] == 0.5
    (bad,) = parser.parse_args_into_dataclasses(args=["--config_overrides", "{temperature: 0.5}"])
    with pytest.raises(ValueError, match="temperature: 0.5"):
        bad.config_overrides()


def _fake_run(tv_attributes: float, tv_images: float) -> dict:
    return {"attention": {"sensitivity": {"tv_between_attributes_same_image": tv_attributes, "tv_between_images": tv_images}}}


def test_study_table_rows_have_one_cell_per_column_and_paired_differences_are_per_seed():
    study = {
        "runs": {"M2Fashion": [_fake_run(0.13, 0.10), _fake_run(0.12, 0.126)]},
        "init_control": [_fake_run(0.03, 0.03), _fake_run(0.02, 0.03)],
        "baselines": {"majority / frequency": {"category": {"top1": 0.08}}},
    }
    table = protocol.format_study_table(study)
    widths = {line.count("|") for line in table.splitlines()}
    assert widths == {len(protocol.STUDY_COLUMNS) + 3}  # variant + seeds + columns, every row
    chance = table.splitlines()[-1].split(" | ")
    assert chance[2 + list(protocol.STUDY_COLUMNS).index("share neckline above length")] == "0.5"
    paired = protocol.format_paired_differences(study, "TV attributes", "TV images")
    assert "- M2Fashion: +0.030 / -0.006 (mean 0.012 ± 0.025, > 0 on 1 of 2 seeds)" in paired
    assert "- untrained (init-only control): +0.000 / -0.010" in paired


def test_merging_studies_joins_variants_and_seeds_and_refuses_a_seed_run_twice():
    first = {"runs": {"M2Fashion": [{"seed": 1, "x": 1}]}, "init_control": [{"seed": 1, "attention": {"tv": 1}}],
             "baselines": {"majority / frequency": {}}}
    second = {"runs": {"M2Fashion": [{"seed": 0, "x": 0}], "GAP": [{"seed": 0}]},
              "init_control": [{"seed": 1, "attention": {"tv": 2, "group": 3}}, {"seed": 0, "attention": {}}]}
    merged = protocol.merge_studies([first, second])
    assert [run["seed"] for run in merged["runs"]["M2Fashion"]] == [0, 1] and list(merged["runs"]) == ["M2Fashion", "GAP"]
    assert merged["init_control"][1] == {"seed": 1, "attention": {"tv": 1, "group": 3}}  # the first study wins
    assert merged["baselines"] == {"majority / frequency": {}}
    with pytest.raises(ValueError, match="'M2Fashion' has seed 1"):
        protocol.merge_studies([first, first])


def test_the_recipe_predicts_per_group_when_the_data_defines_groups_and_shared_otherwise():
    from fashionvl.data.attribute_data import AttributeData

    names = ["solid", "striped", "v-neck", "collar"]
    grouped = AttributeData(splits={}, attribute_names=names, attribute_types=["texture", "texture", "part", "part"],
                            category_names=None)
    plain = AttributeData(splits={}, attribute_names=names, attribute_types=None, category_names=None)
    args = recipe.M2FashionDataArguments()
    assert args.attribute_prediction == "auto"
    overrides = recipe.model_config_overrides(args, grouped)
    assert overrides["attribute_prediction"] == "per_group" and overrides["attribute_groups"] == [0, 0, 1, 1]
    assert recipe.model_config_overrides(args, plain)["attribute_prediction"] == "shared"
    one_type = AttributeData(splits={}, attribute_names=names, attribute_types=["part"] * 4, category_names=None)
    assert recipe.model_config_overrides(args, one_type)["attribute_prediction"] == "shared"  # one group: no groups
    with pytest.raises(ValueError, match="needs attribute groups"):
        recipe.model_config_overrides(recipe.M2FashionDataArguments(attribute_prediction="per_group"), plain)


def test_tv_between_images_under_the_same_attribute_matches_a_hand_computation():
    torch.manual_seed(0)
    attributes = [[1, 1, -1, 1], [1, -1, 1, -1], [-1, 1, 1, 1]]
    rows = [{"pixel_values": torch.randn(3, 32, 32), "attributes": labels} for labels in attributes]
    model = recipe.build_model("tiny", 2, 4).eval()

    def attention_map(row, attribute):
        state = torch.zeros(1, 4)
        state[0, attribute] = 1
        with torch.no_grad():
            return model(row["pixel_values"][None], attribute_states=state).spatial_attention.flatten()

    shared = [(0, 1, 0), (0, 2, 1), (0, 2, 3), (1, 2, 2)]  # (image, image, attribute positive on both)
    expected = sum(0.5 * (attention_map(rows[a], k) - attention_map(rows[b], k)).abs().sum().item() for a, b, k in shared) / 4
    stats = attention.attention_sensitivity(model, rows)
    assert stats["tv_between_images_same_attribute"] == pytest.approx(expected, rel=1e-5)
    assert stats["tv_between_images_same_attribute"] != pytest.approx(stats["tv_between_images"], rel=1e-3)
