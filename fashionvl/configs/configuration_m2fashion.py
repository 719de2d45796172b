"""M2Fashion model configuration.

M2Fashion: "Learning Image Representation via Attribute-Aware Attention Networks for Fashion Classification",
Wan, Yan, Zhang, Zou, MMM 2022 (LNCS 13141, pp. 69-81). A CNN backbone (ResNet-50 on ImageNet in the paper)
gives a feature map; the state vector of K attributes (1 positive, -1 negative, 0 unknown) is embedded twice and
guides an attribute-aware spatial attention (ASA, eq. 2-5) and an attribute-aware channel attention (ACA,
eq. 6-8); the attended feature Z (eq. 9) feeds a category head and an attribute head, trained with label-mask
training (eq. 12) and a cosine triplet loss (eq. 13-15).

The backbone is a nested configuration (`backbone_config`, a transformers `ResNetConfig` by default) stored inside
`config.json`, so `from_pretrained` rebuilds the whole model offline without fetching a backbone checkpoint.

This file imports nothing from fashionvl except the same-directory ``presets`` module, so it can be exported into
a flat remote-code folder (see ``fashionvl/configs/presets.py``).
"""

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .presets import PresetMixin


POOLING_TYPES = ("max", "avg")
CHANNEL_ATTENTION_ACTIVATIONS = ("sigmoid", "relu", "tanh")


@strict
class M2FashionConfig(PresetMixin, PreTrainedConfig):
    r"""
    Configuration of an M2Fashion model ([`M2FashionModel`], [`M2FashionForAttributePrediction`]). The defaults
    reproduce the paper's DeepFashion-C setting: ResNet-50 backbone, d = 512, K = 1000 attributes,
    global max pooling, lambda = 1, gamma = 0.5 (Sec. 4.1). Named recipes: `M2FashionConfig.from_preset("paper")`
    and `M2FashionConfig.from_preset("tiny")` (tests and CPU demos).

    Backbone:

    backbone_config (`dict` or `PreTrainedConfig`, *optional*):
        Configuration of the CNN backbone, built with `AutoBackbone.from_config` (its last output feature map is
        the image feature I of the paper, C channels). Defaults to a ResNet-50 `ResNetConfig`. A dict without
        `model_type` is read as a ResNet configuration. ImageNet weights are loaded separately (see
        `fashionvl.recipes.m2fashion.load_backbone_weights`).

    Attention (ASA eq. 2-5, ACA eq. 6-8, Z eq. 9):

    hidden_size (`int`, *optional*, defaults to 512):
        d of the paper: output channels of the 1x1 convolution f2 (eq. 2) and size of the attribute embedding T1
        (eq. 1) that meet in the element-wise product of eq. 3.
    channel_attention_hidden_size (`int`, *optional*):
        Output size of W_c1 in eq. 7 (the paper leaves it open). Defaults to `hidden_size`.
    channel_attention_activation (`str`, *optional*, defaults to `"sigmoid"`):
        Activation between W_c1 and W_c2 in eq. 7: `"sigmoid"` as written in the paper, `"relu"` as in ASEN
        (Ma et al. 2020, the paper's ref. [16]) or `"tanh"`.
    embedding_size (`int`, *optional*):
        Size of Z (eq. 9). Defaults to C, the backbone's channels (the paper's W is c x c).
    pooling (`str`, *optional*, defaults to `"max"`):
        How the spatially attended feature map is reduced to V_s. `"avg"`: V_s = sum_l alpha_l I_l, exactly eq. 5
        (an attention-weighted average). `"max"` (paper default, Sec. 3.2 and Table 2 "GMP"):
        V_s = max_l (h w alpha_l I_l), global max pooling of the attended map, scaled by h*w so that uniform
        attention gives plain GMP of I.
    use_spatial_attention (`bool`, *optional*, defaults to `True`):
        `False` is the ablation "w/o ASA" (Table 1): uniform attention, i.e. global `pooling` of I.
    use_channel_attention (`bool`, *optional*, defaults to `True`):
        `False` is the ablation "w/o ACA" (Table 1): Z is computed from V_s directly.
    classifier_dropout (`float`, *optional*, defaults to 0.0):
        Dropout on Z before the category and attribute heads.
    initializer_range (`float`, *optional*, defaults to 0.02):
        Standard deviation of the normal initialiser of the attention and head layers (the backbone keeps
        ResNet's own initialisation).
    attention_init (`str`, *optional*, defaults to `"small_scores"`):
        `"small_scores"`: the score convolution of eq. 3 starts Xavier-normal (std sqrt(2 / (hidden_size + 1)):
        eq. 3's tanh starts in its linear range) and the attribute embeddings W_a1, W_a2 Xavier-uniform (T1, T2 respond to a one-hot
        state from the start). `"resnet"`: every convolution kaiming fan-out (the 1-output score conv gets std
        ~1.4 and saturates tanh), embeddings N(0, initializer_range): the previous behaviour. The paper gives no
        initialisation.

    spatial_score_activation (`str`, *optional*, defaults to `"none"`):
        The activation of eq. 3 before the softmax of eq. 4. `"tanh"` as printed: the scores are bounded to
        [-1, 1], so over h*w positions the largest attention weight is at most e^2 times the smallest, and
        training pushes the pre-tanh scores into saturation to sharpen the map (38-53 % beyond |2|, issue 12).
        `"none"`: softmax over the linear scores W_v2 (f2(I) * T1), as ASEN's spatial attention (departure).
    spatial_attention_temperature (`float`, *optional*, defaults to 1.0):
        tau of softmax(scores / tau) in eq. 4 (1 = the paper).

    Tasks and losses (eq. 10-15):

    num_labels (`int`, *optional*, defaults to 50):
        Number of clothing categories of the category head (standard transformers name, so `id2label` holds the
        category names). DeepFashion-C has 50 category ids of which 46 are used; scripts set it from the data.
    num_attributes (`int`, *optional*, defaults to 1000):
        K, the number of attributes (length of the -1/0/1 attribute state vector). 1000 in DeepFashion-C.
    category_loss_weight (`float`, *optional*, defaults to 1.0):
        Weight of L_category (eq. 10, softmax cross-entropy). 0 is the ablation "attribute only" (Table 2).
    attribute_loss_weight (`float`, *optional*, defaults to 1.0):
        lambda of eq. 15 (L_attribute, sigmoid BCE on the labels unknown in the input, eq. 12). 0 is the ablation
        "category only" (Table 2).
    triplet_loss_weight (`float`, *optional*, defaults to 0.5):
        gamma of eq. 15 (L_tri, eq. 13-14). 0 switches the triplet term off.
    triplet_margin (`float`, *optional*, defaults to 0.2):
        Margin m of the cosine triplet hinge max(0, m - s(a,p) + s(a,n)) (the paper gives no value; 0.2 as ASEN).
    triplet_conditioning (`str`, *optional*, defaults to `"query_attribute"`):
        `"query_attribute"`: given `triplet_attribute_states`, anchor, positive and negative are all attended
        under the triplet's query attribute (ASEN, Ma et al. 2020, which the paper adapts). `"own_state"`: each
        image's Z under its own (label-masked) state, the earlier reading.
    triplet_embedding (`str`, *optional*, defaults to `"spatial"`):
        The embedding the triplet loss (eq. 13-14) compares. `"shared"`: Z of eq. 9, as in the paper (Z also
        feeds the category head). `"spatial"`: W_t V_s, the spatially attended features before ACA, so that only
        ASA can carry the query attribute into the triplet term (issue 12 departure).
    spatial_attention_objective (`str`, *optional*, defaults to `"triplet"`):
        Which losses train the spatial attention (W_a1, W_v1, W_v2 of eq. 1-3). `"all"`: every term of eq. 15
        (the paper). `"triplet"`: only the attribute-conditioned triplet term; the category and attribute losses
        see the attended features but their gradient stops at alpha^s (they still train the backbone, ACA and the
        heads); with `attribute_prediction="per_group"` the attribute loss still trains ASA through its group passes. Measured (issue 12): the heads' losses reward one image-driven map for every query and outweigh
        the triplet term, so T1 stops mattering (issue 12 departure). `"triplet+attribute"`: the triplet term and
        the attribute loss (eq. 12) train it, the category loss does not (an issue 12 experiment: can the masked
        attribute loss teach ASA to look where the unknown attributes are?).
    spatial_attention_attribute_gradient_scale (`float`, *optional*, defaults to 1.0):
        With `spatial_attention_objective="triplet+attribute"`, the factor on the attribute loss's gradient into
        ASA (eq. 1-4) only; the rest of the network gets the full gradient. In (0, 1]; the limit 0 is `"triplet"`.
    triplet_positive_category (`str`, *optional*, defaults to `"anchor"`):
        Where the triplet sampler draws the positive: `"any"` category (ASEN), or `"anchor"`: from the
        anchor's category when it has one, as the negative is, so that anchor, positive and negative differ only
        in the query attribute and not in category (issue 12 departure).
    single_attribute_state_probability (`float`, *optional*, defaults to 0.5):
        In label-mask training, the probability that a sample's input state is a single known positive attribute
        (the state of an attribute query) instead of the random [min_unknown_fraction K, K] mask. 0 = the paper's
        label-mask training only.
    label_mask_training (`bool`, *optional*, defaults to `True`):
        In training mode, when the forward gets ground-truth `attribute_labels` but no `attribute_states`, hide a
        random number in [min_unknown_fraction * K, K] of each sample's labels (state 0) and take the attribute
        loss on them (eq. 12). `False`: all labels unknown (plain attribute prediction from the image).
    min_unknown_fraction (`float`, *optional*, defaults to 0.25):
        Lower bound of the fraction of labels made unknown by label-mask training (0.25 in the paper).
    attribute_prediction (`str`, *optional*, defaults to `"shared"`):
        `"shared"`: one Z (eq. 9) under the input state feeds the attribute head for every attribute (the paper).
        `"per_group"`: each attribute group g (e.g. neckline, sleeve length) is predicted from its own Z_g, attended
        with the input state plus a learned query embedding of g added to T1 (eq. 1), ASEN's attribute-type
        condition; these passes train ASA through the attribute loss (issue 12 departure: the attribute head then
        reads the region of the attribute it predicts). Needs `attribute_groups`.
    state_group_query (`bool`, *optional*, defaults to `True`):
        With `attribute_prediction="per_group"`: every other pass (the input state's, the triplet's and
        retrieval's query states) adds to T1 the mean query embedding of the groups of the state's known
        attributes, so that an attribute query ("v-neck" known) attends where its group (neckline) is predicted
        from. `False`: those passes get no group query.
    attribute_groups (`list[int]`, *optional*):
        With `attribute_prediction="per_group"`: the group id in `[0, G)` of each of the `num_attributes`
        attributes, every id used (e.g. the catalog's dimensions, or DeepFashion's five attribute types).

    Example:

    ```python
    >>> from fashionvl import M2FashionConfig, M2FashionForAttributePrediction

    >>> # The paper's DeepFashion-C configuration (ResNet-50, d = 512, GMP, lambda = 1, gamma = 0.5)
    >>> configuration = M2FashionConfig.from_preset("paper")

    >>> # A tiny configuration for tests and CPU demos, sized for a data set with 6 categories and 24 attributes
    >>> configuration = M2FashionConfig.from_preset("tiny", num_labels=6, num_attributes=24)
    >>> model = M2FashionForAttributePrediction(configuration)

    >>> # Ablation "w/o ASA" of Table 1
    >>> configuration = M2FashionConfig.from_preset("tiny", use_spatial_attention=False)
    ```"""

    model_type = "m2fashion"
    sub_configs_defaults = {"backbone_config": SubConfigSpec(config_class=AutoConfig, model_type="resnet")}

    backbone_config: dict | PreTrainedConfig | None = None
    # Attention (eq. 1-9)
    hidden_size: int = 512
    channel_attention_hidden_size: int | None = None
    channel_attention_activation: str = "sigmoid"
    embedding_size: int | None = None
    pooling: str = "max"
    use_spatial_attention: bool = True
    use_channel_attention: bool = True
    classifier_dropout: float | int = 0.0
    initializer_range: float = 0.02
    # Tasks and losses (eq. 10-15)
    num_attributes: int = 1000
    category_loss_weight: float | int = 1.0
    attribute_loss_weight: float | int = 1.0
    triplet_loss_weight: float | int = 0.5
    triplet_margin: float | int = 0.2
    label_mask_training: bool = True
    min_unknown_fraction: float | int = 0.25
    attention_init: str = "small_scores"
    triplet_conditioning: str = "query_attribute"
    single_attribute_state_probability: float | int = 0.5
    spatial_score_activation: str = "none"
    spatial_attention_temperature: float | int = 1.0
    triplet_embedding: str = "spatial"
    triplet_positive_category: str = "anchor"
    spatial_attention_objective: str = "triplet"
    spatial_attention_attribute_gradient_scale: float | int = 1.0
    attribute_prediction: str = "shared"
    state_group_query: bool = True
    attribute_groups: list[int] | None = None

    def __post_init__(self, **kwargs):
        if isinstance(self.backbone_config, dict) and "model_type" not in self.backbone_config:
            # A preset's backbone block may omit the type: it is a ResNet by default.
            self.backbone_config = {**self.backbone_config, "model_type": "resnet"}
        if self.id2label is None and "num_labels" not in kwargs:
            kwargs["num_labels"] = 50
        if self.id2label is not None and kwargs.get("num_labels", len(self.id2label)) != len(self.id2label):
            raise ValueError(
                f"num_labels={kwargs['num_labels']} disagrees with id2label, which names {len(self.id2label)} categories."
            )
        super().__post_init__(**kwargs)

    def validate_sizes(self):
        """Sizes are positive."""
        for name in ("hidden_size", "num_attributes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}.")
        for name in ("channel_attention_hidden_size", "embedding_size"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"`{name}` must be positive or None, got {value}.")
        if self.num_labels is not None and self.num_labels <= 0:
            raise ValueError(f"`num_labels` (number of categories) must be positive, got {self.num_labels}.")

    def validate_choices(self):
        """Pooling and activation are among the supported names."""
        if self.pooling not in POOLING_TYPES:
            raise ValueError(f"`pooling` must be one of {POOLING_TYPES}, got {self.pooling!r}.")
        if self.attention_init not in ("small_scores", "resnet"):
            raise ValueError(f"`attention_init` must be 'small_scores' or 'resnet', got {self.attention_init!r}.")
        if self.triplet_conditioning not in ("query_attribute", "own_state"):
            raise ValueError(
                f"`triplet_conditioning` must be 'query_attribute' or 'own_state', got {self.triplet_conditioning!r}."
            )
        choices = {
            "spatial_score_activation": ("tanh", "none"),
            "triplet_embedding": ("shared", "spatial"),
            "spatial_attention_objective": ("all", "triplet", "triplet+attribute"),
            "triplet_positive_category": ("any", "anchor"),
            "attribute_prediction": ("shared", "per_group"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}, got {getattr(self, name)!r}.")
        if not 0 < self.spatial_attention_attribute_gradient_scale <= 1:
            raise ValueError(
                "`spatial_attention_attribute_gradient_scale` must be in (0, 1], got "
                f"{self.spatial_attention_attribute_gradient_scale}."
            )
        if self.spatial_attention_temperature <= 0:
            raise ValueError(f"`spatial_attention_temperature` must be > 0, got {self.spatial_attention_temperature}.")
        if not 0 <= self.single_attribute_state_probability <= 1:
            raise ValueError(
                f"`single_attribute_state_probability` must be in [0, 1], got {self.single_attribute_state_probability}."
            )
        if self.channel_attention_activation not in CHANNEL_ATTENTION_ACTIVATIONS:
            raise ValueError(
                f"`channel_attention_activation` must be one of {CHANNEL_ATTENTION_ACTIVATIONS}, "
                f"got {self.channel_attention_activation!r}."
            )

    def validate_attribute_groups(self):
        """`attribute_groups` gives every attribute a group id in [0, G), each id used, when prediction is per group."""
        groups = self.attribute_groups
        if groups is None:
            if self.attribute_prediction == "per_group":
                raise ValueError(
                    "`attribute_prediction='per_group'` needs `attribute_groups` (the group id of each attribute)."
                )
            return
        if len(groups) != self.num_attributes:
            raise ValueError(
                f"`attribute_groups` must have one group id per attribute ({self.num_attributes}), got {len(groups)}."
            )
        if any(not isinstance(group, int) or isinstance(group, bool) or group < 0 for group in groups):
            raise ValueError(f"`attribute_groups` must hold non-negative integer ids, got {groups}.")
        if self.attribute_prediction == "per_group" and self.spatial_attention_objective == "triplet+attribute":
            raise ValueError(
                "`spatial_attention_objective='triplet+attribute'` trains ASA by the shared attribute head; with "
                "`attribute_prediction='per_group'` the group passes already do: use 'triplet' or 'all'."
            )
        missing = sorted(set(range(max(groups) + 1)) - set(groups))
        if self.attribute_prediction == "per_group" and max(groups) < 1:
            raise ValueError(f"`attribute_prediction='per_group'` needs at least 2 attribute groups, got {groups}.")
        if missing:
            raise ValueError(f"`attribute_groups` must use every id in [0, {max(groups) + 1}); unused: {missing}.")

    @property
    def num_attribute_groups(self) -> int:
        """G, the number of attribute groups (0 without `attribute_groups`)."""
        return max(self.attribute_groups) + 1 if self.attribute_groups else 0

    def validate_losses(self):
        """Loss weights are non-negative, at least one is on, and the label-mask fraction is in (0, 1]."""
        weights = {
            "category_loss_weight": self.category_loss_weight,
            "attribute_loss_weight": self.attribute_loss_weight,
            "triplet_loss_weight": self.triplet_loss_weight,
        }
        for name, value in weights.items():
            if value < 0:
                raise ValueError(f"`{name}` must be >= 0, got {value}.")
        if not any(weights.values()):
            raise ValueError(f"At least one loss weight must be positive, got {weights}.")
        if self.triplet_margin < 0:
            raise ValueError(f"`triplet_margin` must be >= 0, got {self.triplet_margin}.")
        if not 0 < self.min_unknown_fraction <= 1:
            raise ValueError(f"`min_unknown_fraction` must be in (0, 1], got {self.min_unknown_fraction}.")
        if not 0 <= self.classifier_dropout < 1:
            raise ValueError(f"`classifier_dropout` must be in [0, 1), got {self.classifier_dropout}.")

    def validate_backbone(self):
        """The backbone configuration describes a backbone that outputs feature maps."""
        if not hasattr(self.backbone_config, "out_features"):
            raise ValueError(
                f"`backbone_config` must be a backbone configuration with `out_features` (e.g. ResNetConfig), "
                f"got {type(self.backbone_config).__name__}."
            )


__all__ = ["M2FashionConfig"]
