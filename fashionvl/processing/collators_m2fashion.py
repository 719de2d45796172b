"""M2Fashion training batches: the data collator and the attribute-conditioned triplet sampler.

`M2FashionDataCollator` turns data set rows into training batches. Triplets (M2Fashion Sec. 3.4) come in one of
two ways:

- attribute-conditioned (default in the recipe, ASEN-style): `M2FashionTripletBatchSampler` builds every batch
  from whole triplets drawn over the training set, so each anchor has a valid positive and negative: for a query
  attribute k positive on the anchor, the positive is another product with k positive (of the anchor's category
  with `same_category_positives`) and the negative a product with k negative, of the anchor's category where one
  exists. The rows carry `query_attribute` and `triplet_role`; the collator turns them into `triplet_indices` and
  one-hot `triplet_attribute_states`, under which the model attends all three images;
- in-batch (`sample_triplet_indices`, the earlier reading): a positive shares at least one positive attribute with
  the anchor, a negative shares none; an anchor without both in the batch forms no triplet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch


if TYPE_CHECKING:
    from .processing_m2fashion import M2FashionProcessor


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
    "M2FashionTripletBatchSampler",
    "M2FashionTripletDataset",
    "sample_triplet_indices",
]
