"""mFSR model: shapes, feature separation, the eq. 6 total, GAN step isolation, freezing, save/load, Auto classes."""

import pytest
from huggingface_hub.errors import StrictDataclassClassValidationError
import torch
from transformers import AutoConfig, AutoModel, AutoModelForPreTraining, ResNetConfig, ResNetModel

from fashionvl import MFSRConfig, MFSRForRetrieval, MFSRModel

VOCAB_SIZE = 40


def _config(**overrides) -> MFSRConfig:
    return MFSRConfig.from_preset("tiny", vocab_size=VOCAB_SIZE, **overrides)


def _batch(batch_size: int = 4) -> dict:
    lengths = torch.tensor([5, 3, 6, 4, 5, 3][:batch_size])
    input_ids = torch.zeros(batch_size, int(lengths.max()), dtype=torch.long)
    for row, length in enumerate(lengths.tolist()):
        input_ids[row, 0] = 1
        input_ids[row, 1 : length - 1] = torch.randint(4, VOCAB_SIZE, (length - 2,))
        input_ids[row, length - 1] = 2
    return {
        "pixel_values": torch.randn(batch_size, 3, 32, 32),
        "input_ids": input_ids,
        "attention_mask": (input_ids != 0).long(),
    }


def test_every_separated_part_has_unit_norm_and_embed_dim_size():
    model = MFSRModel(_config()).eval()
    output = model(**_batch())
    for name in ("image_modal_embeds", "image_embeds", "image_specific_embeds", "text_modal_embeds", "text_embeds", "text_specific_embeds"):
        part = output[name]
        assert part.shape == (4, 32), name
        torch.testing.assert_close(part.norm(dim=-1), torch.ones(4))


def test_get_features_return_the_semantic_parts_used_for_logits():
    model = MFSRModel(_config()).eval()
    batch = _batch()
    output = model(**batch)
    image_features = model.get_image_features(batch["pixel_values"])
    text_features = model.get_text_features(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(image_features, output.image_embeds)
    torch.testing.assert_close(text_features, output.text_embeds)
    torch.testing.assert_close(output.logits_per_image, image_features @ text_features.T)


def test_text_embedding_does_not_depend_on_padding_length():
    model = MFSRModel(_config()).eval()
    caption = torch.tensor([[1, 7, 8, 9, 2]])
    padded = torch.cat([caption, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    torch.testing.assert_close(
        model.get_text_features(caption, torch.ones_like(caption)), model.get_text_features(padded, (padded != 0).long())
    )


def test_left_padded_captions_are_rejected():
    model = MFSRModel(_config()).eval()
    with pytest.raises(ValueError, match="right-padded"):
        model.get_text_features(torch.tensor([[0, 1, 5, 2]]), torch.tensor([[0, 1, 1, 1]]))


def test_total_loss_is_the_weighted_sum_of_the_five_terms_of_eq6():
    weights = {
        "modal_loss_weight": 0.5,
        "semantic_loss_weight": 2.0,
        "specific_loss_weight": 0.25,
        "image_reconstruction_loss_weight": 3.0,
        "caption_reconstruction_loss_weight": 0.1,
    }
    output = MFSRForRetrieval(_config(**weights))(**_batch())
    expected = sum(weight * output[name.replace("_weight", "")] for name, weight in weights.items())
    torch.testing.assert_close(output.loss, expected)


def test_vse_baseline_has_only_the_semantic_loss_and_no_discriminators():
    config = _config(
        use_feature_separation=False,
        modal_loss_weight=0.0,
        specific_loss_weight=0.0,
        image_reconstruction_loss_weight=0.0,
        caption_reconstruction_loss_weight=0.0,
    )
    model = MFSRForRetrieval(config)
    output = model(**_batch())
    assert model.get_discriminator_parameters() == []
    assert output.modal_loss is None and output.specific_loss is None
    assert output.image_reconstruction_loss is None and output.caption_reconstruction_loss is None
    torch.testing.assert_close(output.loss, output.semantic_loss)


def test_vse_baseline_refuses_losses_that_need_separated_parts():
    with pytest.raises(StrictDataclassClassValidationError, match="modal_loss_weight"):
        _config(use_feature_separation=False)


def test_discriminator_step_gives_gradients_only_to_the_discriminators():
    model = MFSRForRetrieval(_config())
    output = model(**_batch(), discriminator_step=True)
    output.loss.backward()
    discriminator_ids = {id(p) for p in model.get_discriminator_parameters()}
    with_grad = {id(p) for p in model.parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad and with_grad <= discriminator_ids
    torch.testing.assert_close(output.loss, output.real_fake_discriminator_loss + output.pair_discriminator_loss)


def test_generator_step_gives_no_gradient_to_the_discriminators():
    model = MFSRForRetrieval(_config())
    model(**_batch()).loss.backward()
    assert all(p.grad is None for p in model.get_discriminator_parameters())
    assert model.generator.layers[0].weight.grad.abs().sum() > 0


def test_frozen_backbone_gets_no_gradient_and_keeps_its_batch_norm_statistics():
    model = MFSRForRetrieval(_config(freeze_image_backbone=True)).train()
    backbone = model.mfsr.image_encoder.backbone
    statistics = {name: buffer.clone() for name, buffer in backbone.named_buffers()}
    model(**_batch()).loss.backward()
    assert all(p.grad is None for p in backbone.parameters())
    assert all(torch.equal(buffer, statistics[name]) for name, buffer in backbone.named_buffers())
    assert model.mfsr.image_encoder.projection.weight.grad is not None

    model.mfsr.set_image_backbone_trainable(True)
    model.train()
    model(**_batch()).loss.backward()
    assert all(p.grad is not None for p in backbone.parameters())


def test_reconstruct_returns_images_in_unit_range_and_captions_ending_with_padding():
    model = MFSRForRetrieval(_config()).eval()
    batch = _batch()
    images, captions = model.reconstruct(**batch, max_length=6)
    assert images.shape == (4, 3, 32, 32) and images.min() >= 0 and images.max() <= 1
    assert captions.shape[0] == 4 and captions.shape[1] <= 6


def test_auto_classes_resolve_to_the_mfsr_classes(tmp_path):
    MFSRForRetrieval(_config()).save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), MFSRConfig)
    base = AutoModel.from_pretrained(tmp_path)
    full = AutoModelForPreTraining.from_pretrained(tmp_path)
    assert type(base) is MFSRModel and type(full) is MFSRForRetrieval
    pixel_values = _batch()["pixel_values"]
    torch.testing.assert_close(base.eval().get_image_features(pixel_values), full.eval().get_image_features(pixel_values))


def test_backbone_weights_load_from_a_resnet_checkpoint(tmp_path):
    config = _config()
    resnet = ResNetModel(ResNetConfig(**{k: v for k, v in config.backbone_config.to_dict().items() if k in ("depths", "hidden_sizes", "embedding_size", "layer_type")}))
    resnet.save_pretrained(tmp_path)
    model = MFSRModel(config)
    model.load_pretrained_backbone(str(tmp_path))
    torch.testing.assert_close(
        model.image_encoder.backbone.embedder.embedder.convolution.weight, resnet.embedder.embedder.convolution.weight
    )


def test_backbone_checkpoint_of_another_layout_is_rejected(tmp_path):
    ResNetModel(ResNetConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 24, 48], embedding_size=8, layer_type="basic")).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="does not match config.backbone_config"):
        MFSRModel(_config()).load_pretrained_backbone(str(tmp_path))


def test_paper_preset_is_resnet152_with_a_four_layer_gru_of_3072():
    config = MFSRConfig.from_preset("paper")
    assert config.backbone_config.depths == [3, 8, 36, 3] and config.backbone_config.layer_type == "bottleneck"
    assert (config.word_embedding_size, config.hidden_size, config.text_num_layers) == (300, 3072, 4)
    assert 3 * config.embed_dim == 3072 and config.decoder_num_layers == 4


def test_config_rejects_a_reconstruction_size_that_is_not_a_power_of_two():
    with pytest.raises(StrictDataclassClassValidationError, match="reconstruction_image_size"):
        _config(reconstruction_image_size=48)


def test_config_round_trips_with_its_nested_backbone_config(tmp_path):
    config = _config(margin=0.3)
    config.save_pretrained(tmp_path)
    reloaded = MFSRConfig.from_pretrained(tmp_path)
    assert reloaded.margin == 0.3
    assert reloaded.backbone_config.to_dict() == config.backbone_config.to_dict()


@pytest.mark.parametrize("model_class", [MFSRModel, MFSRForRetrieval])
def test_orthogonal_separation_init_makes_each_part_a_norm_preserving_projection(model_class):
    model = model_class(_config(separation_init="orthogonal"))
    encoder = model if isinstance(model, MFSRModel) else model.mfsr
    for head in (encoder.image_separation, encoder.text_separation):
        weight = head.mlp[-1].weight  # (3 * embed_dim, hidden_size) = (96, 96) in the tiny preset
        torch.testing.assert_close(weight @ weight.T, torch.eye(weight.shape[0]), atol=1e-5, rtol=0)
        assert torch.count_nonzero(head.mlp[-1].bias) == 0


def test_normal_separation_init_keeps_the_initializer_range():
    model = MFSRModel(_config(separation_init="normal"))
    weight = model.image_separation.mlp[-1].weight
    assert abs(weight.std().item() - 0.02) < 0.003


def test_separation_init_survives_save_and_load(tmp_path):
    model = MFSRModel(_config(separation_init="orthogonal"))
    model.save_pretrained(tmp_path)
    loaded = MFSRModel.from_pretrained(tmp_path)
    assert loaded.config.separation_init == "orthogonal"
    torch.testing.assert_close(loaded.image_separation.mlp[-1].weight, model.image_separation.mlp[-1].weight)


def test_config_rejects_an_unknown_separation_init():
    with pytest.raises((ValueError, StrictDataclassClassValidationError), match="separation_init"):
        _config(separation_init="identity")


def test_orthogonal_separation_init_gives_each_part_its_own_orthogonal_block_when_parts_outnumber_inputs():
    model = MFSRModel(_config(separation_init="orthogonal", embed_dim=96))  # 3 x 96 parts from a 96-d representation
    for part_weight in model.text_separation.mlp[-1].weight.chunk(3, dim=0):
        torch.testing.assert_close(part_weight @ part_weight.T, torch.eye(96), atol=1e-5, rtol=0)
