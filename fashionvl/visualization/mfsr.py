"""mFSR figures (mFSR paper Fig. 5: image and caption reconstructions)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from matplotlib.figure import Figure

from ._figures import finish_figure, new_figure, to_uint8_image


def plot_mfsr_reconstruction(
    images,
    captions: Sequence[str],
    reconstructed_images=None,
    reconstructed_captions: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """mFSR paper Fig. 5: one row per example: input image | input caption | reconstructed image | reconstructed caption.

    Args:
        images: input images (PIL or ``(3, H, W)`` tensors in [0, 1]).
        captions: the input captions.
        reconstructed_images: the generator's images, ``(batch, 3, h, w)`` in [0, 1] (column left out if None).
        reconstructed_captions: decoded captions (column left out if None).
        path: where to write the PNG.
    """
    import textwrap

    if len(images) != len(captions):
        raise ValueError(f"got {len(images)} images but {len(captions)} captions.")
    columns = [("input image", "image", list(images)), ("input caption", "text", list(captions))]
    if reconstructed_images is not None:
        columns.append(("reconstructed image", "image", list(reconstructed_images)))
    if reconstructed_captions is not None:
        columns.append(("reconstructed caption", "text", list(reconstructed_captions)))
    widths = [1.6 if kind == "image" else 3.0 for _, kind, _ in columns]
    figure = new_figure(sum(widths), 1.7 * len(images) + 0.3)
    grid = figure.add_gridspec(len(images), len(columns), width_ratios=widths)
    for column, (title, kind, values) in enumerate(columns):
        for row, value in enumerate(values):
            axis = figure.add_subplot(grid[row, column])
            axis.set_xticks([])
            axis.set_yticks([])
            if kind == "image":
                axis.imshow(to_uint8_image(value), interpolation="nearest")
            else:
                for spine in axis.spines.values():
                    spine.set_visible(False)
                axis.text(0.02, 0.5, textwrap.fill(value or "(empty)", 32), va="center", ha="left", fontsize=8, transform=axis.transAxes)
            if row == 0:
                axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return finish_figure(figure, path)



def save_mfsr_reconstruction_figure(model, processor, images, captions: Sequence[str], path: str | os.PathLike) -> Figure:
    """Paper Fig. 5 from a trained `MFSRForRetrieval`: its reconstructions (`model.reconstruct`: G's images, greedy
    captions) of `images` and `captions` (row i: image i with caption i), drawn by `plot_mfsr_reconstruction`."""
    model.eval()
    device = next(model.parameters()).device
    batch = processor(images=list(images), text=list(captions))
    reconstructed_images, reconstructed_ids = model.reconstruct(
        batch["pixel_values"].to(device), batch["input_ids"].to(device), batch["attention_mask"].to(device)
    )
    reconstructed_captions = processor.batch_decode(reconstructed_ids) if reconstructed_ids is not None else None
    return plot_mfsr_reconstruction(images, captions, reconstructed_images, reconstructed_captions, path=path)


# save_mfsr_reconstruction_figure is not in __all__ until the package __init__ imports it (its __all__ is built from ours)
__all__ = ["plot_mfsr_reconstruction"]
