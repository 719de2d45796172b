"""MVLT image masking (paper Sec. 3.2, Table 3c): exact counts, styles, seeding, unit coverage."""

import itertools

import pytest
import torch

from fashionvl.processing.masking import (
    MASKING_STYLES,
    MaskGenerator,
    draw_masking_styles,
    expand_unit_mask,
    num_masked_units,
)


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    "num_units, ratio, expected",
    [(256, 0.5, 128), (256, 0.1, 26), (256, 0.7, 179), (64, 0.1, 6), (25, 0.5, 13), (10, 0.3, 3), (10, 0.7, 7), (4, 0.0, 0)],
)
def test_num_masked_units_is_ratio_times_units_rounded_half_up(num_units, ratio, expected):
    assert num_masked_units(num_units, ratio) == expected


@pytest.mark.parametrize("style", MASKING_STYLES)
def test_every_style_masks_exactly_round_ratio_units_for_every_ratio_and_unit_size(style):
    for ratio, unit in itertools.product([0.0, 0.1, 0.25, 0.3, 0.5, 0.7, 0.9, 1.0], [16, 32, 64]):
        generator = MaskGenerator(image_size=256, mask_unit_size=unit, mask_ratio=ratio, style=style)
        masks = generator(8, generator=seeded())
        assert masks.shape == (8, (256 // unit) ** 2) and masks.dtype == torch.bool
        expected = num_masked_units((256 // unit) ** 2, ratio)
        assert masks.sum(dim=1).tolist() == [expected] * 8, (style, ratio, unit)


@pytest.mark.parametrize("style", MASKING_STYLES)
def test_paper_default_masks_128_of_256_units_in_every_style(style):
    masks = MaskGenerator(256, 16, 0.5, style)(16, generator=seeded())
    assert masks.shape == (16, 256)
    assert (masks.sum(dim=1) == 128).all()


@pytest.mark.parametrize("style", MASKING_STYLES)
def test_same_seed_gives_same_masks(style):
    generator = MaskGenerator(128, 8, 0.5, style)
    assert torch.equal(generator(4, generator=seeded(3)), generator(4, generator=seeded(3)))


@pytest.mark.parametrize("style", ["random_grid", "grid", "stroke"])
def test_different_seeds_give_different_masks(style):
    generator = MaskGenerator(128, 8, 0.5, style)
    assert not torch.equal(generator(8, generator=seeded(1)), generator(8, generator=seeded(2)))


def test_random_grid_masks_every_unit_with_probability_ratio():
    masks = MaskGenerator(256, 16, 0.5, "random_grid")(4000, generator=seeded())
    frequency = masks.float().mean(dim=0)
    assert (frequency - 0.5).abs().max() < 0.04  # binomial std 0.008; 5 sigma


def test_random_grid_draws_each_sample_independently():
    masks = MaskGenerator(256, 16, 0.5, "random_grid")(32, generator=seeded())
    assert len({tuple(row.tolist()) for row in masks}) == 32


def test_grid_at_half_ratio_is_a_checkerboard():
    masks = MaskGenerator(256, 16, 0.5, "grid")(4, generator=seeded()).reshape(4, 16, 16)
    assert (masks[:, 1:, :] != masks[:, :-1, :]).all()
    assert (masks[:, :, 1:] != masks[:, :, :-1]).all()


def test_grid_at_quarter_ratio_masks_one_unit_in_every_two_by_two_block():
    masks = MaskGenerator(256, 16, 0.25, "grid")(4, generator=seeded()).reshape(4, 8, 2, 8, 2)
    assert (masks.sum(dim=(2, 4)) == 1).all()


def test_center_at_quarter_ratio_is_the_central_square():
    mask = MaskGenerator(256, 16, 0.25, "center")(1)[0].reshape(16, 16)
    expected = torch.zeros(16, 16, dtype=torch.bool)
    expected[4:12, 4:12] = True
    assert torch.equal(mask, expected)


def test_center_block_is_the_same_for_every_sample_and_grows_with_the_ratio():
    small = MaskGenerator(256, 16, 0.3, "center")(5)
    large = MaskGenerator(256, 16, 0.6, "center")(5)
    assert (small == small[0]).all()
    assert (large[small]).all()  # the smaller block lies inside the larger one


def _masked_neighbour_fraction(masks, side):
    grid = masks.reshape(-1, side, side).float()
    padded = torch.nn.functional.pad(grid, (1, 1, 1, 1))
    neighbours = padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
    return ((neighbours > 0) & (grid > 0)).float().sum() / grid.sum()


def _same_state_neighbour_fraction(masks, side):
    grid = masks.reshape(-1, side, side)
    return torch.cat(
        [(grid[:, 1:] == grid[:, :-1]).flatten(), (grid[:, :, 1:] == grid[:, :, :-1]).flatten()]
    ).float().mean()


def test_stroke_masks_are_spatially_coherent_unlike_random_grid():
    stroke = MaskGenerator(256, 16, 0.3, "stroke")(16, generator=seeded())
    random = MaskGenerator(256, 16, 0.3, "random_grid")(16, generator=seeded())
    # Neighbouring units of a stroke mask mostly share their state; for a random mask about 58% do.
    assert _same_state_neighbour_fraction(stroke, 16) > _same_state_neighbour_fraction(random, 16) + 0.15
    assert _masked_neighbour_fraction(stroke, 16) > 0.95


def test_stroke_extends_to_the_exact_count_when_strokes_run_out():
    generator = MaskGenerator(256, 16, 0.5, "stroke")
    generator.max_strokes = 1  # one stroke never paints 128 units: the rest is filled in random order
    masks = generator(6, generator=seeded())
    assert (masks.sum(dim=1) == 128).all()


def test_masks_for_non_square_images_follow_the_unit_grid():
    generator = MaskGenerator((64, 128), 16, 0.5, "center")
    assert generator.grid_size == (4, 8) and generator.num_units == 32
    assert generator(2).shape == (2, 32)


def test_expanded_mask_covers_whole_units():
    units = MaskGenerator(64, 16, 0.5)(3, generator=seeded())
    pixels = expand_unit_mask(units, 64, 16)
    assert pixels.shape == (3, 64, 64) and pixels.dtype == torch.bool
    blocks = pixels.reshape(3, 4, 16, 4, 16).permute(0, 1, 3, 2, 4).reshape(3, 16, 256)
    assert (blocks.all(dim=-1) | ~blocks.any(dim=-1)).all()  # each unit entirely masked or not
    assert torch.equal(blocks[..., 0], units)  # row-major unit order
    assert pixels.float().mean() == 0.5


def test_expand_unit_mask_rejects_a_mask_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"\(batch, 16\).*\(2, 15\)"):
        expand_unit_mask(torch.zeros(2, 15, dtype=torch.bool), 64, 16)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_size": 250, "mask_unit_size": 16}, "mask_unit_size`=16 must divide"),
        ({"mask_ratio": 1.5}, "mask_ratio.*1.5"),
        ({"mask_ratio": -0.1}, "mask_ratio.*-0.1"),
        ({"style": "checker"}, "style.*'checker'"),
        ({"mask_unit_size": 0}, "mask_unit_size.*0"),
    ],
)
def test_mask_generator_rejects_bad_settings_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MaskGenerator(**kwargs)


def test_masking_styles_figure_has_one_panel_per_style():
    image = draw_masking_styles(image_size=64, mask_unit_size=16)
    assert image.size == (4 * (64 + 8) + 8, 64 + 20 + 16)
