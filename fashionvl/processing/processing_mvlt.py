"""`MVLTProcessor`: the MVLT image processor and a BERT-style tokenizer behind one call.

```python
>>> from PIL import Image
>>> from fashionvl import MVLTImageProcessor, MVLTProcessor
>>> from fashionvl.processing import train_wordpiece_tokenizer
>>> tokenizer = train_wordpiece_tokenizer(["red cotton shirt", "blue wool coat"] * 10, vocab_size=100)
>>> processor = MVLTProcessor(MVLTImageProcessor(), tokenizer)
>>> batch = processor(images=[Image.new("RGB", (64, 80))], text=["red shirt"], return_tensors="pt")
>>> sorted(batch.keys())
['attention_mask', 'input_ids', 'pixel_values', 'token_type_ids']
```

`save_pretrained(folder)` writes the tokenizer files, `preprocessor_config.json` and
`processor_config.json`; `MVLTProcessor.from_pretrained(folder)` and, after `import fashionvl`,
`AutoProcessor.from_pretrained(folder)` restore it.
"""

from __future__ import annotations

from typing import Any

from transformers import AutoTokenizer
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .image_processing_mvlt import MVLTImageProcessor, MVLTImageProcessorKwargs


__all__ = ["MVLTProcessor"]

_IMAGE_KWARGS = set(MVLTImageProcessorKwargs.__annotations__) | {"generator"}


class MVLTProcessor(ProcessorMixin):
    r"""
    Wraps an `MVLTImageProcessor` and a BERT-style WordPiece tokenizer (e.g. `bert-base-uncased`, or one
    made by `fashionvl.processing.train_wordpiece_tokenizer`) into one processor.

    Args:
        image_processor (`MVLTImageProcessor`): pre-processes the images.
        tokenizer (`PreTrainedTokenizerBase`): tokenizes the captions ([CLS] caption [SEP]).

    Calling it with `images` and/or `text` returns a `BatchFeature` with `pixel_values` (and
    `bool_masked_pos` when `return_bool_masked_pos=True`) and `input_ids`, `token_type_ids`,
    `attention_mask`. Captions longer than `max_length` (default: the tokenizer's `model_max_length`)
    are truncated unless `truncation=False`, which raises an error instead.
    """

    attributes = ["image_processor", "tokenizer"]

    def __init__(self, image_processor=None, tokenizer=None, **kwargs):
        if image_processor is None:
            image_processor = MVLTImageProcessor()
        if tokenizer is None:
            raise ValueError(
                "MVLTProcessor needs a tokenizer: AutoTokenizer.from_pretrained('bert-base-uncased') or "
                "fashionvl.processing.train_wordpiece_tokenizer(captions)."
            )
        super().__init__(image_processor, tokenizer, **kwargs)

    @classmethod
    def from_captions(
        cls, captions: list[str], vocab_size: int = 8000, image_size: int = 256, model_max_length: int = 128,
        config: Any = None, **image_processor_kwargs: Any,
    ) -> "MVLTProcessor":
        """Builds a processor offline: a WordPiece tokenizer trained on `captions` (training split only) and an
        `MVLTImageProcessor` of `image_size` (extra keyword arguments go to the image processor).

        With `config` (the `MVLTConfig` the processor is built for), the caption length is its
        `max_position_embeddings` and the image size its `image_size`, so captions never exceed what the model takes.
        """
        from .tokenization import train_wordpiece_tokenizer

        if config is not None:
            model_max_length, image_size = config.max_position_embeddings, config.image_size

        tokenizer = train_wordpiece_tokenizer(captions, vocab_size=vocab_size, model_max_length=model_max_length)
        image_processor = MVLTImageProcessor(size={"height": image_size, "width": image_size}, **image_processor_kwargs)
        return cls(image_processor=image_processor, tokenizer=tokenizer)

    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs):
        # Load the image processor class directly instead of through AutoImageProcessor, so loading works
        # without the Auto registration (e.g. as remote code next to a checkpoint).
        kwargs.pop("processor_dict", None)
        image_processor = MVLTImageProcessor.from_pretrained(pretrained_model_name_or_path, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(pretrained_model_name_or_path, **kwargs)
        return [image_processor, tokenizer]

    @property
    def model_input_names(self) -> list[str]:
        return list(dict.fromkeys(self.tokenizer.model_input_names + self.image_processor.model_input_names))

    @staticmethod
    def _as_caption_list(text: Any) -> list[str]:
        captions = [text] if isinstance(text, str) else text
        if not isinstance(captions, (list, tuple)):
            raise ValueError(f"`text` must be a str or a list of str, got {type(text).__name__}.")
        if len(captions) == 0:
            raise ValueError("`text` is an empty list; expected at least one caption.")
        for index, caption in enumerate(captions):
            if not isinstance(caption, str):
                raise ValueError(f"`text[{index}]` must be a str, got {type(caption).__name__} {caption!r}.")
        return list(captions)

    def __call__(
        self,
        images: Any = None,
        text: str | list[str] | None = None,
        padding: bool | str = "longest",
        truncation: bool = True,
        max_length: int | None = None,
        return_tensors: str | None = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Processes images and/or captions.

        Args:
            images: one image or a list (PIL, NumPy, torch; see `MVLTImageProcessor`).
            text: one caption or a list; when both are given, one caption per image.
            padding, truncation, max_length: tokenizer options (`truncation=False` raises on overlong text).
            return_tensors: "pt", "np" or None.
            kwargs: image-processor options (`return_bool_masked_pos`, `mask_ratio`, `generator`, `size`, ...)
                and other tokenizer options.
        """
        if images is None and text is None:
            raise ValueError("MVLTProcessor needs `images`, `text` or both; got neither.")
        image_kwargs = {key: kwargs.pop(key) for key in list(kwargs) if key in _IMAGE_KWARGS}
        data: dict[str, Any] = {}

        num_images = None
        if images is not None:
            image_list = self.image_processor._prepare_images_structure(images)
            num_images = len(image_list)
            data.update(self.image_processor(image_list, return_tensors=return_tensors, **image_kwargs))
        elif image_kwargs:
            raise ValueError(f"Image options {sorted(image_kwargs)} were given without `images`.")

        if text is not None:
            captions = self._as_caption_list(text)
            if num_images is not None and len(captions) != num_images:
                raise ValueError(
                    f"Got {num_images} image(s) but {len(captions)} caption(s); give one caption per image."
                )
            limit = max_length if max_length is not None else self.tokenizer.model_max_length
            if not truncation:
                lengths = self.tokenizer(captions, truncation=False, padding=False)["input_ids"]
                too_long = [(index, len(ids)) for index, ids in enumerate(lengths) if len(ids) > limit]
                if too_long:
                    index, length = too_long[0]
                    raise ValueError(
                        f"`text[{index}]` is {length} tokens long, more than max_length={limit}; shorten it or "
                        "use truncation=True."
                    )
            encoding = self.tokenizer(
                captions,
                padding=padding,
                truncation=True,
                max_length=limit,
                return_token_type_ids=True,
                return_tensors=return_tensors,
                **kwargs,
            )
            data.update(encoding)
        return BatchFeature(data=data, tensor_type=return_tensors)

    def batch_decode(self, *args, **kwargs):
        """Forwards to the tokenizer's `batch_decode`."""
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        """Forwards to the tokenizer's `decode`."""
        return self.tokenizer.decode(*args, **kwargs)
