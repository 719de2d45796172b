"""MVLT's unimodal passes, ITC loss, features API, ITC-mined ITM negatives and fused scores (retrieval issue)."""

import math

import pytest
import torch
import torch.nn.functional as F
from huggingface_hub.errors import StrictDataclassClassValidationError

from fashionvl import MVLTConfig, MVLTForCategoryRecognition, MVLTForImageTextRetrieval, MVLTForPreTraining, MVLTModel
from fashionvl.modeling.losses import mvlt_itc_loss, mvlt_pretraining_loss
from fashionvl.modeling.modeling_mvlt import fuse_retrieval_scores, sample_itm_negatives


VOCAB = 100
ITC = {"itc_loss_weight": 1.0, "initializer_range": 0.02}


def tiny_config(**overrides) -> MVLTConfig:
    return MVLTConfig.from_preset("tiny", **{"vocab_size": VOCAB, **ITC, **overrides})


def captions(batch_size=3, length=9, padded_row_length=5):
    input_ids = torch.randint(5, VOCAB, (batch_size, length))
    input_ids[:, 0] = 1
    attention_mask = torch.ones_like(input_ids)
    attention_mask[-1, padded_row_length:] = 0
    input_ids[-1, padded_row_length:] = 0
    return input_ids, attention_mask


def reference_text_only(model: MVLTModel, input_ids, attention_mask):
    """The text-only pass written out with plain tensor algebra: every stage projects the text (eq. 1) and runs
    pre-norm blocks whose queries, keys and values are the text tokens alone (padded keys masked)."""
    states = model.embeddings(input_ids)
    key_mask = attention_mask.bool()[:, None, None, :]
    for stage in model.stages:
        projection = stage.text_projection
        states = projection.layer_norm(F.linear(states, projection.dense.weight, projection.dense.bias))
        states = states + projection.position_embeddings[:, : states.shape[1]]
        for layer in stage.layers:
            attention = layer.attention
            heads, head_dim = attention.num_attention_heads, attention.head_dim
            normed = layer.layer_norm_1(states)

            def split(tensor):
                return tensor.view(tensor.shape[0], -1, heads, head_dim).transpose(1, 2)

            query = split(F.linear(normed, attention.query.weight, attention.query.bias))
            key = split(F.linear(normed, attention.key.weight, attention.key.bias))
            value = split(F.linear(normed, attention.value.weight, attention.value.bias))
            logits = (query @ key.transpose(-1, -2)) / math.sqrt(head_dim)
            logits = logits.masked_fill(~key_mask, float("-inf"))
            context = (logits.softmax(-1) @ value).transpose(1, 2).reshape(states.shape)
            states = states + F.linear(context, attention.output.weight, attention.output.bias)
            hidden = F.gelu(F.linear(layer.layer_norm_2(states), layer.mlp.dense1.weight, layer.mlp.dense1.bias))
            states = states + F.linear(hidden, layer.mlp.dense2.weight, layer.mlp.dense2.bias)
    return states


def test_text_only_pass_matches_a_hand_built_reference():
    model = MVLTModel(tiny_config()).eval()
    input_ids, attention_mask = captions()
    output = model(input_ids=input_ids, attention_mask=attention_mask)
    assert output.vision_hidden_states is None
    reference = reference_text_only(model, input_ids, attention_mask)
    torch.testing.assert_close(output.last_hidden_state, reference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(output.pooler_output, reference[:, 0], rtol=1e-5, atol=1e-5)


def test_text_only_pass_ignores_padding_length():
    model = MVLTModel(tiny_config()).eval()
    input_ids, attention_mask = captions(batch_size=1, length=9, padded_row_length=9)
    padded_ids = torch.cat([input_ids, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    padded_mask = torch.cat([attention_mask, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    short = model.get_text_features(input_ids, attention_mask)
    long = model.get_text_features(padded_ids, padded_mask)
    torch.testing.assert_close(short, long, rtol=1e-5, atol=1e-5)


def test_vision_only_pass_with_no_input_ids_equals_a_caption_of_length_zero():
    model = MVLTModel(tiny_config()).eval()
    pixel_values = torch.randn(2, 3, 64, 64)
    without_text = model(pixel_values=pixel_values)
    empty_text = model(input_ids=torch.zeros(2, 0, dtype=torch.long), pixel_values=pixel_values)
    assert without_text.last_hidden_state.shape == (2, 0, 160)
    for mine, other in zip(without_text.vision_hidden_states, empty_text.vision_hidden_states):
        torch.testing.assert_close(mine, other, rtol=0, atol=0)


def test_vision_only_pass_matches_a_hand_built_reference_of_the_first_stage():
    """Stage 1 of the vision-only pass is PVT's: patch conv + LayerNorm + position, then SRA blocks over the map."""
    model = MVLTModel(tiny_config()).eval()
    pixel_values = torch.randn(2, 3, 64, 64)
    stage = model.stages[0]
    patches = stage.patch_embeddings
    tokens = F.conv2d(pixel_values, patches.projection.weight, patches.projection.bias, stride=patches.patch_size)
    height, width = tokens.shape[-2:]
    tokens = patches.layer_norm(tokens.flatten(2).transpose(1, 2)) + patches.position_embeddings
    for layer in stage.layers:
        attention = layer.attention
        normed = layer.layer_norm_1(tokens)
        grid = normed.transpose(1, 2).reshape(2, -1, height, width)
        reduced = F.conv2d(grid, attention.spatial_reduction.weight, attention.spatial_reduction.bias,
                           stride=attention.sr_ratio).flatten(2).transpose(1, 2)
        reduced = attention.spatial_reduction_norm(reduced)
        query, key, value = attention.query(normed), attention.key(reduced), attention.value(reduced)
        heads, head_dim = attention.num_attention_heads, attention.head_dim
        query, key, value = (t.view(2, -1, heads, head_dim).transpose(1, 2) for t in (query, key, value))
        context = ((query @ key.transpose(-1, -2)) / math.sqrt(head_dim)).softmax(-1) @ value
        tokens = tokens + attention.output(context.transpose(1, 2).reshape(tokens.shape))
        tokens = tokens + layer.mlp(layer.layer_norm_2(tokens))
    reference = tokens.transpose(1, 2).reshape(2, -1, height, width)
    torch.testing.assert_close(model(pixel_values=pixel_values).vision_hidden_states[0], reference, rtol=1e-5, atol=1e-5)


def test_unimodal_pass_errors_name_the_problem():
    model = MVLTModel(tiny_config())
    with pytest.raises(ValueError, match="neither"):
        model()
    with pytest.raises(ValueError, match="text-only pass"):
        model(input_ids=torch.zeros(2, 0, dtype=torch.long))


def hand_itc_loss(image, text, scale, product_ids):
    """Symmetric InfoNCE written with loops: same-product pairs other than the positive are left out."""
    n = len(image)
    total = 0.0
    for direction in ("i2t", "t2i"):
        for i in range(n):
            numerator = None
            denominator = 0.0
            for j in range(n):
                if j != i and product_ids[i] == product_ids[j]:
                    continue
                cos = float(image[i] @ text[j]) if direction == "i2t" else float(text[i] @ image[j])
                term = math.exp(scale * cos)
                denominator += term
                if j == i:
                    numerator = term
            total += -math.log(numerator / denominator)
    return total / (2 * n)


def test_itc_loss_equals_a_hand_computation_with_same_product_pairs_excluded():
    image = F.normalize(torch.randn(5, 8), dim=-1)
    text = F.normalize(torch.randn(5, 8), dim=-1)
    product_ids = torch.tensor([0, 0, 1, 2, 2])
    logit_scale = torch.tensor(math.log(10.0))
    loss = mvlt_itc_loss(image, text, logit_scale, product_ids)
    assert float(loss) == pytest.approx(hand_itc_loss(image, text, 10.0, product_ids.tolist()), rel=1e-5)
    # Without product ids every other row is a negative: a different, larger-denominator loss.
    assert float(mvlt_itc_loss(image, text, logit_scale)) == pytest.approx(
        hand_itc_loss(image, text, 10.0, list(range(5))), rel=1e-5
    )
    # Symmetric: swapping the modalities gives the same loss.
    assert float(mvlt_itc_loss(text, image, logit_scale, product_ids)) == pytest.approx(float(loss), rel=1e-6)


def test_itc_loss_leaves_out_rows_that_are_not_matching_pairs():
    image = F.normalize(torch.randn(4, 8), dim=-1)
    text = F.normalize(torch.randn(4, 8), dim=-1)
    valid = torch.tensor([True, False, True, True])
    loss = mvlt_itc_loss(image, text, torch.tensor(0.0), valid_rows=valid)
    reference = mvlt_itc_loss(image[valid], text[valid], torch.tensor(0.0))
    assert float(loss) == pytest.approx(float(reference), rel=1e-6)


def test_itc_logit_scale_is_clamped_at_100():
    image = F.normalize(torch.randn(3, 4), dim=-1)
    text = F.normalize(torch.randn(3, 4), dim=-1)
    assert float(mvlt_itc_loss(image, text, torch.tensor(9.0))) == pytest.approx(
        float(mvlt_itc_loss(image, text, torch.tensor(math.log(100.0)))), rel=1e-6
    )


@pytest.mark.parametrize("model_class", [MVLTModel, MVLTForPreTraining, MVLTForImageTextRetrieval, MVLTForCategoryRecognition])
def test_features_are_unit_norm_and_batch_invariant(model_class):
    model = model_class(tiny_config()).eval()
    pixel_values = torch.randn(3, 3, 64, 64)
    input_ids, attention_mask = captions()
    with torch.no_grad():
        image_features = model.get_image_features(pixel_values)
        text_features = model.get_text_features(input_ids, attention_mask)
        single_image = model.get_image_features(pixel_values[2:])
        single_text = model.get_text_features(input_ids[2:, :5], attention_mask[2:, :5])
    assert image_features.shape == text_features.shape == (3, 128)
    torch.testing.assert_close(image_features.norm(dim=-1), torch.ones(3), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(text_features.norm(dim=-1), torch.ones(3), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(single_image, image_features[2:], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(single_text, text_features[2:], rtol=1e-5, atol=1e-5)


def test_cls_pooling_reads_the_first_text_token():
    model = MVLTModel(tiny_config(itc_text_pooling="cls")).eval()
    input_ids, attention_mask = captions()
    with torch.no_grad():
        cls_state = model(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        expected = F.normalize(model.itc_text_projection(cls_state), dim=-1)
        torch.testing.assert_close(model.get_text_features(input_ids, attention_mask), expected)


@pytest.mark.parametrize("random_share", [0.0, 0.5, 1.0])
def test_itc_mined_sampler_never_returns_the_positive_or_a_same_product_row(random_share):
    generator = torch.Generator().manual_seed(0)
    product_ids = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4])
    for _ in range(50):
        similarity = torch.randn(8, 8, generator=generator) * 10
        negative_captions, negative_images = sample_itm_negatives(similarity, product_ids, random_share, generator)
        for anchor, negative in [*enumerate(negative_captions.tolist()), *enumerate(negative_images.tolist())]:
            assert negative != anchor and product_ids[negative] != product_ids[anchor]


def test_itc_mined_sampler_follows_the_similarities_and_flags_rows_without_another_product():
    product_ids = torch.tensor([0, 1, 2, 3])
    similarity = torch.zeros(4, 4)
    similarity[0, 3] = 50.0  # image 0 is most similar to caption 3
    negative_captions, _ = sample_itm_negatives(similarity, product_ids)
    assert int(negative_captions[0]) == 3
    alone = sample_itm_negatives(torch.zeros(2, 2), torch.tensor([7, 7]))
    assert alone[0].tolist() == [-1, -1] and alone[1].tolist() == [-1, -1]


def pretraining_batch(config, batch_size=4):
    input_ids, attention_mask = captions(batch_size=batch_size)
    mlm_labels = torch.full_like(input_ids, -100)
    mlm_labels[:, 2] = input_ids[:, 2]
    masked_ids = input_ids.clone()
    masked_ids[:, 2] = 3
    return {
        "input_ids": masked_ids,
        "attention_mask": attention_mask,
        "pixel_values": torch.randn(batch_size, 3, 64, 64),
        "bool_masked_pos": torch.rand(batch_size, config.num_mask_units) < 0.5,
        "mlm_labels": mlm_labels,
        "itm_labels": torch.ones(batch_size, dtype=torch.long),
        "product_ids": torch.tensor([10, 11, 11, 12][:batch_size]),
    }, input_ids


def test_pretraining_total_is_eq_8_plus_weighted_itc_on_clean_captions():
    config = tiny_config(itc_loss_weight=0.7, mir_loss_weight=2.0)
    model = MVLTForPreTraining(config).eval()
    batch, clean_ids = pretraining_batch(config)
    output = model(**batch)
    expected = mvlt_pretraining_loss(output.mir_loss, output.itm_loss, output.mlm_loss, 2.0, 1.0, 1.0)
    assert output.loss.item() == pytest.approx((expected + 0.7 * output.itc_loss).item(), rel=1e-6)
    # ITC reads the caption with the MLM-masked tokens restored, and the unmasked image.
    image_features = model.get_image_features(batch["pixel_values"])
    text_features = model.get_text_features(clean_ids, batch["attention_mask"])
    reference = mvlt_itc_loss(image_features, text_features, model.mvlt.logit_scale, batch["product_ids"])
    assert float(output.itc_loss) == pytest.approx(float(reference), rel=1e-6)


def test_paper_preset_has_no_itc():
    config = MVLTConfig.from_preset("paper")
    assert config.itc_loss_weight == 0 and config.itm_negative_mining == "collator"
    model = MVLTForPreTraining(tiny_config(itc_loss_weight=0.0))
    batch, _ = pretraining_batch(model.config)
    output = model(**batch)
    assert output.itc_loss is None and output.image_embeds is None and output.itm_logits.shape == (4, 2)


def test_itc_mined_itm_scores_the_matching_pairs_and_one_negative_each_way():
    config = tiny_config(itm_negative_mining="itc", itm_random_negative_share=0.0)
    model = MVLTForPreTraining(config)
    batch, _ = pretraining_batch(config)
    output = model(**batch)
    # 4 matching pairs + 4 negative captions + 4 negative images (every row has another product in the batch)
    assert output.itm_logits.shape == (12, 2)
    assert output.itm_labels.tolist() == [1] * 4 + [0] * 8
    output.loss.backward()
    assert model.itm_head.classifier.weight.grad.abs().sum() > 0
    assert model.mvlt.logit_scale.grad is not None


def test_itc_mined_itm_needs_itc():
    with pytest.raises(StrictDataclassClassValidationError, match="itc_loss_weight > 0"):
        tiny_config(itc_loss_weight=0.0, itm_negative_mining="itc")


def test_retrieval_head_returns_itm_itc_and_fused_scores():
    model = MVLTForImageTextRetrieval(tiny_config(itm_fusion_weight=0.5)).eval()
    input_ids, attention_mask = captions()
    pixel_values = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        output = model(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixel_values,
                       return_itc_scores=True)
        cosine = (model.get_image_features(pixel_values) * model.get_text_features(input_ids, attention_mask)).sum(-1)
    torch.testing.assert_close(output.itm_scores, output.scores)
    torch.testing.assert_close(output.itc_scores, cosine, rtol=1e-5, atol=1e-5)
    scale = math.exp(float(model.mvlt.logit_scale))
    expected = scale * cosine + 0.5 * (output.logits[:, 1] - output.logits[:, 0])
    torch.testing.assert_close(output.fused_scores, expected, rtol=1e-5, atol=1e-5)
    assert model(input_ids=input_ids, pixel_values=pixel_values).itc_scores is None


def test_fusion_with_weight_zero_is_itc_alone():
    cosine = torch.tensor([0.1, 0.5, -0.2])
    logits = torch.randn(3, 2)
    fused = fuse_retrieval_scores(cosine, logits, torch.tensor(math.log(20.0)), 0.0)
    torch.testing.assert_close(fused, 20.0 * cosine)


def test_a_model_without_itc_says_so_when_asked_for_features():
    model = MVLTModel(tiny_config(itc_loss_weight=0.0))
    assert model.logit_scale is None and not any("itc" in name for name, _ in model.named_parameters())
    with pytest.raises(ValueError, match="itc_loss_weight=0"):
        model.get_image_features(torch.randn(1, 3, 64, 64))


def test_one_itm_pair_per_row_mixes_matching_and_mined_pairs():
    config = tiny_config(itm_negative_mining="itc", itm_pairs_per_row=1)
    model = MVLTForPreTraining(config)
    batch, _ = pretraining_batch(config)
    labels = torch.cat([model(**batch).itm_labels for _ in range(10)])
    assert len(labels) == 40 and 0 < labels.float().mean() < 1


def test_padded_captions_run_under_bf16_autocast():
    """The additive padding bias is cast to the queries' dtype (bf16 under autocast), so SDPA accepts it."""
    model = MVLTModel(tiny_config()).eval()
    input_ids, attention_mask = captions()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(input_ids=input_ids, pixel_values=torch.randn(3, 3, 64, 64), attention_mask=attention_mask)
    assert torch.isfinite(output.last_hidden_state.float()).all()


def test_fusion_weight_is_itc_alone_unless_itm_clearly_helps_on_the_calibration_split():
    from fashionvl.evaluation.mvlt_protocol import choose_fusion_weight

    measured_in_the_demo = {0.0: 400.0, 0.5: 392.5, 1.0: 397.5, 2.0: 405.0}  # a 5-point gain: calibration noise
    assert choose_fusion_weight(measured_in_the_demo, min_gain=10.0) == 0.0
    assert choose_fusion_weight({0.0: 400.0, 0.5: 420.0, 1.0: 420.0}, min_gain=10.0) == 0.5  # ties: smaller weight
    assert choose_fusion_weight({0.0: 400.0, 1.0: 390.0}, min_gain=0.0) == 0.0
