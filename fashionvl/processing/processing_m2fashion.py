"""M2Fashion processor.

`M2FashionProcessor` pairs the shared image processor (`FashionImageProcessor`: resize, rescale, ImageNet
normalisation) with the attribute vocabulary of a data set: it knows the K attribute names and their types
(DeepFashion-C: texture, fabric, shape, part, style) and encodes what is known about an image into the
-1/0/1 attribute state vector A that M2Fashion conditions on (1 = known positive, -1 = known negative,
0 = unknown), from attribute names or indices.

The training batches (data collator, triplet sampler) are in `collators_m2fashion.py`.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import BatchFeature
from transformers.processing_utils import ProcessorMixin


class M2FashionProcessor(ProcessorMixin):
    """Image processor + attribute-state encoder for M2Fashion.

    `processor(images=..., attributes=...)` returns `pixel_values` `(batch, 3, H, W)` and, when attributes are
    given, `attribute_states` `(batch, K)` in {-1, 0, 1}. Each sample's `attributes` may be

    - `None`: nothing known (all 0);
    - a list of attribute names or indices: these are known positive, the rest unknown;
    - a mapping `{name or index: state}` with state 1 / True (positive), -1 / False (negative) or 0 (unknown);
    - a `(K,)` tensor: the full state vector.

    Full `(batch, K)` state matrices can also be passed as `attribute_states=`.

    Args:
        image_processor: the shared `FashionImageProcessor` (or any transformers image processor).
        attribute_names: the K attribute names, in the order of the model's attribute state vector.
        attribute_types: the type of each attribute (e.g. `"texture"`, `"fabric"`, `"shape"`, `"part"`,
            `"style"`), used for per-type evaluation. Optional.
    """

    def __init__(
        self,
        image_processor=None,
        attribute_names: Sequence[str] | None = None,
        attribute_types: Sequence[str] | None = None,
        **kwargs,
    ):
        if attribute_names is None:
            raise ValueError("M2FashionProcessor needs `attribute_names` (the K attribute names, in model order).")
        attribute_names = [str(name) for name in attribute_names]
        if len(set(attribute_names)) != len(attribute_names):
            duplicates = sorted({name for name in attribute_names if attribute_names.count(name) > 1})
            raise ValueError(f"attribute_names must be unique, got duplicates {duplicates}.")
        if attribute_types is not None:
            attribute_types = [str(kind) for kind in attribute_types]
            if len(attribute_types) != len(attribute_names):
                raise ValueError(
                    f"attribute_types has {len(attribute_types)} entries, expected one per attribute "
                    f"({len(attribute_names)})."
                )
        self.attribute_names = attribute_names
        self.attribute_types = attribute_types
        self.attribute_to_index = {name: index for index, name in enumerate(attribute_names)}
        super().__init__(image_processor, **kwargs)

    @classmethod
    def from_attribute_list(
        cls, attribute_names: Sequence[str], attribute_types: Sequence[str] | None = None, image_size: int = 224
    ) -> "M2FashionProcessor":
        """Processor with the shared image processor at `image_size` (paper: 224x224, no crop)."""
        from .image_processing_fashion import FashionImageProcessor

        image_processor = FashionImageProcessor(size={"height": image_size, "width": image_size}, do_crop_to_content=False)
        return cls(image_processor=image_processor, attribute_names=attribute_names, attribute_types=attribute_types)

    @property
    def num_attributes(self) -> int:
        """K, the length of the attribute state vector."""
        return len(self.attribute_names)

    def attribute_index(self, attribute: str | int) -> int:
        """Index of an attribute given by name or index; raises naming the unknown attribute."""
        if isinstance(attribute, bool):
            raise ValueError(f"An attribute is a name or an index, got the boolean {attribute}.")
        if isinstance(attribute, int) or (isinstance(attribute, torch.Tensor) and attribute.dim() == 0):
            index = int(attribute)
            if not 0 <= index < self.num_attributes:
                raise ValueError(f"Attribute index {index} is out of range [0, {self.num_attributes}).")
            return index
        if attribute not in self.attribute_to_index:
            raise ValueError(
                f"Unknown attribute {attribute!r}; expected one of the {self.num_attributes} attribute names "
                f"(e.g. {self.attribute_names[:5]}) or an index."
            )
        return self.attribute_to_index[attribute]

    def encode_attributes(self, attributes: Any = None) -> torch.Tensor:
        """One sample's known attributes -> state vector `(K,)` float in {-1, 0, 1} (see the class docstring)."""
        if attributes is None:
            return torch.zeros(self.num_attributes)
        if isinstance(attributes, torch.Tensor) and attributes.dim() == 1:
            return self.check_attribute_states(attributes[None])[0]
        states = torch.zeros(self.num_attributes)
        if isinstance(attributes, Mapping):
            for attribute, state in attributes.items():
                value = (1 if state else -1) if isinstance(state, bool) else state
                if value not in (-1, 0, 1):
                    raise ValueError(f"State of attribute {attribute!r} must be 1, -1, 0, True or False, got {state!r}.")
                states[self.attribute_index(attribute)] = value
            return states
        if isinstance(attributes, (str, int)):
            attributes = [attributes]
        for attribute in attributes:
            states[self.attribute_index(attribute)] = 1
        return states

    def check_attribute_states(self, attribute_states) -> torch.Tensor:
        """Validate full state vectors `(batch, K)` with values in {-1, 0, 1}; returns them as float."""
        states = torch.as_tensor(attribute_states)
        if states.dim() != 2 or states.shape[1] != self.num_attributes:
            raise ValueError(
                f"attribute_states must be (batch, {self.num_attributes}) (one state per attribute), got shape "
                f"{tuple(states.shape)}."
            )
        invalid = states[(states != -1) & (states != 0) & (states != 1)]
        if len(invalid):
            raise ValueError(f"attribute_states must be -1, 0 or 1, got {invalid.unique().tolist()}.")
        return states.float()

    def __call__(
        self, images=None, attributes=None, attribute_states=None, return_tensors: str | None = "pt", **kwargs
    ) -> BatchFeature:
        """Process images and what is known about their attributes.

        Args:
            images: a PIL image or a list of them.
            attributes: per image (a list with one entry per image; a single entry for a single image): None,
                a list of known-positive names/indices, a `{name or index: state}` mapping, or a `(K,)` tensor.
            attribute_states: alternatively, full state vectors `(batch, K)` in {-1, 0, 1}.
            **kwargs: passed to the image processor.

        Returns:
            `BatchFeature` with `pixel_values` `(batch, 3, H, W)` and, if attributes were given,
            `attribute_states` `(batch, K)`.
        """
        if images is None and attributes is None and attribute_states is None:
            raise ValueError("M2FashionProcessor needs images, attributes, or both.")
        if attributes is not None and attribute_states is not None:
            raise ValueError("Give either `attributes` (names/indices/mappings) or `attribute_states`, not both.")
        data = {}
        if images is not None:
            data.update(self.image_processor(images, return_tensors="pt", **kwargs))
            if not isinstance(images, (list, tuple)) and attributes is not None:
                attributes = [attributes]  # one image: `attributes` is that image's entry
        if attributes is not None:
            data["attribute_states"] = torch.stack([self.encode_attributes(sample) for sample in attributes])
        elif attribute_states is not None:
            data["attribute_states"] = self.check_attribute_states(attribute_states)
        if "pixel_values" in data and "attribute_states" in data and len(data["pixel_values"]) != len(data["attribute_states"]):
            raise ValueError(
                f"Got attributes for {len(data['attribute_states'])} samples but {len(data['pixel_values'])} images."
            )
        return BatchFeature(data=data, tensor_type=return_tensors)

    def decode_attributes(
        self, attribute_logits: torch.Tensor, threshold: float = 0.5, top_k: int | None = None
    ) -> list[list[str]]:
        """Attribute head outputs `(batch, K)` -> predicted attribute names per sample.

        With `top_k`, the k highest-scoring attributes; otherwise those with sigmoid probability >= `threshold`.
        """
        if top_k is not None:
            indices = attribute_logits.topk(top_k, dim=-1).indices.tolist()
        else:
            indices = [row.nonzero().squeeze(1).tolist() for row in torch.sigmoid(attribute_logits) >= threshold]
        return [[self.attribute_names[index] for index in row] for row in indices]

    @property
    def model_input_names(self) -> list[str]:
        return ["pixel_values", "attribute_states"]


__all__ = ["M2FashionProcessor"]
