"""PyTorch M2Fashion model.

M2Fashion: "Learning Image Representation via Attribute-Aware Attention Networks for Fashion Classification",
Wan, Yan, Zhang, Zou, MMM 2022. Given an image and a state vector A in {-1, 0, 1}^K of K attributes
(negative / unknown / positive), a CNN backbone gives the feature map I (C channels, h x w); two separate
attribute embeddings T1 = tanh(W_a1 A) (eq. 1) and T2 = tanh(W_a2 A) (eq. 6) guide

- attribute-aware spatial attention (ASA, eq. 2-5): alpha = softmax over the h*w positions of
  tanh(W_v2 (tanh(W_v1 I) * T1)), V_s = pooled alpha-weighted I;
- attribute-aware channel attention (ACA, eq. 7-8): alpha_c = sigmoid(W_c2 act(W_c1 [T2, V_s])),
  V_c = alpha_c * V_s;

and Z = W V_c + b (eq. 9) is the attribute-aware image embedding shared by a category head (softmax CE, eq. 10)
and an attribute head (sigmoid BCE on the labels unknown in the input, label-mask training, eq. 11-12), trained
with a cosine triplet loss (eq. 13-14) and the total of eq. 15.

The paper links no code; the layout follows ASEN (Ma et al., AAAI 2020, the paper's ref. [16]), which the
paper adapts. Departures, each commented where it happens and switchable in `M2FashionConfig` (README "M2Fashion:
departures"): eq. 13's denominator (a sum of norms) is read as the product (a true cosine); eq. 14's sign is fixed;
V_s of eq. 5 is max-pooled by default (Sec. 3.2, Table 2) with an h*w scale; the masked BCE is averaged. Issue 12:
ASEN-style triplets under the shared query attribute (`triplet_conditioning`), a small-score initialisation
(`attention_init`), single-attribute training states, and, measured as what makes ASA follow the query: softmax
over the linear scores of eq. 3 (`spatial_score_activation`), ASA trained by the triplet term only
(`spatial_attention_objective`), the triplet term on W_t V_s (`triplet_embedding`) with same-category positives
(`triplet_positive_category`); and, measured as what makes the attribute head need the query, each attribute group
predicted from its own pass under a learned group query added to T1 (`attribute_prediction="per_group"`, ASEN's
attribute-type condition), which a state's known attributes also bring (`state_group_query`).

Remote code: this file imports from fashionvl only ``..configs.configuration_m2fashion`` and ``.losses``.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoBackbone, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ..configs.configuration_m2fashion import M2FashionConfig
from .losses import (
    m2fashion_masked_attribute_loss,
    m2fashion_sample_single_attribute_states,
    m2fashion_sample_unknown_label_mask,
    m2fashion_triplet_cosine_loss,
)


@dataclass
class M2FashionModelOutput(ModelOutput):
    r"""
    Output of [`M2FashionModel`].

    image_embeds (`torch.FloatTensor` of shape `(batch_size, embedding_size)`):
        Z L2-normalised: the retrieval embedding (= `get_image_features`). First, and again as `pooler_output`, so
        transformers' image-feature-extraction pipeline (`outputs[0]`, or `pooler_output` with `pool=True`) returns it.
    attribute_aware_embeds (`torch.FloatTensor` of shape `(batch_size, embedding_size)`):
        Z of eq. 9, the attribute-aware image embedding (input of the heads, used for retrieval).
    spatial_attention (`torch.FloatTensor` of shape `(batch_size, height, width)`):
        alpha^s of eq. 4 over the positions of the backbone feature map; sums to 1 per image (uniform when
        `use_spatial_attention=False`).
    channel_attention (`torch.FloatTensor` of shape `(batch_size, num_channels)`, *optional*):
        alpha^c of eq. 7, in (0, 1); None when `use_channel_attention=False`.
    feature_map (`torch.FloatTensor` of shape `(batch_size, num_channels, height, width)`):
        I, the backbone's last feature map.
    attribute_states (`torch.FloatTensor` of shape `(batch_size, num_attributes)`):
        The -1/0/1 attribute state vector A the attention was conditioned on.
    hidden_states (`tuple(torch.FloatTensor)`, *optional*):
        The backbone's hidden states (stem and every stage), when `output_hidden_states=True`.
    pooler_output (`torch.FloatTensor` of shape `(batch_size, embedding_size)`): `image_embeds` again.
    """

    image_embeds: torch.FloatTensor | None = None
    attribute_aware_embeds: torch.FloatTensor | None = None
    spatial_attention: torch.FloatTensor | None = None
    channel_attention: torch.FloatTensor | None = None
    feature_map: torch.FloatTensor | None = None
    attribute_states: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    pooler_output: torch.FloatTensor | None = None


@dataclass
class M2FashionAttributePredictionOutput(ModelOutput):
    r"""
    Output of [`M2FashionForAttributePrediction`].

    loss (`torch.FloatTensor` of shape `()`, *optional*):
        Total of eq. 15: `category_loss_weight * category_loss + attribute_loss_weight * attribute_loss +
        triplet_loss_weight * triplet_loss`, over the components that were computed.
    category_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Softmax cross-entropy of the category head (eq. 10); None without `labels` or with weight 0.
    attribute_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Sigmoid BCE on the annotated labels that are unknown in the input state (eq. 11-12); None without
        `attribute_labels` or with weight 0.
    triplet_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Cosine triplet hinge (eq. 13-14) over `triplet_indices`; None without triplets or with weight 0.
    logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
        Category logits (before softmax).
    attribute_logits (`torch.FloatTensor` of shape `(batch_size, num_attributes)`):
        Attribute logits (before the sigmoid).
    attribute_aware_embeds (`torch.FloatTensor` of shape `(batch_size, embedding_size)`):
        Z of eq. 9.
    spatial_attention (`torch.FloatTensor` of shape `(batch_size, height, width)`):
        alpha^s of eq. 4.
    channel_attention (`torch.FloatTensor` of shape `(batch_size, num_channels)`, *optional*):
        alpha^c of eq. 7.
    attribute_states (`torch.FloatTensor` of shape `(batch_size, num_attributes)`):
        The input state vector actually used (after label masking in training).
    hidden_states (`tuple(torch.FloatTensor)`, *optional*):
        The backbone's hidden states, when `output_hidden_states=True`.
    """

    loss: torch.FloatTensor | None = None
    category_loss: torch.FloatTensor | None = None
    attribute_loss: torch.FloatTensor | None = None
    triplet_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    attribute_logits: torch.FloatTensor | None = None
    attribute_aware_embeds: torch.FloatTensor | None = None
    spatial_attention: torch.FloatTensor | None = None
    channel_attention: torch.FloatTensor | None = None
    attribute_states: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


class M2FashionAttributeEmbedding(nn.Module):
    """Attribute label embedding tanh(W A) of the -1/0/1 state vector (eq. 1 for T1, eq. 6 for T2).

    `(batch, num_attributes) -> (batch, embedding_size)`. An all-unknown state (zeros) embeds to tanh(b).
    """

    def __init__(self, num_attributes: int, embedding_size: int):
        super().__init__()
        self.projection = nn.Linear(num_attributes, embedding_size)

    def forward(self, attribute_states: torch.Tensor, query_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """`query_embeds` (`(batch, embedding_size)`, optional): a group query added before the tanh."""
        projected = self.projection(attribute_states)
        return torch.tanh(projected if query_embeds is None else projected + query_embeds)


class M2FashionSpatialAttention(nn.Module):
    """Attribute-aware spatial attention (ASA, eq. 2-5)."""

    def __init__(self, config: M2FashionConfig, num_channels: int):
        super().__init__()
        self.pooling = config.pooling
        self.use_attention = config.use_spatial_attention
        self.score_activation = config.spatial_score_activation
        self.temperature = config.spatial_attention_temperature
        # M2Fashion eq. 2: f2(I) = tanh(W_v1 I), d 1x1 kernels
        self.feature_projection = nn.Conv2d(num_channels, config.hidden_size, kernel_size=1)
        # M2Fashion eq. 3: f_s = tanh(W_v2 (f2(I) * T1)), one 1x1 kernel -> one score per position
        self.score = nn.Conv2d(config.hidden_size, 1, kernel_size=1)

    def score_logits(self, feature_map: torch.Tensor, attribute_embeds: torch.Tensor) -> torch.Tensor:
        """W_v2 (f2(I) * T1), eq. 3 before its tanh: `(batch, h*w)` (saturated where |value| >> 1)."""
        projected = torch.tanh(self.feature_projection(feature_map))  # eq. 2
        fused = projected * attribute_embeds[:, :, None, None]  # T1 broadcast over h and w (after eq. 1)
        return self.score(fused).flatten(1)

    def forward(
        self, feature_map: torch.Tensor, attribute_embeds: torch.Tensor, detach_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            feature_map: I, `(batch, num_channels, height, width)`.
            attribute_embeds: T1, `(batch, hidden_size)`.
            detach_attention: pool with alpha^s detached (no gradient into eq. 1-4 from this use).

        Returns:
            V_s `(batch, num_channels)` and the attention alpha^s `(batch, height, width)`.
        """
        batch_size, _, height, width = feature_map.shape
        if self.use_attention:
            scores = self.score_logits(feature_map, attribute_embeds)  # (batch, h*w)
            if self.score_activation == "tanh":
                scores = torch.tanh(scores)  # eq. 3
            # else departure (issue 12, `spatial_score_activation="none"`): ASEN's softmax over the linear scores;
            # tanh bounds the scores to [-1, 1] and training saturates it to sharpen the map.
            attention = (scores / self.temperature).softmax(dim=-1)  # eq. 4 (temperature 1 = the paper)
        else:
            # Ablation "w/o ASA" (Table 1): global pooling of I, i.e. uniform attention.
            attention = feature_map.new_full((batch_size, height * width), 1.0 / (height * width))
        pooled = self.pool(feature_map, attention.detach() if detach_attention else attention)
        return pooled, attention.view(batch_size, height, width)

    def pool(self, feature_map: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """V_s of eq. 5 (or its GMP form) from I `(batch, C, h, w)` and alpha^s `(batch, h*w)`: `(batch, C)`."""
        height, width = feature_map.shape[-2:]
        weighted = feature_map.flatten(2) * attention[:, None, :]  # alpha_l I_l, (batch, C, h*w)
        if self.pooling == "avg":
            return weighted.sum(dim=-1)  # eq. 5: V_s = sum_l alpha_l I_l (an attention-weighted average)
        # Sec. 3.2 / Table 2 "GMP": global max pooling of the attended map instead of eq. 5's sum; scaled by
        # h*w so that uniform attention gives exactly GMP(I) (and "avg" gives GAP(I)).
        return weighted.amax(dim=-1) * (height * width)


class M2FashionChannelAttention(nn.Module):
    """Attribute-aware channel attention (ACA, eq. 7-8)."""

    def __init__(self, config: M2FashionConfig, num_channels: int):
        super().__init__()
        hidden_size = config.channel_attention_hidden_size or config.hidden_size
        self.fc1 = nn.Linear(2 * num_channels, hidden_size)  # W_c1 over [T2, V_s]
        self.fc2 = nn.Linear(hidden_size, num_channels)  # W_c2
        activations = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}
        self.activation = activations[config.channel_attention_activation]

    def forward(self, pooled_features: torch.Tensor, attribute_embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            pooled_features: V_s, `(batch, num_channels)`.
            attribute_embeds: T2, `(batch, num_channels)`.

        Returns:
            V_c `(batch, num_channels)` and alpha^c `(batch, num_channels)` in (0, 1).
        """
        # M2Fashion eq. 7: alpha_c = sigmoid(W_c2 act(W_c1 [T2, V_s])) (biases kept; the paper drops them in print)
        hidden = self.activation(self.fc1(torch.cat([attribute_embeds, pooled_features], dim=-1)))
        attention = torch.sigmoid(self.fc2(hidden))
        return attention * pooled_features, attention  # eq. 8: V_c = alpha_c * V_s


class M2FashionPreTrainedModel(PreTrainedModel):
    config: M2FashionConfig
    config_class = M2FashionConfig
    base_model_prefix = "m2fashion"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules = ["ResNetConvLayer", "ResNetShortCut", "M2FashionSpatialAttention", "M2FashionChannelAttention"]
    # transformers' ResNet backbone has no gradient-checkpointing path.
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, nn.Conv2d):
            # As ResNet (He et al.): keeps the backbone trainable from scratch.
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if isinstance(module, M2FashionModel) and module.attribute_query_embedding is not None:
            # The group queries start Xavier-uniform (entries ~0.1 at d = 512): T1_g differs between groups from
            # the first step, while W_a1 A + b still dominates (the paper has no such term and gives no init).
            init.xavier_uniform_(module.attribute_query_embedding.weight)
        if self.config.attention_init != "small_scores":
            return
        # Children are initialised before their parent, so these override the generic rules above.
        if isinstance(module, M2FashionSpatialAttention):
            # Departure (issue 12): kaiming fan-out gives the 1-output score conv std ~1.4, and 65 % of eq. 3's
            # pre-tanh values ended beyond |2| after training, where T1 no longer moves the attention.
            # Xavier-normal (std sqrt(2 / (d + 1)) = 0.25 at d = 32) keeps the pre-tanh scores at std ~0.1-0.3.
            init.xavier_normal_(module.score.weight)
            init.zeros_(module.score.bias)
        elif isinstance(module, M2FashionAttributeEmbedding):
            # N(0, 0.02) would start T1 = tanh(W_a1 A) at ~0 for a one-hot A: no attribute signal in eq. 3 / eq. 7.
            init.xavier_uniform_(module.projection.weight)
            init.zeros_(module.projection.bias)


class M2FashionModel(M2FashionPreTrainedModel):
    """Backbone, attribute embeddings, ASA and ACA: maps (image, attribute states) to Z (eq. 1-9)."""

    def __init__(self, config: M2FashionConfig):
        # a config edited after construction (or loaded with overrides) is checked again before it builds layers
        config.validate()
        super().__init__(config)
        self.backbone = AutoBackbone.from_config(config.backbone_config)
        num_channels = self.backbone.channels[-1]
        self.num_channels = num_channels
        self.embedding_size = config.embedding_size or num_channels
        self.spatial_attribute_embedding = M2FashionAttributeEmbedding(config.num_attributes, config.hidden_size)
        self.spatial_attention = M2FashionSpatialAttention(config, num_channels)
        if config.use_channel_attention:
            self.channel_attribute_embedding = M2FashionAttributeEmbedding(config.num_attributes, num_channels)
            self.channel_attention = M2FashionChannelAttention(config, num_channels)
        # M2Fashion eq. 9: Z = W V_c + b
        self.projection = nn.Linear(num_channels, self.embedding_size)
        if config.triplet_embedding == "spatial":
            # Departure (issue 12): the triplet term, and so retrieval, compares W_t V_s (before ACA): only ASA
            # carries the query. In the base model so that AutoModel, the pipelines and the task head share it.
            self.triplet_projection = nn.Linear(num_channels, self.embedding_size)
        self.attribute_query_embedding = None
        if config.attribute_prediction == "per_group":
            # Departure (issue 12, `attribute_prediction="per_group"`): one learned query per attribute group,
            # added to T1 (eq. 1), ASEN's attribute-type condition (see `attend_attribute_groups`).
            self.attribute_query_embedding = nn.Embedding(config.num_attribute_groups, config.hidden_size)
        self.post_init()

    def check_attribute_states(self, attribute_states: torch.Tensor | None, pixel_values: torch.Tensor) -> torch.Tensor:
        """Validate `attribute_states` (batch, K) in {-1, 0, 1}; None means all unknown. Returns a float tensor."""
        batch_size, num_attributes = pixel_values.shape[0], self.config.num_attributes
        if attribute_states is None:
            return pixel_values.new_zeros(batch_size, num_attributes)
        if attribute_states.shape != (batch_size, num_attributes):
            raise ValueError(
                f"attribute_states must have shape (batch_size, num_attributes) = ({batch_size}, {num_attributes}), "
                f"got {tuple(attribute_states.shape)}."
            )
        invalid = (attribute_states != -1) & (attribute_states != 0) & (attribute_states != 1)
        if invalid.any():
            raise ValueError(
                f"attribute_states must hold -1 (negative), 0 (unknown) or 1 (positive), got "
                f"{attribute_states[invalid].unique().tolist()}."
            )
        return attribute_states.to(pixel_values.dtype)

    def attend(
        self,
        feature_map: torch.Tensor,
        attribute_states: torch.Tensor,
        spatial_attribute_states: torch.Tensor | None = None,
        detach_spatial_attention: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Eq. 1-9 on a backbone feature map: the same image can be attended under several attribute states
        without running the backbone again (attribute-conditioned triplets and retrieval).

        Args:
            feature_map: I, `(batch, C, h, w)`.
            attribute_states: A, `(batch, K)` float in {-1, 0, 1}.
            spatial_attribute_states: optional `(batch, K)` states for the spatial branch only (T1 of eq. 1); the
                channel branch keeps `attribute_states`. A probe of how much ASA uses its attribute input.
            detach_spatial_attention: pool with alpha^s detached, so that losses on this Z do not train eq. 1-4
                (`spatial_attention_objective="triplet"`).

        Returns:
            Z `(batch, embedding_size)`, alpha^s `(batch, h, w)`, alpha^c `(batch, C)` or None.
        """
        z, spatial_attention, channel_attention, _ = self._attend_parts(
            feature_map, attribute_states, spatial_attribute_states, detach_spatial_attention
        )
        return z, spatial_attention, channel_attention

    def _attend_parts(
        self, feature_map, attribute_states, spatial_attribute_states=None, detach_spatial_attention=False,
        spatial_query_embeds=None,
    ):
        """`attend`, plus V_s (`(batch, C)`, before ACA), which the triplet space W_t V_s reads.
        `spatial_query_embeds`: group queries added to T1 (`attend_attribute_groups`)."""
        spatial_states = attribute_states if spatial_attribute_states is None else spatial_attribute_states
        spatial_embeds = self.spatial_attribute_embeds(spatial_states, spatial_query_embeds)  # eq. 1: T1
        spatial_features, spatial_attention = self.spatial_attention(  # eq. 2-5: V_s
            feature_map, spatial_embeds, detach_attention=detach_spatial_attention
        )
        pooled_features = spatial_features
        channel_attention = None
        if self.config.use_channel_attention:
            channel_embeds = self.channel_attribute_embedding(attribute_states)  # eq. 6: T2
            pooled_features, channel_attention = self.channel_attention(pooled_features, channel_embeds)  # eq. 7-8
        # else: ablation "w/o ACA" (Table 1), Z is computed from V_s directly.
        z = self.projection(pooled_features)  # eq. 9: Z = W V_c + b
        return z, spatial_attention, channel_attention, spatial_features

    def spatial_attribute_embeds(
        self, attribute_states: torch.Tensor, query_embeds: torch.Tensor | None = None
    ) -> torch.Tensor:
        """T1 of eq. 1, `(batch, hidden_size)`; with `attribute_prediction="per_group"` plus a group query:
        `query_embeds` when given, else the state's (`state_query_embeds`)."""
        if query_embeds is None:
            query_embeds = self.state_query_embeds(attribute_states)
        return self.spatial_attribute_embedding(attribute_states, query_embeds)

    def state_query_embeds(self, attribute_states: torch.Tensor) -> torch.Tensor | None:
        """With `attribute_prediction="per_group"` and `state_group_query`: the mean query embedding of the groups
        of the state's known attributes, `(batch, hidden_size)` (zero for an all-unknown state), so that an
        attribute query ("v-neck" known) looks where its group is predicted from. None otherwise."""
        if self.attribute_query_embedding is None or not self.config.state_group_query:
            return None
        membership = F.one_hot(
            torch.tensor(self.config.attribute_groups, device=attribute_states.device), self.config.num_attribute_groups
        ).to(attribute_states.dtype)  # (K, G)
        known_per_group = (attribute_states != 0).to(attribute_states.dtype) @ membership  # (batch, G)
        weights = known_per_group / known_per_group.sum(dim=1, keepdim=True).clamp(min=1)
        return weights @ self.attribute_query_embedding.weight

    def attend_attribute_groups(
        self,
        feature_map: torch.Tensor,
        attribute_states: torch.Tensor,
        query_groups: torch.Tensor | None = None,
        spatial_attribute_states: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Z_g of every attribute group g (`attribute_prediction="per_group"`): eq. 1-9 with the query embedding
        q_g added to T1, T1_g = tanh(W_a1 A + b + q_g); ACA (eq. 6-8) keeps the state A alone.

        Args:
            feature_map: I, `(batch, C, h, w)`.
            attribute_states: A, `(batch, K)` float in {-1, 0, 1}.
            query_groups: `(G,)` the query each group's pass gets (default `arange(G)`; another order is the
                counterfactual probe "the spatial branch is asked for another group").
            spatial_attribute_states: optional states for the spatial branch only (see `attend`).

        Returns:
            Z_g `(batch, G, embedding_size)` and alpha^s_g `(batch, G, h, w)`.
        """
        if self.attribute_query_embedding is None:
            raise ValueError("attend_attribute_groups needs a model with attribute_prediction='per_group'.")
        num_groups = self.config.num_attribute_groups
        batch_size = feature_map.shape[0]
        if attribute_states is None or attribute_states.shape != (batch_size, self.config.num_attributes):
            raise ValueError(
                f"attribute_states must have shape (batch_size, num_attributes) = ({batch_size}, "
                f"{self.config.num_attributes}), got {None if attribute_states is None else tuple(attribute_states.shape)}."
            )
        if query_groups is None:
            query_groups = torch.arange(num_groups, device=feature_map.device)
        query_groups = torch.as_tensor(query_groups, device=feature_map.device)
        if query_groups.shape != (num_groups,) or query_groups.is_floating_point():
            raise ValueError(
                f"query_groups must be {num_groups} integer group ids, got {query_groups.dtype} of shape "
                f"{tuple(query_groups.shape)}."
            )
        if ((query_groups < 0) | (query_groups >= num_groups)).any():
            raise ValueError(f"query_groups must hold ids in [0, {num_groups}), got {query_groups.tolist()}.")

        def per_group(tensor):  # (batch, ...) -> (batch * G, ...), the G passes of one image side by side
            return tensor.repeat_interleave(num_groups, dim=0)

        queries = self.attribute_query_embedding(query_groups.long()).repeat(batch_size, 1)
        z, attention, _, _ = self._attend_parts(
            per_group(feature_map), per_group(attribute_states),
            None if spatial_attribute_states is None else per_group(spatial_attribute_states),
            spatial_query_embeds=queries,
        )
        return z.view(batch_size, num_groups, -1), attention.view(batch_size, num_groups, *attention.shape[1:])

    def attribute_specific_embeds(self, feature_map: torch.Tensor, attribute_states: torch.Tensor) -> torch.Tensor:
        """The embedding compared by the triplet loss (eq. 13-14) and by attribute-conditioned retrieval.

        Args:
            feature_map: I, `(batch, C, h, w)`.
            attribute_states: `(batch, K)` float in {-1, 0, 1}, e.g. the one-hot query attribute.

        Returns:
            `(batch, embedding_size)`: Z of eq. 9 (`triplet_embedding="shared"`, the paper) or W_t V_s (`"spatial"`).
        """
        if self.config.triplet_embedding == "spatial":
            spatial_embeds = self.spatial_attribute_embeds(attribute_states)  # eq. 1
            return self.triplet_projection(self.spatial_attention(feature_map, spatial_embeds)[0])  # W_t V_s
        return self.attend(feature_map, attribute_states)[0]

    def get_image_features(self, pixel_values: torch.Tensor, attribute_states: torch.Tensor | None = None) -> torch.Tensor:
        """The attribute-conditioned retrieval embedding under `attribute_states`, L2-normalised: the space the
        triplet loss trains (W_t V_s with `triplet_embedding="spatial"`, the default; Z of eq. 9 with `"shared"`).

        Args:
            pixel_values: `(batch, 3, height, width)` normalised images.
            attribute_states: `(batch, num_attributes)` in {-1, 0, 1} (e.g. one known positive: "find items like
                this one in its neckline"); None = all unknown (the image alone).

        Returns:
            `(batch, embedding_size)` unit-norm embeddings; rank candidates by their dot product (cosine, eq. 13).
        """
        return self(pixel_values, attribute_states=attribute_states, return_dict=True).image_embeds

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        attribute_states: torch.Tensor | None = None,
        spatial_attribute_states: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        detach_spatial_attention: bool = False,
        **kwargs,
    ) -> M2FashionModelOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, 3, height, width)`):
                Normalised images (see [`M2FashionProcessor`]).
            attribute_states (`torch.Tensor` of shape `(batch_size, num_attributes)`, *optional*):
                A of the paper: 1 = known positive, -1 = known negative, 0 = unknown. None = all unknown
                (inference from the image alone).
            spatial_attribute_states (`torch.Tensor` of shape `(batch_size, num_attributes)`, *optional*):
                States given to the spatial branch only (counterfactual probe); None = `attribute_states`.
            output_hidden_states (`bool`, *optional*):
                Return the backbone's hidden states.
            detach_spatial_attention (`bool`, *optional*, defaults to `False`):
                Pool with alpha^s detached (see [`M2FashionModel.attend`]); set by the task head in training with
                `spatial_attention_objective="triplet"`.
        """
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        attribute_states = self.check_attribute_states(attribute_states, pixel_values)
        if spatial_attribute_states is not None:
            spatial_attribute_states = self.check_attribute_states(spatial_attribute_states, pixel_values)
        # inputs follow the weights' dtype (a model loaded with dtype=torch.bfloat16 gets float32 pixels and states)
        dtype = self.dtype
        pixel_values, attribute_states = pixel_values.to(dtype), attribute_states.to(dtype)
        if spatial_attribute_states is not None:
            spatial_attribute_states = spatial_attribute_states.to(dtype)
        backbone_outputs = self.backbone(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        feature_map = backbone_outputs.feature_maps[-1]  # I, (batch, C, h, w)
        attribute_aware_embeds, spatial_attention, channel_attention, spatial_features = self._attend_parts(
            feature_map, attribute_states, spatial_attribute_states, detach_spatial_attention
        )

        retrieval_embeds = attribute_aware_embeds
        if self.config.triplet_embedding == "spatial":  # W_t V_s under the query states (reuse this pass's V_s)
            retrieval_embeds = (
                self.triplet_projection(spatial_features) if spatial_attribute_states is None
                else self.attribute_specific_embeds(feature_map, attribute_states)
            )
        image_embeds = F.normalize(retrieval_embeds, dim=-1)
        return M2FashionModelOutput(
            image_embeds=image_embeds,
            attribute_aware_embeds=attribute_aware_embeds,
            spatial_attention=spatial_attention,
            channel_attention=channel_attention,
            feature_map=feature_map,
            attribute_states=attribute_states,
            hidden_states=backbone_outputs.hidden_states if output_hidden_states else None,
            pooler_output=image_embeds,
        )


class M2FashionForAttributePrediction(M2FashionPreTrainedModel):
    """M2Fashion with the multi-task heads (category eq. 10, attributes eq. 11-12) and the triplet loss (eq. 13-15).

    Label-mask training: in training mode, given `attribute_labels` but no `attribute_states`, a random number in
    [min_unknown_fraction * K, K] of each sample's labels is hidden (state 0) and the known rest is the input state;
    the attribute loss is taken on the hidden (unknown) annotated labels. With explicit `attribute_states` (or in
    evaluation mode, where the default state is all-unknown) the loss is likewise on the labels whose state is 0.
    """

    def __init__(self, config: M2FashionConfig):
        super().__init__(config)
        self.m2fashion = M2FashionModel(config)
        embedding_size = self.m2fashion.embedding_size
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.category_classifier = nn.Linear(embedding_size, config.num_labels)
        self.attribute_classifier = nn.Linear(embedding_size, config.num_attributes)
        self.post_init()

    def get_image_features(self, pixel_values: torch.Tensor, attribute_states: torch.Tensor | None = None) -> torch.Tensor:
        """The attribute-conditioned retrieval embedding of the base model ([`M2FashionModel.get_image_features`]):
        `(batch, embedding_size)`, unit norm, the space the triplet loss trains."""
        return self.m2fashion.get_image_features(pixel_values, attribute_states)

    def attribute_specific_embeds(self, feature_map: torch.Tensor, attribute_states: torch.Tensor) -> torch.Tensor:
        """See [`M2FashionModel.attribute_specific_embeds`]."""
        return self.m2fashion.attribute_specific_embeds(feature_map, attribute_states)

    def group_attribute_logits(self, group_embeds: torch.Tensor) -> torch.Tensor:
        """Attribute logits `(batch, K)` from the per-group embeddings Z_g `(batch, G, E)`
        (`attribute_prediction="per_group"`): attribute k is scored on the Z_g of its group."""
        if self.config.attribute_prediction != "per_group":
            raise ValueError("group_attribute_logits needs a model with attribute_prediction='per_group'.")
        if group_embeds.dim() != 3 or group_embeds.shape[1] != self.config.num_attribute_groups:
            raise ValueError(
                f"group_embeds must have shape (batch, {self.config.num_attribute_groups}, embedding_size), got "
                f"{tuple(group_embeds.shape)}."
            )
        group_logits = self.attribute_classifier(group_embeds)  # (batch, G, K)
        groups = torch.tensor(self.config.attribute_groups, device=group_logits.device)
        return group_logits.gather(1, groups.expand(len(group_logits), 1, -1)).squeeze(1)

    def mask_attribute_labels(self, attribute_labels: torch.Tensor) -> torch.Tensor:
        """Label-mask training (eq. 12): the input state with a random set Y_u of each sample's labels set to 0.

        Args:
            attribute_labels: `(batch, K)` ground truth in {-1, 0, 1}.

        Returns:
            `(batch, K)` state vector: the ground truth on Y_k, 0 on Y_u.
        """
        batch_size, num_attributes = attribute_labels.shape
        unknown = m2fashion_sample_unknown_label_mask(
            batch_size, num_attributes, self.config.min_unknown_fraction, device=attribute_labels.device
        )
        states = attribute_labels.masked_fill(unknown, 0)
        if self.config.single_attribute_state_probability > 0:
            # Departure (issue 12): some samples get the state of an attribute query, one known positive.
            single = m2fashion_sample_single_attribute_states(attribute_labels)
            chosen = torch.rand(batch_size, device=attribute_labels.device) < self.config.single_attribute_state_probability
            chosen &= single.abs().sum(dim=1) > 0
            states = torch.where(chosen[:, None], single, states)
        return states

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        attribute_states: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        attribute_labels: torch.Tensor | None = None,
        triplet_indices: torch.Tensor | None = None,
        triplet_attribute_states: torch.Tensor | None = None,
        spatial_attribute_states: torch.Tensor | None = None,
        attribute_query_groups: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> M2FashionAttributePredictionOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, 3, height, width)`):
                Normalised images.
            attribute_states (`torch.Tensor` of shape `(batch_size, num_attributes)`, *optional*):
                Known attribute states (1 / -1, 0 = unknown). None: label-masked `attribute_labels` in training
                (if `config.label_mask_training`), all unknown otherwise.
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Category ids in `[0, num_labels)` for the category loss (eq. 10).
            attribute_labels (`torch.Tensor` of shape `(batch_size, num_attributes)`, *optional*):
                Ground-truth attributes in {-1, 0 (not annotated), 1} for the attribute loss (eq. 11-12).
            triplet_indices (`torch.LongTensor` of shape `(num_triplets, 3)`, *optional*):
                (anchor, positive, negative) rows of the batch, e.g. from [`M2FashionDataCollator`]; the positive
                shares at least one positive attribute with the anchor, the negative none. Empty or None: no
                triplet term.
            triplet_attribute_states (`torch.Tensor` of shape `(num_triplets, num_attributes)`, *optional*):
                The query attribute state of each triplet (e.g. one-hot, from [`M2FashionTripletBatchSampler`]
                batches). With `config.triplet_conditioning="query_attribute"` anchor, positive and negative are
                all attended under it (ASEN); otherwise, or when None, each uses its row's Z of this forward.
            spatial_attribute_states (`torch.Tensor` of shape `(batch_size, num_attributes)`, *optional*):
                States for the spatial branch only (counterfactual probe, see [`M2FashionModel.attend`]).
            attribute_query_groups (`torch.LongTensor` of shape `(num_attribute_groups,)`, *optional*):
                With `attribute_prediction="per_group"`: the group query the pass of each group gets (default: its
                own; another order is the counterfactual probe, see [`M2FashionModel.attend_attribute_groups`]).
        """
        if attribute_states is None and attribute_labels is not None and self.training and self.config.label_mask_training:
            attribute_states = self.mask_attribute_labels(attribute_labels)
        if spatial_attribute_states is not None:  # checked and cast once: the group passes below read it too
            spatial_attribute_states = self.m2fashion.check_attribute_states(spatial_attribute_states, pixel_values).to(self.dtype)
        outputs = self.m2fashion(
            pixel_values,
            attribute_states=attribute_states,
            spatial_attribute_states=spatial_attribute_states,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            # Departure (issue 12, `spatial_attention_objective="triplet"`): the heads' losses reward one image-driven
            # map for every query and outweigh the triplet term, so only the triplet term trains eq. 1-4 through
            # this pass (with `attribute_prediction="per_group"` the attribute loss does, through the group passes).
            detach_spatial_attention=self.training and self.config.spatial_attention_objective != "all",
        )
        attribute_aware_embeds = outputs.attribute_aware_embeds
        features = self.dropout(attribute_aware_embeds)
        logits = self.category_classifier(features)
        attribute_features = features
        if self.training and self.config.spatial_attention_objective == "triplet+attribute":
            # The same Z, attended again with alpha^s attached, so that only the attribute loss reaches eq. 1-4.
            attached = self.m2fashion.attend(outputs.feature_map, outputs.attribute_states, spatial_attribute_states)[0]
            scale = self.config.spatial_attention_attribute_gradient_scale
            # same value as Z; gradient: scale x into eq. 1-4, in full into everything else (both paths reach it)
            attached = attribute_aware_embeds + scale * (attached - attribute_aware_embeds)
            attribute_features = self.dropout(attached)
        if self.config.attribute_prediction == "per_group":
            # Departure (issue 12, `attribute_prediction="per_group"`): attribute k is read from Z_g of its group g,
            # attended under g's query. alpha^s stays attached here: these passes are how the attribute loss
            # teaches ASA where each group's attributes are, and a query that looks elsewhere costs loss.
            group_embeds, _ = self.m2fashion.attend_attribute_groups(
                outputs.feature_map, outputs.attribute_states, attribute_query_groups, spatial_attribute_states
            )
            attribute_logits = self.group_attribute_logits(self.dropout(group_embeds))
        elif attribute_query_groups is not None:
            raise ValueError("attribute_query_groups needs a model with attribute_prediction='per_group'.")
        else:
            attribute_logits = self.attribute_classifier(attribute_features)

        config = self.config
        category_loss = attribute_loss = triplet_loss = None
        if labels is not None and config.category_loss_weight > 0:
            category_loss = F.cross_entropy(logits, labels.long())  # eq. 10
        if attribute_labels is not None and config.attribute_loss_weight > 0:
            unknown_in_input = outputs.attribute_states == 0  # Y_u of eq. 12
            attribute_loss = m2fashion_masked_attribute_loss(attribute_logits, attribute_labels, unknown_in_input)
        if triplet_indices is not None and triplet_indices.numel() > 0 and config.triplet_loss_weight > 0:
            triplet_indices = triplet_indices.long()
            if triplet_attribute_states is not None and config.triplet_conditioning == "query_attribute":
                # ASEN-style (issue 12): the three images of a triplet are attended under the shared query attribute,
                # reusing this forward's feature maps (no second backbone pass).
                num_triplets = triplet_indices.shape[0]
                states = self.m2fashion.check_attribute_states(
                    triplet_attribute_states, pixel_values[:num_triplets]
                ).repeat(3, 1)
                feature_map = outputs.feature_map[triplet_indices.T.reshape(-1)]  # anchors, positives, negatives
                triplet_embeds = self.attribute_specific_embeds(feature_map, states).view(3, num_triplets, -1)
            else:  # each image under its own input state (the paper's reading of eq. 13-14)
                own_embeds = attribute_aware_embeds
                if config.triplet_embedding != "shared":
                    own_embeds = self.attribute_specific_embeds(outputs.feature_map, outputs.attribute_states)
                triplet_embeds = own_embeds[triplet_indices.T]  # (3, num_triplets, E)
            triplet_loss = m2fashion_triplet_cosine_loss(  # eq. 13-14
                triplet_embeds[0], triplet_embeds[1], triplet_embeds[2], margin=config.triplet_margin
            )

        # M2Fashion eq. 15: L = L_category + lambda L_attribute + gamma L_tri (over the computed terms)
        weighted_terms = [
            (config.category_loss_weight, category_loss),
            (config.attribute_loss_weight, attribute_loss),
            (config.triplet_loss_weight, triplet_loss),
        ]
        computed = [weight * term for weight, term in weighted_terms if term is not None]
        loss = torch.stack(computed).sum() if computed else None

        return M2FashionAttributePredictionOutput(
            loss=loss,
            category_loss=category_loss,
            attribute_loss=attribute_loss,
            triplet_loss=triplet_loss,
            logits=logits,
            attribute_logits=attribute_logits,
            attribute_aware_embeds=attribute_aware_embeds,
            spatial_attention=outputs.spatial_attention,
            channel_attention=outputs.channel_attention,
            attribute_states=outputs.attribute_states,
            hidden_states=outputs.hidden_states,
        )


__all__ = [
    "M2FashionAttributePredictionOutput",
    "M2FashionForAttributePrediction",
    "M2FashionModel",
    "M2FashionModelOutput",
    "M2FashionPreTrainedModel",
]
