"""M2Fashion processor and data collator.

`M2FashionProcessor` pairs the shared image processor (`FashionImageProcessor`: resize, rescale, ImageNet
normalisation) with the attribute vocabulary of a data set: it knows the K attribute names and their types
(DeepFashion-C: texture, fabric, shape, part, style) and encodes what is known about an image into the
-1/0/1 attribute state vector A that M2Fashion conditions on (1 = known positive, -1 = known negative,
0 = unknown), from attribute names or indices.

`M2FashionDataCollator` turns data set rows into training batches. Triplets (M2Fashion Sec. 3.4) come in one of
two ways:

- attribute-conditioned (default in the recipe, ASEN-style): `M2FashionTripletBatchSampler` builds every batch
  from whole triplets drawn over the training set, so each anchor has a valid positive and negative: for a query
  attribute k positive on the anchor, the positive is another product with k positive and the negative a product
  with k negative, of the anchor's category where one exists. The rows carry `query_attribute` and
  `triplet_role`; the collator turns them into `triplet_indices` and one-hot `triplet_attribute_states`, under
  which the model attends all three images;
- in-batch (`sample_triplet_indices`, the earlier reading): a positive shares at least one positive attribute with
  the anchor, a negative shares none; an anchor without both in the batch forms no triplet.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import BatchFeature
from transformers.processing_utils import ProcessorMixin


def sample_triplet_indices(attribute_labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """In-batch (anchor, positive, negative) triplets that respect M2Fashion's definition (Sec. 3.4).

    For every anchor i: the positives are the other rows j that share at least one positive attribute with i
    (a_ik = a_jk = 1 for some k); the negatives are the rows that share none. One positive and one negative are
    drawn uniformly from those sets. An anchor with no positive or no negative in the batch is skipped.

    Args:
        attribute_labels: `(batch, K)` ground truth in {-1, 0, 1} (not the masked input states).
        generator: optional torch generator for reproducible draws.

    Returns:
        Long tensor `(num_triplets, 3)` of row indices, `num_triplets <= batch` (possibly 0).
    """
    if attribute_labels.dim() != 2:
        raise ValueError(f"attribute_labels must be (batch, num_attributes), got shape {tuple(attribute_labels.shape)}.")
    positive = (attribute_labels == 1).float()
    shared = positive @ positive.T  # number of shared positive attributes
    batch_size = attribute_labels.shape[0]
    not_self = ~torch.eye(batch_size, dtype=torch.bool)
    is_positive = (shared > 0) & not_self
    is_negative = shared == 0  # never the anchor itself when it has a positive attribute
    is_negative &= not_self
    triplets = []
    for anchor in range(batch_size):
        positives = is_positive[anchor].nonzero().squeeze(1)
        negatives = is_negative[anchor].nonzero().squeeze(1)
        if len(positives) == 0 or len(negatives) == 0:
            continue  # no valid triplet for this anchor in this batch: the triplet term skips it
        pick = torch.randint(len(positives), (1,), generator=generator).item()
        pick_negative = torch.randint(len(negatives), (1,), generator=generator).item()
        triplets.append((anchor, positives[pick].item(), negatives[pick_negative].item()))
    if not triplets:
        return torch.zeros(0, 3, dtype=torch.long)
    return torch.tensor(triplets, dtype=torch.long)


class M2FashionTripletBatchSampler(torch.utils.data.Sampler):
    """Batches of whole attribute-conditioned triplets (anchor, positive, negative), ASEN-style.

    Every anchor of an epoch (a random permutation of the rows that have a usable attribute) gets a query
    attribute k drawn uniformly among its positive attributes that have a valid positive and negative; then

    - positive: a row of another product with k = 1;
    - negative: a row with k = -1, from the anchor's category when that category has one, else from any category.

    Each yielded batch is a list of `(row_index, k, role)` index tuples, role 0 / 1 / 2 = anchor / positive /
    negative, in triplet order; index an `M2FashionTripletDataset` with them.

    Args:
        attribute_labels: `(num_rows, K)` ground truth in {-1, 0, 1}.
        categories: `(num_rows,)` category ids (None: no same-category preference).
        product_ids: `(num_rows,)` product id of each row (views of one product are never anchor and positive);
            None: every row is its own product.
        triplets_per_batch: triplets per batch (the batch has 3x as many rows).
        seed: seed of the sampler's generator (each epoch continues it).
        drop_last: drop an incomplete last batch.
        same_category_positives: draw the positive from the anchor's category too, when it has one.
    """

    def __init__(
        self,
        attribute_labels: torch.Tensor,
        categories: torch.Tensor | None = None,
        product_ids: torch.Tensor | None = None,
        triplets_per_batch: int = 10,
        seed: int = 0,
        drop_last: bool = True,
        same_category_positives: bool = False,
    ):
        labels = torch.as_tensor(attribute_labels).long()
        if labels.dim() != 2:
            raise ValueError(f"attribute_labels must be (num_rows, num_attributes), got shape {tuple(labels.shape)}.")
        if triplets_per_batch < 1:
            raise ValueError(f"triplets_per_batch must be >= 1, got {triplets_per_batch}.")
        num_rows = labels.shape[0]
        self.labels = labels
        self.categories = torch.zeros(num_rows, dtype=torch.long) if categories is None else torch.as_tensor(categories).long()
        self.product_ids = torch.arange(num_rows) if product_ids is None else torch.as_tensor(product_ids).long()
        self.triplets_per_batch = triplets_per_batch
        self.drop_last = drop_last
        self.same_category_positives = same_category_positives
        self.generator = torch.Generator().manual_seed(seed)
        positive, negative = labels == 1, labels == -1
        # Usable query attributes: at least two products positive and one row negative.
        self.positive_rows = [positive[:, k].nonzero().squeeze(1) for k in range(labels.shape[1])]
        self.negative_rows = [negative[:, k].nonzero().squeeze(1) for k in range(labels.shape[1])]
        self.usable = torch.tensor([
            len(self.negative_rows[k]) > 0 and self.product_ids[self.positive_rows[k]].unique().numel() > 1
            for k in range(labels.shape[1])
        ], dtype=torch.bool)
        self.anchors = ((positive & self.usable[None]).any(dim=1)).nonzero().squeeze(1)
        if len(self.anchors) == 0:
            raise ValueError("No row has a positive attribute with another positive product and a negative row.")

    def __len__(self) -> int:
        full, rest = divmod(len(self.anchors), self.triplets_per_batch)
        return full + (0 if self.drop_last or rest == 0 else 1)

    def _pick(self, rows: torch.Tensor) -> int:
        return rows[torch.randint(len(rows), (1,), generator=self.generator)].item()

    def triplet(self, anchor: int) -> tuple[int, int, int, int]:
        """`(anchor, positive, negative, k)` for one anchor row (see the class docstring)."""
        candidates = ((self.labels[anchor] == 1) & self.usable).nonzero().squeeze(1)
        order = candidates[torch.randperm(len(candidates), generator=self.generator)]
        for k in order.tolist():
            positives = self.positive_rows[k]
            positives = positives[self.product_ids[positives] != self.product_ids[anchor]]
            if len(positives) == 0:
                continue
            if self.same_category_positives:
                # Departure (issue 12, `triplet_positive_category="anchor"`): a positive of any category is farther
                # from the anchor than a same-category negative in a category-trained Z, so the hinge never closes.
                same_category = positives[self.categories[positives] == self.categories[anchor]]
                positives = same_category if len(same_category) else positives
            negatives = self.negative_rows[k]
            same_category = negatives[self.categories[negatives] == self.categories[anchor]]
            return anchor, self._pick(positives), self._pick(same_category if len(same_category) else negatives), k
        raise ValueError(f"Row {anchor} has no usable query attribute.")  # excluded from self.anchors

    def __iter__(self):
        anchors = self.anchors[torch.randperm(len(self.anchors), generator=self.generator)].tolist()
        for start in range(len(self)):
            chunk = anchors[start * self.triplets_per_batch : (start + 1) * self.triplets_per_batch]
            batch = []
            for anchor in chunk:
                anchor, positive, negative, k = self.triplet(anchor)
                batch += [(anchor, k, 0), (positive, k, 1), (negative, k, 2)]
            yield batch


class M2FashionTripletDataset(torch.utils.data.Dataset):
    """Rows indexed by `M2FashionTripletBatchSampler` tuples `(row_index, query_attribute, triplet_role)`.

    `dataset[(i, k, role)]` is row i with `query_attribute = k` and `triplet_role = role` added; `dataset[i]` is
    row i unchanged.
    """

    def __init__(self, rows):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        if isinstance(index, tuple):
            row_index, query_attribute, role = index
            return {**self.rows[row_index], "query_attribute": query_attribute, "triplet_role": role}
        return self.rows[index]


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


class M2FashionDataCollator:
    """Rows of an attribute data set -> an M2Fashion training batch with in-batch triplets.

    Each row holds either `image` (PIL, processed with `processor`) or ready `pixel_values` `(3, H, W)`, plus
    optional `category` (int id), `attributes` (K values in {-1, 0, 1}) and `attribute_states` (known input
    states; when absent, the model applies label-mask training itself in training mode).

    The batch has `pixel_values`, `labels` (from `category`), `attribute_labels` (from `attributes`), and
    `triplet_indices` `(num_triplets, 3)` from `sample_triplet_indices` when `sample_triplets` is on.

    Args:
        processor: an `M2FashionProcessor` (needed for rows with `image`).
        sample_triplets: sample in-batch triplets (M2Fashion Sec. 3.4).
        seed: seed of the collator's own generator for triplet draws (None: torch's global generator).
    """

    def __init__(self, processor: M2FashionProcessor | None = None, sample_triplets: bool = True, seed: int | None = None):
        self.processor = processor
        self.sample_triplets = sample_triplets
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        if "pixel_values" in rows[0]:
            batch["pixel_values"] = torch.stack([torch.as_tensor(row["pixel_values"]) for row in rows]).float()
        elif "image" in rows[0]:
            if self.processor is None:
                raise ValueError("M2FashionDataCollator needs a processor to turn `image` rows into pixel_values.")
            batch["pixel_values"] = self.processor(images=[row["image"] for row in rows])["pixel_values"]
        else:
            raise ValueError(f"Rows need `image` or `pixel_values`, got columns {sorted(rows[0])}.")
        if "category" in rows[0]:
            batch["labels"] = torch.tensor([int(row["category"]) for row in rows], dtype=torch.long)
        if "attributes" in rows[0]:
            batch["attribute_labels"] = torch.stack([torch.as_tensor(row["attributes"]) for row in rows]).long()
            if "query_attribute" in rows[0]:
                batch.update(self.query_attribute_triplets(rows, batch["attribute_labels"].shape[1]))
            elif self.sample_triplets:
                batch["triplet_indices"] = sample_triplet_indices(batch["attribute_labels"], generator=self.generator)
        if "attribute_states" in rows[0]:
            batch["attribute_states"] = torch.stack([torch.as_tensor(row["attribute_states"]) for row in rows]).float()
        return batch

    @staticmethod
    def query_attribute_triplets(rows: list[dict[str, Any]], num_attributes: int) -> dict[str, torch.Tensor]:
        """`triplet_indices` `(T, 3)` and one-hot `triplet_attribute_states` `(T, K)` from rows in
        (anchor, positive, negative) order with `query_attribute` / `triplet_role` (a triplet sampler's batch)."""
        roles = [row["triplet_role"] for row in rows]
        if len(rows) % 3 or roles != [0, 1, 2] * (len(rows) // 3):
            raise ValueError(f"Triplet rows must come as (anchor, positive, negative) groups, got roles {roles}.")
        queries = [row["query_attribute"] for row in rows[::3]]
        if any(row["query_attribute"] != queries[index // 3] for index, row in enumerate(rows)):
            raise ValueError("The three rows of a triplet must share one query_attribute.")
        states = torch.zeros(len(queries), num_attributes)
        states[torch.arange(len(queries)), torch.tensor(queries)] = 1.0
        return {"triplet_indices": torch.arange(len(rows)).view(-1, 3), "triplet_attribute_states": states}


__all__ = [
    "M2FashionDataCollator",
    "M2FashionProcessor",
    "M2FashionTripletBatchSampler",
    "M2FashionTripletDataset",
    "sample_triplet_indices",
]
