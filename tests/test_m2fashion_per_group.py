"""Issue 12 departure `attribute_prediction="per_group"`: each attribute group is predicted from its own pass,
attended under the group's learned query (ASEN's attribute-type condition), and the probe that asks the spatial
branch for another group (the counterfactual of the issue)."""

import pytest
import torch
import torch.nn.functional as F

from fashionvl import M2FashionConfig, M2FashionForAttributePrediction
from fashionvl.data.attribute_data import AttributeData
from fashionvl.evaluation.m2fashion_attention import group_query_counterfactual
from fashionvl.recipes.m2fashion import attribute_query_groups

NUM_LABELS, GROUPS = 4, [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]
NUM_ATTRIBUTES = len(GROUPS)


def per_group_config(**overrides) -> M2FashionConfig:
    return M2FashionConfig.from_preset(
        "tiny", num_labels=NUM_LABELS, num_attributes=NUM_ATTRIBUTES, attribute_prediction="per_group",
        attribute_groups=GROUPS, classifier_dropout=0.0, **overrides,
    )


def model_and_features(seed=0, **overrides):
    torch.manual_seed(seed)
    model = M2FashionForAttributePrediction(per_group_config(**overrides)).eval()
    pixel_values = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        feature_map = model.m2fashion(pixel_values).feature_map
    return model, pixel_values, feature_map


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"attribute_prediction": "per_group"}, "needs `attribute_groups`"),
        ({"attribute_groups": [0] * (NUM_ATTRIBUTES - 1)}, "one group id per attribute"),
        ({"attribute_groups": [0, 2] * (NUM_ATTRIBUTES // 2)}, r"unused: \[1\]"),
        ({"attribute_groups": [0, -1] * (NUM_ATTRIBUTES // 2)}, "non-negative integer"),
        ({"attribute_prediction": "per_attribute"}, "attribute_prediction"),
        ({"attribute_prediction": "per_group", "attribute_groups": [0] * NUM_ATTRIBUTES,
          "spatial_attention_objective": "triplet+attribute"}, "already do"),
    ],
)
def test_config_rejects_inconsistent_group_settings_naming_the_value(overrides, message):
    with pytest.raises(Exception, match=message):
        M2FashionConfig.from_preset("tiny", num_labels=NUM_LABELS, num_attributes=NUM_ATTRIBUTES, **overrides)


def test_each_group_pass_adds_its_query_to_t1_before_the_tanh_and_nothing_else():
    model, _, feature_map = model_and_features()
    base = model.m2fashion
    states = torch.zeros(3, NUM_ATTRIBUTES)
    states[0, 4], states[1, 0], states[2, 9] = 1, -1, 1
    with torch.no_grad():
        group_embeds, group_attention = base.attend_attribute_groups(feature_map, states)
        for group in range(4):
            query = base.attribute_query_embedding.weight[group].expand(3, -1)
            # by hand: T1 = tanh(W_a1 A + b + q_g), then eq. 2-9 as in `attend`
            t1 = torch.tanh(base.spatial_attribute_embedding.projection(states) + query)
            scores = base.spatial_attention.score_logits(feature_map, t1)
            torch.testing.assert_close(group_attention[:, group].flatten(1), scores.softmax(dim=-1))
            expected = base._attend_parts(feature_map, states, spatial_query_embeds=query)[0]
            torch.testing.assert_close(group_embeds[:, group], expected)
    assert (group_attention[:, 0] - group_attention[:, 1]).abs().sum() > 1e-4  # the query moves the map


def test_attribute_logits_are_read_from_the_pass_of_each_attributes_group():
    model, pixel_values, feature_map = model_and_features()
    with torch.no_grad():
        logits = model(pixel_values).attribute_logits
        group_embeds, _ = model.m2fashion.attend_attribute_groups(feature_map, torch.zeros(3, NUM_ATTRIBUTES))
        per_group_logits = model.attribute_classifier(group_embeds)  # (3, G, K)
    for attribute, group in enumerate(GROUPS):
        torch.testing.assert_close(logits[:, attribute], per_group_logits[:, group, attribute])
    shared = M2FashionForAttributePrediction(M2FashionConfig.from_preset(
        "tiny", num_labels=NUM_LABELS, num_attributes=NUM_ATTRIBUTES, classifier_dropout=0.0)).eval()
    with torch.no_grad(), pytest.raises(ValueError, match="attribute_query_groups needs"):
        shared(pixel_values, attribute_query_groups=torch.arange(4))
    with pytest.raises(ValueError, match="group_attribute_logits needs"):
        shared.group_attribute_logits(group_embeds)
    with pytest.raises(ValueError, match=r"shape \(batch, 4, embedding_size\)"):
        model.group_attribute_logits(group_embeds[:, :2])


@pytest.mark.parametrize(
    ("query_groups", "message"),
    [([0, 1], r"4 integer group ids"), (torch.tensor([0.0, 1.0, 2.0, 3.0]), "integer group ids"),
     ([0, 1, 2, 4], r"ids in \[0, 4\)")],
)
def test_bad_query_groups_and_states_get_a_clear_error(query_groups, message):
    model, pixel_values, feature_map = model_and_features()
    with torch.no_grad(), pytest.raises(ValueError, match=message):
        model(pixel_values, attribute_query_groups=query_groups)
    with pytest.raises(ValueError, match="attribute_states must have shape"):
        model.m2fashion.attend_attribute_groups(feature_map, None)


def test_a_config_made_per_group_after_construction_is_refused_when_the_model_is_built():
    config = M2FashionConfig.from_preset("tiny", num_labels=NUM_LABELS, num_attributes=NUM_ATTRIBUTES)
    config.attribute_prediction = "per_group"  # no attribute_groups
    with pytest.raises(Exception, match="needs `attribute_groups`"):
        M2FashionForAttributePrediction(config)
    with pytest.raises(Exception, match="at least 2 attribute groups"):
        M2FashionConfig.from_preset("tiny", num_labels=NUM_LABELS, num_attributes=NUM_ATTRIBUTES,
                                    attribute_prediction="per_group", attribute_groups=[0] * NUM_ATTRIBUTES)


def test_bf16_model_takes_float32_spatial_states_for_the_counterfactual():
    model, pixel_values, _ = model_and_features()
    model = model.to(torch.bfloat16)
    states = torch.zeros(3, NUM_ATTRIBUTES)
    states[:, 0] = 1
    with torch.no_grad():
        logits = model(pixel_values, spatial_attribute_states=states.long()).attribute_logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()


def test_a_states_known_attributes_bring_the_mean_query_of_their_groups():
    model, _, _ = model_and_features()
    base, weight = model.m2fashion, model.m2fashion.attribute_query_embedding.weight
    states = torch.zeros(3, NUM_ATTRIBUTES)
    states[1, 4] = 1  # group 1
    states[2, 0], states[2, 1], states[2, 9] = 1, -1, 1  # groups 0, 0, 3: group 0 counts twice
    with torch.no_grad():
        queries = base.state_query_embeds(states)
    torch.testing.assert_close(queries[0], torch.zeros_like(weight[0]))  # all unknown: no query
    torch.testing.assert_close(queries[1], weight[1])
    torch.testing.assert_close(queries[2], (2 * weight[0] + weight[3]) / 3)
    off = M2FashionForAttributePrediction(per_group_config(state_group_query=False))
    assert off.m2fashion.state_query_embeds(states) is None


def test_the_attribute_loss_trains_the_spatial_attention_through_the_group_passes_only():
    torch.manual_seed(0)
    model = M2FashionForAttributePrediction(per_group_config()).train()  # objective "triplet" (the default)
    output = model(torch.randn(4, 3, 64, 64), labels=torch.tensor([0, 1, 2, 3]),
                   attribute_labels=torch.randint(0, 2, (4, NUM_ATTRIBUTES)) * 2 - 1)
    score = model.m2fashion.spatial_attention.score.weight
    (attribute_gradient,) = torch.autograd.grad(output.attribute_loss, [score], retain_graph=True)
    category_gradient = torch.autograd.grad(output.category_loss, [score], allow_unused=True)[0]
    assert attribute_gradient.abs().sum() > 0
    assert category_gradient is None or category_gradient.abs().sum() == 0  # the base pass stays detached
    (query_gradient,) = torch.autograd.grad(
        model(torch.randn(4, 3, 64, 64), attribute_labels=torch.ones(4, NUM_ATTRIBUTES)).attribute_loss,
        [model.m2fashion.attribute_query_embedding.weight],
    )
    assert (query_gradient.abs().sum(dim=1) > 0).all()  # every group's query learns


def test_group_query_counterfactual_is_zero_when_the_queries_are_equal_and_matches_a_hand_computation():
    model, pixel_values, _ = model_and_features()
    labels = torch.randint(0, 2, (3, NUM_ATTRIBUTES)) * 2 - 1
    labels[0, 2] = 0  # not annotated: left out
    rows = [{"pixel_values": pixel, "attributes": label.tolist()} for pixel, label in zip(pixel_values, labels)]
    report = group_query_counterfactual(model, rows)
    with torch.no_grad():
        true_logits = model(pixel_values).attribute_logits
        shifted = [model(pixel_values, attribute_query_groups=(torch.arange(4) + shift) % 4).attribute_logits
                   for shift in (1, 2, 3)]
    annotated = labels != 0
    def loss(logits):
        return F.binary_cross_entropy_with_logits(logits[annotated], (labels[annotated] > 0).float()).item()
    assert report["attribute_loss"] == pytest.approx(loss(true_logits), rel=1e-5)
    assert report["counterfactual_attribute_loss"] == pytest.approx(sum(map(loss, shifted)) / 3, rel=1e-5)
    assert report["relative_change"] != pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        model.m2fashion.attribute_query_embedding.weight.zero_()  # every group asks the same question
    assert group_query_counterfactual(model, rows)["relative_change"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="per_group"):
        group_query_counterfactual(M2FashionForAttributePrediction(M2FashionConfig.from_preset(
            "tiny", num_labels=NUM_LABELS, num_attributes=NUM_ATTRIBUTES)), rows)


def test_per_group_model_round_trips_through_save_pretrained(tmp_path):
    model, pixel_values, _ = model_and_features()
    model.save_pretrained(tmp_path)
    loaded = M2FashionForAttributePrediction.from_pretrained(tmp_path).eval()
    assert loaded.config.attribute_groups == GROUPS
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixel_values).attribute_logits, model(pixel_values).attribute_logits)


def _data(names, types, dimensions):
    return AttributeData(splits={}, attribute_names=names, attribute_types=types, category_names=None, dimensions=dimensions)


def test_recipe_groups_attributes_by_dimension_when_dimensions_cover_them_else_by_type():
    names = ["solid", "striped", "v-neck", "collar", "short length", "long length"]
    dimensions = {"pattern": ["solid", "striped"], "neckline": ["v-neck", "collar"], "length": ["short", "long"]}
    types = ["a", "b", "a", "b", "c", "c"]  # a grouping by type would differ from the dimensions'
    assert attribute_query_groups(_data(names, types, dimensions)) == [0, 0, 1, 1, 2, 2]
    assert attribute_query_groups(_data(names, types, {"pattern": ["solid", "striped"]})) == [0, 1, 0, 1, 2, 2]
    assert attribute_query_groups(_data(names, ["b", "a", "a", "b", "c", "c"], None)) == [0, 1, 1, 0, 2, 2]
    with pytest.raises(ValueError, match="attribute_groups"):
        attribute_query_groups(_data(names, None, None))


def test_band_attention_losses_match_uniform_attention_over_all_rows_and_differ_between_bands():
    from fashionvl.evaluation.m2fashion_attention import _uniform_spatial_attention, band_attention_losses

    model, pixel_values, _ = model_and_features()
    labels = torch.randint(0, 2, (3, NUM_ATTRIBUTES)) * 2 - 1
    rows = [{"pixel_values": pixel, "attributes": label.tolist()} for pixel, label in zip(pixel_values, labels)]
    groups = {"a": [0, 1, 2], "b": [3, 4]}
    report = band_attention_losses(model, rows, groups, num_bands=2)
    assert list(report) == ["all rows", "band 1 (top)", "band 2 (bottom)"]
    with torch.no_grad(), _uniform_spatial_attention(model):
        logits = model(pixel_values).attribute_logits
    target = labels[:, groups["a"]]
    expected = F.binary_cross_entropy_with_logits(logits[:, groups["a"]], (target > 0).float()).item()
    assert report["all rows"]["a"] == pytest.approx(expected, rel=1e-5)  # all rows = uniform attention (GMP)
    assert report["band 1 (top)"]["a"] != pytest.approx(report["band 2 (bottom)"]["a"], rel=1e-4)
    with pytest.raises(ValueError, match="num_bands"):
        band_attention_losses(model, rows, groups, num_bands=99)
