"""`M2FashionTripletTrainer`: `FashionTrainer` whose training batches come from a batch sampler of whole
attribute-conditioned triplets (`fashionvl.processing.collators_m2fashion.M2FashionTripletBatchSampler`)."""

from __future__ import annotations

import torch

from .trainer import FashionTrainer


class M2FashionTripletTrainer(FashionTrainer):
    """`FashionTrainer` (per-loss logging) whose training data loader uses `batch_sampler`.

    Args:
        batch_sampler: yields the dataset indices of one batch at a time (whole triplets).
        *args, **kwargs: those of `FashionTrainer`.
    """

    def __init__(self, *args, batch_sampler: torch.utils.data.Sampler, **kwargs):
        super().__init__(*args, **kwargs)
        self.triplet_batch_sampler = batch_sampler

    def get_train_dataloader(self):
        return torch.utils.data.DataLoader(
            self.train_dataset, batch_sampler=self.triplet_batch_sampler, collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
        )


__all__ = ["M2FashionTripletTrainer"]
