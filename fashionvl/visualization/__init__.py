"""Figures people would rather look at than read: image grids, MIR reconstructions, retrieval results,
attention overlays and training curves.

Every plotting function draws on a ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no display
needed, no global backend switch), returns the figure and, when ``path`` is given, writes it as a PNG.
Images may be given as PIL images, ``(3, H, W)`` float tensors in [0, 1] (or normalized, with ``mean`` /
``std``), or ``(H, W, 3)`` uint8 arrays.

Layout (one home per piece):

- `._figures`: what every figure shares (`new_figure`, `finish_figure`, `figure_to_image`, `denormalize`,
  `to_uint8_image`, `make_image_grid`);
- `.plots`: plots that serve several families (reconstruction grids, retrieval results, attention overlays,
  training / grouped curves, contact sheets);
- `.mvlt`, `.mfsr`, ...: one module per family for its paper's figures. A family's figure code takes the
  model outputs / scores it draws as parameters and imports nothing from `fashionvl.recipes` (no cycle).
"""

from . import _figures, m2fashion, mfsr, mvlt, plots
from ._figures import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    denormalize,
    figure_to_image,
    finish_figure,
    make_image_grid,
    new_figure,
    to_uint8_image,
)
from .m2fashion import attention_examples, attention_examples_by_group, plot_attribute_attention
from .mfsr import plot_mfsr_reconstruction
from .mvlt import save_diagnostic_curves, save_reconstruction_grid, save_retrieval_examples
from .plots import (
    plot_attention_overlay,
    plot_contact_sheet,
    plot_grouped_curves,
    plot_reconstruction_grid,
    plot_retrieval_results,
    plot_training_curves,
    save_training_curves,
)


__all__ = sorted([*_figures.__all__, *plots.__all__, *mvlt.__all__, *mfsr.__all__, *m2fashion.__all__])
