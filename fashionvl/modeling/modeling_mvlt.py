"""PyTorch MVLT model.

MVLT: "Masked Vision-language Transformer in Fashion", G.-P. Ji, M. Zhuge, D. Gao, D.-P. Fan, C. Sakaridis,
L. Van Gool, Machine Intelligence Research 2023 (paper: doi 10.1007/s11633-022-1394-4, code:
https://github.com/GewelsJI/MVLT). A four-stage pyramid vision transformer (PVT-v1) whose every stage also
carries the caption tokens: vision and text tokens attend jointly, with spatial-reduction attention whose
keys/values are the reduced vision tokens plus the unreduced text tokens. Pre-trained with masked image
reconstruction (MIR), image-text matching (ITM) and masked language modelling (MLM).

Provenance: the building blocks follow transformers' ``modeling_pvt.py`` (so that PVT ImageNet weights load with
a plain key mapping, see ``convert_pvt_state_dict``) and the authors' ``libs/pvlt.py`` / ``libs/vl_heads.py``.
Differences from the authors' code are marked where they occur (``# Departure: ...``).
"""

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel, PvtModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput, logging
from transformers.utils.generic import can_return_tuple

from ..configs.configuration_mvlt import MVLTConfig
from .input_checks import (
    check_attention_mask,
    check_bool_masked_pos,
    check_class_labels,
    check_pixel_values,
    check_token_ids,
)
from .losses import (
    mvlt_category_loss,
    mvlt_itc_loss,
    mvlt_itm_loss,
    mvlt_mir_loss,
    mvlt_mlm_loss,
    mvlt_pretraining_loss,
)


logger = logging.get_logger(__name__)


# ----------------------------------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class MVLTModelOutput(ModelOutput):
    r"""
    Output of [`MVLTModel`].

    image_embeds (`torch.FloatTensor` of shape `(batch_size, projection_dim)`):
        Vision-only pass of a model with ITC (`config.itc_loss_weight > 0`): the L2-normalised ITC image embedding,
        the retrieval embedding (= `get_image_features`). Vision-only pass without ITC: the L2-normalised mean of
        the last pyramid map (shape `(batch_size, hidden_sizes[-1])`, not trained for retrieval). None when text is
        given. It is the first field, so transformers' image-feature-extraction pipeline (which reads `outputs[0]`,
        or `pooler_output` with `pool=True`) returns it.
    last_hidden_state (`torch.FloatTensor` of shape `(batch_size, text_length, hidden_sizes[-1])`):
        Text tokens after the last stage (T^4 of the paper); `text_length` may be 0 (vision only).
    pooler_output (`torch.FloatTensor` of shape `(batch_size, hidden_sizes[-1])`):
        The [CLS] token (first text token) after the last stage. Vision-only pass: `image_embeds`.
    vision_hidden_states (`tuple(torch.FloatTensor)`, one per stage):
        The pyramid vision maps V^k after stage k, of shape `(batch_size, hidden_sizes[k], height_k, width_k)`
        with `height_k = height / prod(patch_sizes[: k + 1])` (64, 32, 16, 8 at 256px).
    text_hidden_states (`tuple(torch.FloatTensor)`, one per stage):
        The text tokens T^k after stage k, of shape `(batch_size, text_length, hidden_sizes[k])`.
    hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
        The joint sequence `[text; vision]` after every transformer block, one entry per block (`sum(depths)`
        entries), of shape `(batch_size, text_length + height_k * width_k, hidden_sizes[k])` for a block of stage k.
    attentions (`tuple(torch.FloatTensor)`, *optional*, returned when `output_attentions=True`):
        Attention probabilities of every block, of shape `(batch_size, num_attention_heads[k], text_length +
        height_k * width_k, text_length + reduced_k)` with `reduced_k = (height_k // sr_ratios[k]) * (width_k //
        sr_ratios[k])`: keys are the text tokens first, then the spatially reduced vision tokens.
    """

    image_embeds: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    vision_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    text_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class MVLTForPreTrainingOutput(ModelOutput):
    r"""
    Output of [`MVLTForPreTraining`].

    loss (`torch.FloatTensor` of shape `()`, *optional*):
        Weighted total (MVLT eq. 8) of the components that were computed; None when none was.
    mir_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Masked image reconstruction loss (eq. 5), computed when `bool_masked_pos` is given and `mir_loss_weight > 0`.
    itm_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Image-text matching loss (eq. 6), computed when `itm_labels` is given and `itm_loss_weight > 0`.
    mlm_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Masked language modelling loss (eq. 7), computed when `mlm_labels` is given and `mlm_loss_weight > 0`.
    itc_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Image-text contrastive loss (`mvlt_itc_loss`; not in the paper), computed when `itc_loss_weight > 0`.
    itm_logits (`torch.FloatTensor` of shape `(num_itm_pairs, 2)`):
        Image-text matching logits (not matching, matching). With `itm_negative_mining="collator"` one pair per row
        (`num_itm_pairs = batch_size`); with `"itc"` the pairs of the ITM pass: the batch's matching pairs, then one
        mined negative caption per image, then one mined negative image per caption (see `itm_labels`).
    itm_labels (`torch.LongTensor` of shape `(num_itm_pairs,)`, *optional*):
        The labels of `itm_logits` (1 = matching): the given `itm_labels`, or those of the mined pairs.
    image_embeds, text_embeds (`torch.FloatTensor` of shape `(batch_size, projection_dim)`, *optional*):
        L2-normalised ITC embeddings of the unmasked images and the clean captions, when ITC is on.
    mlm_logits (`torch.FloatTensor` of shape `(batch_size, text_length, vocab_size)`, *optional*):
        Token logits of the MLM head; None when `mlm_loss_weight == 0`. With `config.mlm_sparse_prediction` and
        `mlm_labels` given, only the masked tokens are decoded: shape `(num_masked_tokens, vocab_size)`, in the
        order of `mlm_labels[mlm_labels != -100]`.
    reconstruction (`torch.FloatTensor` of shape `(batch_size, num_channels, height, width)`, *optional*):
        The MIR decoder's image, in normalised pixel space; None when `mir_loss_weight == 0`.
    vision_hidden_states, text_hidden_states, hidden_states, attentions:
        As in [`MVLTModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    mir_loss: torch.FloatTensor | None = None
    itm_loss: torch.FloatTensor | None = None
    mlm_loss: torch.FloatTensor | None = None
    itc_loss: torch.FloatTensor | None = None
    itm_logits: torch.FloatTensor | None = None
    itm_labels: torch.LongTensor | None = None
    image_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    mlm_logits: torch.FloatTensor | None = None
    reconstruction: torch.FloatTensor | None = None
    vision_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    text_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class MVLTImageTextRetrievalOutput(ModelOutput):
    r"""
    Output of [`MVLTForImageTextRetrieval`].

    loss (`torch.FloatTensor` of shape `()`, *optional*):
        Image-text matching cross-entropy (eq. 6), when `labels` is given.
    logits (`torch.FloatTensor` of shape `(batch_size, 2)`):
        Image-text matching logits (not matching, matching).
    scores (`torch.FloatTensor` of shape `(batch_size,)`):
        Probability that the image and the caption match: `softmax(logits)[:, 1]`, the paper's retrieval score
        (the same tensor as `itm_scores`).
    itm_scores (`torch.FloatTensor` of shape `(batch_size,)`):
        The ITM match probability (paper).
    itc_scores (`torch.FloatTensor` of shape `(batch_size,)`, *optional*):
        Cosine similarity of the pair's ITC embeddings (`return_itc_scores=True`; not in the paper).
    fused_scores (`torch.FloatTensor` of shape `(batch_size,)`, *optional*):
        `logit_scale * itc_scores + itm_fusion_weight * (logits[:, 1] - logits[:, 0])` (`return_itc_scores=True`).
    hidden_states, attentions:
        As in [`MVLTModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    scores: torch.FloatTensor | None = None
    itm_scores: torch.FloatTensor | None = None
    itc_scores: torch.FloatTensor | None = None
    fused_scores: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class MVLTZeroShotImageClassificationOutput(ModelOutput):
    r"""
    Output of [`MVLTForZeroShotImageClassification`] (the CLIP / BLIP-2 zero-shot contract).

    logits_per_image (`torch.FloatTensor` of shape `(image_batch_size, text_batch_size)`):
        `exp(logit_scale) * cos(image_i, text_j)` of the ITC embeddings; a softmax over a row gives the probability
        of each candidate text for image i.
    logits_per_text (`torch.FloatTensor` of shape `(text_batch_size, image_batch_size)`): its transpose.
    image_embeds (`torch.FloatTensor` of shape `(image_batch_size, projection_dim)`): L2-normalised ITC image embeddings.
    text_embeds (`torch.FloatTensor` of shape `(text_batch_size, projection_dim)`): L2-normalised ITC text embeddings.
    """

    logits_per_image: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    image_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None


@dataclass
class MVLTCategoryRecognitionOutput(ModelOutput):
    r"""
    Output of [`MVLTForCategoryRecognition`].

    loss (`torch.FloatTensor` of shape `()`, *optional*):
        Sum of the main- and sub-category cross-entropies that were computed (labels given).
    main_category_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Cross-entropy of the main category (M-CR), when `main_category_labels` is given.
    sub_category_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Cross-entropy of the sub-category (S-CR), when `sub_category_labels` is given.
    main_category_logits (`torch.FloatTensor` of shape `(batch_size, num_main_categories)`):
        Main-category logits.
    sub_category_logits (`torch.FloatTensor` of shape `(batch_size, num_sub_categories)`):
        Sub-category logits.
    hidden_states, attentions:
        As in [`MVLTModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    main_category_loss: torch.FloatTensor | None = None
    sub_category_loss: torch.FloatTensor | None = None
    main_category_logits: torch.FloatTensor | None = None
    sub_category_logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------------


class MVLTTextEmbeddings(nn.Module):
    """BERT-style caption embeddings: word + position + token type, LayerNorm, dropout -> `(batch, L, text_hidden)`."""

    def __init__(self, config: MVLTConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.text_hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.text_hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.text_hidden_size)
        self.LayerNorm = nn.LayerNorm(config.text_hidden_size, eps=config.text_layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.LongTensor, token_type_ids: torch.LongTensor | None = None) -> torch.Tensor:
        text_length = input_ids.shape[1]
        position_ids = torch.arange(text_length, device=input_ids.device).unsqueeze(0)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        embeddings = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(position_ids)
            + self.token_type_embeddings(token_type_ids)
        )
        return self.dropout(self.LayerNorm(embeddings))


def resize_position_grid(
    position_embeddings: torch.Tensor, source_size: tuple[int, int], target_size: tuple[int, int]
) -> torch.Tensor:
    """Bilinearly resize position embeddings `(1, h * w, D)` of an `h x w` grid to `(1, h' * w', D)`."""
    if tuple(source_size) == tuple(target_size):
        return position_embeddings
    grid = position_embeddings.reshape(1, *source_size, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=tuple(target_size), mode="bilinear", align_corners=False)
    return grid.flatten(2).transpose(1, 2).to(position_embeddings.dtype)


class MVLTPatchEmbeddings(nn.Module):
    """Vision embedding of one stage (MVLT eq. 2): conv (kernel = stride = patch size), LayerNorm, + position.

    Turns a map `(batch, in_channels, height, width)` into tokens `(batch, height_k * width_k, hidden_size)`. The
    position embedding is stored for the configured image size and bilinearly interpolated for other sizes.
    """

    def __init__(self, config: MVLTConfig, stage: int):
        super().__init__()
        stride_before = math.prod(config.patch_sizes[:stage])
        self.patch_size = config.patch_sizes[stage]
        self.grid_size = config.image_size // (stride_before * self.patch_size)
        in_channels = config.num_channels if stage == 0 else config.hidden_sizes[stage - 1]
        hidden_size = config.hidden_sizes[stage]
        self.projection = nn.Conv2d(in_channels, hidden_size, kernel_size=self.patch_size, stride=self.patch_size)
        self.layer_norm = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.position_embeddings = nn.Parameter(torch.zeros(1, self.grid_size * self.grid_size, hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def interpolate_position_embeddings(self, height: int, width: int) -> torch.Tensor:
        """Position embeddings for a `height x width` token grid, shape `(1, height * width, hidden_size)`."""
        return resize_position_grid(self.position_embeddings, (self.grid_size, self.grid_size), (height, width))

    def forward(self, feature_map: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        patches = self.projection(feature_map)
        height, width = patches.shape[-2:]
        tokens = self.layer_norm(patches.flatten(2).transpose(1, 2))
        # MVLT eq. 2: n^k = Flatten(Conv2D(V^k)) + P_v^k
        tokens = self.dropout(tokens + self.interpolate_position_embeddings(height, width))
        return tokens, height, width


class MVLTTextProjection(nn.Module):
    """Text embedding of one stage (MVLT eq. 1): Linear(D_prev -> D_k), LayerNorm, + the stage's text position.

    `(batch, L, D_prev) -> (batch, L, D_k)`; D_prev is `text_hidden_size` in stage 1 and `hidden_sizes[k - 1]` after.
    """

    def __init__(self, config: MVLTConfig, stage: int):
        super().__init__()
        in_features = config.text_hidden_size if stage == 0 else config.hidden_sizes[stage - 1]
        hidden_size = config.hidden_sizes[stage]
        self.dense = nn.Linear(in_features, hidden_size)
        self.layer_norm = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.position_embeddings = nn.Parameter(torch.zeros(1, config.max_position_embeddings, hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, text_states: torch.Tensor) -> torch.Tensor:
        text_length = text_states.shape[1]
        # MVLT eq. 1: m^k = T^k W_t^k + P_t^k (with a LayerNorm after the projection, as in the authors' code)
        projected = self.layer_norm(self.dense(text_states))
        return self.dropout(projected + self.position_embeddings[:, :text_length])


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain softmax attention; returns `(batch, queries, heads, head_dim)` and the probabilities."""
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    probabilities = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probabilities = F.dropout(probabilities, p=dropout, training=module.training)
    output = torch.matmul(probabilities, value).transpose(1, 2).contiguous()
    return output, probabilities


class MVLTSpatialReductionAttention(nn.Module):
    """Joint vision-language attention with spatial reduction.

    Queries are all tokens of the sequence `[text; vision]`. Keys and values are the unreduced text tokens followed
    by the vision tokens reduced by a convolution (kernel = stride = `sr_ratio`) and a LayerNorm; with `sr_ratio`
    = 1 they are the whole sequence. With no text tokens this is exactly PVT's spatial-reduction attention.
    """

    def __init__(self, config: MVLTConfig, stage: int):
        super().__init__()
        self.config = config
        self.hidden_size = config.hidden_sizes[stage]
        self.num_attention_heads = config.num_attention_heads[stage]
        self.head_dim = self.hidden_size // self.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_probs_dropout_prob
        self.is_causal = False
        self.query = nn.Linear(self.hidden_size, self.hidden_size, bias=config.qkv_bias)
        self.key = nn.Linear(self.hidden_size, self.hidden_size, bias=config.qkv_bias)
        self.value = nn.Linear(self.hidden_size, self.hidden_size, bias=config.qkv_bias)
        self.sr_ratio = config.sr_ratios[stage]
        if self.sr_ratio > 1:
            self.spatial_reduction = nn.Conv2d(
                self.hidden_size, self.hidden_size, kernel_size=self.sr_ratio, stride=self.sr_ratio
            )
            self.spatial_reduction_norm = nn.LayerNorm(self.hidden_size, eps=config.layer_norm_eps)
        self.output = nn.Linear(self.hidden_size, self.hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        text_length: int,
        height: int,
        width: int,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """hidden_states: `(batch, text_length + height * width, hidden)`; attention_mask: additive, broadcastable
        to `(batch, heads, queries, keys)` or None."""
        batch_size, sequence_length, _ = hidden_states.shape
        key_value_states = hidden_states
        if self.sr_ratio > 1 and height * width > 0:
            text_states, vision_states = hidden_states.split([text_length, height * width], dim=1)
            vision_map = vision_states.transpose(1, 2).reshape(batch_size, self.hidden_size, height, width)
            reduced = self.spatial_reduction(vision_map).flatten(2).transpose(1, 2)
            reduced = self.spatial_reduction_norm(reduced)
            key_value_states = torch.cat([text_states, reduced], dim=1)

        head_shape = (batch_size, -1, self.num_attention_heads, self.head_dim)
        query = self.query(hidden_states).view(head_shape).transpose(1, 2)
        key = self.key(key_value_states).view(head_shape).transpose(1, 2)
        value = self.value(key_value_states).view(head_shape).transpose(1, 2)

        if attention_mask is not None and attention_mask.dtype != query.dtype:
            # under autocast the queries are bf16 / fp16 while the bias was built in the weights' dtype
            attention_mask = attention_mask.to(query.dtype)
        attention_interface: Callable = eager_attention_forward
        if not output_attentions and self.config._attn_implementation not in (None, "eager"):
            attention_interface = ALL_ATTENTION_FUNCTIONS[self.config._attn_implementation]
        context, probabilities = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            scaling=self.scaling,
            dropout=self.attention_dropout if self.training else 0.0,
            is_causal=False,
        )
        context = context.reshape(batch_size, sequence_length, self.hidden_size)
        context = self.output_dropout(self.output(context))
        return context, (probabilities if output_attentions else None)


class MVLTMLP(nn.Module):
    """Feed-forward block: Linear(D -> mlp_ratio * D), activation, Linear(back to D), with dropout."""

    def __init__(self, config: MVLTConfig, stage: int):
        super().__init__()
        hidden_size = config.hidden_sizes[stage]
        intermediate_size = int(hidden_size * config.mlp_ratios[stage])
        self.dense1 = nn.Linear(hidden_size, intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.dense2 = nn.Linear(intermediate_size, hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.activation(self.dense1(hidden_states)))
        return self.dropout(self.dense2(hidden_states))


class MVLTDropPath(nn.Module):
    """Stochastic depth per sample on a residual branch; identity at inference or with `drop_prob` 0."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return hidden_states
        keep_prob = 1.0 - self.drop_prob
        shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
        keep = torch.rand(shape, dtype=hidden_states.dtype, device=hidden_states.device).add_(keep_prob).floor_()
        return hidden_states / keep_prob * keep

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


class MVLTLayer(GradientCheckpointingLayer):
    """One transformer block of a stage (pre-norm): x + DropPath(SRA(LN(x))), then x + DropPath(MLP(LN(x)))."""

    def __init__(self, config: MVLTConfig, stage: int, drop_path: float):
        super().__init__()
        hidden_size = config.hidden_sizes[stage]
        self.layer_norm_1 = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.attention = MVLTSpatialReductionAttention(config, stage)
        self.drop_path = MVLTDropPath(drop_path)
        self.layer_norm_2 = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.mlp = MVLTMLP(config, stage)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        text_length: int,
        height: int,
        width: int,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attention_output, probabilities = self.attention(
            self.layer_norm_1(hidden_states), attention_mask, text_length, height, width, output_attentions
        )
        hidden_states = hidden_states + self.drop_path(attention_output)
        hidden_states = hidden_states + self.drop_path(self.mlp(self.layer_norm_2(hidden_states)))
        return hidden_states, probabilities


class MVLTStage(nn.Module):
    """Stage k: text projection (eq. 1), patch embedding (eq. 2), M_k joint blocks, split back into text and map.

    Either stream may be absent: a text-only pass (`feature_map=None`) runs the text projection and the blocks over
    the text tokens alone; a vision-only pass (text of length 0) is PVT's stage.
    """

    def __init__(self, config: MVLTConfig, stage: int, drop_paths: list[float]):
        super().__init__()
        self.text_projection = MVLTTextProjection(config, stage)
        self.patch_embeddings = MVLTPatchEmbeddings(config, stage)
        self.layers = nn.ModuleList([MVLTLayer(config, stage, drop_path) for drop_path in drop_paths])

    def forward(
        self,
        text_states: torch.Tensor,
        feature_map: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """text_states `(batch, L, D_prev)`, feature_map `(batch, C_prev, H, W)` or None (text only) -> text
        `(batch, L, D_k)`, map `(batch, D_k, H_k, W_k)` or None, per-block hidden states and attentions (empty unless
        requested)."""
        text_tokens = self.text_projection(text_states)
        text_length = text_tokens.shape[1]
        if feature_map is None:
            hidden_states, height, width = text_tokens, 0, 0
        else:
            vision_tokens, height, width = self.patch_embeddings(feature_map)
            hidden_states = torch.cat([text_tokens, vision_tokens], dim=1) if text_length else vision_tokens
        all_hidden_states, all_attentions = (), ()
        for layer in self.layers:
            hidden_states, probabilities = layer(
                hidden_states, attention_mask, text_length, height, width, output_attentions
            )
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (probabilities,)
        if feature_map is None:
            return hidden_states, None, all_hidden_states, all_attentions
        text_tokens, vision_tokens = hidden_states.split([text_length, height * width], dim=1)
        feature_map = vision_tokens.transpose(1, 2).reshape(vision_tokens.shape[0], -1, height, width)
        return text_tokens, feature_map.contiguous(), all_hidden_states, all_attentions


class MVLTConvBlock(nn.Sequential):
    """3x3 convolution without bias, BatchNorm, optional ReLU: the decoders' unit."""

    def __init__(self, in_channels: int, out_channels: int, activation: bool = True):
        layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels)]
        if activation:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class MVLTUNetDecoder(nn.Module):
    """MIR decoder (paper: "a standard four-level U-Net decoder" over the four pyramid maps V^1..V^4).

    From the coarsest map upwards, each level upsamples (bilinear) to the next finer map, concatenates it (skip
    connection) and applies a 3x3 conv + BN + ReLU with `decoder_hidden_size` output channels. The finest level
    predicts `num_channels * P**2` values per location that a pixel shuffle turns into the full-resolution image
    (P = `patch_sizes[0]`).
    Departure: one conv per level at a constant, narrow width (64 at the paper size, like the authors' partial
    decoder), not U-Net's two convs per level at encoder width: the paper does not give the decoder's widths, and
    this keeps the decoder a small fraction of the encoder step (see benchmarks/bench_mvlt_forward.py).
    """

    def __init__(self, config: MVLTConfig):
        super().__init__()
        width = config.decoder_hidden_size
        self.levels = nn.ModuleList()
        coarser_channels = config.hidden_sizes[-1]
        for level in reversed(range(config.num_stages - 1)):
            self.levels.append(MVLTConvBlock(coarser_channels + config.hidden_sizes[level], width))
            coarser_channels = width
        finest_channels = coarser_channels
        self.pixel_size = config.patch_sizes[0]
        self.prediction = nn.Conv2d(finest_channels, config.num_channels * self.pixel_size**2, kernel_size=1)
        self.pixel_shuffle = nn.PixelShuffle(self.pixel_size)

    def forward(self, vision_hidden_states: tuple[torch.Tensor, ...], image_size: tuple[int, int]) -> torch.Tensor:
        """vision_hidden_states: the pyramid maps, finest first -> image `(batch, num_channels, height, width)`."""
        decoded = vision_hidden_states[-1]
        for level, skip in zip(self.levels, reversed(vision_hidden_states[:-1])):
            decoded = F.interpolate(decoded, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            decoded = level(torch.cat([decoded, skip], dim=1))
        image = self.pixel_shuffle(self.prediction(decoded))
        if tuple(image.shape[-2:]) != tuple(image_size):
            image = F.interpolate(image, size=image_size, mode="bilinear", align_corners=False)
        return image


class MVLTPartialDecoder(nn.Module):
    """MIR decoder of the authors' code (`ITGHead`): aggregation of the last three pyramid maps.

    Each map is reduced to `decoder_hidden_size` channels by a 3x3 conv + BN; the maps are combined by
    multiplicative aggregation from coarse to fine, a 1x1 conv maps to the image channels and a bilinear upsampling
    gives the image size (x8 at the paper's settings).
    """

    def __init__(self, config: MVLTConfig):
        super().__init__()
        channels = config.decoder_hidden_size
        low, mid, high = config.hidden_sizes[-3:]
        self.reduce_low = MVLTConvBlock(low, channels, activation=False)
        self.reduce_mid = MVLTConvBlock(mid, channels, activation=False)
        self.reduce_high = MVLTConvBlock(high, channels, activation=False)
        self.conv_upsample1 = MVLTConvBlock(channels, channels, activation=False)
        self.conv_upsample2 = MVLTConvBlock(channels, channels, activation=False)
        self.conv_upsample3 = MVLTConvBlock(channels, channels, activation=False)
        self.conv_upsample4 = MVLTConvBlock(channels, channels, activation=False)
        self.conv_upsample5 = MVLTConvBlock(2 * channels, 2 * channels, activation=False)
        self.conv_concat2 = MVLTConvBlock(2 * channels, 2 * channels, activation=False)
        self.conv_concat3 = MVLTConvBlock(3 * channels, 3 * channels, activation=False)
        self.conv4 = MVLTConvBlock(3 * channels, 3 * channels, activation=False)
        self.prediction = nn.Conv2d(3 * channels, config.num_channels, kernel_size=1)

    @staticmethod
    def _upsample(features: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        # Departure: the authors upsample x2 with align_corners=True; resizing to the finer map's size is the same
        # for the paper's strides and also handles other ones.
        return F.interpolate(features, size=like.shape[-2:], mode="bilinear", align_corners=True)

    def forward(self, vision_hidden_states: tuple[torch.Tensor, ...], image_size: tuple[int, int]) -> torch.Tensor:
        low = self.reduce_low(vision_hidden_states[-3])
        mid = self.reduce_mid(vision_hidden_states[-2])
        high = self.reduce_high(vision_hidden_states[-1])
        mid_1 = self.conv_upsample1(self._upsample(high, mid)) * mid
        low_1 = self.conv_upsample2(self._upsample(mid, low)) * self.conv_upsample3(self._upsample(mid_1, low)) * low
        mid_2 = self.conv_concat2(torch.cat([mid_1, self.conv_upsample4(self._upsample(high, mid))], dim=1))
        low_2 = self.conv_concat3(torch.cat([low_1, self.conv_upsample5(self._upsample(mid_2, low))], dim=1))
        image = self.prediction(self.conv4(low_2))
        return F.interpolate(image, size=image_size, mode="bilinear", align_corners=True)


class MVLTClassificationHead(nn.Module):
    """Head on the [CLS] token: Linear(D_4 -> text_hidden), LayerNorm, Linear(-> num_labels) (authors' code)."""

    def __init__(self, config: MVLTConfig, num_labels: int):
        super().__init__()
        self.dense = nn.Linear(config.hidden_sizes[-1], config.text_hidden_size)
        self.layer_norm = nn.LayerNorm(config.text_hidden_size, eps=config.text_layer_norm_eps)
        self.classifier = nn.Linear(config.text_hidden_size, num_labels)

    def forward(self, cls_state: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.layer_norm(self.dense(cls_state)))


class MVLTMLMHead(nn.Module):
    """MLM head: transform (Linear(D_4 -> text_hidden), activation, LayerNorm) then a decoder tied to the word
    embeddings, `(batch, L, D_4) -> (batch, L, vocab_size)`."""

    def __init__(self, config: MVLTConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_sizes[-1], config.text_hidden_size)
        self.activation = ACT2FN[config.hidden_act]
        self.layer_norm = nn.LayerNorm(config.text_hidden_size, eps=config.text_layer_norm_eps)
        self.decoder = nn.Linear(config.text_hidden_size, config.vocab_size)

    def forward(self, text_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.layer_norm(self.activation(self.dense(text_states))))


# ----------------------------------------------------------------------------------------------------------------------
# Pre-trained model base
# ----------------------------------------------------------------------------------------------------------------------


class MVLTPreTrainedModel(PreTrainedModel):
    """Weight initialisation, the PVT loader and the Hugging Face class attributes shared by the MVLT models."""

    config_class = MVLTConfig
    config: MVLTConfig
    base_model_prefix = "mvlt"
    main_input_name = "input_ids"
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["MVLTTextEmbeddings", "MVLTPatchEmbeddings", "MVLTTextProjection", "MVLTLayer"]
    _supports_sdpa = True
    _supports_attention_backend = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """PVT initialisation: truncated normal for linear/conv weights and position embeddings, zero biases."""
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            init.trunc_normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (MVLTPatchEmbeddings, MVLTTextProjection)):
            init.trunc_normal_(module.position_embeddings, mean=0.0, std=std)
        elif isinstance(module, MVLTModel) and module.logit_scale is not None:
            init.constant_(module.logit_scale, self.config.logit_scale_init_value)

    @property
    def _mvlt(self) -> "MVLTModel":
        return getattr(self, self.base_model_prefix, self)

    def get_image_features(self, pixel_values: torch.FloatTensor) -> torch.Tensor:
        """L2-normalised ITC image embeddings `(batch, projection_dim)` (vision-only pass, see `MVLTModel`).

        As CLIP's / BLIP's `get_image_features`: rank a gallery by `text_features @ image_features.T`. They are
        trained only when `config.itc_loss_weight > 0` (our retrieval recipe; the paper has no ITC).
        """
        mvlt = self._mvlt
        mvlt._check_itc()
        # the vision-only pass projects and normalises its pooled last map itself (MVLTModelOutput.image_embeds)
        return mvlt(pixel_values=pixel_values, return_dict=True).image_embeds

    def get_text_features(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
    ) -> torch.Tensor:
        """L2-normalised ITC text embeddings `(batch, projection_dim)` (text-only pass, see `MVLTModel`)."""
        return F.normalize(self._mvlt.text_embeds(input_ids, attention_mask, token_type_ids).float(), dim=-1)

    def get_itm_logits(
        self,
        input_ids: torch.LongTensor,
        pixel_values: torch.FloatTensor,
        attention_mask: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
    ) -> torch.Tensor:
        """ITM logits `(batch, 2)` (not matching, matching) of each (caption, image) pair: the joint pass of the
        unmasked image and the caption, the ITM head on [CLS] (models with an ITM head: pre-training, retrieval)."""
        if getattr(self, "itm_head", None) is None:
            raise ValueError(f"{type(self).__name__} has no ITM head; use MVLTForImageTextRetrieval or MVLTForPreTraining.")
        outputs = self._encode_with_cls(input_ids, pixel_values, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return self.itm_head(outputs.pooler_output)

    def _encode_with_cls(self, input_ids: torch.LongTensor, pixel_values: torch.FloatTensor, **encoder_kwargs):
        """Run the base model (as a dataclass) for a head that reads the [CLS] token; refuse empty captions."""
        outputs = self.mvlt(input_ids, pixel_values, return_dict=True, **encoder_kwargs)
        if outputs.last_hidden_state.shape[1] == 0:  # a vision-only pass: no [CLS] (pooler_output is the image feature)
            raise ValueError(
                f"{type(self).__name__} needs at least one text token ([CLS]) per caption, got text_length 0."
            )
        return outputs

    @classmethod
    def from_pvt_pretrained(cls, pvt_name_or_path: str, config: MVLTConfig | None = None, **kwargs):
        """Build this model with the vision weights of a transformers `PvtModel` / `PvtForImageClassification`.

        Args:
            pvt_name_or_path: Hub id (e.g. `"Zetatech/pvt-tiny-224"`) or local folder of a PVT checkpoint.
            config: the MVLT configuration; by default the `"paper"` preset with the PVT checkpoint's stage shapes.
            **kwargs: passed to `PvtModel.from_pretrained` (e.g. `revision`, `cache_dir`, `local_files_only`).

        Returns:
            The model (text stream and heads randomly initialised) and, in `model.pvt_loading_report`, a dict
            with the loaded, `missing_vision_keys` (MVLT vision parameters the checkpoint did not provide),
            `unexpected_keys` (PVT parameters that have no place in MVLT) and `interpolated_keys`.
        """
        pvt = PvtModel.from_pretrained(pvt_name_or_path, dtype=torch.float32, **kwargs)
        if config is None:
            config = mvlt_config_from_pvt(pvt.config)
        model = cls(config)
        model.pvt_loading_report = model.load_pvt_state_dict(pvt.state_dict())
        return model

    def load_pvt_state_dict(self, pvt_state_dict: dict[str, torch.Tensor]) -> dict[str, list[str]]:
        """Copy the vision weights of a `PvtModel` state dict into this model (see `convert_pvt_state_dict`)."""
        base_model = getattr(self, self.base_model_prefix, self)
        target_state = base_model.state_dict()
        converted, report = convert_pvt_state_dict(pvt_state_dict, target_state)
        base_model.load_state_dict(converted, strict=False)
        if report["missing_vision_keys"]:
            logger.warning(f"MVLT vision parameters not found in the PVT checkpoint: {report['missing_vision_keys']}")
        if report["unexpected_keys"]:
            logger.info(f"PVT parameters not used by MVLT: {report['unexpected_keys']}")
        return report


# ----------------------------------------------------------------------------------------------------------------------
# Base model
# ----------------------------------------------------------------------------------------------------------------------


class MVLTModel(MVLTPreTrainedModel):
    """The MVLT encoder: caption embeddings and four joint vision-language pyramid stages (no task head).

    Besides the joint pass (image and caption together, the paper's encoder) the same weights run two unimodal
    passes: vision only (`input_ids=None` or of length 0: PVT over the image) and text only (`pixel_values=None`:
    every stage's text projection and blocks over the caption tokens alone). The unimodal passes feed the
    image-text contrastive (ITC) embeddings of `get_image_features` / `get_text_features` (a departure from the
    paper, see `MVLTConfig.itc_loss_weight`).
    """

    def __init__(self, config: MVLTConfig):
        super().__init__(config)
        self.config = config
        self.embeddings = MVLTTextEmbeddings(config)
        # Stochastic depth rising linearly over all blocks (PVT), in plain Python: no tensor is built in __init__, so
        # the model can be created on the meta device.
        num_blocks = sum(config.depths)
        drop_paths = [config.drop_path_rate * block / max(num_blocks - 1, 1) for block in range(num_blocks)]
        self.stages = nn.ModuleList()
        for stage, depth in enumerate(config.depths):
            start = sum(config.depths[:stage])
            self.stages.append(MVLTStage(config, stage, drop_paths[start : start + depth]))
        # ITC (departure, ALBEF / CLIP): linear projections of the pooled unimodal outputs and a learned temperature.
        # Built only when ITC is trained, so a paper-configured model has no parameter without a gradient (DDP).
        self.itc_image_projection = self.itc_text_projection = self.logit_scale = None
        if config.itc_loss_weight > 0:
            self.itc_image_projection = nn.Linear(config.hidden_sizes[-1], config.projection_dim, bias=False)
            self.itc_text_projection = nn.Linear(config.hidden_sizes[-1], config.projection_dim, bias=False)
            self.logit_scale = nn.Parameter(torch.empty(()))  # set by _init_weights to logit_scale_init_value
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    def mask_pixel_values(self, pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor) -> torch.Tensor:
        """Fill the masked units with [ZERO] (MVLT eq. 3): the normalised value of raw pixel `mask_pixel_value`.

        Args:
            pixel_values: `(batch, channels, height, width)` normalised image.
            bool_masked_pos: `(batch, num_units)` bool, row-major over `mask_unit_size` x `mask_unit_size` units.
        """
        batch_size, _, height, width = pixel_values.shape
        unit = self.config.mask_unit_size
        if height % unit or width % unit:
            raise ValueError(f"Image size {height}x{width} is not a multiple of mask_unit_size={unit}.")
        grid_height, grid_width = height // unit, width // unit
        if bool_masked_pos.shape != (batch_size, grid_height * grid_width):
            raise ValueError(
                f"bool_masked_pos must have shape (batch, (height // mask_unit_size) * (width // mask_unit_size)) = "
                f"{(batch_size, grid_height * grid_width)}, got {tuple(bool_masked_pos.shape)}."
            )
        check_bool_masked_pos(bool_masked_pos, batch_size, grid_height * grid_width)  # dtype and 0/1 values
        # Units -> pixels as in `fashionvl.processing.masking.expand_unit_mask`, which this file may not import
        # (remote-code contract: modeling files import only their config and losses.py).
        unit_mask = bool_masked_pos.bool().reshape(batch_size, 1, grid_height, grid_width)
        pixel_mask = unit_mask.repeat_interleave(unit, dim=2).repeat_interleave(unit, dim=3)
        fill = torch.tensor(self.config.mask_fill_values, dtype=pixel_values.dtype, device=pixel_values.device)
        # MVLT eq. 3: masked units become [ZERO], the others keep their pixels
        return torch.where(pixel_mask, fill.view(1, -1, 1, 1), pixel_values)

    def _attention_bias(self, attention_mask: torch.Tensor | None, num_text: int, dtype: torch.dtype) -> torch.Tensor | None:
        """Additive key mask `(batch, 1, 1, text_length)` for the text keys, or None when nothing is masked.

        The text keys come first in every stage, so one padded-key bias serves all stages: the vision keys that
        follow are never masked (`forward` right-pads the bias with zeros for them).
        """
        if attention_mask is None or not self.config.mask_padded_text or num_text == 0:
            return None
        if bool(attention_mask.bool().all()):
            return None
        bias = torch.zeros(attention_mask.shape, dtype=dtype, device=attention_mask.device)
        bias = bias.masked_fill(~attention_mask.bool(), torch.finfo(dtype).min)
        return bias[:, None, None, :]

    def _check_inputs(self, input_ids, pixel_values, attention_mask, token_type_ids=None) -> None:
        """Shapes of the inputs of `forward` (errors name the argument, its shape and what was expected)."""
        if input_ids is None and pixel_values is None:
            raise ValueError("MVLTModel needs input_ids (captions), pixel_values (images), or both; got neither.")
        if pixel_values is not None and (pixel_values.dim() != 4 or pixel_values.shape[1] != self.config.num_channels):
            raise ValueError(
                f"pixel_values must have shape (batch_size, num_channels={self.config.num_channels}, height, width), "
                f"got {tuple(pixel_values.shape)}."
            )
        if pixel_values is not None:  # dtype, stride, NaN / inf (values on CPU tensors only: no device sync)
            check_pixel_values(pixel_values, self.config.num_channels, stride=self.config.total_stride)
        if input_ids is None:
            return
        check_token_ids(input_ids, self.config.vocab_size, "input_ids")
        check_token_ids(token_type_ids, self.config.type_vocab_size, "token_type_ids", batch_size=input_ids.shape[0])
        if input_ids.dim() != 2 or (pixel_values is not None and input_ids.shape[0] != pixel_values.shape[0]):
            expected = "" if pixel_values is None else f" with the batch size of pixel_values {pixel_values.shape[0]}"
            raise ValueError(f"input_ids must have shape (batch_size, text_length){expected}, got {tuple(input_ids.shape)}.")
        if pixel_values is None and input_ids.shape[1] == 0:
            raise ValueError("A text-only pass (pixel_values=None) needs at least one text token, got text_length 0.")
        if input_ids.shape[1] > self.config.max_position_embeddings:
            raise ValueError(
                f"Captions of {input_ids.shape[1]} tokens are longer than max_position_embeddings="
                f"{self.config.max_position_embeddings}; truncate them in the processor."
            )
        if attention_mask is not None and attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask must have the shape of input_ids {tuple(input_ids.shape)}, got {tuple(attention_mask.shape)}."
            )
        check_attention_mask(attention_mask, input_ids)

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        bool_masked_pos: torch.BoolTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> MVLTModelOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, text_length)`, *optional*):
                Caption token ids ([CLS] first), at most `max_position_embeddings` long. None or `text_length` 0:
                vision-only pass (PVT over the image; `last_hidden_state` has length 0, `pooler_output` is None).
            pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, height, width)`, *optional*):
                Normalised image (see the MVLT image processor). None: text-only pass, where every stage runs its
                text projection (eq. 1) and its blocks over the text tokens alone (keys are the text tokens);
                `vision_hidden_states` is then None.
            attention_mask (`torch.LongTensor` of shape `(batch_size, text_length)`, *optional*):
                1 for real tokens, 0 for padding; padded text keys are masked when `config.mask_padded_text`.
            token_type_ids (`torch.LongTensor` of shape `(batch_size, text_length)`, *optional*):
                Token type ids (zeros by default).
            bool_masked_pos (`torch.BoolTensor` of shape `(batch_size, num_units)`, *optional*):
                Masked image units (True = masked), row-major over `mask_unit_size` squares; the masked units of
                `pixel_values` are replaced by [ZERO] before the encoder.
            output_attentions (`bool`, *optional*): return every block's attention probabilities.
            output_hidden_states (`bool`, *optional*): return every block's joint sequence.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        self._check_inputs(input_ids, pixel_values, attention_mask, token_type_ids)
        expected_dtype = self.stages[0].patch_embeddings.projection.weight.dtype
        if input_ids is None:  # vision only: a caption of length 0
            input_ids = torch.zeros(pixel_values.shape[0], 0, dtype=torch.long, device=pixel_values.device)
            attention_mask = token_type_ids = None
        text_length = input_ids.shape[1]
        if pixel_values is not None:
            pixel_values = pixel_values.to(expected_dtype)
            if bool_masked_pos is not None:
                pixel_values = self.mask_pixel_values(pixel_values, bool_masked_pos)

        text_states = self.embeddings(input_ids, token_type_ids)
        text_bias = self._attention_bias(attention_mask, text_length, expected_dtype)

        feature_map = pixel_values
        vision_hidden_states, text_hidden_states = (), ()
        all_hidden_states = () if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for stage in self.stages:
            stage_bias = None
            if text_bias is not None:
                # Keys are [text; reduced vision]: pad the text bias with zeros for the vision keys.
                num_vision_keys = self._num_vision_keys(stage, feature_map)
                stage_bias = F.pad(text_bias, (0, num_vision_keys)) if num_vision_keys else text_bias
            text_states, feature_map, stage_hidden, stage_attentions = stage(
                text_states, feature_map, stage_bias, output_attentions, output_hidden_states
            )
            vision_hidden_states += (feature_map,)
            text_hidden_states += (text_states,)
            if output_hidden_states:
                all_hidden_states += stage_hidden
            if output_attentions:
                all_attentions += stage_attentions

        image_embeds = None
        if text_length == 0 and self.itc_image_projection is not None:  # the retrieval embedding (get_image_features)
            image_embeds = F.normalize(self._project_image(feature_map).float(), dim=-1)
        elif text_length == 0:
            # no ITC: the L2-normalised mean of the last map, so that a vision-only pass (transformers'
            # image-feature-extraction pipeline) still returns a feature and not the empty text sequence
            image_embeds = F.normalize(feature_map.flatten(2).mean(dim=2).float(), dim=-1)
        return MVLTModelOutput(
            image_embeds=image_embeds,
            last_hidden_state=text_states,
            pooler_output=text_states[:, 0] if text_length > 0 else image_embeds,
            vision_hidden_states=vision_hidden_states if pixel_values is not None else None,
            text_hidden_states=text_hidden_states,
            hidden_states=all_hidden_states,
            attentions=all_attentions,
        )

    @staticmethod
    def _num_vision_keys(stage: MVLTStage, feature_map: torch.Tensor | None) -> int:
        """Number of (reduced) vision keys of `stage` for an input map `feature_map` (0 in a text-only pass)."""
        if feature_map is None:
            return 0
        patch_size = stage.patch_embeddings.patch_size
        height, width = feature_map.shape[-2] // patch_size, feature_map.shape[-1] // patch_size
        sr_ratio = stage.layers[0].attention.sr_ratio if len(stage.layers) else 1
        if sr_ratio > 1:
            return (height // sr_ratio) * (width // sr_ratio)
        return height * width

    # ------------------------------------------------------------------------------------------ ITC embeddings

    def _check_itc(self) -> None:
        if self.logit_scale is None:
            raise ValueError(
                "This MVLT has no ITC embeddings: it was configured with itc_loss_weight=0 (the paper's recipe, which "
                "ranks image-text pairs with ITM only). Score pairs with MVLTForImageTextRetrieval, or train with "
                "itc_loss_weight > 0 (the retrieval recipe) to get get_image_features / get_text_features."
            )

    def _project_image(self, feature_map: torch.Tensor) -> torch.Tensor:
        """`(batch, hidden_sizes[-1], h, w)` last pyramid map -> `(batch, projection_dim)`: mean over the positions,
        then the ITC image projection."""
        return self.itc_image_projection(feature_map.flatten(2).mean(dim=2))

    def text_embeds(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
    ) -> torch.Tensor:
        """Unnormalised ITC text embeddings `(batch, projection_dim)`: the text-only pass, pooled as
        `config.itc_text_pooling` says ("mean": over the real tokens; "cls": the [CLS] token), linearly projected."""
        self._check_itc()
        text_states = self(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, return_dict=True
        ).last_hidden_state
        if self.config.itc_text_pooling == "cls":
            pooled = text_states[:, 0]
        else:
            weights = torch.ones_like(input_ids) if attention_mask is None else attention_mask
            weights = weights.to(text_states.dtype).unsqueeze(-1)
            pooled = (text_states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return self.itc_text_projection(pooled)


def fuse_retrieval_scores(
    itc_scores: torch.Tensor, itm_logits: torch.Tensor, logit_scale: torch.Tensor | float, itm_fusion_weight: float
) -> torch.Tensor:
    """Fused retrieval score of image-text pairs (BLIP ranks with ITC + ITM; departure from the paper's ITM alone):
    `exp(logit_scale) * cos + itm_fusion_weight * (itm_logits[:, 1] - itm_logits[:, 0])`, both terms log-odds-like.

    Args:
        itc_scores: `(num_pairs,)` cosine similarities of the ITC embeddings.
        itm_logits: `(num_pairs, 2)` ITM logits (not matching, matching).
        logit_scale: the model's log inverse temperature (`MVLTModel.logit_scale`).
        itm_fusion_weight: weight of the ITM log-odds (0 = ITC alone).
    """
    scale = torch.as_tensor(logit_scale, dtype=torch.float32).exp().clamp(max=100.0)
    itm_log_odds = itm_logits[..., 1].float() - itm_logits[..., 0].float()
    return scale.to(itc_scores.device) * itc_scores.float() + itm_fusion_weight * itm_log_odds


def sample_itm_negatives(
    similarity: torch.Tensor,
    product_ids: torch.Tensor,
    random_share: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ITM hard negatives mined from ITC similarities (ALBEF): one caption per image, one image per caption.

    For image i, a caption j is drawn with probability softmax_j(similarity[i]) over the rows j of *other*
    products (never the positive, never a caption of the same product); for caption j likewise over the images.
    With probability `random_share` a row's negative is drawn uniformly from the other products instead.

    Args:
        similarity: `(batch, batch)` ITC logits, `similarity[i, j]` = image i vs caption j.
        product_ids: `(batch,)` product of each row.
        random_share: share of uniformly drawn (easy) negatives.
        generator: optional torch generator (the global RNG otherwise).

    Returns:
        `(negative_captions, negative_images)`, each `(batch,)` long: the row of the negative caption of image i and
        of the negative image of caption j; -1 where the batch holds no other product.
    """
    others = product_ids.reshape(-1, 1) != product_ids.reshape(1, -1)
    has_other = others.any(dim=1)

    def draw(logits: torch.Tensor) -> torch.Tensor:
        weights = logits.float().masked_fill(~others, float("-inf")).softmax(dim=1)
        uniform = torch.rand(len(logits), generator=generator, device=logits.device) < random_share
        weights = torch.where(uniform[:, None], others.float(), weights)
        weights = torch.where(has_other[:, None], weights.nan_to_num(0.0), torch.ones_like(weights))
        choice = torch.multinomial(weights, 1, generator=generator).squeeze(1)
        return choice.masked_fill(~has_other, -1)

    return draw(similarity), draw(similarity.t())


# ----------------------------------------------------------------------------------------------------------------------
# Task heads
# ----------------------------------------------------------------------------------------------------------------------


class MVLTForPreTraining(MVLTPreTrainedModel):
    """MVLT with the three pre-training heads: MIR decoder, ITM head and MLM head (tied to the word embeddings)."""

    _tied_weights_keys = {"mlm_head.decoder.weight": "mvlt.embeddings.word_embeddings.weight"}

    def __init__(self, config: MVLTConfig):
        super().__init__(config)
        self.mvlt = MVLTModel(config)
        self.mir_decoder = MVLTUNetDecoder(config) if config.mir_decoder == "unet" else MVLTPartialDecoder(config)
        self.itm_head = MVLTClassificationHead(config, num_labels=2)
        self.mlm_head = MVLTMLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.mlm_head.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.mlm_head.decoder = new_embeddings

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor,
        pixel_values: torch.FloatTensor,
        attention_mask: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        bool_masked_pos: torch.BoolTensor | None = None,
        mlm_labels: torch.LongTensor | None = None,
        itm_labels: torch.LongTensor | None = None,
        product_ids: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> MVLTForPreTrainingOutput:
        r"""
        Args:
            input_ids, pixel_values, attention_mask, token_type_ids, bool_masked_pos:
                As in [`MVLTModel.forward`]; `pixel_values` is the UNMASKED image: it is masked inside the model from
                `bool_masked_pos` and is the MIR target.
            mlm_labels (`torch.LongTensor` of shape `(batch_size, text_length)`, *optional*):
                Original token ids at masked text positions, -100 elsewhere. The clean caption of the ITC / mined
                ITM passes is `input_ids` with these restored.
            itm_labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                1 for a matching image-text pair, 0 for a negative pair (the collator's caption swaps). With ITC on,
                only the matching rows take part in ITC and in the mined ITM pairs.
            product_ids (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Product of each row: rows of one product are never negatives of each other in ITC or in mined ITM
                pairs. None: every row is its own product.
        """
        config = self.config
        if mlm_labels is not None and mlm_labels.shape != input_ids.shape:
            raise ValueError(
                f"mlm_labels must have the shape of input_ids {tuple(input_ids.shape)}, got {tuple(mlm_labels.shape)}."
            )
        if itm_labels is not None and itm_labels.reshape(-1).shape[0] != input_ids.shape[0]:
            raise ValueError(
                f"itm_labels must hold one label per pair, shape ({input_ids.shape[0]},), got {tuple(itm_labels.shape)}."
            )
        check_class_labels(mlm_labels, config.vocab_size, "mlm_labels")
        check_class_labels(itm_labels, 2, "itm_labels", ignore_index=None)
        if product_ids is not None and product_ids.reshape(-1).shape[0] != input_ids.shape[0]:
            raise ValueError(
                f"product_ids must hold one id per row, shape ({input_ids.shape[0]},), got {tuple(product_ids.shape)}."
            )
        clean_input_ids = input_ids if mlm_labels is None else torch.where(mlm_labels != -100, mlm_labels, input_ids)
        outputs = self._encode_with_cls(
            input_ids,
            pixel_values,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            bool_masked_pos=bool_masked_pos,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )

        reconstruction = mir_loss = None
        if config.mir_loss_weight > 0:
            reconstruction = self.mir_decoder(outputs.vision_hidden_states, pixel_values.shape[-2:])
            if bool_masked_pos is not None:
                mir_loss = mvlt_mir_loss(reconstruction, pixel_values)

        itc_loss = image_embeds = text_embeds = None
        matching = None if itm_labels is None else itm_labels.reshape(-1) == 1
        if config.itc_loss_weight > 0:
            image_embeds = self.get_image_features(pixel_values)
            text_embeds = self.get_text_features(clean_input_ids, attention_mask, token_type_ids)
            itc_loss = mvlt_itc_loss(
                image_embeds, text_embeds, self.mvlt.logit_scale,
                product_ids=None if product_ids is None else product_ids.reshape(-1), valid_rows=matching,
            )

        if config.itm_negative_mining == "itc":
            # Departure (ALBEF): ITM on its own pass over unmasked images and clean captions, negatives mined from ITC
            itm_logits, itm_labels = self._itm_on_mined_pairs(
                pixel_values, clean_input_ids, attention_mask, token_type_ids, image_embeds, text_embeds,
                product_ids, matching,
            )
        else:
            itm_logits = self.itm_head(outputs.pooler_output)
        itm_loss = None
        if itm_labels is not None and config.itm_loss_weight > 0:
            itm_loss = mvlt_itm_loss(itm_logits, itm_labels)

        mlm_logits = mlm_loss = None
        if config.mlm_loss_weight > 0:
            text_states = outputs.last_hidden_state
            if mlm_labels is not None and config.mlm_sparse_prediction:
                # Decode only the masked tokens: the vocabulary projection over all L tokens costs more than the
                # whole vision encoder at the paper's sizes. Same loss; logits of shape (num_masked, vocab_size).
                masked_positions = mlm_labels != -100
                text_states, mlm_labels = text_states[masked_positions], mlm_labels[masked_positions]
            mlm_logits = self.mlm_head(text_states)
            if mlm_labels is not None:
                mlm_loss = mvlt_mlm_loss(mlm_logits, mlm_labels)

        loss = mvlt_pretraining_loss(
            mir_loss,
            itm_loss,
            mlm_loss,
            mir_weight=config.mir_loss_weight,
            itm_weight=config.itm_loss_weight,
            mlm_weight=config.mlm_loss_weight,
            itc_loss=itc_loss,
            itc_weight=config.itc_loss_weight,
        )
        return MVLTForPreTrainingOutput(
            loss=loss,
            mir_loss=mir_loss,
            itm_loss=itm_loss,
            mlm_loss=mlm_loss,
            itc_loss=itc_loss,
            itm_logits=itm_logits,
            itm_labels=itm_labels,
            image_embeds=image_embeds,
            text_embeds=text_embeds,
            mlm_logits=mlm_logits,
            reconstruction=reconstruction,
            vision_hidden_states=outputs.vision_hidden_states,
            text_hidden_states=outputs.text_hidden_states,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

    def _itm_on_mined_pairs(
        self, pixel_values, input_ids, attention_mask, token_type_ids, image_embeds, text_embeds, product_ids, matching
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """ITM logits and labels of the matching pairs of the batch plus ITC-mined negatives (ALBEF), one joint pass.

        Pairs: every matching row (image i, caption i); for each of those images one negative caption, and for each
        caption one negative image, drawn by `sample_itm_negatives` from the rows of other products. With
        `itm_pairs_per_row=1`, one of the three per row.
        """
        batch_size = input_ids.shape[0]
        rows = torch.arange(batch_size, device=input_ids.device)
        if matching is not None:
            rows = rows[matching]
        if product_ids is None:
            product_ids = torch.arange(batch_size, device=input_ids.device)
        product_ids = product_ids.reshape(-1)[rows]
        with torch.no_grad():
            similarity = self.mvlt.logit_scale.exp().clamp(max=100.0) * image_embeds[rows] @ text_embeds[rows].t()
        negative_captions, negative_images = sample_itm_negatives(
            similarity, product_ids, random_share=self.config.itm_random_negative_share
        )
        has_caption, has_image = negative_captions >= 0, negative_images >= 0
        local = torch.arange(len(rows), device=input_ids.device)
        image_rows = torch.cat([local, local[has_caption], negative_images[has_image]])
        text_rows = torch.cat([local, negative_captions[has_caption], local[has_image]])
        labels = torch.cat([
            torch.ones(len(rows), dtype=torch.long, device=input_ids.device),
            torch.zeros(int(has_caption.sum()) + int(has_image.sum()), dtype=torch.long, device=input_ids.device),
        ])
        if self.config.itm_pairs_per_row == 1:
            # One of (matching pair, mined caption, mined image) per row, at random: a third of ALBEF's ITM cost.
            kinds = torch.randint(3, (len(rows),), device=input_ids.device)
            kinds = torch.where((kinds == 1) & ~has_caption, 0, kinds)
            kinds = torch.where((kinds == 2) & ~has_image, 0, kinds)
            image_rows = torch.where(kinds == 2, negative_images.clamp(min=0), local)
            text_rows = torch.where(kinds == 1, negative_captions.clamp(min=0), local)
            labels = (kinds == 0).long()
        image_rows, text_rows = rows[image_rows], rows[text_rows]
        outputs = self.mvlt(
            input_ids[text_rows],
            pixel_values[image_rows],
            attention_mask=None if attention_mask is None else attention_mask[text_rows],
            token_type_ids=None if token_type_ids is None else token_type_ids[text_rows],
            return_dict=True,
        )
        return self.itm_head(outputs.pooler_output), labels


class MVLTForImageTextRetrieval(MVLTPreTrainedModel):
    """MVLT with the ITM head; the retrieval score of an (image, caption) pair is its match probability.

    The head has the same name as in [`MVLTForPreTraining`], so a pre-trained checkpoint scores pairs zero-shot
    (paper, TIR/ITR).
    """

    def __init__(self, config: MVLTConfig):
        super().__init__(config)
        self.mvlt = MVLTModel(config)
        self.itm_head = MVLTClassificationHead(config, num_labels=2)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor,
        pixel_values: torch.FloatTensor,
        attention_mask: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        return_itc_scores: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> MVLTImageTextRetrievalOutput:
        r"""
        Args:
            input_ids, pixel_values, attention_mask, token_type_ids: as in [`MVLTModel.forward`].
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*): 1 = matching pair, 0 = not matching.
            return_itc_scores (`bool`, defaults to False): also run the two unimodal passes and return `itc_scores`
                and `fused_scores` of each pair.
        """
        outputs = self._encode_with_cls(
            input_ids,
            pixel_values,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        logits = self.itm_head(outputs.pooler_output)
        loss = mvlt_itm_loss(logits, labels) if labels is not None else None
        itm_scores = logits.float().softmax(dim=-1)[:, 1]
        itc_scores = fused_scores = None
        if return_itc_scores:
            image_features = self.get_image_features(pixel_values)
            text_features = self.get_text_features(input_ids, attention_mask, token_type_ids)
            itc_scores = (image_features * text_features).sum(dim=-1)
            fused_scores = fuse_retrieval_scores(itc_scores, logits, self.mvlt.logit_scale, self.config.itm_fusion_weight)
        return MVLTImageTextRetrievalOutput(
            loss=loss,
            logits=logits,
            scores=itm_scores,
            itm_scores=itm_scores,
            itc_scores=itc_scores,
            fused_scores=fused_scores,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


class MVLTForCategoryRecognition(MVLTPreTrainedModel):
    """MVLT with two independent heads on [CLS]: main category (M-CR) and sub-category (S-CR)."""

    def __init__(self, config: MVLTConfig):
        super().__init__(config)
        self.mvlt = MVLTModel(config)
        self.main_category_head = MVLTClassificationHead(config, num_labels=config.num_main_categories)
        self.sub_category_head = MVLTClassificationHead(config, num_labels=config.num_sub_categories)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor,
        pixel_values: torch.FloatTensor,
        attention_mask: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        main_category_labels: torch.LongTensor | None = None,
        sub_category_labels: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> MVLTCategoryRecognitionOutput:
        r"""
        Args:
            input_ids, pixel_values, attention_mask, token_type_ids: as in [`MVLTModel.forward`].
            main_category_labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*): main-category ids.
            sub_category_labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*): sub-category ids.
        """
        outputs = self._encode_with_cls(
            input_ids,
            pixel_values,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        main_logits = self.main_category_head(outputs.pooler_output)
        sub_logits = self.sub_category_head(outputs.pooler_output)
        main_loss = mvlt_category_loss(main_logits, main_category_labels) if main_category_labels is not None else None
        sub_loss = mvlt_category_loss(sub_logits, sub_category_labels) if sub_category_labels is not None else None
        parts = [part for part in (main_loss, sub_loss) if part is not None]
        return MVLTCategoryRecognitionOutput(
            loss=torch.stack(parts).sum() if parts else None,  # M-CR + S-CR cross-entropies
            main_category_loss=main_loss,
            sub_category_loss=sub_loss,
            main_category_logits=main_logits,
            sub_category_logits=sub_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


class MVLTForZeroShotImageClassification(MVLTPreTrainedModel):
    """MVLT's ITC dual encoder as a zero-shot image classifier: the ``zero-shot-image-classification`` pipeline's
    model (``AutoModelForZeroShotImageClassification``), as transformers serves BLIP-2 there with
    ``Blip2ForImageTextRetrieval`` (its ITC mode).

    Images and candidate captions ("This is a photo of {label}.") are embedded alone (`get_image_features` /
    `get_text_features`) and compared by cosine similarity scaled by the learned temperature `exp(logit_scale)` of
    the ITC loss (clamped at 100, as in training), so the softmax over candidate labels is the one ITC trained. Needs
    a model trained with ITC (`config.itc_loss_weight > 0`); loads the base model of any MVLT checkpoint (pre-training,
    retrieval or category heads are not used and not reported).

    Example:

    ```python
    >>> import torch
    >>> from fashionvl import MVLTConfig, MVLTForZeroShotImageClassification

    >>> config = MVLTConfig.from_preset("tiny", vocab_size=50, itc_loss_weight=1.0)
    >>> model = MVLTForZeroShotImageClassification(config).eval()
    >>> captions = torch.tensor([[1, 7, 8, 2], [1, 9, 10, 2], [1, 11, 12, 2]])
    >>> outputs = model(input_ids=captions, pixel_values=torch.randn(1, 3, 64, 64))
    >>> outputs.logits_per_image.softmax(dim=-1).shape   # one image, three candidate labels
    torch.Size([1, 3])
    ```
    """

    # the heads of the other MVLT classes: a pre-training or retrieval checkpoint loads without a report of them
    _keys_to_ignore_on_load_unexpected = [r"^(itm_head|mlm_head|mir_decoder|main_category_head|sub_category_head)\."]

    def __init__(self, config: MVLTConfig):
        if not float(config.itc_loss_weight) > 0:
            raise ValueError(
                "MVLTForZeroShotImageClassification compares ITC embeddings, but this MVLT has none: its config has "
                f"itc_loss_weight={config.itc_loss_weight} (the paper's recipe, ITM only). Pre-train with "
                "itc_loss_weight > 0, or rank captions for an image with the fashion-retrieval pipeline (ITM)."
            )
        super().__init__(config)
        self.mvlt = MVLTModel(config)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor,
        pixel_values: torch.FloatTensor,
        attention_mask: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> MVLTZeroShotImageClassificationOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(text_batch_size, text_length)`): the candidate captions.
            pixel_values (`torch.FloatTensor` of shape `(image_batch_size, num_channels, height, width)`): the
                images; the two batch sizes are independent (every image is scored against every caption).
            attention_mask, token_type_ids: as in [`MVLTModel.forward`], of the captions.
        """
        image_embeds = self.get_image_features(pixel_values)
        text_embeds = self.get_text_features(input_ids, attention_mask, token_type_ids)
        # CLIP's logits: the ITC loss's temperature (mvlt_itc_loss clamps exp(logit_scale) at 100 likewise)
        scale = self.mvlt.logit_scale.float().exp().clamp(max=100.0)
        logits_per_image = scale * image_embeds @ text_embeds.t()
        return MVLTZeroShotImageClassificationOutput(
            logits_per_image=logits_per_image,
            logits_per_text=logits_per_image.t(),
            image_embeds=image_embeds,
            text_embeds=text_embeds,
        )


# ----------------------------------------------------------------------------------------------------------------------
# PVT weight mapping
# ----------------------------------------------------------------------------------------------------------------------

_PVT_LAYER_KEY_MAP = {
    "layer_norm_1": "layer_norm_1",
    "attention.self.query": "attention.query",
    "attention.self.key": "attention.key",
    "attention.self.value": "attention.value",
    "attention.self.sequence_reduction": "attention.spatial_reduction",
    "attention.self.layer_norm": "attention.spatial_reduction_norm",
    "attention.output.dense": "attention.output",
    "layer_norm_2": "layer_norm_2",
    "mlp.dense1": "mlp.dense1",
    "mlp.dense2": "mlp.dense2",
}


def _pvt_to_mvlt_key(pvt_key: str) -> str | None:
    """MVLTModel key for one transformers `PvtModel` key, or None if the key has no MVLT counterpart."""
    key = pvt_key.removeprefix("pvt.")
    parts = key.split(".")
    if key.startswith("encoder.patch_embeddings.") and len(parts) >= 5:
        stage, rest = parts[2], ".".join(parts[3:])
        names = {
            "projection.weight": "projection.weight",
            "projection.bias": "projection.bias",
            "layer_norm.weight": "layer_norm.weight",
            "layer_norm.bias": "layer_norm.bias",
        }
        if rest in names:
            return f"stages.{stage}.patch_embeddings.{names[rest]}"
        return None
    if key.startswith("encoder.patch_embeddings.") and parts[-1] == "position_embeddings":
        return f"stages.{parts[2]}.patch_embeddings.position_embeddings"
    if key.startswith("encoder.block.") and len(parts) >= 6:
        stage, layer = parts[2], parts[3]
        module, parameter = ".".join(parts[4:-1]), parts[-1]
        if module in _PVT_LAYER_KEY_MAP:
            return f"stages.{stage}.layers.{layer}.{_PVT_LAYER_KEY_MAP[module]}.{parameter}"
    return None


def mvlt_config_from_pvt(pvt_config, preset: str = "paper", **overrides) -> MVLTConfig:
    """An MVLT configuration from `preset` with the stage shapes of a transformers `PvtConfig` (so its weights fit).

    The image size stays the preset's (256 for `"paper"`): PVT's position embeddings are interpolated to it.
    `overrides` are further MVLT config arguments.
    """
    if list(pvt_config.strides) != list(pvt_config.patch_sizes):
        raise ValueError(
            f"MVLT patch embeddings use stride = kernel size, but the PVT config has patch_sizes "
            f"{list(pvt_config.patch_sizes)} and strides {list(pvt_config.strides)}."
        )
    values = {
        "hidden_sizes": list(pvt_config.hidden_sizes),
        "depths": list(pvt_config.depths),
        "num_attention_heads": list(pvt_config.num_attention_heads),
        "mlp_ratios": list(pvt_config.mlp_ratios),
        "sr_ratios": list(pvt_config.sequence_reduction_ratios),
        "patch_sizes": list(pvt_config.patch_sizes),
        "num_channels": pvt_config.num_channels,
        "layer_norm_eps": pvt_config.layer_norm_eps,
        "qkv_bias": pvt_config.qkv_bias,
        "hidden_act": pvt_config.hidden_act,
    }
    values.update(overrides)
    return MVLTConfig.from_preset(preset, **values)


def convert_pvt_checkpoint(
    pvt_name_or_path: str,
    output_dir: str,
    config: MVLTConfig | None = None,
    model_class: type[MVLTPreTrainedModel] = MVLTForPreTraining,
    **pvt_kwargs,
) -> dict[str, list[str]]:
    """Initialise an MVLT model from a PVT ImageNet checkpoint and save it (safetensors) with its loading report.

    Writes `output_dir/config.json`, `output_dir/model.safetensors` and `output_dir/pvt_loading_report.json`.

    Args:
        pvt_name_or_path: Hub id or local folder of a transformers `PvtModel` checkpoint.
        output_dir: where to save the MVLT checkpoint.
        config: the MVLT configuration (default: the paper preset with the checkpoint's stage shapes).
        model_class: which MVLT class to build (its vision encoder gets the PVT weights).
        **pvt_kwargs: passed to `PvtModel.from_pretrained`.

    Returns:
        The loading report (see `convert_pvt_state_dict`).
    """
    model = model_class.from_pvt_pretrained(pvt_name_or_path, config=config, **pvt_kwargs)
    model.save_pretrained(output_dir)
    with open(os.path.join(output_dir, "pvt_loading_report.json"), "w", encoding="utf-8") as handle:
        json.dump(model.pvt_loading_report, handle, indent=2)
    return model.pvt_loading_report


def interpolate_position_embeddings(position_embeddings: torch.Tensor, num_target: int) -> torch.Tensor:
    """Resize square-grid position embeddings `(1, n, D)` to `(1, num_target, D)` by bilinear interpolation."""
    source_side, target_side = math.isqrt(position_embeddings.shape[1]), math.isqrt(num_target)
    if source_side**2 != position_embeddings.shape[1] or target_side**2 != num_target:
        raise ValueError(
            f"Position embeddings must cover a square grid, got {position_embeddings.shape[1]} -> {num_target} tokens."
        )
    return resize_position_grid(position_embeddings, (source_side, source_side), (target_side, target_side))


def _has_class_token_slot(num_positions: int) -> bool:
    """True when `num_positions` is a square grid plus one (PVT's last stage: class token + patches)."""
    return math.isqrt(num_positions) ** 2 != num_positions and math.isqrt(num_positions - 1) ** 2 == num_positions - 1


def convert_pvt_state_dict(
    pvt_state_dict: dict[str, torch.Tensor], mvlt_state_dict: dict[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], dict[str, list[str]]]:
    """Map a transformers `PvtModel` (or `PvtForImageClassification`) state dict onto `MVLTModel` keys.

    Position embeddings are interpolated (bilinear) to the MVLT grid (e.g. 224 -> 256). The last PVT stage's
    position embedding has one extra leading slot for its class token; MVLT has no class token in the vision stream
    (the [CLS] text token plays that role), so that slot is dropped, as in the authors' code. PVT's class token,
    final LayerNorm and classifier have no MVLT counterpart and are reported as unexpected.

    Args:
        pvt_state_dict: PVT parameters (keys `encoder.*` or `pvt.encoder.*`).
        mvlt_state_dict: the target `MVLTModel.state_dict()` (used for key names and shapes).

    Returns:
        `(converted, report)`: the MVLT-keyed tensors to load, and a report with lists `loaded`,
        `missing_vision_keys` (MVLT vision parameters left unset), `unexpected_keys` (unused PVT keys) and
        `interpolated_keys`.

    Raises:
        ValueError: when a mapped tensor's shape does not fit MVLT (different stage widths), naming the key.
    """
    converted, unexpected, interpolated = {}, [], []
    for pvt_key, tensor in pvt_state_dict.items():
        mvlt_key = _pvt_to_mvlt_key(pvt_key)
        if mvlt_key is None or mvlt_key not in mvlt_state_dict:
            unexpected.append(pvt_key)
            continue
        target_shape = mvlt_state_dict[mvlt_key].shape
        if mvlt_key.endswith("patch_embeddings.position_embeddings"):
            if _has_class_token_slot(tensor.shape[1]):
                # PVT's last stage has a class token and one extra leading position slot for it. MVLT has no
                # vision class token (the text [CLS] plays its role), so the slot is dropped, as the authors do.
                tensor = tensor[:, 1:]
            if tensor.shape[1] != target_shape[1]:
                tensor = interpolate_position_embeddings(tensor, target_shape[1])
                interpolated.append(mvlt_key)
        if tuple(tensor.shape) != tuple(target_shape):
            raise ValueError(
                f"PVT parameter {pvt_key} has shape {tuple(tensor.shape)} but MVLT's {mvlt_key} needs "
                f"{tuple(target_shape)}: the PVT checkpoint's stage widths/depths differ from the MVLT config."
            )
        converted[mvlt_key] = tensor
    vision_keys = [key for key in mvlt_state_dict if ".patch_embeddings." in key or ".layers." in key]
    missing = [key for key in vision_keys if key not in converted]
    report = {
        "loaded": sorted(converted),
        "missing_vision_keys": missing,
        "unexpected_keys": unexpected,
        "interpolated_keys": interpolated,
    }
    return converted, report


__all__ = [
    "MVLTCategoryRecognitionOutput",
    "MVLTForCategoryRecognition",
    "MVLTForImageTextRetrieval",
    "MVLTForPreTraining",
    "MVLTForPreTrainingOutput",
    "MVLTForZeroShotImageClassification",
    "MVLTImageTextRetrievalOutput",
    "MVLTModel",
    "MVLTModelOutput",
    "MVLTPreTrainedModel",
    "MVLTZeroShotImageClassificationOutput",
    "convert_pvt_checkpoint",
    "convert_pvt_state_dict",
    "fuse_retrieval_scores",
    "mvlt_config_from_pvt",
    "sample_itm_negatives",
]
