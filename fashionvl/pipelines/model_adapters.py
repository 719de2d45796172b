"""How each architecture turns queries and candidates into retrieval scores (used by the pipeline and the index).

Two kinds of retrieval models:

- pair scorers (MVLT): every (caption, image) pair goes through the model together; the score is the ITM
  match probability (``MVLTForImageTextRetrieval.scores``). Nothing can be pre-computed per item, so a large
  gallery is searched in two stages (dual encoder first, MVLT re-ranks its top candidates).
- dual encoders (mFSR, M2Fashion): each side is embedded alone, scores are cosine similarities of L2-normalised
  embeddings. mFSR embeds images and captions (semantic parts v^se / l^se); M2Fashion embeds images
  conditioned on an attribute state vector (Z of eq. 9), for attribute-specific image-to-image retrieval.

An adapter prepares model inputs with the model's processor (``prepare_*``, CPU side) and runs the model
(``run``, on the model's device). Adapters are looked up by ``config.model_type`` in ``RETRIEVAL_ADAPTERS``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class RetrievalAdapter:
    """Base class: ``model`` is a loaded fashionvl model, ``processor`` its processor.

    ``is_pair_scorer``: scores (text, image) pairs jointly (MVLT's ITM); ``embeds``: embeds each side alone (mFSR,
    M2Fashion, and MVLT trained with ITC).
    """

    is_pair_scorer = False
    embeds = True

    def __init__(self, model, processor):
        self.model = model
        self.processor = processor

    def prepare_images(self, images: list, attributes: Sequence | None = None) -> dict:
        raise NotImplementedError(f"{type(self.model).__name__} does not embed images on their own.")

    def prepare_texts(self, texts: list[str]) -> dict:
        raise NotImplementedError(f"{type(self.model).__name__} does not embed texts on their own.")

    def prepare_pairs(self, texts: list[str], images: list) -> dict:
        raise NotImplementedError(f"{type(self.model).__name__} does not score (text, image) pairs.")

    def run(self, model_inputs: dict) -> torch.Tensor:
        """Model forward for prepared inputs: (batch, dim) embeddings or (batch,) pair scores."""
        raise NotImplementedError


class MVLTRetrievalAdapter(RetrievalAdapter):
    """MVLT: ITM logits of (caption, image) pairs (``get_itm_logits``), and, for a model trained with ITC, its
    unit-norm ITC embeddings (``get_image_features`` / ``get_text_features``)."""

    is_pair_scorer = True
    _TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

    @property
    def embeds(self) -> bool:
        return float(getattr(self.model.config, "itc_loss_weight", 0.0)) > 0

    @property
    def max_text_length(self) -> int:
        """Captions are cut to the smaller of the tokenizer's `model_max_length` and the model's
        `max_position_embeddings` (a processor built for longer captions than the model takes still works)."""
        model_max_length = getattr(self.processor.tokenizer, "model_max_length", None)
        limit = self.model.config.max_position_embeddings
        if isinstance(model_max_length, int) and 0 < model_max_length < limit:
            return model_max_length
        return limit

    def prepare_pairs(self, texts: list[str], images: list) -> dict:
        return dict(self.processor(text=texts, images=images, padding=True, truncation=True,
                                   max_length=self.max_text_length, return_tensors="pt"))

    def prepare_images(self, images: list, attributes: Sequence | None = None) -> dict:
        if attributes:
            raise ValueError("MVLT does not take attributes; attribute-specific retrieval is M2Fashion's.")
        return {"pixel_values": self.processor(images=images, return_tensors="pt")["pixel_values"]}

    def prepare_texts(self, texts: list[str]) -> dict:
        encoded = self.processor(text=texts, padding=True, truncation=True, max_length=self.max_text_length,
                                 return_tensors="pt")
        return {name: encoded[name] for name in self._TEXT_INPUTS if name in encoded}

    def run(self, model_inputs: dict) -> torch.Tensor:
        """Pairs: `(num_pairs, 2)` ITM logits; images or texts alone: `(batch, projection_dim)` ITC embeddings."""
        text = {name: model_inputs[name] for name in self._TEXT_INPUTS if name in model_inputs}
        if "pixel_values" in model_inputs and text:
            return self.model.get_itm_logits(pixel_values=model_inputs["pixel_values"], **text).float()
        if "pixel_values" in model_inputs:
            return self.model.get_image_features(model_inputs["pixel_values"]).float()
        return self.model.get_text_features(**text).float()


class MFSRRetrievalAdapter(RetrievalAdapter):
    """mFSR: semantic embeddings v^se / l^se (``get_image_features`` / ``get_text_features``), unit norm."""

    def prepare_images(self, images: list, attributes: Sequence | None = None) -> dict:
        if attributes:
            raise ValueError("mFSR does not take attributes; attribute-specific retrieval is M2Fashion's.")
        return {"pixel_values": self.processor(images=images, return_tensors="pt")["pixel_values"]}

    def prepare_texts(self, texts: list[str]) -> dict:
        encoded = self.processor(text=texts, padding=True, return_tensors="pt")
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

    def run(self, model_inputs: dict) -> torch.Tensor:
        if "pixel_values" in model_inputs:
            embeds = self.model.get_image_features(model_inputs["pixel_values"])
        else:
            embeds = self.model.get_text_features(model_inputs["input_ids"], model_inputs["attention_mask"])
        return torch.nn.functional.normalize(embeds.float(), dim=-1)


class M2FashionRetrievalAdapter(RetrievalAdapter):
    """M2Fashion: attribute-aware embedding Z (eq. 9) of each image for one attribute state vector.

    The query attributes (names, resolved through the processor's or config's attribute names, or integer
    positions) become state 1 (known positive); every other attribute is 0 (unknown), as in the paper's
    retrieval example ("a query with an image and two labels v-neckline and floral").
    """

    def attribute_names(self) -> list[str] | None:
        for owner in (self.processor, self.model.config):
            names = getattr(owner, "attribute_names", None)
            if names:
                return list(names)
        return None

    def attribute_states(self, attributes: Sequence | None, batch_size: int) -> torch.Tensor:
        """(batch_size, K) states: the query attributes positive (1), the others unknown (0)."""
        num_attributes = self.model.config.num_attributes
        if hasattr(self.processor, "encode_attributes"):  # M2FashionProcessor: names, indices or {name: state}
            states = self.processor.encode_attributes(attributes or None)
            if states.shape != (num_attributes,):
                raise ValueError(f"the processor encodes {states.shape[0]} attributes, the model expects {num_attributes}.")
            return states.expand(batch_size, num_attributes).clone()
        states = torch.zeros(num_attributes)
        names = None
        for attribute in attributes or ():
            if isinstance(attribute, int) and not isinstance(attribute, bool):
                position = attribute
            elif isinstance(attribute, str):
                names = names if names is not None else self.attribute_names()
                if names is None:
                    raise ValueError(
                        f"attribute {attribute!r} given by name, but neither the processor nor the config lists "
                        "attribute names; pass integer attribute positions instead."
                    )
                if attribute not in names:
                    raise ValueError(f"unknown attribute {attribute!r}; known attributes: {names[:20]}{'...' if len(names) > 20 else ''}")
                position = names.index(attribute)
            else:
                raise ValueError(f"attributes must be names (str) or positions (int), got {attribute!r}.")
            if not 0 <= position < num_attributes:
                raise ValueError(f"attribute position {position} out of range for {num_attributes} attributes.")
            states[position] = 1.0
        return states.expand(batch_size, num_attributes).clone()

    def prepare_images(self, images: list, attributes: Sequence | None = None) -> dict:
        pixel_values = self.processor(images=images, return_tensors="pt")["pixel_values"]
        return {"pixel_values": pixel_values, "attribute_states": self.attribute_states(attributes, len(images))}

    def run(self, model_inputs: dict) -> torch.Tensor:
        outputs = self.model(pixel_values=model_inputs["pixel_values"], attribute_states=model_inputs["attribute_states"])
        return torch.nn.functional.normalize(outputs.attribute_aware_embeds.float(), dim=-1)


RETRIEVAL_ADAPTERS: dict[str, type[RetrievalAdapter]] = {
    "mvlt": MVLTRetrievalAdapter,
    "mfsr": MFSRRetrievalAdapter,
    "m2fashion": M2FashionRetrievalAdapter,
}


def get_retrieval_adapter(model, processor) -> RetrievalAdapter:
    """The adapter for ``model.config.model_type`` (error naming the supported types otherwise)."""
    model_type = getattr(model.config, "model_type", None)
    if model_type not in RETRIEVAL_ADAPTERS:
        raise ValueError(
            f"fashion-retrieval supports model types {sorted(RETRIEVAL_ADAPTERS)}, got {model_type!r} "
            f"({type(model).__name__})."
        )
    if processor is None:
        raise ValueError(f"fashion-retrieval needs the {model_type} processor (pass processor=... to pipeline()).")
    return RETRIEVAL_ADAPTERS[model_type](model, processor)


__all__ = [
    "M2FashionRetrievalAdapter",
    "MFSRRetrievalAdapter",
    "MVLTRetrievalAdapter",
    "RETRIEVAL_ADAPTERS",
    "RetrievalAdapter",
    "get_retrieval_adapter",
]
