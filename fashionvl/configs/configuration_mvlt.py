"""MVLT model configuration.

MVLT: "Masked Vision-language Transformer in Fashion", Ji, Zhuge, Gao, Fan, Sakaridis, Van Gool,
Machine Intelligence Research 2023 (https://github.com/GewelsJI/MVLT). The encoder is a four-stage
pyramid (PVT-v1) vision-language transformer; the defaults below are the paper's Table 1 (PVT-Tiny shape,
256x256 images, captions of 128 tokens, loss weights 10/1/1).

This file imports nothing from fashionvl except the same-directory ``presets`` module, so it can be
exported into a flat remote-code folder (see ``fashionvl/configs/presets.py``).
"""

import math

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .presets import PresetMixin


STAGE_LIST_FIELDS = ("hidden_sizes", "depths", "num_attention_heads", "mlp_ratios", "sr_ratios", "patch_sizes")
MIR_DECODERS = ("unet", "partial")
ITC_TEXT_POOLINGS = ("mean", "cls")
ITM_NEGATIVE_MININGS = ("collator", "itc")
# The image processor's default normalisation (ImageNet), from which the default [ZERO] fill values are computed.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalized_pixel_value(raw_value: float, image_mean, image_std, num_channels: int) -> list[float]:
    """`(raw_value - mean) / std` per channel: where a raw pixel value lands after the image processor's
    normalisation (errors name `image_mean` / `image_std` when they do not fit `num_channels`)."""
    for name, values in (("image_mean", image_mean), ("image_std", image_std)):
        if not isinstance(values, (list, tuple)) or len(values) != num_channels:
            raise ValueError(f"`{name}` must have one value per channel (num_channels={num_channels}), got {values}.")
    if any(std <= 0 for std in image_std):
        raise ValueError(f"`image_std` must be positive, got {list(image_std)}.")
    return [(raw_value - mean) / std for mean, std in zip(image_mean, image_std)]


@strict
class MVLTConfig(PresetMixin, PreTrainedConfig):
    r"""
    Configuration of an MVLT model ([`MVLTModel`], [`MVLTForPreTraining`], [`MVLTForImageTextRetrieval`],
    [`MVLTForCategoryRecognition`]). The default values reproduce the paper's pre-training setting (Table 1:
    PVT-Tiny-shaped stages, 256x256 images, L = 128 text tokens, loss weights w1 = 10, w2 = 1, w3 = 1).
    Named recipes: `MVLTConfig.from_preset("paper")` and `MVLTConfig.from_preset("tiny")` (tests, CPU demo);
    `"small"`, `"medium"` and `"large"` are the paper preset with the depths of PVT-v1 Small/Medium/Large.

    Vision arguments (one list entry per pyramid stage k = 1..4; all stage lists must have the same length):

    image_size (`int`, *optional*, defaults to 256):
        Height and width of the (square) input image. Must be divisible by the total stride
        `prod(patch_sizes)` so that every stage sees a whole number of patches.
    num_channels (`int`, *optional*, defaults to 3):
        Number of image channels.
    hidden_sizes (`list[int]`, *optional*, defaults to `[64, 128, 320, 512]`):
        Width D_k of the tokens of stage k (vision and text alike).
    depths (`list[int]`, *optional*, defaults to `[2, 2, 2, 2]`):
        Number of transformer blocks M_k in stage k (small/medium/large variants: 3,4,6,3 / 3,4,18,3 / 3,8,27,3).
    num_attention_heads (`list[int]`, *optional*, defaults to `[1, 2, 5, 8]`):
        Attention heads of stage k; `hidden_sizes[k]` must be divisible by it.
    mlp_ratios (`list[float]`, *optional*, defaults to `[8, 8, 4, 4]`):
        Width of the feed-forward hidden layer of stage k, as a multiple of `hidden_sizes[k]`.
    sr_ratios (`list[int]`, *optional*, defaults to `[8, 4, 2, 1]`):
        Spatial-reduction ratio of stage k: keys/values use the vision tokens reduced by a convolution with
        kernel = stride = `sr_ratios[k]` (1 = no reduction).
    patch_sizes (`list[int]`, *optional*, defaults to `[4, 2, 2, 2]`):
        Kernel size K_k = stride S_k of the patch embedding of stage k. The total stride is their product
        (32 for the defaults: maps of 64, 32, 16 and 8 pixels per side at 256px).
    hidden_act (`str`, *optional*, defaults to `"gelu"`):
        Activation of the feed-forward layers and of the MLM transform.
    hidden_dropout_prob (`float`, *optional*, defaults to 0.0):
        Dropout after embeddings, attention output and feed-forward layers.
    attention_probs_dropout_prob (`float`, *optional*, defaults to 0.0):
        Dropout on the attention probabilities.
    drop_path_rate (`float`, *optional*, defaults to 0.1):
        Stochastic-depth rate, increasing linearly over all blocks up to this value (0.1 at pre-training).
    layer_norm_eps (`float`, *optional*, defaults to 1e-6):
        Epsilon of the encoder's layer norms.
    qkv_bias (`bool`, *optional*, defaults to `True`):
        Whether the query/key/value projections have a bias.
    initializer_range (`float`, *optional*, defaults to 0.02):
        Standard deviation of the truncated normal initialiser of linear/conv weights and position embeddings.

    Text arguments:

    vocab_size (`int`, *optional*, defaults to 30522):
        Size of the WordPiece vocabulary (`bert-base-uncased` has 30522). Scripts set it from the tokenizer.
    text_hidden_size (`int`, *optional*, defaults to 768):
        Width of the BERT-style word/position/token-type embeddings, projected to `hidden_sizes[0]` in stage 1.
    max_position_embeddings (`int`, *optional*, defaults to 128):
        Maximum caption length L in tokens (including [CLS], [SEP] and padding). Each stage has a learned
        text position embedding of L x D_k.
    type_vocab_size (`int`, *optional*, defaults to 2):
        Number of token types (`token_type_ids`).
    text_layer_norm_eps (`float`, *optional*, defaults to 1e-12):
        Epsilon of the BERT-style embedding layer norm.
    pad_token_id (`int`, *optional*, defaults to 0):
        Id of the [PAD] token (its word embedding is initialised to zero).
    mask_padded_text (`bool`, *optional*, defaults to `True`):
        Mask padded text keys in attention (from `attention_mask`), so that a caption gives the same output
        whatever length it is padded to. `False` reproduces the official code, where [PAD] tokens are attended.

    Masked image reconstruction (MIR) arguments:

    mask_unit_size (`int`, *optional*, defaults to 16):
        Side in pixels of one masking unit, alpha * P (alpha = 4, P = 4). Must be a multiple of
        `patch_sizes[0]` and divide `image_size`; `bool_masked_pos` has `(image_size // mask_unit_size) ** 2`
        entries per image, row-major over units.
    mask_pixel_value (`float`, *optional*, defaults to 1e-6):
        Raw pixel value (in [0, 1], before normalisation) that fills masked units: the paper's [ZERO] = 1e-6
        (footnote 2).
    mask_fill_values (`list[float]`, *optional*):
        Per-channel value the model writes into masked units of the *normalised* `pixel_values`: [ZERO] after the
        image processor's normalisation, `(mask_pixel_value - mean) / std`. By default computed with the ImageNet
        mean/std, the image processor's defaults. The normalisation statistics themselves belong to the image
        processor; a config (or an older `config.json`) that passes `image_mean` / `image_std` gets the fill values
        computed from them, and they are not stored.
    mir_decoder (`str`, *optional*, defaults to `"unet"`):
        `"unet"`: a four-level U-Net decoder over the four pyramid maps (paper text). `"partial"`: the
        official code's decoder over stages 2-4 (3x3 conv+BN reductions, multiplicative aggregation, 1x1 conv to
        the image channels, bilinear upsampling to the image size).
    decoder_hidden_size (`int`, *optional*, defaults to 64):
        Channels of the decoder: every level of the U-Net decoder, and the `"partial"` decoder (64 in the official
        code).

    Loss and task arguments:

    mir_loss_weight (`float`, *optional*, defaults to 10.0):
        w1 of eq. 8 (masked image reconstruction). 0 switches MIR off.
    itm_loss_weight (`float`, *optional*, defaults to 1.0):
        w2 of eq. 8 (image-text matching). 0 switches ITM off.
    mlm_loss_weight (`float`, *optional*, defaults to 1.0):
        w3 of eq. 8 (masked language modelling). 0 switches MLM off.
    num_main_categories (`int`, *optional*, defaults to 48):
        Number of main categories of [`MVLTForCategoryRecognition`] (48 in Fashion-Gen).
    num_sub_categories (`int`, *optional*, defaults to 122):
        Number of sub-categories of [`MVLTForCategoryRecognition`] (122 in the paper; use the dataset's count).
    sub_category_names (`list[str]`, *optional*):
        Names of the sub-categories, by id (the main categories' names are `id2label`); set by the recipes from the
        data's ClassLabel column, None when the data has only ids.
    mlm_sparse_prediction (`bool`, *optional*, defaults to `False`):
        When `mlm_labels` are given, decode only the masked tokens (`mlm_logits` then has shape
        `(num_masked_tokens, vocab_size)`); the loss is the same. At the paper's sizes the vocabulary projection over
        all 128 tokens costs more than the vision encoder, so pre-training runs should turn this on.
    tie_word_embeddings (`bool`, *optional*, defaults to `True`):
        Tie the MLM decoder to the word embeddings.

    Image-text contrastive (ITC) arguments. **Departure from the paper** (ALBEF / BLIP practice, SPEC §2): the
    paper ranks with ITM alone, which does not learn fine-grained matching on our catalog (README, "MVLT
    retrieval"). With `itc_loss_weight > 0` the same encoder also runs a vision-only and a text-only pass, and a
    symmetric InfoNCE aligns their projections; the total loss is eq. 8 + `itc_loss_weight` * ITC. Off (0) in the
    `paper` preset so that the paper's ablations stay reproducible.

    itc_loss_weight (`float`, *optional*, defaults to 0.0):
        Weight of the ITC loss added to eq. 8. 0 switches it off (the paper).
    projection_dim (`int`, *optional*, defaults to 256):
        Width of the ITC embeddings (`get_image_features` / `get_text_features`).
    logit_scale_init_value (`float`, *optional*, defaults to 2.6592):
        Initial value of the learned log inverse temperature of ITC (CLIP: log(1 / 0.07)); the scale exp(.) is
        clamped at 100 as in CLIP.
    itc_text_pooling (`str`, *optional*, defaults to `"mean"`):
        How the text-only pass is pooled into the ITC text embedding: `"mean"` over the real tokens or `"cls"`
        (the [CLS] token).
    itm_negative_mining (`str`, *optional*, defaults to `"collator"`):
        Where ITM's negatives come from. `"collator"` (the paper): the collator swaps captions (`itm_labels`) and
        ITM is read on the joint pass of the masked image and the masked caption. `"itc"` (departure, ALBEF): ITM
        runs on its own joint pass over the unmasked image and the clean caption, with one negative caption per
        image and one negative image per caption drawn from softmax(ITC similarity) over the other products of the
        batch (needs `itc_loss_weight > 0`).
    itm_random_negative_share (`float`, *optional*, defaults to 0.5):
        With `itm_negative_mining="itc"`, the share of negatives drawn uniformly from the other products of the
        batch instead of from the ITC similarities (0 = all mined, as ALBEF).
    itm_pairs_per_row (`int`, *optional*, defaults to 3):
        With `itm_negative_mining="itc"`, ITM pairs per batch row: 3 = ALBEF (the matching pair, the image with a
        mined caption, the caption with a mined image); 1 = one of the three per row, drawn at random (a third of
        the cost of ALBEF's ITM pass, the same mix of positives and negatives on average; our CPU demo).
    itm_fusion_weight (`float`, *optional*, defaults to 1.0):
        Weight of the ITM log-odds in the fused retrieval score `logit_scale * cos(image, text) + itm_fusion_weight *
        (itm_logit_match - itm_logit_no_match)` (BLIP ranks with ITC + ITM). Recipes calibrate it on held-out data.

    Example:

    ```python
    >>> from fashionvl import MVLTConfig, MVLTForPreTraining

    >>> # The paper's pre-training configuration (Table 1)
    >>> configuration = MVLTConfig.from_preset("paper")

    >>> # A tiny configuration for tests and CPU demos, with the vocabulary of a small tokenizer
    >>> configuration = MVLTConfig.from_preset("tiny", vocab_size=1000)
    >>> model = MVLTForPreTraining(configuration)

    >>> # Accessing the model configuration
    >>> configuration = model.config
    ```"""

    model_type = "mvlt"

    # Vision (pyramid) stages
    image_size: int = 256
    num_channels: int = 3
    hidden_sizes: list[int] | tuple[int, ...] = (64, 128, 320, 512)
    depths: list[int] | tuple[int, ...] = (2, 2, 2, 2)
    num_attention_heads: list[int] | tuple[int, ...] = (1, 2, 5, 8)
    mlp_ratios: list[float | int] | tuple[float | int, ...] = (8, 8, 4, 4)
    sr_ratios: list[int] | tuple[int, ...] = (8, 4, 2, 1)
    patch_sizes: list[int] | tuple[int, ...] = (4, 2, 2, 2)
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.0
    attention_probs_dropout_prob: float | int = 0.0
    drop_path_rate: float | int = 0.1
    layer_norm_eps: float = 1e-6
    qkv_bias: bool = True
    initializer_range: float = 0.02
    # Text
    vocab_size: int = 30522
    text_hidden_size: int = 768
    max_position_embeddings: int = 128
    type_vocab_size: int = 2
    text_layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    mask_padded_text: bool = True
    # Masked image reconstruction
    mask_unit_size: int = 16
    mask_pixel_value: float = 1e-6
    mask_fill_values: list[float] | tuple[float, ...] | None = None
    mir_decoder: str = "unet"
    decoder_hidden_size: int = 64
    # Losses (eq. 8) and downstream heads
    mir_loss_weight: float | int = 10.0
    itm_loss_weight: float | int = 1.0
    mlm_loss_weight: float | int = 1.0
    num_main_categories: int = 48
    num_sub_categories: int = 122
    sub_category_names: list[str] | None = None
    mlm_sparse_prediction: bool = False
    tie_word_embeddings: bool = True
    # Image-text contrastive alignment (departure from the paper, ALBEF / BLIP)
    itc_loss_weight: float | int = 0.0
    projection_dim: int = 256
    logit_scale_init_value: float | int = 2.6592
    itc_text_pooling: str = "mean"
    itm_negative_mining: str = "collator"
    itm_random_negative_share: float | int = 0.5
    itm_pairs_per_row: int = 3
    itm_fusion_weight: float | int = 1.0

    def __post_init__(self, **kwargs):
        # Stage lists are stored as lists so that config.json round-trips exactly.
        for name in STAGE_LIST_FIELDS:
            setattr(self, name, list(getattr(self, name)))
        # Normalisation statistics are the image processor's; configs saved before they moved there still carry them.
        image_mean = kwargs.pop("image_mean", IMAGENET_MEAN)
        image_std = kwargs.pop("image_std", IMAGENET_STD)
        if self.mask_fill_values is None:
            self.mask_fill_values = normalized_pixel_value(self.mask_pixel_value, image_mean, image_std, self.num_channels)
        self.mask_fill_values = [float(value) for value in self.mask_fill_values]
        super().__post_init__(**kwargs)

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        """As `PreTrainedConfig.from_dict`, but a config of another model type (e.g. an mFSR config.json) is an error
        naming it, instead of an MVLT config with the paper's defaults and a warning."""
        model_type = config_dict.get("model_type")
        if model_type not in (None, cls.model_type):
            raise ValueError(
                f"This config has model_type={model_type!r}, not {cls.model_type!r}: load it with its own config class "
                "(or AutoConfig)."
            )
        return super().from_dict(config_dict, **kwargs)

    @property
    def num_stages(self) -> int:
        """Number of pyramid stages (4 in the paper)."""
        return len(self.hidden_sizes)

    @property
    def total_stride(self) -> int:
        """Down-sampling factor of the last pyramid map: the product of `patch_sizes` (32 for the paper)."""
        return math.prod(self.patch_sizes)

    @property
    def num_mask_units(self) -> int:
        """Number of masking units Q per image: `(image_size // mask_unit_size) ** 2` (256 for the paper)."""
        return (self.image_size // self.mask_unit_size) ** 2

    def validate_stage_lists(self):
        """Every per-stage list has one positive entry per stage, and each width splits evenly into heads."""
        lengths = {name: len(getattr(self, name)) for name in STAGE_LIST_FIELDS}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"All stage lists must have the same length (one entry per stage), got lengths {lengths}.")
        if lengths["hidden_sizes"] == 0:
            raise ValueError("MVLT needs at least one stage, got empty stage lists.")
        for name in STAGE_LIST_FIELDS:
            values = getattr(self, name)
            if any(value <= 0 for value in values):
                raise ValueError(f"`{name}` must hold positive values, got {values}.")
        for stage, (hidden_size, heads) in enumerate(zip(self.hidden_sizes, self.num_attention_heads), start=1):
            if hidden_size % heads != 0:
                raise ValueError(
                    f"Stage {stage}: hidden size {hidden_size} (hidden_sizes) is not divisible by its number of "
                    f"attention heads {heads} (num_attention_heads={self.num_attention_heads})."
                )

    def validate_image_geometry(self):
        """The image tiles into whole patches at every stage and into whole masking units."""
        if self.image_size <= 0 or self.image_size % self.total_stride != 0:
            raise ValueError(
                f"image_size={self.image_size} must be a positive multiple of the total stride "
                f"{self.total_stride} (the product of patch_sizes={self.patch_sizes})."
            )
        if self.mask_unit_size <= 0 or self.mask_unit_size % self.patch_sizes[0] != 0:
            raise ValueError(
                f"mask_unit_size={self.mask_unit_size} must be a positive multiple of the first patch size "
                f"{self.patch_sizes[0]} (a masking unit is alpha * P pixels)."
            )
        if self.image_size % self.mask_unit_size != 0:
            raise ValueError(
                f"image_size={self.image_size} must be divisible by mask_unit_size={self.mask_unit_size}."
            )
        if len(self.mask_fill_values) != self.num_channels:
            raise ValueError(
                f"`mask_fill_values` must have one value per channel (num_channels={self.num_channels}), "
                f"got {self.mask_fill_values}."
            )

    def validate_numerics(self):
        """Epsilons and the initialiser's standard deviation are positive."""
        for name in ("layer_norm_eps", "text_layer_norm_eps", "initializer_range"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}.")

    def validate_text(self):
        """Text sizes are positive."""
        for name in ("vocab_size", "text_hidden_size", "max_position_embeddings", "type_vocab_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}.")

    def validate_heads_and_losses(self):
        """Decoder choice is known, loss weights are non-negative, category counts are positive."""
        if self.mir_decoder not in MIR_DECODERS:
            raise ValueError(f"mir_decoder={self.mir_decoder!r} is not supported: expected one of {MIR_DECODERS}.")
        if self.mir_decoder == "partial" and self.num_stages < 3:
            raise ValueError(
                f"mir_decoder='partial' aggregates the last three stages, but the model has {self.num_stages} stages."
            )
        if self.decoder_hidden_size <= 0:
            raise ValueError(f"`decoder_hidden_size` must be positive, got {self.decoder_hidden_size}.")
        loss_weights = ("mir_loss_weight", "itm_loss_weight", "mlm_loss_weight", "itc_loss_weight")
        for name in loss_weights + ("itm_fusion_weight",):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be non-negative (0 switches the loss off), got {getattr(self, name)}.")
        if all(getattr(self, name) == 0 for name in loss_weights):
            raise ValueError(
                f"every pre-training loss weight is 0 ({', '.join(loss_weights)}): MVLTForPreTraining would have no "
                "loss; keep at least one positive."
            )
        for name in ("num_main_categories", "num_sub_categories"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}.")
        if self.sub_category_names is not None and len(self.sub_category_names) != self.num_sub_categories:
            raise ValueError(
                f"`sub_category_names` has {len(self.sub_category_names)} names for num_sub_categories="
                f"{self.num_sub_categories}."
            )
        if self.projection_dim <= 0:
            raise ValueError(f"`projection_dim` must be positive, got {self.projection_dim}.")
        if self.itc_text_pooling not in ITC_TEXT_POOLINGS:
            raise ValueError(f"itc_text_pooling={self.itc_text_pooling!r} is not supported: expected one of {ITC_TEXT_POOLINGS}.")
        if self.itm_negative_mining not in ITM_NEGATIVE_MININGS:
            raise ValueError(
                f"itm_negative_mining={self.itm_negative_mining!r} is not supported: expected one of {ITM_NEGATIVE_MININGS}."
            )
        if self.itm_negative_mining == "itc" and self.itc_loss_weight == 0:
            raise ValueError(
                "itm_negative_mining='itc' mines ITM negatives from ITC similarities, which are trained only with "
                "itc_loss_weight > 0; got itc_loss_weight=0."
            )
        if self.itm_pairs_per_row not in (1, 3):
            raise ValueError(f"`itm_pairs_per_row` must be 1 or 3, got {self.itm_pairs_per_row}.")
        if not 0 <= self.itm_random_negative_share <= 1:
            raise ValueError(f"`itm_random_negative_share` must be in [0, 1], got {self.itm_random_negative_share}.")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "drop_path_rate"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be in [0, 1), got {getattr(self, name)}.")


__all__ = ["MVLTConfig"]
