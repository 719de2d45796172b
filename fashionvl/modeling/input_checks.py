"""Checks of model inputs where they enter ``forward``: errors that name the argument, the value and what was expected.

Pure functions of tensors and configuration values, imported by the modeling files (``from .input_checks import
...``); they import nothing but torch, so they travel with the remote code of an exported checkpoint
(``fashionvl.hub.collect_remote_code_files`` follows the relative import).

Cost: dtype and shape checks read tensor metadata only. Value checks (NaN / inf pixels, ids out of range, masks
that are not 0/1) need a reduction over the tensor and, on an accelerator, a device synchronisation; they run on
CPU tensors always and on accelerator tensors only with ``check_values=True`` (e.g. on the first batch, or in a
debugging run). An out-of-range id on CUDA otherwise surfaces as a device-side assert, as in transformers models.

Usage in a ``forward``::

    check_pixel_values(pixel_values, num_channels=3, stride=config.total_stride, image_size=config.image_size)
    check_token_ids(input_ids, config.vocab_size, "input_ids")
    check_token_ids(token_type_ids, config.type_vocab_size, "token_type_ids")
    check_bool_masked_pos(bool_masked_pos, batch_size=pixel_values.shape[0], num_units=num_units)
    check_class_labels(labels, config.num_labels, "labels")
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _values_checked(tensor: torch.Tensor, check_values: bool | None) -> bool:
    if check_values is not None:
        return check_values
    return tensor.device.type == "cpu"


def _shape(tensor: torch.Tensor) -> tuple:
    return tuple(tensor.shape)


def check_tensor(value, name: str) -> torch.Tensor:
    """``value`` must be a ``torch.Tensor``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(value).__name__}.")
    return value


def check_pixel_values(
    pixel_values,
    num_channels: int = 3,
    stride: int | None = None,
    image_size: int | Sequence[int] | None = None,
    name: str = "pixel_values",
    check_values: bool | None = None,
) -> None:
    """``pixel_values`` (batch, num_channels, height, width), floating point, finite, the image processor's output.

    Args:
        num_channels: expected channels.
        stride: total stride of the image encoder (patch size x downsampling); height and width must be multiples.
        image_size: when given (int or (height, width)), the exact size the model was configured for.
        check_values: finite check; default: only for CPU tensors (see the module docstring).

    Raises:
        TypeError / ValueError: naming ``name``, the shape or dtype found, and what was expected.
    """
    check_tensor(pixel_values, name)
    if not pixel_values.is_floating_point():
        hint = " (raw 0-255 pixels: run the image processor, which rescales and normalises)" if pixel_values.dtype == torch.uint8 else ""
        raise TypeError(f"`{name}` must be a floating-point tensor, got dtype {pixel_values.dtype}{hint}.")
    if pixel_values.dim() != 4:
        raise ValueError(f"`{name}` must be (batch, {num_channels}, height, width), got shape {_shape(pixel_values)}.")
    batch, channels, height, width = pixel_values.shape
    if batch == 0:
        raise ValueError(f"`{name}` is an empty batch (shape {_shape(pixel_values)}).")
    if channels != num_channels:
        raise ValueError(f"`{name}` has {channels} channels (shape {_shape(pixel_values)}); the model expects "
                         f"{num_channels}.")
    if image_size is not None:
        expected = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if (height, width) != expected:
            raise ValueError(f"`{name}` images are {height}x{width}; the model was configured for "
                             f"{expected[0]}x{expected[1]} (config.image_size).")
    if stride is not None and (height % stride or width % stride):
        raise ValueError(f"`{name}` images are {height}x{width}; height and width must be multiples of the encoder's "
                         f"total stride {stride}.")
    if _values_checked(pixel_values, check_values) and not torch.isfinite(pixel_values).all():
        bad = (~torch.isfinite(pixel_values)).flatten(1).any(dim=1).nonzero()[0].item()
        raise ValueError(f"`{name}` holds NaN or infinite values (first in batch row {bad}).")


def check_token_ids(
    ids,
    upper: int,
    name: str,
    batch_size: int | None = None,
    check_values: bool | None = None,
) -> None:
    """``ids`` (batch, length) integer ids in ``[0, upper)`` (``upper``: vocab_size, type_vocab_size, ...).

    ``None`` passes (optional inputs). ``batch_size`` checks the first dimension against another input.
    """
    if ids is None:
        return
    check_tensor(ids, name)
    if ids.is_floating_point() or ids.dtype == torch.bool or ids.is_complex():
        raise TypeError(f"`{name}` must be an integer tensor (ids), got dtype {ids.dtype}.")
    if ids.dim() != 2:
        raise ValueError(f"`{name}` must be (batch, sequence_length), got shape {_shape(ids)}.")
    if batch_size is not None and ids.shape[0] != batch_size:
        raise ValueError(f"`{name}` has batch size {ids.shape[0]} but the other inputs have {batch_size}.")
    if ids.numel() and _values_checked(ids, check_values):
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= upper:
            bad = low if low < 0 else high
            raise ValueError(f"`{name}` holds id {bad}; ids must be in [0, {upper - 1}] (the embedding has {upper} rows).")


def check_attention_mask(attention_mask, like: torch.Tensor | None, name: str = "attention_mask",
                         check_values: bool | None = None) -> None:
    """``attention_mask`` of the shape of ``like`` (the ids), 0/1 values."""
    if attention_mask is None:
        return
    check_tensor(attention_mask, name)
    if like is not None and attention_mask.shape != like.shape:
        raise ValueError(f"`{name}` has shape {_shape(attention_mask)}, the ids have {_shape(like)}.")
    if attention_mask.numel() and _values_checked(attention_mask, check_values):
        if not ((attention_mask == 0) | (attention_mask == 1)).all():
            raise ValueError(f"`{name}` must hold 0 (padding) and 1 (token) only.")


def check_bool_masked_pos(bool_masked_pos, batch_size: int, num_units: int, name: str = "bool_masked_pos",
                          check_values: bool | None = None) -> None:
    """``bool_masked_pos`` (batch, num_units) bool (an integer tensor of 0/1 is accepted; float is refused,
    since a float mask is usually a probability map, not a decision)."""
    if bool_masked_pos is None:
        return
    check_tensor(bool_masked_pos, name)
    if bool_masked_pos.is_floating_point():
        raise TypeError(f"`{name}` must be a bool tensor (True = masked), got dtype {bool_masked_pos.dtype}.")
    if _shape(bool_masked_pos) != (batch_size, num_units):
        raise ValueError(f"`{name}` must be (batch, num_units) = ({batch_size}, {num_units}), got "
                         f"{_shape(bool_masked_pos)}.")
    if bool_masked_pos.dtype != torch.bool and bool_masked_pos.numel() and _values_checked(bool_masked_pos, check_values):
        if not ((bool_masked_pos == 0) | (bool_masked_pos == 1)).all():
            raise ValueError(f"`{name}` must hold 0/1 (or True/False) only.")


def check_class_labels(labels, num_classes: int, name: str = "labels", batch_size: int | None = None,
                       ignore_index: int | None = -100, check_values: bool | None = None) -> None:
    """``labels`` integer classes in ``[0, num_classes)`` (or ``ignore_index``), any shape."""
    if labels is None:
        return
    check_tensor(labels, name)
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"`{name}` must be an integer tensor of class ids, got dtype {labels.dtype}.")
    if batch_size is not None and (labels.dim() == 0 or labels.shape[0] != batch_size):
        raise ValueError(f"`{name}` has shape {_shape(labels)}; expected a first dimension of {batch_size} (the batch).")
    if labels.numel() and _values_checked(labels, check_values):
        valid = (labels >= 0) & (labels < num_classes)
        if ignore_index is not None:
            valid |= labels == ignore_index
        if not valid.all():
            bad = int(labels[~valid].flatten()[0])
            allowed = f"[0, {num_classes - 1}]" + (f" or {ignore_index}" if ignore_index is not None else "")
            raise ValueError(f"`{name}` holds {bad}; expected class ids in {allowed}.")


def check_binary_labels(labels, name: str, shape: Sequence[int] | None = None, check_values: bool | None = None) -> None:
    """Float or integer targets in {0, 1} (e.g. multi-label attributes), optionally of ``shape``."""
    if labels is None:
        return
    check_tensor(labels, name)
    if shape is not None and _shape(labels) != tuple(shape):
        raise ValueError(f"`{name}` must have shape {tuple(shape)}, got {_shape(labels)}.")
    if labels.numel() and _values_checked(labels, check_values):
        if not ((labels == 0) | (labels == 1)).all():
            raise ValueError(f"`{name}` must hold 0 and 1 only.")


__all__ = [
    "check_attention_mask",
    "check_binary_labels",
    "check_bool_masked_pos",
    "check_class_labels",
    "check_pixel_values",
    "check_tensor",
    "check_token_ids",
]
