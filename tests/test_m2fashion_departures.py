"""Issue 12 departures of M2Fashion, each switchable (the paper's behaviour is the other setting), and the
attribute-conditioned retrieval embedding `get_image_features` (issue 14 §2)."""

import pytest
import torch
import torch.nn.functional as F

from fashionvl import M2FashionConfig, M2FashionForAttributePrediction, M2FashionModel
from fashionvl.processing.collators_m2fashion import M2FashionTripletBatchSampler

NUM_LABELS, NUM_ATTRIBUTES = 4, 10


def tiny_config(**overrides) -> M2FashionConfig:
    return M2FashionConfig.from_preset("tiny", num_labels=NUM_LABELS, num_attributes=NUM_ATTRIBUTES, **overrides)


def one_hot_states(batch: int) -> torch.Tensor:
    return torch.eye(NUM_ATTRIBUTES)[torch.arange(batch) % NUM_ATTRIBUTES]


def test_every_triplet_with_same_category_positives_satisfies_the_attribute_rule():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (80, NUM_ATTRIBUTES), generator=generator) * 2 - 1
    categories = torch.randint(0, 3, (80,), generator=generator)
    product_ids = torch.arange(80) // 2
    sampler = M2FashionTripletBatchSampler(labels, categories, product_ids, triplets_per_batch=5, seed=0,
                                           same_category_positives=True)
    for _ in range(3):
        for batch in sampler:
            for start in range(0, len(batch), 3):
                (anchor, k, _), (positive, _, _), (negative, _, _) = batch[start : start + 3]
                assert labels[anchor, k] == 1 and labels[positive, k] == 1 and labels[negative, k] == -1
                assert product_ids[positive] != product_ids[anchor]
                positives_in_category = (labels[:, k] == 1) & (categories == categories[anchor]) & (product_ids != product_ids[anchor])
                if positives_in_category.any():
                    assert categories[positive] == categories[anchor]
                if ((labels[:, k] == -1) & (categories == categories[anchor])).any():
                    assert categories[negative] == categories[anchor]


def test_without_tanh_the_spatial_attention_is_a_softmax_over_the_linear_scores():
    torch.manual_seed(0)
    model = M2FashionModel(tiny_config(spatial_score_activation="none", spatial_attention_temperature=0.5)).eval()
    pixel_values, states = torch.randn(3, 3, 64, 64), one_hot_states(3)
    with torch.no_grad():
        output = model(pixel_values, attribute_states=states)
        embeds = model.spatial_attribute_embedding(states)
        scores = model.spatial_attention.score_logits(output.feature_map, embeds)
    torch.testing.assert_close(output.spatial_attention.flatten(1), (scores / 0.5).softmax(dim=-1))


def test_the_tanh_setting_bounds_the_attention_ratio_by_e_squared():
    torch.manual_seed(0)
    model = M2FashionModel(tiny_config(spatial_score_activation="tanh")).eval()
    with torch.no_grad():
        model.spatial_attention.score.weight.mul_(1000.0)  # scores far beyond tanh's linear range
        attention = model(torch.randn(2, 3, 64, 64), attribute_states=one_hot_states(2)).spatial_attention.flatten(1)
    ratio = attention.max(dim=1).values / attention.min(dim=1).values
    assert (ratio <= torch.e**2 * (1 + 1e-4)).all()


def test_spatial_triplet_embedding_depends_on_the_query_only_through_the_spatial_branch():
    torch.manual_seed(0)
    model = M2FashionForAttributePrediction(tiny_config(triplet_embedding="spatial", spatial_score_activation="none")).eval()
    with torch.no_grad():
        feature_map = model.m2fashion.backbone(torch.randn(2, 3, 64, 64)).feature_maps[-1]
        states = one_hot_states(2)
        before = model.attribute_specific_embeds(feature_map, states)
        model.m2fashion.channel_attribute_embedding.projection.weight.normal_()  # ACA's T2 changes ...
        after = model.attribute_specific_embeds(feature_map, states)
    torch.testing.assert_close(before, after)  # ... and the triplet space does not
    assert not torch.allclose(before, model.attribute_specific_embeds(feature_map, states.roll(1, dims=0)))


@pytest.mark.parametrize("triplet_embedding", ["shared", "spatial"])
def test_get_image_features_of_the_base_model_is_the_unit_norm_space_the_triplet_loss_trains(triplet_embedding):
    """AutoModel (M2FashionModel), the pipelines and the task head embed alike: Z with "shared" (the paper),
    W_t V_s with "spatial" (issue 12's departure, W_t in the base model)."""
    torch.manual_seed(0)
    model = M2FashionModel(tiny_config(triplet_embedding=triplet_embedding)).eval()
    pixel_values, states = torch.randn(3, 3, 64, 64), one_hot_states(3)
    with torch.no_grad():
        features = model.get_image_features(pixel_values, attribute_states=states)
        unknown = model.get_image_features(pixel_values)
        outputs = model(pixel_values, attribute_states=states)
        if triplet_embedding == "spatial":
            spatial_embeds = model.spatial_attribute_embedding(states)
            expected = model.triplet_projection(model.spatial_attention(outputs.feature_map, spatial_embeds)[0])
        else:
            expected = outputs.attribute_aware_embeds
    torch.testing.assert_close(features.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(features, F.normalize(expected, dim=-1))
    assert not torch.allclose(features, unknown)  # the query attribute conditions the embedding


@pytest.mark.parametrize("triplet_embedding", ["shared", "spatial"])
def test_get_image_features_of_the_task_model_is_the_unit_norm_space_the_triplet_loss_trains(triplet_embedding):
    torch.manual_seed(0)
    model = M2FashionForAttributePrediction(tiny_config(triplet_embedding=triplet_embedding)).eval()
    pixel_values, states = torch.randn(3, 3, 64, 64), one_hot_states(3)
    with torch.no_grad():
        features = model.get_image_features(pixel_values, attribute_states=states)
        feature_map = model.m2fashion.backbone(pixel_values).feature_maps[-1]
        expected = F.normalize(model.attribute_specific_embeds(feature_map, states), dim=-1)
        if triplet_embedding == "shared":
            torch.testing.assert_close(expected, F.normalize(model.m2fashion(pixel_values, states).attribute_aware_embeds, dim=-1))
    torch.testing.assert_close(features, expected)
    torch.testing.assert_close(features.norm(dim=-1), torch.ones(3))
    assert not torch.allclose(features, model.get_image_features(pixel_values))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"spatial_score_activation": "relu"}, "spatial_score_activation"),
        ({"spatial_attention_temperature": 0.0}, "spatial_attention_temperature"),
        ({"triplet_embedding": "separate"}, "triplet_embedding"),
        ({"triplet_positive_category": "same"}, "triplet_positive_category"),
    ],
)
def test_config_rejects_unknown_departure_settings_naming_them(overrides, message):
    with pytest.raises(Exception, match=message):
        tiny_config(**overrides)


def test_default_attention_at_initialisation_is_close_to_uniform_not_saturated():
    # measured: every weight within 0.83-1.19 x uniform over seeds 0-2; the bound leaves room, not peaked maps
    torch.manual_seed(0)
    model = M2FashionModel(tiny_config()).eval()
    with torch.no_grad():
        attention = model(torch.randn(8, 3, 64, 64), attribute_states=one_hot_states(8)).spatial_attention.flatten(1)
    uniform = 1.0 / attention.shape[1]
    assert attention.max() < 1.5 * uniform and attention.min() > 0.5 * uniform


def _gradient_reaches(loss, module) -> bool:
    grads = torch.autograd.grad(loss, list(module.parameters()), retain_graph=True, allow_unused=True)
    return any(grad is not None and grad.abs().sum() > 0 for grad in grads)


@pytest.mark.parametrize(
    ("objective", "category_trains_attention", "attribute_trains_attention"),
    [("triplet", False, False), ("all", True, True), ("triplet+attribute", False, True)],
)
def test_which_losses_train_the_spatial_attention(objective, category_trains_attention, attribute_trains_attention):
    torch.manual_seed(0)
    model = M2FashionForAttributePrediction(tiny_config(spatial_attention_objective=objective)).train()
    attribute_labels = torch.randint(0, 2, (6, NUM_ATTRIBUTES)) * 2 - 1
    output = model(
        torch.randn(6, 3, 64, 64), labels=torch.tensor([0, 1, 2, 3, 0, 1]), attribute_labels=attribute_labels,
        triplet_indices=torch.tensor([[0, 1, 2], [3, 4, 5]]), triplet_attribute_states=one_hot_states(2),
    )
    attention = model.m2fashion.spatial_attention
    assert _gradient_reaches(output.triplet_loss, attention)
    assert _gradient_reaches(output.category_loss, attention) is category_trains_attention
    assert _gradient_reaches(output.attribute_loss, attention) is attribute_trains_attention
    assert _gradient_reaches(output.category_loss, model.m2fashion.backbone)  # the heads still train the backbone


def test_the_attribute_gradient_into_the_spatial_attention_scales_with_its_knob_and_nothing_else_does():
    def gradients(scale):
        torch.manual_seed(0)
        model = M2FashionForAttributePrediction(tiny_config(
            spatial_attention_objective="triplet+attribute", spatial_attention_attribute_gradient_scale=scale,
            classifier_dropout=0.0,
        )).train()
        torch.manual_seed(1)
        states = torch.randint(-1, 2, (4, NUM_ATTRIBUTES)).float()
        output = model(torch.randn(4, 3, 64, 64), attribute_states=states, attribute_labels=torch.randint(0, 2, (4, NUM_ATTRIBUTES)) * 2 - 1)
        output.attribute_loss.backward()
        return (model.m2fashion.spatial_attention.score.weight.grad.clone(), model.attribute_classifier.weight.grad.clone(),
                output.attribute_loss.item())
    full_attention, full_head, full_loss = gradients(1.0)
    scaled_attention, scaled_head, scaled_loss = gradients(0.25)
    assert scaled_loss == pytest.approx(full_loss, rel=1e-6)  # the value does not change
    assert torch.allclose(scaled_attention, 0.25 * full_attention, atol=1e-7, rtol=1e-4)
    assert torch.allclose(scaled_head, full_head, atol=1e-7, rtol=1e-4)
    with pytest.raises(Exception, match="gradient_scale` must be in"):  # strict configs re-raise their own type
        tiny_config(spatial_attention_attribute_gradient_scale=0)
