"""How each architecture turns queries and candidates into retrieval scores (used by the pipeline and the index).

Two kinds of retrieval models:

- pair scorers (MVLT): every (caption, image) pair goes through the model together; the score is the ITM
  match probability (``MVLTForImageTextRetrieval.scores``). Nothing can be pre-computed per item, so a large
  gallery is searched in two stages (dual encoder first, MVLT re-ranks its top candidates).
- dual encoders (mFSR, M2Fashion): each side is embedded alone, scores are cosine similarities of L2-normalised
  embeddings. mFSR embeds images and captions (semantic parts v^se / l^se); M2Fashion embeds images
  conditioned on an attribute state vector (Z of eq. 9), for attribute-specific image-to-image retrieval.

An adapter prepares model inputs with the model's processor (``prepare_*``, CPU side) and runs the model
(``run``, on the model's device) through the models' one retrieval interface (``get_image_features``,
``get_text_features``, MVLT's ``get_itm_logits``): the adapters are processor glue. The family table
(``fashionvl.families``) names each family's adapter.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..families import FAMILIES


class RetrievalAdapter:
    """Base class: ``model`` is a loaded fashionvl model, ``processor`` its processor.

    What the pipeline asks of an architecture (no ``model_type`` branches there):

    - ``is_pair_scorer``: scores (text, image) pairs jointly (MVLT's ITM);
    - ``embeds``: embeds each side alone (mFSR, M2Fashion, and MVLT trained with ITC);
    - ``ranks_texts``: texts are queries or candidates (False: image -> image retrieval only, M2Fashion);
    - ``takes_attributes``: the image embeddings are conditioned on the query's attributes (M2Fashion).
    """

    is_pair_scorer = False
    embeds = True
    ranks_texts = True
    takes_attributes = False

    def __init__(self, model, processor):
        self.model = model
        self.processor = processor

    def prepare_images(self, images: list, attributes: Sequence | None = None) -> dict:
        if attributes:
            raise ValueError(f"{type(self.model).__name__} does not take attributes; attribute-specific retrieval is M2Fashion's.")
        return {"pixel_values": self.processor(images=images, return_tensors="pt")["pixel_values"]}

    def prepare_texts(self, texts: list[str]) -> dict:
        raise NotImplementedError(f"{type(self.model).__name__} does not embed texts on their own.")

    def prepare_pairs(self, texts: list[str], images: list) -> dict:
        raise NotImplementedError(f"{type(self.model).__name__} does not score (text, image) pairs.")

    def run(self, model_inputs: dict) -> torch.Tensor:
        """Prepared inputs -> `(batch, dim)` unit-norm embeddings (the model's `get_image_features` /
        `get_text_features`) or, for a pair scorer, `(num_pairs, 2)` ITM logits (`get_itm_logits`)."""
        if "pixel_values" in model_inputs and "input_ids" in model_inputs:
            return self.model.get_itm_logits(**model_inputs).float()
        if "pixel_values" in model_inputs:
            embeds = self.model.get_image_features(**model_inputs)
        else:
            embeds = self.model.get_text_features(**model_inputs)
        return torch.nn.functional.normalize(embeds.float(), dim=-1)


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

    def _text_inputs(self, encoded) -> dict:
        return {name: encoded[name] for name in self._TEXT_INPUTS if name in encoded}

    def prepare_pairs(self, texts: list[str], images: list) -> dict:
        encoded = self.processor(text=texts, images=images, padding=True, truncation=True,
                                 max_length=self.max_text_length, return_tensors="pt")
        return {"pixel_values": encoded["pixel_values"], **self._text_inputs(encoded)}

    def prepare_texts(self, texts: list[str]) -> dict:
        return self._text_inputs(self.processor(text=texts, padding=True, truncation=True,
                                                max_length=self.max_text_length, return_tensors="pt"))


class MFSRRetrievalAdapter(RetrievalAdapter):
    """mFSR: semantic embeddings v^se / l^se (``get_image_features`` / ``get_text_features``), unit norm."""

    def prepare_texts(self, texts: list[str]) -> dict:
        encoded = self.processor(text=texts, padding=True, return_tensors="pt")
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


class M2FashionRetrievalAdapter(RetrievalAdapter):
    """M2Fashion: the attribute-conditioned embedding of each image for one attribute state vector
    (``get_image_features(pixel_values, attribute_states)``: Z of eq. 9 for the base model, the triplet space for
    ``M2FashionForAttributePrediction``).

    The query attributes (names or positions, encoded by ``M2FashionProcessor.encode_attributes``) are known
    positive; every other attribute is unknown (0), as in the paper's retrieval example ("a query with an image and
    two labels v-neckline and floral").
    """

    ranks_texts = False
    takes_attributes = True

    def __init__(self, model, processor):
        if not hasattr(processor, "encode_attributes"):
            raise ValueError(
                f"M2Fashion retrieval needs the M2FashionProcessor (it encodes the query attributes), got "
                f"{type(processor).__name__}."
            )
        super().__init__(model, processor)

    def prepare_images(self, images: list, attributes: Sequence | None = None) -> dict:
        states = self.processor.encode_attributes(list(attributes or []))
        num_attributes = self.model.config.num_attributes
        if states.shape != (num_attributes,):
            raise ValueError(f"the processor encodes {states.shape[0]} attributes, the model expects {num_attributes}.")
        pixel_values = self.processor(images=images, return_tensors="pt")["pixel_values"]
        return {"pixel_values": pixel_values, "attribute_states": states.expand(len(images), num_attributes).clone()}


def get_retrieval_adapter(model, processor) -> RetrievalAdapter:
    """The adapter of the model's family (the family table's ``retrieval_adapter``; error naming the supported types
    otherwise)."""
    model_type = getattr(model.config, "model_type", None)
    if model_type not in FAMILIES:
        raise ValueError(
            f"fashion-retrieval supports model types {sorted(FAMILIES)}, got {model_type!r} ({type(model).__name__})."
        )
    if processor is None:
        raise ValueError(f"fashion-retrieval needs the {model_type} processor (pass processor=... to pipeline()).")
    return globals()[FAMILIES[model_type].retrieval_adapter](model, processor)


# model_type -> adapter class, as the family table says
RETRIEVAL_ADAPTERS: dict[str, type[RetrievalAdapter]] = {
    model_type: globals()[family.retrieval_adapter] for model_type, family in FAMILIES.items()
}


__all__ = [
    "M2FashionRetrievalAdapter",
    "MFSRRetrievalAdapter",
    "MVLTRetrievalAdapter",
    "RETRIEVAL_ADAPTERS",
    "RetrievalAdapter",
    "get_retrieval_adapter",
]
