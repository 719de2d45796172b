"""MVLT models on the tiny preset: shapes, losses, invariances, outputs, heads from other checkpoints.

The contract every model class meets (exact save/load, Auto classes, return_dict=False, main_input_name,
gradient checkpointing, _no_split_modules, batch invariance, meta device, dtypes) is tests/test_model_common.py."""

import inspect

import pytest
import torch
import torch.nn.functional as F

from fashionvl import (
    MVLTConfig,
    MVLTForCategoryRecognition,
    MVLTForImageTextRetrieval,
    MVLTForPreTraining,
    MVLTModel,
)
from fashionvl.modeling.losses import mvlt_mir_loss
from fashionvl.modeling.modeling_mvlt import MVLTSpatialReductionAttention
from fashionvl.processing.masking import MaskGenerator, expand_unit_mask


BATCH, TEXT_LENGTH, VOCAB = 2, 10, 100


def tiny_config(**overrides) -> MVLTConfig:
    values = {"vocab_size": VOCAB, "num_main_categories": 5, "num_sub_categories": 7}
    values.update(overrides)
    return MVLTConfig.from_preset("tiny", **values)


def make_batch(config: MVLTConfig, batch_size: int = BATCH, text_length: int = TEXT_LENGTH) -> dict:
    """A pre-training batch in the collator's format, with the second caption padded after 6 tokens."""
    input_ids = torch.randint(5, config.vocab_size, (batch_size, text_length))
    input_ids[:, 0] = 1  # [CLS]
    attention_mask = torch.ones_like(input_ids)
    if batch_size > 1:
        attention_mask[1, 6:] = 0
        input_ids[1, 6:] = config.pad_token_id
    mlm_labels = torch.full_like(input_ids, -100)
    mlm_labels[:, 2] = input_ids[:, 2]
    bool_masked_pos = torch.zeros(batch_size, config.num_mask_units, dtype=torch.bool)
    bool_masked_pos[:, ::2] = True
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "token_type_ids": torch.zeros_like(input_ids),
        "pixel_values": torch.randn(batch_size, 3, config.image_size, config.image_size),
        "bool_masked_pos": bool_masked_pos,
        "mlm_labels": mlm_labels,
        "itm_labels": torch.tensor([1, 0] * (batch_size // 2) + [1] * (batch_size % 2)),
    }


# The invariance tests compare outputs to 1e-5 in absolute terms: they use BERT's initializer_range 0.02, which keeps
# activations of order 1 (the tiny preset's 0.15 gives activations of order 10, where float32 noise exceeds 1e-5).
INVARIANCE_INIT = {"initializer_range": 0.02}


@pytest.fixture(scope="module")
def base_model() -> MVLTModel:
    """One randomly initialised tiny MVLTModel in eval mode, shared by the tests that only run it."""
    torch.manual_seed(0)
    return MVLTModel(tiny_config(**INVARIANCE_INIT)).eval()


@pytest.fixture(scope="module")
def pretraining_model() -> MVLTForPreTraining:
    """One randomly initialised tiny MVLTForPreTraining in eval mode, shared by the tests that only run it."""
    torch.manual_seed(0)
    return MVLTForPreTraining(tiny_config(**INVARIANCE_INIT)).eval()


def inputs_for(model_class, batch: dict) -> dict:
    names = inspect.signature(model_class.forward).parameters
    return {key: value for key, value in batch.items() if key in names}


# ---------------------------------------------------------------------------------------------------------------------
# Every head: forward, backward, shapes, losses
# ---------------------------------------------------------------------------------------------------------------------


def test_base_model_outputs_text_cls_and_four_pyramid_maps(base_model):
    outputs = base_model(**inputs_for(MVLTModel, make_batch(base_model.config)))
    assert outputs.last_hidden_state.shape == (BATCH, TEXT_LENGTH, 160)
    assert outputs.pooler_output.shape == (BATCH, 160)
    assert torch.equal(outputs.pooler_output, outputs.last_hidden_state[:, 0])
    expected_maps = [(BATCH, 32, 16, 16), (BATCH, 64, 8, 8), (BATCH, 128, 4, 4), (BATCH, 160, 2, 2)]
    assert [tuple(m.shape) for m in outputs.vision_hidden_states] == expected_maps
    assert [tuple(t.shape) for t in outputs.text_hidden_states] == [(BATCH, TEXT_LENGTH, d) for d in (32, 64, 128, 160)]


def test_base_model_accepts_captions_of_length_zero(base_model):
    batch = make_batch(base_model.config)
    outputs = base_model(input_ids=batch["input_ids"][:, :0], pixel_values=batch["pixel_values"])
    assert outputs.last_hidden_state.shape == (BATCH, 0, 160)
    assert outputs.vision_hidden_states[-1].shape == (BATCH, 160, 2, 2)
    # no ITC: the vision-only pass's image feature is the unit-norm mean of the last map (issue 14's pipeline)
    expected = torch.nn.functional.normalize(outputs.vision_hidden_states[-1].flatten(2).mean(dim=2), dim=-1)
    torch.testing.assert_close(outputs.image_embeds, expected)
    assert outputs.pooler_output is outputs.image_embeds


def test_pretraining_forward_backward_returns_every_loss_and_output():
    config = tiny_config()
    model = MVLTForPreTraining(config)
    batch = make_batch(config)
    outputs = model(**batch)
    for name in ("loss", "mir_loss", "itm_loss", "mlm_loss"):
        value = getattr(outputs, name)
        assert value is not None and value.dim() == 0 and torch.isfinite(value), name
    assert outputs.itm_logits.shape == (BATCH, 2)
    # The tiny preset decodes only the masked tokens when mlm_labels are given (mlm_sparse_prediction).
    assert outputs.mlm_logits.shape == (int((batch["mlm_labels"] != -100).sum()), VOCAB)
    assert outputs.reconstruction.shape == (BATCH, 3, 64, 64)
    outputs.loss.backward()
    trained = [name for name, parameter in model.named_parameters() if parameter.grad is None]
    assert trained == [], f"parameters without gradient: {trained}"


def test_pretraining_total_is_eq_8_weighted_sum_of_the_components():
    config = tiny_config(mir_loss_weight=10.0, itm_loss_weight=2.0, mlm_loss_weight=0.5)
    outputs = MVLTForPreTraining(config)(**make_batch(config))
    expected = 10.0 * outputs.mir_loss + 2.0 * outputs.itm_loss + 0.5 * outputs.mlm_loss
    assert torch.allclose(outputs.loss, expected)


@pytest.mark.parametrize("kept", ["mir", "itm", "mlm"])
def test_with_all_weights_but_one_at_zero_the_total_is_that_component(kept):
    weights = {f"{name}_loss_weight": (1.0 if name == kept else 0.0) for name in ("mir", "itm", "mlm")}
    config = tiny_config(**weights)
    outputs = MVLTForPreTraining(config)(**make_batch(config))
    assert torch.equal(outputs.loss, getattr(outputs, f"{kept}_loss"))
    for other in {"mir", "itm", "mlm"} - {kept}:
        assert getattr(outputs, f"{other}_loss") is None


def test_pretraining_without_labels_or_mask_computes_no_loss(pretraining_model):
    batch = make_batch(pretraining_model.config)
    outputs = pretraining_model(input_ids=batch["input_ids"], pixel_values=batch["pixel_values"])
    assert outputs.loss is None and outputs.mir_loss is None and outputs.itm_loss is None and outputs.mlm_loss is None
    assert outputs.reconstruction.shape == (BATCH, 3, 64, 64)
    assert outputs.mlm_logits.shape == (BATCH, TEXT_LENGTH, VOCAB)  # every token is decoded without labels


def test_mir_target_is_the_unmasked_image(pretraining_model):
    batch = make_batch(pretraining_model.config)
    outputs = pretraining_model(**batch)
    assert torch.allclose(outputs.mir_loss, mvlt_mir_loss(outputs.reconstruction, batch["pixel_values"]))


def test_partial_decoder_reconstructs_full_size_images():
    config = tiny_config(mir_decoder="partial")
    model = MVLTForPreTraining(config)
    outputs = model(**make_batch(config))
    assert outputs.reconstruction.shape == (BATCH, 3, 64, 64)
    outputs.loss.backward()


def test_sparse_mlm_prediction_decodes_only_masked_tokens_with_the_same_loss():
    config = tiny_config(mlm_sparse_prediction=False)
    batch = make_batch(config)
    dense_model = MVLTForPreTraining(config).eval()
    sparse_model = MVLTForPreTraining(tiny_config(mlm_sparse_prediction=True)).eval()
    sparse_model.load_state_dict(dense_model.state_dict())
    with torch.no_grad():
        dense, sparse = dense_model(**batch), sparse_model(**batch)
    masked = batch["mlm_labels"] != -100
    assert sparse.mlm_logits.shape == (int(masked.sum()), VOCAB)
    assert torch.allclose(sparse.mlm_logits, dense.mlm_logits[masked], atol=1e-5)
    assert torch.allclose(sparse.mlm_loss, dense.mlm_loss, atol=1e-6)


def test_mlm_decoder_is_tied_to_the_word_embeddings(pretraining_model):
    model = pretraining_model
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight


def test_retrieval_head_scores_are_match_probabilities():
    config = tiny_config()
    batch = make_batch(config)
    outputs = MVLTForImageTextRetrieval(config)(**inputs_for(MVLTForImageTextRetrieval, batch), labels=batch["itm_labels"])
    assert outputs.logits.shape == (BATCH, 2) and outputs.scores.shape == (BATCH,)
    assert torch.allclose(outputs.scores, outputs.logits.softmax(-1)[:, 1])
    assert torch.isfinite(outputs.loss)
    outputs.loss.backward()


def test_category_head_loss_is_the_sum_of_both_cross_entropies():
    config = tiny_config()
    batch = inputs_for(MVLTForCategoryRecognition, make_batch(config))
    main_labels, sub_labels = torch.tensor([0, 4]), torch.tensor([6, 1])
    outputs = MVLTForCategoryRecognition(config)(**batch, main_category_labels=main_labels, sub_category_labels=sub_labels)
    assert outputs.main_category_logits.shape == (BATCH, 5)
    assert outputs.sub_category_logits.shape == (BATCH, 7)
    expected = torch.nn.functional.cross_entropy(outputs.main_category_logits, main_labels) + torch.nn.functional.cross_entropy(
        outputs.sub_category_logits, sub_labels
    )
    assert torch.allclose(outputs.loss, expected)
    assert torch.allclose(outputs.loss, outputs.main_category_loss + outputs.sub_category_loss)
    outputs.loss.backward()


@pytest.mark.parametrize("itc_loss_weight", [0.0, 1.0])
def test_heads_refuse_captions_without_cls_token(itc_loss_weight):
    config = tiny_config(itc_loss_weight=itc_loss_weight)
    batch = make_batch(config)
    with pytest.raises(ValueError, match="at least one text token"):
        MVLTForImageTextRetrieval(config)(input_ids=batch["input_ids"][:, :0], pixel_values=batch["pixel_values"])


# ---------------------------------------------------------------------------------------------------------------------
# Pixel masking inside the model
# ---------------------------------------------------------------------------------------------------------------------


def test_masked_units_are_filled_with_zero_value_row_major(base_model):
    config, model = base_model.config, base_model
    pixel_values = torch.randn(1, 3, 64, 64)
    bool_masked_pos = torch.zeros(1, 16, dtype=torch.bool)
    bool_masked_pos[0, 1] = True  # first row of units, second column: rows 0-15, columns 16-31
    masked = model.mask_pixel_values(pixel_values, bool_masked_pos)
    fill = torch.tensor(config.mask_fill_values).view(3, 1, 1).expand(3, 16, 16)
    assert torch.allclose(masked[0, :, :16, 16:32], fill)
    untouched = torch.ones(64, 64, dtype=torch.bool)
    untouched[:16, 16:32] = False
    assert torch.equal(masked[0][:, untouched], pixel_values[0][:, untouched])


def test_model_masks_exactly_the_pixels_of_the_processing_modules_unit_layout(base_model):
    # The model expands units to pixels itself (remote-code contract); it must agree with masking.expand_unit_mask.
    config = base_model.config
    pixel_values = torch.randn(3, 3, 64, 64)
    bool_masked_pos = MaskGenerator(64, config.mask_unit_size, 0.5)(3, generator=torch.Generator().manual_seed(0))
    changed = base_model.mask_pixel_values(pixel_values, bool_masked_pos) != pixel_values
    assert torch.equal(changed.all(dim=1), expand_unit_mask(bool_masked_pos, 64, config.mask_unit_size))


def test_bool_masked_pos_of_the_wrong_length_is_rejected(base_model):
    batch = make_batch(base_model.config)
    with pytest.raises(ValueError, match=r"bool_masked_pos must have shape.*\(2, 16\).*\(2, 15\)"):
        base_model(batch["input_ids"], batch["pixel_values"], bool_masked_pos=torch.zeros(2, 15, dtype=torch.bool))


@pytest.mark.parametrize(
    ("shape", "message"),
    [((2, 64, 64), r"pixel_values must have shape.*num_channels=3.*\(2, 64, 64\)"),
     ((2, 1, 64, 64), r"pixel_values must have shape.*num_channels=3.*\(2, 1, 64, 64\)")],
)
def test_pixel_values_without_the_configured_channels_are_rejected(base_model, shape, message):
    with pytest.raises(ValueError, match=message):
        base_model(torch.ones(2, 4, dtype=torch.long), torch.randn(*shape))


def test_labels_of_the_wrong_shape_are_rejected_naming_the_shapes(pretraining_model):
    batch = make_batch(pretraining_model.config)
    with pytest.raises(ValueError, match=r"mlm_labels must have the shape of input_ids \(2, 10\), got \(2, 9\)"):
        pretraining_model(**{**batch, "mlm_labels": batch["mlm_labels"][:, :9]})
    with pytest.raises(ValueError, match=r"itm_labels must hold one label per pair, shape \(2,\), got \(3,\)"):
        pretraining_model(**{**batch, "itm_labels": torch.tensor([1, 0, 1])})


def test_captions_longer_than_max_position_embeddings_are_rejected(base_model):
    with pytest.raises(ValueError, match="41 tokens.*max_position_embeddings=40"):
        base_model(torch.ones(1, 41, dtype=torch.long), torch.randn(1, 3, 64, 64))


# ---------------------------------------------------------------------------------------------------------------------
# Invariances
# ---------------------------------------------------------------------------------------------------------------------


def test_padding_a_caption_further_does_not_change_the_cls_output(base_model):
    config, model = base_model.config, base_model
    caption = torch.tensor([[1, 17, 23, 42, 2]])
    pixel_values = torch.randn(1, 3, 64, 64)
    outputs = []
    for padded_length in (5, 12):
        input_ids = torch.full((1, padded_length), config.pad_token_id)
        input_ids[:, :5] = caption
        attention_mask = (torch.arange(padded_length) < 5).long().unsqueeze(0)
        with torch.no_grad():
            outputs.append(model(input_ids, pixel_values, attention_mask=attention_mask))
    assert torch.allclose(outputs[0].pooler_output, outputs[1].pooler_output, atol=1e-5)
    for short, long in zip(outputs[0].vision_hidden_states, outputs[1].vision_hidden_states):
        assert torch.allclose(short, long, atol=1e-5)


def test_eager_and_sdpa_attention_agree(base_model):
    batch = inputs_for(MVLTModel, make_batch(base_model.config))
    with torch.no_grad():
        base_model.set_attn_implementation("sdpa")
        sdpa = base_model(**batch).last_hidden_state
        base_model.set_attn_implementation("eager")
        eager = base_model(**batch).last_hidden_state
        base_model.set_attn_implementation("sdpa")
    assert torch.allclose(sdpa, eager, atol=1e-5)


def test_joint_attention_matches_a_hand_computation_with_unreduced_text_and_reduced_vision_keys():
    # SPEC §2: queries are all tokens; keys/values are the text tokens (not reduced) followed by the vision tokens
    # reduced by a conv (kernel = stride = sr) + LayerNorm; padded text keys get no attention.
    config = tiny_config()
    torch.manual_seed(0)
    attention = MVLTSpatialReductionAttention(config, stage=1).eval()  # width 64, 2 heads, sr 4
    text_length, height, width, heads, head_dim = 3, 8, 8, 2, 32
    hidden_states = torch.randn(2, text_length + height * width, 64)
    text_mask = torch.tensor([[1, 1, 1], [1, 1, 0]])  # the second caption's last token is padding
    key_bias = torch.zeros(2, 1, 1, text_length + (height // 4) * (width // 4))
    key_bias[:, 0, 0, :text_length] = torch.where(text_mask == 1, 0.0, torch.finfo(torch.float32).min)

    text, vision = hidden_states[:, :text_length], hidden_states[:, text_length:]
    vision_map = vision.transpose(1, 2).reshape(2, 64, height, width)
    reduction = attention.spatial_reduction
    reduced = F.conv2d(vision_map, reduction.weight, reduction.bias, stride=4).flatten(2).transpose(1, 2)
    norm = attention.spatial_reduction_norm
    reduced = F.layer_norm(reduced, (64,), norm.weight, norm.bias, norm.eps)
    keys_and_values = torch.cat([text, reduced], dim=1)  # (2, 3 + 4, 64)

    def heads_of(states, linear):
        return F.linear(states, linear.weight, linear.bias).view(2, -1, heads, head_dim).transpose(1, 2)

    query, key, value = (
        heads_of(hidden_states, attention.query),
        heads_of(keys_and_values, attention.key),
        heads_of(keys_and_values, attention.value),
    )
    scores = query @ key.transpose(-1, -2) / head_dim**0.5
    scores[1, :, :, text_length - 1] = float("-inf")  # the padded text key
    context = (scores.softmax(-1) @ value).transpose(1, 2).reshape(2, -1, 64)
    expected = F.linear(context, attention.output.weight, attention.output.bias)

    with torch.no_grad():
        got, probabilities = attention(hidden_states, key_bias, text_length, height, width, output_attentions=True)
    assert probabilities.shape == (2, heads, text_length + height * width, text_length + 4)
    assert torch.allclose(got, expected, atol=1e-5)


def test_each_stage_projects_the_previous_stages_text_output(base_model):
    # MVLT eq. 1 with the chained text stream (SPEC §2): stage k's text input is T^{k-1}, stage 1's the embeddings.
    batch = inputs_for(MVLTModel, make_batch(base_model.config))
    text_inputs = []
    hooks = [
        stage.text_projection.register_forward_pre_hook(lambda module, args: text_inputs.append(args[0]))
        for stage in base_model.stages
    ]
    try:
        with torch.no_grad():
            outputs = base_model(**batch)
            embeddings = base_model.embeddings(batch["input_ids"], batch["token_type_ids"])
    finally:
        for hook in hooks:
            hook.remove()
    assert torch.equal(text_inputs[0], embeddings)
    for stage in range(1, 4):
        assert torch.equal(text_inputs[stage], outputs.text_hidden_states[stage - 1]), f"stage {stage + 1}"


def test_text_projection_is_linear_layer_norm_plus_the_stages_own_position_embedding(base_model):
    # MVLT eq. 1: m^k = T^k W_t^k + P_t^k (LayerNorm after the projection, as in the authors' code).
    projection = base_model.stages[2].text_projection
    text_states = torch.randn(2, 7, 64)
    expected = F.layer_norm(
        F.linear(text_states, projection.dense.weight, projection.dense.bias),
        (128,),
        projection.layer_norm.weight,
        projection.layer_norm.bias,
        projection.layer_norm.eps,
    ) + projection.position_embeddings[:, :7]
    with torch.no_grad():
        assert torch.allclose(projection(text_states), expected, atol=1e-6)
    assert base_model.stages[1].text_projection.position_embeddings is not projection.position_embeddings


def test_larger_images_than_configured_interpolate_position_embeddings(base_model):
    outputs = base_model(torch.ones(1, 4, dtype=torch.long), torch.randn(1, 3, 128, 96))
    assert outputs.vision_hidden_states[0].shape == (1, 32, 32, 24)
    assert outputs.vision_hidden_states[-1].shape == (1, 160, 4, 3)


# ---------------------------------------------------------------------------------------------------------------------
# Outputs: hidden states, attentions, vocabulary resizing, padding
# ---------------------------------------------------------------------------------------------------------------------


def test_output_hidden_states_has_one_joint_sequence_per_block():
    config = tiny_config(depths=[1, 2, 1, 1])
    outputs = MVLTModel(config)(**inputs_for(MVLTModel, make_batch(config)), output_hidden_states=True)
    # Blocks: stage 1 (16x16 grid, width 32), stage 2 twice (8x8, 64), stage 3 (4x4, 128), stage 4 (2x2, 160).
    tokens_and_widths = [(256, 32), (64, 64), (64, 64), (16, 128), (4, 160)]
    assert len(outputs.hidden_states) == sum(config.depths)
    assert [tuple(h.shape) for h in outputs.hidden_states] == [
        (BATCH, TEXT_LENGTH + tokens, width) for tokens, width in tokens_and_widths
    ]


def test_output_attentions_has_text_and_reduced_vision_keys(base_model):
    outputs = base_model(**inputs_for(MVLTModel, make_batch(base_model.config)), output_attentions=True)
    # Stage k: queries L + H_k W_k, keys L + (H_k / sr_k)(W_k / sr_k); sr = 8, 4, 2, 1 on 16, 8, 4, 2 grids.
    expected = [(BATCH, 1, 10 + 256, 10 + 4), (BATCH, 2, 10 + 64, 10 + 4), (BATCH, 4, 10 + 16, 10 + 4), (BATCH, 5, 14, 14)]
    assert [tuple(a.shape) for a in outputs.attentions] == expected
    for attention in outputs.attentions:
        assert torch.allclose(attention.sum(-1), torch.ones(()))
    # The padded caption's padded keys receive no attention.
    assert torch.all(outputs.attentions[0][1, :, :, 6:10] == 0)


def test_resizing_the_vocabulary_keeps_the_mlm_decoder_tied():
    model = MVLTForPreTraining(tiny_config())
    model.resize_token_embeddings(VOCAB + 10, mean_resizing=False)
    assert model.config.vocab_size == VOCAB + 10
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    outputs = model(torch.randint(0, VOCAB + 10, (1, 5)), torch.randn(1, 3, 64, 64))
    assert outputs.mlm_logits.shape == (1, 5, VOCAB + 10)


def test_unmasked_padding_is_attended_like_the_authors_code(base_model):
    # mask_padded_text=False reproduces the official code, where [PAD] keys are attended: padding then matters.
    model = MVLTModel(tiny_config(mask_padded_text=False)).eval()
    model.load_state_dict(base_model.state_dict())
    input_ids = torch.tensor([[1, 17, 23, 42, 2, 0, 0, 0]])
    attention_mask = (input_ids != 0).long()
    pixel_values = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        masked = base_model(input_ids, pixel_values, attention_mask=attention_mask).pooler_output
        attended = model(input_ids, pixel_values, attention_mask=attention_mask).pooler_output
        short = base_model(input_ids[:, :5], pixel_values).pooler_output
    assert torch.allclose(masked, short, atol=1e-5)
    assert not torch.allclose(attended, short, atol=1e-4)


# ---------------------------------------------------------------------------------------------------------------------
# Save / load, Auto classes, heads from base checkpoints
# ---------------------------------------------------------------------------------------------------------------------


def test_pretraining_checkpoint_loads_into_the_retrieval_head(tmp_path):
    config = tiny_config()
    pretrained = MVLTForPreTraining(config).eval()
    pretrained.save_pretrained(tmp_path)
    retrieval = MVLTForImageTextRetrieval.from_pretrained(tmp_path).eval()
    batch = make_batch(config)
    with torch.no_grad():
        expected = pretrained(batch["input_ids"], batch["pixel_values"], attention_mask=batch["attention_mask"]).itm_logits
        got = retrieval(batch["input_ids"], batch["pixel_values"], attention_mask=batch["attention_mask"]).logits
    assert torch.equal(expected, got)


def test_base_model_checkpoint_loads_into_the_category_head(tmp_path):
    config = tiny_config()
    base = MVLTModel(config).eval()
    base.save_pretrained(tmp_path)
    head = MVLTForCategoryRecognition.from_pretrained(tmp_path).eval()
    for key, value in base.state_dict().items():
        assert torch.equal(head.mvlt.state_dict()[key], value), key


def test_tiny_preset_initialisation_lets_the_cls_output_depend_on_the_image():
    # Regression (demo ITM stuck at 0.693): with BERT's initializer_range of 0.02 at the tiny widths (32-160),
    # attention is uniform and the [CLS] output moved by only ~0.3 % between images, a saddle that ITM from scratch
    # did not leave in thousands of steps. The tiny preset's 0.15 makes the image visible to [CLS] from step 0.
    base_model = MVLTModel(tiny_config()).eval()
    caption = torch.tensor([[1, 17, 23, 42, 2]]).expand(4, -1)
    with torch.no_grad():
        cls = base_model(caption, torch.randn(4, 3, 64, 64)).pooler_output
    relative_spread = (cls - cls.mean(0)).norm(dim=-1).mean() / cls.norm(dim=-1).mean()
    assert relative_spread > 0.02
