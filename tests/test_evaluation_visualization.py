"""visualization.py: grids and figures are written as PNG files with the expected content."""

import numpy as np
import pytest
import torch
from PIL import Image

from fashionvl.visualization import (
    denormalize,
    make_image_grid,
    plot_attention_overlay,
    plot_reconstruction_grid,
    plot_retrieval_results,
    plot_training_curves,
)


def test_make_image_grid_places_images_row_major_with_padding():
    red = Image.new("RGB", (4, 3), (255, 0, 0))
    blue = torch.zeros(3, 3, 4)
    blue[2] = 1.0
    grid = make_image_grid([red, blue, red], num_columns=2, padding=1)
    assert grid.size == (2 * 5 + 1, 2 * 4 + 1)
    pixels = np.asarray(grid)
    assert tuple(pixels[1, 1]) == (255, 0, 0)
    assert tuple(pixels[1, 6]) == (0, 0, 255)
    assert tuple(pixels[5, 1]) == (255, 0, 0)
    assert tuple(pixels[5, 6]) == (255, 255, 255)  # empty fourth cell


def test_make_image_grid_rejects_images_of_different_sizes():
    with pytest.raises(ValueError, match="image 1 is"):
        make_image_grid([Image.new("RGB", (4, 4)), Image.new("RGB", (5, 4))])


def test_denormalize_inverts_normalization():
    image = torch.rand(3, 5, 5)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    normalized = (image - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    assert torch.allclose(denormalize(normalized, mean, std), image, atol=1e-6)


def test_reconstruction_grid_writes_a_png_with_three_rows(tmp_path):
    pixel_values, reconstruction = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    mask = torch.zeros(2, 4, dtype=torch.bool)
    mask[:, 0] = True
    figure = plot_reconstruction_grid(pixel_values, reconstruction, mask, mask_unit_size=16, path=tmp_path / "r.png")
    assert len(figure.axes) == 6
    assert [axis.get_ylabel() for axis in figure.axes[::2]] == ["original", "masked", "reconstructed"]
    assert Image.open(tmp_path / "r.png").size[0] > 0


def test_retrieval_figure_outlines_only_the_positive(tmp_path):
    images = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(3)]
    figure = plot_retrieval_results("a red dress", images, [0.9, 0.5, 0.1], positive_index=1, path=tmp_path / "q.png")
    assert [len(axis.patches) for axis in figure.axes] == [0, 1, 0]
    assert (tmp_path / "q.png").stat().st_size > 0


def test_attention_overlay_draws_the_heatmap_at_image_size(tmp_path):
    figure = plot_attention_overlay(Image.new("RGB", (64, 48)), torch.rand(7, 7), title="floral", path=tmp_path / "a.png")
    heatmap = figure.axes[0].images[1].get_array()
    assert heatmap.shape == (48, 64) and float(heatmap.max()) == pytest.approx(1.0)


def test_training_curves_plot_every_logged_loss_and_eval_metric(tmp_path):
    history = [
        {"step": 10, "loss": 1.0, "itm_loss": 0.7, "learning_rate": 1e-4},
        {"step": 20, "loss": 0.8, "itm_loss": 0.6},
        {"step": 20, "eval_loss": 0.9, "eval_R@1": 0.1, "eval_runtime": 3.0},
    ]
    figure = plot_training_curves(history, path=tmp_path / "curves.png")
    titles = [axis.get_title() for axis in figure.axes if axis.get_visible()]
    assert titles == ["loss", "itm_loss", "eval_loss", "eval_R@1"]
    assert (tmp_path / "curves.png").exists()
