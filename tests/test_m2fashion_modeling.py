"""M2FashionModel / M2FashionForAttributePrediction: shapes, attention (eq. 2-8), label masking (eq. 12), eq. 15."""

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, AutoModelForImageClassification, ResNetConfig

from fashionvl import M2FashionConfig, M2FashionForAttributePrediction, M2FashionModel

NUM_LABELS, NUM_ATTRIBUTES, BATCH, IMAGE_SIZE = 5, 12, 4, 64


def tiny_config(**overrides) -> M2FashionConfig:
    return M2FashionConfig.from_preset("tiny", num_labels=NUM_LABELS, num_attributes=NUM_ATTRIBUTES, **overrides)


def random_states(batch: int = BATCH) -> torch.Tensor:
    return torch.randint(-1, 2, (batch, NUM_ATTRIBUTES))


@pytest.fixture
def pixel_values():
    return torch.randn(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE)


def test_model_output_shapes(pixel_values):
    model = M2FashionForAttributePrediction(tiny_config()).eval()
    outputs = model(pixel_values, attribute_states=random_states())
    channels = model.m2fashion.num_channels
    assert outputs.logits.shape == (BATCH, NUM_LABELS)
    assert outputs.attribute_logits.shape == (BATCH, NUM_ATTRIBUTES)
    assert outputs.attribute_aware_embeds.shape == (BATCH, channels)  # Z is c-dimensional (eq. 9: W is c x c)
    assert outputs.spatial_attention.shape == (BATCH, 8, 8)  # 64px / 8 with the tiny two-stage ResNet (>= 7x7)
    assert outputs.channel_attention.shape == (BATCH, channels)


def test_embedding_size_sets_the_size_of_z(pixel_values):
    model = M2FashionModel(tiny_config(embedding_size=24)).eval()
    assert model(pixel_values).attribute_aware_embeds.shape == (BATCH, 24)


def test_spatial_attention_weights_sum_to_one_over_positions(pixel_values):
    outputs = M2FashionModel(tiny_config()).eval()(pixel_values, attribute_states=random_states())
    assert torch.all(outputs.spatial_attention > 0)
    assert torch.allclose(outputs.spatial_attention.sum(dim=(1, 2)), torch.ones(BATCH), atol=1e-6)


def test_channel_attention_weights_lie_strictly_between_zero_and_one(pixel_values):
    outputs = M2FashionModel(tiny_config()).eval()(pixel_values, attribute_states=random_states())
    assert torch.all(outputs.channel_attention > 0) and torch.all(outputs.channel_attention < 1)


def test_attention_depends_on_the_attribute_states(pixel_values):
    model = M2FashionModel(tiny_config()).eval()
    first = model(pixel_values, attribute_states=random_states())
    second = model(pixel_values, attribute_states=random_states())
    assert not torch.allclose(first.spatial_attention, second.spatial_attention)
    assert not torch.allclose(first.attribute_aware_embeds, second.attribute_aware_embeds)


def test_z_matches_a_hand_computation_of_equations_1_to_9(pixel_values):
    # the paper's eq. 3 (tanh); the default softmax over the linear scores is tested in test_m2fashion_departures
    model = M2FashionModel(tiny_config(pooling="avg", channel_attention_activation="relu", spatial_score_activation="tanh")).eval()
    states = random_states().float()
    outputs = model(pixel_values, attribute_states=states)
    feature_map = model.backbone(pixel_values).feature_maps[-1]
    spatial, channel = model.spatial_attention, model.channel_attention
    t1 = torch.tanh(states @ model.spatial_attribute_embedding.projection.weight.T + model.spatial_attribute_embedding.projection.bias)
    projected = torch.tanh(torch.einsum("dc,bchw->bdhw", spatial.feature_projection.weight[:, :, 0, 0], feature_map)
                           + spatial.feature_projection.bias[None, :, None, None])
    scores = torch.tanh(torch.einsum("d,bdhw->bhw", spatial.score.weight[0, :, 0, 0], projected * t1[:, :, None, None])
                        + spatial.score.bias)
    alpha = scores.flatten(1).softmax(-1)
    v_s = torch.einsum("bl,bcl->bc", alpha, feature_map.flatten(2))  # eq. 5
    t2 = torch.tanh(model.channel_attribute_embedding.projection(states))
    alpha_c = torch.sigmoid(channel.fc2(torch.relu(channel.fc1(torch.cat([t2, v_s], -1)))))
    z = model.projection(alpha_c * v_s)
    assert torch.allclose(outputs.spatial_attention.flatten(1), alpha, atol=1e-5)
    assert torch.allclose(outputs.channel_attention, alpha_c, atol=1e-5)
    assert torch.allclose(outputs.attribute_aware_embeds, z, atol=1e-4)


def test_max_pooling_of_uniform_attention_is_global_max_pooling(pixel_values):
    """Ablation "w/o ASA": global max pooling of I instead of attention (and GAP with pooling="avg")."""
    for pooling, reduce in (("max", lambda x: x.amax(dim=(2, 3))), ("avg", lambda x: x.mean(dim=(2, 3)))):
        model = M2FashionModel(tiny_config(use_spatial_attention=False, use_channel_attention=False, pooling=pooling))
        model.eval()
        outputs = model(pixel_values)
        expected = model.projection(reduce(outputs.feature_map))
        assert torch.allclose(outputs.attribute_aware_embeds, expected, atol=1e-5)
        assert torch.allclose(outputs.spatial_attention, torch.full_like(outputs.spatial_attention, 1 / 64))  # 8x8 map


def test_without_channel_attention_there_are_no_aca_layers_and_no_aca_output(pixel_values):
    model = M2FashionModel(tiny_config(use_channel_attention=False)).eval()
    assert not hasattr(model, "channel_attention")
    assert model(pixel_values).channel_attention is None


def test_training_masks_a_random_subset_of_labels_to_unknown(pixel_values):
    model = M2FashionForAttributePrediction(tiny_config()).train()
    labels = torch.where(torch.rand(BATCH, NUM_ATTRIBUTES) < 0.5, 1, -1)
    outputs = model(pixel_values, attribute_labels=labels)
    states = outputs.attribute_states
    unknown = states == 0
    assert torch.all(unknown.sum(dim=1) >= 3)  # at least ceil(0.25 * 12) per sample
    assert torch.equal(states[~unknown], labels[~unknown].float())  # known labels keep their ground truth
    assert not torch.equal(states, labels.float())  # the input state changed


def test_evaluation_without_states_treats_every_attribute_as_unknown(pixel_values):
    model = M2FashionForAttributePrediction(tiny_config()).eval()
    outputs = model(pixel_values, attribute_labels=random_states())
    assert torch.all(outputs.attribute_states == 0)


def test_attribute_loss_is_taken_only_on_labels_unknown_in_the_input(pixel_values):
    model = M2FashionForAttributePrediction(tiny_config(category_loss_weight=0.0, triplet_loss_weight=0.0)).eval()
    labels = torch.where(torch.rand(BATCH, NUM_ATTRIBUTES) < 0.5, 1, -1)
    states = labels.masked_fill(torch.rand(BATCH, NUM_ATTRIBUTES) < 0.5, 0)
    outputs = model(pixel_values, attribute_states=states, attribute_labels=labels)
    unknown = states == 0
    expected = F.binary_cross_entropy_with_logits(outputs.attribute_logits[unknown], (labels[unknown] == 1).float())
    assert outputs.attribute_loss.item() == pytest.approx(expected.item(), abs=1e-6)
    assert outputs.loss.item() == pytest.approx(expected.item(), abs=1e-6)


def test_total_loss_is_the_weighted_sum_of_equation_15(pixel_values):
    model = M2FashionForAttributePrediction(
        tiny_config(attribute_loss_weight=2.0, triplet_loss_weight=0.5, spatial_attention_objective="all")
    ).train()
    outputs = model(
        pixel_values,
        labels=torch.tensor([0, 1, 2, 3]),
        attribute_labels=random_states(),
        triplet_indices=torch.tensor([[0, 1, 2], [3, 2, 1]]),
    )
    expected = outputs.category_loss + 2.0 * outputs.attribute_loss + 0.5 * outputs.triplet_loss
    assert outputs.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    outputs.loss.backward()
    assert model.m2fashion.spatial_attribute_embedding.projection.weight.grad is not None


def test_switched_off_or_missing_components_are_none(pixel_values):
    category_only = M2FashionForAttributePrediction(tiny_config(attribute_loss_weight=0.0, triplet_loss_weight=0.0))
    outputs = category_only(pixel_values, labels=torch.tensor([0, 1, 2, 3]), attribute_labels=random_states())
    assert outputs.attribute_loss is None and outputs.triplet_loss is None
    assert outputs.loss.item() == pytest.approx(outputs.category_loss.item())
    full = M2FashionForAttributePrediction(tiny_config())
    no_triplets = full(pixel_values, labels=torch.tensor([0, 1, 2, 3]), triplet_indices=torch.zeros(0, 3, dtype=torch.long))
    assert no_triplets.triplet_loss is None and no_triplets.attribute_loss is None
    assert full(pixel_values).loss is None


def test_bad_attribute_states_are_rejected_with_the_bad_values(pixel_values):
    model = M2FashionModel(tiny_config())
    with pytest.raises(ValueError, match=r"\[2\]"):
        model(pixel_values, attribute_states=torch.full((BATCH, NUM_ATTRIBUTES), 2))
    with pytest.raises(ValueError, match="shape"):
        model(pixel_values, attribute_states=torch.zeros(BATCH, NUM_ATTRIBUTES + 1))


def test_the_nested_backbone_config_survives_save_and_load(tmp_path):
    # (exact weights and outputs after save / load: tests/test_model_common.py)
    model = M2FashionForAttributePrediction(tiny_config())
    model.save_pretrained(tmp_path)
    reloaded = M2FashionForAttributePrediction.from_pretrained(tmp_path)
    assert isinstance(reloaded.config.backbone_config, ResNetConfig)
    assert reloaded.config.backbone_config.hidden_sizes == model.config.backbone_config.hidden_sizes


def test_auto_classes_load_config_base_model_and_image_classification_head(tmp_path, pixel_values):
    model = M2FashionForAttributePrediction(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), M2FashionConfig)
    base = AutoModel.from_pretrained(tmp_path).eval()
    head = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert isinstance(base, M2FashionModel) and isinstance(head, M2FashionForAttributePrediction)
    # the head's base model weights are the checkpoint's (base_model_prefix "m2fashion")
    assert torch.allclose(base(pixel_values).attribute_aware_embeds, model(pixel_values).attribute_aware_embeds)
    assert torch.allclose(head(pixel_values).logits, model(pixel_values).logits)


def test_paper_preset_is_resnet50_d512_gmp_lambda1_gamma05():
    config = M2FashionConfig.from_preset("paper")
    backbone = config.backbone_config
    assert (backbone.layer_type, backbone.depths, backbone.hidden_sizes[-1]) == ("bottleneck", [3, 4, 6, 3], 2048)
    assert (config.hidden_size, config.pooling) == (512, "max")
    assert (config.attribute_loss_weight, config.triplet_loss_weight, config.min_unknown_fraction) == (1.0, 0.5, 0.25)
    assert config.num_attributes == 1000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pooling": "sum"}, "pooling"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"triplet_loss_weight": -1.0}, "triplet_loss_weight"),
        ({"category_loss_weight": 0.0, "attribute_loss_weight": 0.0, "triplet_loss_weight": 0.0}, "loss weight"),
        ({"min_unknown_fraction": 0.0}, "min_unknown_fraction"),
        ({"channel_attention_activation": "gelu"}, "channel_attention_activation"),
    ],
)
def test_config_rejects_bad_values_naming_them(overrides, message):
    with pytest.raises(Exception, match=message):
        tiny_config(**overrides)


def test_category_names_set_the_number_of_categories_and_must_agree_with_num_labels():
    config = M2FashionConfig.from_preset("tiny", id2label={0: "dress", 1: "skirt"})
    assert config.num_labels == 2 and config.id2label[1] == "skirt"
    with pytest.raises(ValueError, match="num_labels=3"):
        M2FashionConfig(num_labels=3, id2label={0: "dress"})


def test_paper_preset_gives_a_7x7_attention_map_and_2048_d_z_at_224_pixels():
    model = M2FashionForAttributePrediction(M2FashionConfig.from_preset("paper", num_labels=46)).eval()
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, 224, 224), attribute_states=torch.zeros(1, 1000))
    assert outputs.spatial_attention.shape == (1, 7, 7)
    assert outputs.attribute_aware_embeds.shape == (1, 2048)
    assert outputs.logits.shape == (1, 46) and outputs.attribute_logits.shape == (1, 1000)
