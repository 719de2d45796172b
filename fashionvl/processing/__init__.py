"""fashionvl.processing: image processor, masking, tokenizer, processor and collators.

Public names:

- `FashionImageProcessor` (image_processing_fashion.py): the image processor of all three families;
  `MVLTImageProcessor` (image_processing_mvlt.py) is it under MVLT's name.
- `MaskGenerator`, `expand_unit_mask`, `draw_masking_styles`, `MASKING_STYLES` (masking.py): MIR masks.
- `train_wordpiece_tokenizer` (tokenization.py): BERT-style WordPiece tokenizer from a caption corpus.
- `MVLTProcessor` (processing_mvlt.py): image processor + tokenizer.
- `DataCollatorForMVLTPretraining`, `DataCollatorForMVLTRetrieval`, `DataCollatorForMVLTCategoryRecognition`,
  `NegativeCaptionSampler`, `mask_tokens_for_mlm` (collators.py).
- mFSR's `CaptionedImageSplit`, `MFSRPairDataset`, `MFSRDataCollator` (collators_mfsr.py) and M2Fashion's
  `M2FashionDataCollator`, `M2FashionTripletBatchSampler`, `M2FashionTripletDataset` (collators_m2fashion.py):
  imported from their modules (their processors live in processing_mfsr.py / processing_m2fashion.py).
"""

from .collators import (
    DataCollatorForMVLTCategoryRecognition,
    DataCollatorForMVLTPretraining,
    DataCollatorForMVLTRetrieval,
    NegativeCaptionSampler,
    mask_tokens_for_mlm,
)
from .image_processing_fashion import FashionImageProcessor
from .image_processing_mvlt import MVLTImageProcessor
from .masking import MASKING_STYLES, MaskGenerator, draw_masking_styles, expand_unit_mask, num_masked_units
from .processing_mvlt import MVLTProcessor
from .tokenization import train_wordpiece_tokenizer


__all__ = [
    "MASKING_STYLES",
    "DataCollatorForMVLTCategoryRecognition",
    "DataCollatorForMVLTPretraining",
    "DataCollatorForMVLTRetrieval",
    "FashionImageProcessor",
    "MVLTImageProcessor",
    "MVLTProcessor",
    "MaskGenerator",
    "NegativeCaptionSampler",
    "draw_masking_styles",
    "expand_unit_mask",
    "mask_tokens_for_mlm",
    "num_masked_units",
    "train_wordpiece_tokenizer",
]
