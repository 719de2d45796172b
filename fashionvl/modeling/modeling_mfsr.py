"""PyTorch mFSR model.

Paper: L. Zhang, X. Wu, "Multi-task framework based on feature separation and reconstruction for cross-modal
retrieval", Pattern Recognition 2021 (mFSR). A VSE++-style dual encoder for image-caption retrieval:

- image pipeline: a transformers backbone (ResNet-152 by default) -> global average pool -> FC_1 (eq. 1);
- text pipeline: word embedding W_e (300) -> stacked GRU -> state at the last valid word (eq. 2);
- feature separation: MLP_v / MLP_l -> [modal; semantic; specific], each part L2-normalised (eq. 3);
- reconstruction heads used only for training: a DCGAN generator G with discriminators D1 (real / generated) and
  D2 (does a generated image belong to this real image) (eq. 4, 11-13), and a GRU caption decoder with
  teacher forcing (eq. 5, 14).

Retrieval uses the semantic parts only (`get_image_features` / `get_text_features`). Losses live in
`losses.py` (`# >>> mFSR losses`). Training alternates encoder/generator steps and discriminator steps: see
`MFSRForRetrieval.forward(..., discriminator_step=...)` and `get_discriminator_parameters`.

Departures from the paper (SPEC-style notes in the README, "mFSR: departures"), all switchable in `MFSRConfig`:

- separation head: one linear layer by default (`separation_num_layers=1`); the 2-layer ReLU MLP collapsed under
  the hardest-negative hinge on the synthetic catalog; orthogonal init by default (`separation_init`), where
  N(0, 0.02) cost ~70 rsum against VSE++;
- eq. 10: an orthogonality penalty cos^2(sp, se) by default (`specific_loss_form`); exp(sp . se) as printed is
  minimised at sp = -se;
- eq. 8: captions of the same image (`image_ids`) are never negatives (`mask_same_image_negatives`);
- eq. 14: per-word mean (`caption_loss_reduction="token_mean"`) instead of the per-caption sum;
- eq. 7 follows the text, eq. 13's D2 term its stated purpose (see `losses.py`).

Remote-code contract: this file imports from fashionvl only `..configs.configuration_mfsr` and `.losses`.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.backbone_utils import load_backbone
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ..configs.configuration_mfsr import MFSRConfig
from .input_checks import check_pixel_values, check_token_ids
from .losses import (
    mfsr_caption_reconstruction_loss,
    mfsr_gan_discriminator_loss,
    mfsr_gan_generator_loss,
    mfsr_modal_loss,
    mfsr_specific_loss,
    mfsr_vse_hinge_loss,
)


@dataclass
class MFSRModelOutput(ModelOutput):
    r"""Output of [`MFSRModel`]. Embeddings are L2-normalised; fields of a modality not given are `None`.

    image_embeds (`torch.FloatTensor` of shape `(batch_size, embed_dim)`): semantic parts v^se (retrieval).
    text_embeds (`torch.FloatTensor` of shape `(batch_size, embed_dim)`): semantic parts l^se (retrieval).
    logits_per_image (`torch.FloatTensor` of shape `(image_batch_size, text_batch_size)`):
        inner products <v^se_i, l^se_j> (cosine similarities); `logits_per_text` is its transpose.
    image_modal_embeds, image_specific_embeds (`(batch_size, embed_dim)`): v^mo and v^sp (None without separation).
    text_modal_embeds, text_specific_embeds (`(batch_size, embed_dim)`): l^mo and l^sp (None without separation).
    image_representation (`(batch_size, hidden_size)`): v = FC_1(Res(x)) before separation (eq. 1).
    text_representation (`(batch_size, hidden_size)`): l, the GRU state at the last valid word (eq. 2).
    pooler_output (`(batch_size, embed_dim)`): `image_embeds` again when images are given (the retrieval
        embedding = `get_image_features`, what transformers' image-feature-extraction pipeline reads with
        `pool=True`; without it the pipeline reads the first field, also `image_embeds`).
    """

    image_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    logits_per_image: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    image_modal_embeds: torch.FloatTensor | None = None
    image_specific_embeds: torch.FloatTensor | None = None
    text_modal_embeds: torch.FloatTensor | None = None
    text_specific_embeds: torch.FloatTensor | None = None
    image_representation: torch.FloatTensor | None = None
    text_representation: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None


@dataclass
class MFSRForRetrievalOutput(ModelOutput):
    r"""Output of [`MFSRForRetrieval`].

    loss (`torch.FloatTensor` scalar): with `discriminator_step=False` the weighted eq. 6 total
        w_mo L_mo + w_se L_se + w_sp L_sp + w_img L_img-re + w_cap L_cap-re; with `discriminator_step=True` the
        discriminator loss L_D1 + L_D2 (eq. 11-12).
    modal_loss, semantic_loss, specific_loss, image_reconstruction_loss, caption_reconstruction_loss (scalars):
        the unweighted terms of eq. 6 (None when switched off or in a discriminator step).
    discriminator_loss (scalar): L_D1 + L_D2, only in a discriminator step.
    real_fake_discriminator_loss, pair_discriminator_loss (scalars): L_D1 and L_D2, only in a discriminator step.
    logits_per_image (`(batch_size, batch_size)`): semantic similarities <v^se_i, l^se_j>.
    image_embeds, text_embeds (`(batch_size, embed_dim)`): semantic embeddings.
    reconstructed_pixel_values (`(batch_size, 3, size, size)`): G's images in [-1, 1] (`size` =
        `config.reconstruction_image_size`), when image reconstruction is on.
    caption_logits (`(batch_size, length - 1, vocab_size)`): teacher-forced decoder outputs; position t predicts
        word t + 1 of `input_ids`.
    """

    loss: torch.FloatTensor | None = None
    modal_loss: torch.FloatTensor | None = None
    semantic_loss: torch.FloatTensor | None = None
    specific_loss: torch.FloatTensor | None = None
    image_reconstruction_loss: torch.FloatTensor | None = None
    caption_reconstruction_loss: torch.FloatTensor | None = None
    discriminator_loss: torch.FloatTensor | None = None
    real_fake_discriminator_loss: torch.FloatTensor | None = None
    pair_discriminator_loss: torch.FloatTensor | None = None
    logits_per_image: torch.FloatTensor | None = None
    image_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    reconstructed_pixel_values: torch.FloatTensor | None = None
    caption_logits: torch.FloatTensor | None = None


@dataclass
class MFSRZeroShotImageClassificationOutput(ModelOutput):
    r"""Output of [`MFSRForZeroShotImageClassification`] (the CLIP zero-shot contract).

    logits_per_image (`(image_batch_size, text_batch_size)`): `exp(config.logit_scale) * <v^se_i, l^se_j>`; a
        softmax over a row gives the probability of each candidate caption for image i.
    logits_per_text (`(text_batch_size, image_batch_size)`): its transpose.
    image_embeds, text_embeds (`(batch_size, embed_dim)`): the unit-norm semantic embeddings v^se / l^se.
    """

    logits_per_image: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    image_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None


class MFSRImageEncoder(nn.Module):
    """Image pipeline, mFSR eq. 1: v = FC_1(Res(x)), Res = backbone + global average pool."""

    def __init__(self, config: MFSRConfig):
        super().__init__()
        self.backbone = load_backbone(config)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.projection = nn.Linear(self.backbone.channels[-1], config.hidden_size)
        self.backbone_frozen = config.freeze_image_backbone

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """`(batch, 3, height, width)` normalised pixels -> `(batch, hidden_size)` visual representation v."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.backbone_frozen):
            feature_map = self.backbone(pixel_values).feature_maps[-1]
        # mFSR eq. 1: the pooled last feature map (the 2048-d "FC7" feature of ResNet-152), then FC_1
        return self.projection(self.pool(feature_map).flatten(1))


class MFSRTextEncoder(nn.Module):
    """Text pipeline, mFSR eq. 2: l = GRU(W_e y)[last valid step]."""

    def __init__(self, config: MFSRConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.word_embedding_size, padding_idx=config.pad_token_id)
        self.gru = nn.GRU(config.word_embedding_size, config.hidden_size, config.text_num_layers, batch_first=True)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """`(batch, length)` right-padded word ids and mask -> `(batch, hidden_size)` literal representation l."""
        lengths = attention_mask.sum(dim=1)
        if (lengths < 1).any():
            raise ValueError(f"Every caption needs at least one token; got lengths {lengths.tolist()}.")
        positions = torch.arange(attention_mask.size(1), device=attention_mask.device)
        if not torch.equal(attention_mask.bool(), positions.unsqueeze(0) < lengths.unsqueeze(1)):
            raise ValueError("MFSR expects right-padded captions (attention_mask of 1s then 0s in every row).")
        packed = pack_padded_sequence(
            self.word_embeddings(input_ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        # mFSR eq. 2: l = l'(-1, :), the top layer's state after the last valid word (packing skips padding)
        _, last_states = self.gru(packed)
        return last_states[-1]


class MFSRSeparationLinear(nn.Linear):
    """A linear layer of the separation MLP (its own class so that `config.separation_init` can reach it)."""


class MFSRFeatureSeparation(nn.Module):
    """mFSR eq. 3: MLP_m(m) split into [m^mo; m^se; m^sp], each part L2-normalised."""

    def __init__(self, config: MFSRConfig):
        super().__init__()
        layers = []
        for _ in range(config.separation_num_layers - 1):
            layers += [MFSRSeparationLinear(config.hidden_size, config.hidden_size), nn.ReLU()]
        layers.append(MFSRSeparationLinear(config.hidden_size, 3 * config.embed_dim))
        self.mlp = nn.Sequential(*layers)

    def forward(self, representation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(batch, hidden_size)` -> modal, semantic, specific parts, each `(batch, embed_dim)` of unit norm."""
        modal, semantic, specific = self.mlp(representation).chunk(3, dim=-1)
        # The printed eq. 3 divides the whole MLP output by its norm; section 3.2 and the losses (eq. 7-10,
        # inner products as similarities) need each part normalised, which is what we do.
        return F.normalize(modal, dim=-1), F.normalize(semantic, dim=-1), F.normalize(specific, dim=-1)


class MFSRGenerator(nn.Module):
    """DCGAN generator G of mFSR eq. 4: x' = G([v^mo; v^se; v^sp]), images in [-1, 1] (tanh)."""

    def __init__(self, config: MFSRConfig):
        super().__init__()
        num_upsamplings = int(math.log2(config.reconstruction_image_size)) - 2
        channels = config.generator_channels * 2 ** (num_upsamplings - 1)
        layers = [
            nn.ConvTranspose2d(3 * config.embed_dim, channels, 4, 1, 0, bias=False),  # code -> 4x4
            nn.BatchNorm2d(channels),
            nn.ReLU(True),
        ]
        for _ in range(num_upsamplings - 1):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(channels // 2), nn.ReLU(True)]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        """`(batch, 3 * embed_dim)` -> `(batch, 3, size, size)` with size = `reconstruction_image_size`."""
        return self.layers(code[:, :, None, None])


class MFSRDiscriminator(nn.Module):
    """DCGAN discriminator: D1 (3 input channels, real vs generated) or D2 (6 channels, [generated; real] pairs)."""

    def __init__(self, config: MFSRConfig, in_channels: int):
        super().__init__()
        num_downsamplings = int(math.log2(config.reconstruction_image_size)) - 2
        channels = config.discriminator_channels
        layers = [nn.Conv2d(in_channels, channels, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(num_downsamplings - 1):
            layers += [nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(channels * 2), nn.LeakyReLU(0.2, True)]
            channels *= 2
        layers.append(nn.Conv2d(channels, 1, 4, 1, 0, bias=False))  # 4x4 -> one logit
        self.layers = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """`(batch, in_channels, size, size)` in [-1, 1] -> `(batch,)` logits (probability = sigmoid)."""
        return self.layers(images).flatten()


class MFSRCaptionDecoder(nn.Module):
    """mFSR eq. 5: y' = FC_2(RNN(W_e c, [l^mo; l^se; l^sp])): a GRU whose initial state is the separated code."""

    def __init__(self, config: MFSRConfig):
        super().__init__()
        self.gru = nn.GRU(config.word_embedding_size, 3 * config.embed_dim, config.decoder_num_layers, batch_first=True)
        self.output_projection = nn.Linear(3 * config.embed_dim, config.vocab_size)  # FC_2

    def forward(
        self, word_embeds: torch.Tensor, code: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, steps, word_embedding_size)` inputs and `(batch, 3 * embed_dim)` code -> logits
        `(batch, steps, vocab_size)` and the GRU state `(num_layers, batch, 3 * embed_dim)`."""
        if state is None:
            state = code.unsqueeze(0).expand(self.gru.num_layers, -1, -1).contiguous()
        hidden_states, state = self.gru(word_embeds, state)
        return self.output_projection(hidden_states), state


class MFSRPreTrainedModel(PreTrainedModel):
    config: MFSRConfig
    config_class = MFSRConfig
    base_model_prefix = "mfsr"
    main_input_name = "pixel_values"
    input_modalities = ("image", "text")
    _no_split_modules = ["MFSRImageEncoder", "MFSRTextEncoder", "MFSRGenerator", "MFSRDiscriminator"]
    # GRUs run as one fused op: there are no layers to checkpoint.
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module):
        """DCGAN init (N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales); torch's GRU init; the backbone
        is a transformers model and keeps its own initialisation."""
        std = self.config.initializer_range
        if isinstance(module, MFSRSeparationLinear) and self.config.separation_init != "normal":
            # Departure (config.separation_init): N(0, 0.02) makes each part a tiny, ill-conditioned random
            # projection of the representation (it cost ~70 rsum against VSE++ on the synthetic catalog);
            # "orthogonal" starts each part as a norm-preserving projection.
            if self.config.separation_init == "xavier_uniform":
                init.xavier_uniform_(module.weight)
            elif module.out_features == 3 * self.config.embed_dim and module.out_features > module.in_features:
                # the three parts cannot be mutually orthogonal: each part gets its own orthogonal block
                for part_weight in module.weight.chunk(3, dim=0):
                    init.orthogonal_(part_weight)
            else:
                init.orthogonal_(module.weight)  # orthonormal rows: the parts also start mutually orthogonal
            init.zeros_(module.bias)
        elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.normal_(module.weight, mean=1.0, std=std)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.GRU):
            bound = 1.0 / math.sqrt(module.hidden_size)
            for parameter in module.parameters():
                init.uniform_(parameter, -bound, bound)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=1.0 / math.sqrt(module.embedding_dim))
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])


class MFSRModel(MFSRPreTrainedModel):
    """The mFSR dual encoder with feature separation (no reconstruction heads, no losses).

    Example:

    ```python
    >>> import torch
    >>> from fashionvl import MFSRConfig, MFSRModel

    >>> model = MFSRModel(MFSRConfig.from_preset("tiny", vocab_size=50)).eval()
    >>> image_embeds = model.get_image_features(torch.randn(2, 3, 64, 64))
    >>> text_embeds = model.get_text_features(torch.tensor([[1, 7, 2], [1, 9, 2]]), torch.ones(2, 3, dtype=torch.long))
    >>> (image_embeds @ text_embeds.T).shape
    torch.Size([2, 2])
    ```

    ImageNet weights for the backbone (the paper starts from an ImageNet ResNet-152)::

        model = MFSRModel(MFSRConfig.from_preset("paper", vocab_size=len(tokenizer)))
        model.load_pretrained_backbone("microsoft/resnet-152")   # any AutoBackbone checkpoint of the same layout
    """

    def __init__(self, config: MFSRConfig):
        super().__init__(config)
        self.image_encoder = MFSRImageEncoder(config)
        self.text_encoder = MFSRTextEncoder(config)
        if config.use_feature_separation:
            self.image_separation = MFSRFeatureSeparation(config)
            self.text_separation = MFSRFeatureSeparation(config)
        self.post_init()
        self.set_image_backbone_trainable(not config.freeze_image_backbone)

    def set_image_backbone_trainable(self, trainable: bool) -> None:
        """Freeze (`False`: no gradients, batch-norm statistics fixed) or release the image backbone.

        The paper trains with a fixed ImageNet backbone, then fine-tunes everything (section 3.5).
        """
        self.config.freeze_image_backbone = not trainable
        self.image_encoder.backbone_frozen = not trainable
        self.image_encoder.backbone.requires_grad_(trainable)
        self.image_encoder.backbone.train(self.training and trainable)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.image_encoder.backbone_frozen:
            self.image_encoder.backbone.eval()
        return self

    def load_pretrained_backbone(self, pretrained_model_name_or_path: str, **kwargs) -> None:
        """Copy the weights of a transformers backbone checkpoint (e.g. `microsoft/resnet-152`, or a local folder
        saved by `ResNetModel.save_pretrained`) into the image backbone.

        The checkpoint must have the layout of `config.backbone_config` (build the config from the checkpoint's
        config for another depth); keyword arguments go to the backbone class's `from_pretrained`.

        Raises:
            ValueError: naming the missing / unexpected parameters when the layouts differ.
        """
        kwargs.setdefault("out_features", list(self.config.backbone_config.out_features))
        kwargs.setdefault("dtype", torch.float32)
        backbone = self.image_encoder.backbone
        # The backbone class itself, not AutoBackbone: in transformers 5.23 AutoBackbone.from_pretrained asks the
        # Hub whether the name exists before anything else, so it cannot load a local folder offline.
        pretrained = type(backbone).from_pretrained(pretrained_model_name_or_path, **kwargs)
        own_state, new_state = backbone.state_dict(), pretrained.state_dict()
        missing_keys = sorted(own_state.keys() - new_state.keys())
        unexpected_keys = sorted(new_state.keys() - own_state.keys())
        mismatched_shapes = [name for name in own_state.keys() & new_state.keys() if own_state[name].shape != new_state[name].shape]
        if missing_keys or unexpected_keys or mismatched_shapes:
            raise ValueError(
                f"Backbone checkpoint {pretrained_model_name_or_path!r} does not match config.backbone_config: "
                f"missing {missing_keys[:10]}, unexpected {unexpected_keys[:10]}, "
                f"different shapes {sorted(mismatched_shapes)[:10]}."
            )
        backbone.load_state_dict(new_state)

    def get_input_embeddings(self) -> nn.Embedding:
        """The word embeddings W_e of the caption encoder (eq. 2)."""
        return self.text_encoder.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.text_encoder.word_embeddings = value

    def encode_image(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """`(batch, 3, H, W)` -> (v, v^mo, v^se, v^sp); without separation (VSE++) v^se = v / ||v|| and the
        other parts are None."""
        representation = self.image_encoder(pixel_values.to(self.dtype))  # a bf16 model gets float32 pixels
        if not self.config.use_feature_separation:
            return representation, None, F.normalize(representation, dim=-1), None
        return (representation, *self.image_separation(representation))

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """`(batch, length)` -> (l, l^mo, l^se, l^sp) (see `encode_image`)."""
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        representation = self.text_encoder(input_ids, attention_mask)
        if not self.config.use_feature_separation:
            return representation, None, F.normalize(representation, dim=-1), None
        return (representation, *self.text_separation(representation))

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Semantic image embeddings v^se, `(batch, embed_dim)`, unit norm: the retrieval embedding."""
        return self.encode_image(pixel_values)[2]

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Semantic caption embeddings l^se, `(batch, embed_dim)`, unit norm: the retrieval embedding."""
        return self.encode_text(input_ids, attention_mask)[2]

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> MFSRModelOutput:
        r"""
        pixel_values (`(batch_size, 3, height, width)`, *optional*): normalised images.
        input_ids (`(batch_size, length)`, *optional*): word ids, `<start> ... <end>`, right-padded.
        attention_mask (`(batch_size, length)`, *optional*): 1 for words, 0 for padding (from `input_ids` if None).
        """
        if pixel_values is None and input_ids is None:
            raise ValueError("MFSRModel.forward needs pixel_values, input_ids, or both.")
        # Fields are passed to the constructor, not set afterwards: a ModelOutput orders its keys (`output[0]`, the
        # `return_dict=False` tuple) by first assignment, and `output[0]` must be the retrieval embedding.
        v = v_mo = v_se = v_sp = l = l_mo = l_se = l_sp = logits_per_image = None
        if pixel_values is not None:
            v, v_mo, v_se, v_sp = self.encode_image(pixel_values)
        if input_ids is not None:
            l, l_mo, l_se, l_sp = self.encode_text(input_ids, attention_mask)
        if pixel_values is not None and input_ids is not None:
            logits_per_image = v_se @ l_se.t()
        return MFSRModelOutput(
            image_embeds=v_se,
            text_embeds=l_se,
            logits_per_image=logits_per_image,
            logits_per_text=logits_per_image.t() if logits_per_image is not None else None,
            image_modal_embeds=v_mo,
            image_specific_embeds=v_sp,
            text_modal_embeds=l_mo,
            text_specific_embeds=l_sp,
            image_representation=v,
            text_representation=l,
            pooler_output=v_se,
        )


class MFSRForRetrieval(MFSRPreTrainedModel):
    """mFSR with its training heads and the five losses of eq. 6 (see the module docstring).

    GAN training contract (used by `FashionTrainer`): `get_discriminator_parameters()` lists D1 and D2's
    parameters, which get their own optimizer; `forward(..., discriminator_step=True)` returns the
    discriminator loss computed on detached generated images; the default forward returns the encoder /
    generator total, during which the discriminators are applied with detached weights, so they receive no
    gradient from it.

    Example:

    ```python
    >>> import torch
    >>> from fashionvl import MFSRConfig, MFSRForRetrieval

    >>> model = MFSRForRetrieval(MFSRConfig.from_preset("tiny", vocab_size=50))
    >>> batch = {"pixel_values": torch.randn(4, 3, 64, 64), "input_ids": torch.randint(3, 50, (4, 6)),
    ...          "attention_mask": torch.ones(4, 6, dtype=torch.long)}
    >>> encoder_loss = model(**batch).loss                                  # eq. 6
    >>> discriminator_loss = model(**batch, discriminator_step=True).loss   # eq. 11 + 12
    ```
    """

    def __init__(self, config: MFSRConfig):
        super().__init__(config)
        self.mfsr = MFSRModel(config)
        if config.use_image_reconstruction:
            self.generator = MFSRGenerator(config)
            self.real_fake_discriminator = MFSRDiscriminator(config, in_channels=3)  # D1
            self.pair_discriminator = MFSRDiscriminator(config, in_channels=6)  # D2
        if config.use_caption_reconstruction:
            self.caption_decoder = MFSRCaptionDecoder(config)
        self.post_init()
        self.mfsr.set_image_backbone_trainable(not config.freeze_image_backbone)

    def get_discriminator_parameters(self) -> list[nn.Parameter]:
        """Parameters of D1 and D2 (empty when image reconstruction is off): the second optimizer's."""
        if not self.config.use_image_reconstruction:
            return []
        return [*self.real_fake_discriminator.parameters(), *self.pair_discriminator.parameters()]

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Semantic image embeddings, `(batch, embed_dim)` (see `MFSRModel.get_image_features`)."""
        return self.mfsr.get_image_features(pixel_values)

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Semantic caption embeddings, `(batch, embed_dim)` (see `MFSRModel.get_text_features`)."""
        return self.mfsr.get_text_features(input_ids, attention_mask)

    def reconstruction_target(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Undo the processor's normalisation and resize: `(batch, 3, H, W)` -> `(batch, 3, size, size)` in [-1, 1]."""
        scale = pixel_values.new_tensor(self.config.reconstruction_target_scale).view(1, 3, 1, 1)
        shift = pixel_values.new_tensor(self.config.reconstruction_target_shift).view(1, 3, 1, 1)
        images = pixel_values * scale + shift  # (pixel_values * std + mean) * 2 - 1
        size = self.config.reconstruction_image_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="area")
        return images.clamp(-1, 1)

    def _discriminate(self, discriminator: nn.Module, images: torch.Tensor, detach_weights: bool) -> torch.Tensor:
        if not detach_weights:
            return discriminator(images)
        # Encoder/generator step: gradients reach the images but not the discriminator's parameters.
        weights = {name: parameter.detach() for name, parameter in discriminator.named_parameters()}
        return torch.func.functional_call(discriminator, weights, (images,))

    def _discriminator_logits(self, generated: torch.Tensor, real: torch.Tensor, detach_weights: bool):
        """D1 on real and generated images, D2 on [x'; x] and [x''; x] (x'' = image generated for the next sample)."""
        mismatched = generated.roll(shifts=1, dims=0)  # x'' ~ G \ x': generated from another sample of the batch
        return (
            self._discriminate(self.real_fake_discriminator, real, detach_weights),
            self._discriminate(self.real_fake_discriminator, generated, detach_weights),
            self._discriminate(self.pair_discriminator, torch.cat([generated, real], dim=1), detach_weights),
            self._discriminate(self.pair_discriminator, torch.cat([mismatched, real], dim=1), detach_weights),
        )

    def _caption_logits(self, input_ids: torch.Tensor, text_code: torch.Tensor) -> torch.Tensor:
        # mFSR eq. 5 with teacher forcing: inputs <start> w_0 ... (the shared W_e), position t predicts word t + 1
        word_embeds = self.mfsr.text_encoder.word_embeddings(input_ids[:, :-1])
        return self.caption_decoder(word_embeds, text_code)[0]

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        image_ids: torch.Tensor | None = None,
        discriminator_step: bool = False,
        **kwargs,
    ) -> MFSRForRetrievalOutput:
        r"""
        pixel_values (`(batch_size, 3, height, width)`): normalised images; row i matches caption i.
        input_ids (`(batch_size, length)`): word ids `<start> ... <end>`, right-padded with `<pad>`.
        attention_mask (`(batch_size, length)`, *optional*): 1 for words, 0 for padding.
        image_ids (`(batch_size,)`, *optional*): id of each row's image; rows of one image are positives of each
            other in the semantic hinge (`config.mask_same_image_negatives`). None: only row i matches caption i.
        discriminator_step (`bool`, defaults to `False`): return the discriminator loss (eq. 11-12) instead of
            the encoder/generator loss (eq. 6).
        """
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        check_pixel_values(pixel_values, 3)
        check_token_ids(input_ids, self.config.vocab_size, "input_ids", batch_size=pixel_values.shape[0])
        if self.training and pixel_values.shape[0] < 2:
            # BatchNorm (backbone, generator, discriminators) cannot normalise a batch of one in training mode
            raise ValueError(
                f"MFSRForRetrieval trains on batches of at least 2 pairs (BatchNorm layers and the in-batch hinge need "
                f"them), got a batch of {pixel_values.shape[0]}; use a larger batch or drop the last short batch."
            )
        if discriminator_step:
            return self._discriminator_step(pixel_values)

        config = self.config
        encoded = self.mfsr(pixel_values=pixel_values, input_ids=input_ids, attention_mask=attention_mask)
        output = MFSRForRetrievalOutput(
            logits_per_image=encoded.logits_per_image, image_embeds=encoded.image_embeds, text_embeds=encoded.text_embeds
        )
        # mFSR eq. 8-9: VSE++ hinge with the hardest negative, on the semantic parts (same-image captions masked)
        output.semantic_loss = mfsr_vse_hinge_loss(
            encoded.image_embeds,
            encoded.text_embeds,
            margin=config.margin,
            max_violation=config.max_violation,
            image_ids=image_ids if config.mask_same_image_negatives else None,
        )
        if config.use_feature_separation and config.modal_loss_weight > 0:
            output.modal_loss = mfsr_modal_loss(encoded.image_modal_embeds, encoded.text_modal_embeds)  # eq. 7
        if config.use_feature_separation and config.specific_loss_weight > 0:
            # mFSR eq. 10: both modalities; cos^2 by default (see `mfsr_specific_loss` for why not exp as printed)
            form = config.specific_loss_form
            output.specific_loss = mfsr_specific_loss(
                encoded.image_embeds, encoded.image_specific_embeds, form=form
            ) + mfsr_specific_loss(encoded.text_embeds, encoded.text_specific_embeds, form=form)
        if config.use_image_reconstruction:
            # mFSR eq. 4: x' = G([v^mo; v^se; v^sp]); eq. 13: generator loss through D1 and D2
            image_code = torch.cat([encoded.image_modal_embeds, encoded.image_embeds, encoded.image_specific_embeds], dim=-1)
            generated = self.generator(image_code)
            _, generated_logits, matched_logits, mismatched_logits = self._discriminator_logits(
                generated, self.reconstruction_target(pixel_values), detach_weights=True
            )
            output.image_reconstruction_loss = mfsr_gan_generator_loss(generated_logits, matched_logits, mismatched_logits)
            output.reconstructed_pixel_values = generated
        if config.use_caption_reconstruction:
            text_code = torch.cat([encoded.text_modal_embeds, encoded.text_embeds, encoded.text_specific_embeds], dim=-1)
            output.caption_logits = self._caption_logits(input_ids, text_code)
            labels = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
            output.caption_reconstruction_loss = mfsr_caption_reconstruction_loss(  # eq. 14 (per-word mean by default)
                output.caption_logits, labels, reduction=config.caption_loss_reduction
            )

        # mFSR eq. 6 with configurable weights
        weighted_terms = [
            getattr(config, f"{name}_weight") * getattr(output, name)
            for name in ("modal_loss", "semantic_loss", "specific_loss", "image_reconstruction_loss", "caption_reconstruction_loss")
            if getattr(output, name) is not None
        ]
        output.loss = torch.stack(weighted_terms).sum()
        return output

    def _discriminator_step(self, pixel_values: torch.Tensor) -> MFSRForRetrievalOutput:
        if not self.config.use_image_reconstruction:
            raise ValueError(
                "discriminator_step=True needs image reconstruction (config.image_reconstruction_loss_weight > 0 "
                "and use_feature_separation=True); this model has no discriminators."
            )
        with torch.no_grad():  # generator outputs are detached: only D1 and D2 learn from this loss
            _, v_mo, v_se, v_sp = self.mfsr.encode_image(pixel_values)
            generated = self.generator(torch.cat([v_mo, v_se, v_sp], dim=-1))
        real_logits, generated_logits, matched_logits, mismatched_logits = self._discriminator_logits(
            generated, self.reconstruction_target(pixel_values), detach_weights=False
        )
        real_fake_loss = mfsr_gan_discriminator_loss(real_logits, generated_logits)  # eq. 11
        pair_loss = mfsr_gan_discriminator_loss(matched_logits, mismatched_logits)  # eq. 12
        total = real_fake_loss + pair_loss
        return MFSRForRetrievalOutput(
            loss=total,
            discriminator_loss=total,
            real_fake_discriminator_loss=real_fake_loss,
            pair_discriminator_loss=pair_loss,
            reconstructed_pixel_values=generated,
        )

    @torch.no_grad()
    def reconstruct(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        max_length: int = 32,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Reconstruct images (G) and captions (greedy decoding from `<start>`), as in paper Fig. 5.

        Returns:
            images `(batch, 3, size, size)` in [0, 1] (None without image reconstruction) and word ids
            `(batch, <= max_length)` after `<start>`, `<pad>` after `<end>` (None without caption reconstruction).
        """
        images = captions = None
        if self.config.use_image_reconstruction:
            _, v_mo, v_se, v_sp = self.mfsr.encode_image(pixel_values)
            images = (self.generator(torch.cat([v_mo, v_se, v_sp], dim=-1)) + 1) / 2
        if self.config.use_caption_reconstruction:
            _, l_mo, l_se, l_sp = self.mfsr.encode_text(input_ids, attention_mask)
            code = torch.cat([l_mo, l_se, l_sp], dim=-1)
            words = torch.full((code.size(0), 1), self.config.bos_token_id, dtype=torch.long, device=code.device)
            finished = torch.zeros(code.size(0), dtype=torch.bool, device=code.device)
            state, generated = None, []
            for _ in range(max_length):
                logits, state = self.caption_decoder(self.mfsr.text_encoder.word_embeddings(words), code, state)
                words = logits[:, -1].argmax(dim=-1, keepdim=True)
                generated.append(words.masked_fill(finished[:, None], self.config.pad_token_id))
                finished |= words[:, 0] == self.config.eos_token_id
                if finished.all():
                    break
            captions = torch.cat(generated, dim=1)
        return images, captions


class MFSRForZeroShotImageClassification(MFSRPreTrainedModel):
    """The mFSR dual encoder as a zero-shot image classifier: the ``zero-shot-image-classification`` pipeline's model
    (``AutoModelForZeroShotImageClassification``), as transformers serves CLIP there.

    Images and candidate captions ("This is a photo of {label}.") are embedded by the semantic parts (v^se, l^se)
    and compared by cosine similarity times `exp(config.logit_scale)`, a configured temperature (mFSR's hinge loss
    learns none; see `MFSRConfig.logit_scale`), so the softmax over candidate labels is not flat. Loads the encoders
    of an `MFSRModel` or `MFSRForRetrieval` checkpoint (the reconstruction heads are not used and not reported).
    The word-level vocabulary maps words it has not seen to `<unk>`: build it with the label names
    (`MFSRProcessor.from_captions(..., extra_words=...)`).

    Example:

    ```python
    >>> import torch
    >>> from fashionvl import MFSRConfig, MFSRForZeroShotImageClassification

    >>> model = MFSRForZeroShotImageClassification(MFSRConfig.from_preset("tiny", vocab_size=50)).eval()
    >>> captions = torch.tensor([[1, 7, 2], [1, 9, 2], [1, 11, 2]])
    >>> outputs = model(pixel_values=torch.randn(1, 3, 64, 64), input_ids=captions)
    >>> outputs.logits_per_image.softmax(dim=-1).shape   # one image, three candidate labels
    torch.Size([1, 3])
    ```
    """

    # the training heads of MFSRForRetrieval: its checkpoints load without a report of them
    _keys_to_ignore_on_load_unexpected = [r"^(generator|real_fake_discriminator|pair_discriminator|caption_decoder)\."]

    def __init__(self, config: MFSRConfig):
        super().__init__(config)
        self.mfsr = MFSRModel(config)
        self.post_init()
        self.mfsr.set_image_backbone_trainable(not config.freeze_image_backbone)

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Semantic image embeddings, `(batch, embed_dim)` (see `MFSRModel.get_image_features`)."""
        return self.mfsr.get_image_features(pixel_values)

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Semantic caption embeddings, `(batch, embed_dim)` (see `MFSRModel.get_text_features`)."""
        return self.mfsr.get_text_features(input_ids, attention_mask)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> MFSRZeroShotImageClassificationOutput:
        r"""
        pixel_values (`(image_batch_size, 3, height, width)`): normalised images.
        input_ids (`(text_batch_size, length)`): the candidate captions, `<start> ... <end>`, right-padded; the two
            batch sizes are independent (every image is scored against every caption).
        attention_mask (`(text_batch_size, length)`, *optional*): 1 for words, 0 for padding.
        """
        image_embeds = self.get_image_features(pixel_values)
        text_embeds = self.get_text_features(input_ids, attention_mask)
        logits_per_image = math.exp(self.config.logit_scale) * (image_embeds @ text_embeds.t()).float()
        return MFSRZeroShotImageClassificationOutput(
            logits_per_image=logits_per_image,
            logits_per_text=logits_per_image.t(),
            image_embeds=image_embeds,
            text_embeds=text_embeds,
        )


__all__ = ["MFSRForRetrieval", "MFSRForZeroShotImageClassification", "MFSRModel", "MFSRPreTrainedModel"]
