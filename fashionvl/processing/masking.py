"""Image masking for masked image reconstruction (MIR), MVLT paper Sec. 3.2 and Table 3(c).

The image is divided into non-overlapping *masking units* of ``mask_unit_size = alpha * P`` pixels
(MVLT default alpha=4, P=4: 16 px units, 16 x 16 = 256 units at 256 px). A mask is one bool per unit,
row-major over the unit grid, ``True`` = masked (MVLT eq. 4: M(q) = 1 if q in Phi). Every style
masks *exactly* ``num_masked_units = round(mask_ratio * Q)`` units (round half up), Q being the
number of units, so the masking ratio is the configured one for every sample.

Styles (paper Fig. 8 / Table 3(c)):

- ``random_grid`` (paper default, "Final"): the masked units are a uniformly random subset of size
  ``num_masked_units``, drawn independently per sample (MVLT eq. 4, Phi drawn from [1, Q] with ratio r_v).
  The authors' code builds the mask with an indexing bug, so its real ratio is 0.50 +- 0.10; this one
  is exact.
- ``grid`` (C1): a regular pattern from an ordered-dither (Bayer) matrix tiled over the unit grid;
  the units with the lowest dither rank are masked, so ratio 0.5 gives a checkerboard, 0.25 one unit
  in every 2 x 2 block, and so on. The phase of the pattern (a shift of the tiling) is random per
  sample. When ``num_masked_units`` is not a whole dither level, the last level is filled partially
  with randomly chosen units of that level.
- ``stroke`` (C2): random brush strokes (random walks with a round brush whose radius is 4-9% of the
  image side, at least 0.6 units) are painted on the unit grid one stroke at a time, vectorised over
  the samples that still need units, until every sample has at least ``num_masked_units`` painted
  units; units are ranked by the time the brush first touched them (random order within one brush
  step) and the first ``num_masked_units`` are masked, i.e. the last stroke is trimmed. If 100
  strokes do not cover enough units (only near ratio 1), the remaining units are added in random
  order, which extends the mask to the exact count.
- ``center`` (C3): a central block grown ring by ring. Units are ranked by Chebyshev distance to the
  image centre (square rings), then Euclidean distance (middle of a ring's sides first), then
  row-major index; the first ``num_masked_units`` are masked. Deterministic: the same block for
  every sample.

The model fills masked units itself (SPEC §2), so this module only produces the bool masks.
Only torch, numpy and PIL are imported (remote-code contract).
"""

from __future__ import annotations

import math

import numpy as np
import torch


MASKING_STYLES = ("random_grid", "grid", "stroke", "center")

__all__ = ["MASKING_STYLES", "MaskGenerator", "draw_masking_styles", "expand_unit_mask", "num_masked_units"]


def _pair(size: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        return size, size
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, int) for s in size):
        return int(size[0]), int(size[1])
    raise ValueError(f"`{name}` must be an int or a (height, width) pair of ints, got {size!r}.")


def num_masked_units(num_units: int, mask_ratio: float) -> int:
    """Number of masked units: ``round(mask_ratio * num_units)``, rounding halves up (12.5 -> 13)."""
    # The small epsilon keeps float noise (0.3 * 10 = 3.0000000000000004, 0.7 * 10 = 6.999...) from
    # moving the count across an integer boundary.
    return int(math.floor(mask_ratio * num_units + 0.5 + 1e-9))


def _bayer_matrix(order: int) -> np.ndarray:
    """Ordered-dither matrix of side ``2 ** order`` holding each rank 0..4**order - 1 once."""
    matrix = np.zeros((1, 1), dtype=np.int64)
    for _ in range(order):
        matrix = np.block([[4 * matrix, 4 * matrix + 2], [4 * matrix + 3, 4 * matrix + 1]])
    return matrix


class MaskGenerator:
    """Draws unit masks for masked image reconstruction.

    Args:
        image_size (`int` or `(height, width)`, defaults to 256):
            Size in pixels of the (pre-processed) image the mask is for.
        mask_unit_size (`int`, defaults to 16):
            Side of one masking unit in pixels, ``alpha * P`` in the paper (4 * 4 = 16). Must divide the
            image height and width.
        mask_ratio (`float`, defaults to 0.5):
            Fraction ``r_v`` of units to mask, in [0, 1]. Exactly ``round(mask_ratio * num_units)`` units
            are masked in every sample.
        style (`str`, defaults to `"random_grid"`):
            One of `"random_grid"`, `"grid"`, `"stroke"`, `"center"` (see the module docstring).

    Calling ``generator(batch_size, generator=None, device=None)`` returns a bool tensor of shape
    ``(batch_size, num_units)``, row-major over the ``(height // mask_unit_size, width // mask_unit_size)``
    unit grid. Pass a seeded ``torch.Generator`` for reproducible masks.

    Example:

    ```python
    >>> import torch
    >>> from fashionvl.processing.masking import MaskGenerator
    >>> masks = MaskGenerator(image_size=256, mask_unit_size=16, mask_ratio=0.5)(4, generator=torch.Generator().manual_seed(0))
    >>> masks.shape, masks.sum(dim=1).tolist()
    (torch.Size([4, 256]), [128, 128, 128, 128])
    ```
    """

    def __init__(
        self,
        image_size: int | tuple[int, int] = 256,
        mask_unit_size: int = 16,
        mask_ratio: float = 0.5,
        style: str = "random_grid",
    ):
        height, width = _pair(image_size, "image_size")
        if not isinstance(mask_unit_size, int) or isinstance(mask_unit_size, bool) or mask_unit_size <= 0:
            raise ValueError(f"`mask_unit_size` must be a positive int, got {mask_unit_size!r}.")
        if height <= 0 or width <= 0:
            raise ValueError(f"`image_size` must be positive, got {image_size!r}.")
        if height % mask_unit_size or width % mask_unit_size:
            raise ValueError(
                f"`mask_unit_size`={mask_unit_size} must divide the image size {(height, width)} so that the "
                "masking units tile the image."
            )
        if not isinstance(mask_ratio, (int, float)) or isinstance(mask_ratio, bool) or not 0.0 <= mask_ratio <= 1.0:
            raise ValueError(f"`mask_ratio` must be a number in [0, 1], got {mask_ratio!r}.")
        if style not in MASKING_STYLES:
            raise ValueError(f"`style` must be one of {MASKING_STYLES}, got {style!r}.")
        self.image_size = (height, width)
        self.mask_unit_size = mask_unit_size
        self.mask_ratio = float(mask_ratio)
        self.style = style
        self.grid_size = (height // mask_unit_size, width // mask_unit_size)
        self.num_units = self.grid_size[0] * self.grid_size[1]
        self.num_masked_units = num_masked_units(self.num_units, self.mask_ratio)
        # `stroke` style: strokes drawn per call at most before the remaining units are filled randomly.
        self.max_strokes = 100

    def __repr__(self) -> str:
        return (
            f"MaskGenerator(image_size={self.image_size}, mask_unit_size={self.mask_unit_size}, "
            f"mask_ratio={self.mask_ratio}, style={self.style!r}, num_masked_units={self.num_masked_units}/"
            f"{self.num_units})"
        )

    def __call__(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.BoolTensor:
        """Returns a `(batch_size, num_units)` bool tensor with exactly `num_masked_units` True per row."""
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 0:
            raise ValueError(f"`batch_size` must be a non-negative int, got {batch_size!r}.")
        if self.num_masked_units in (0, self.num_units):  # nothing to draw: every style agrees
            scores = torch.zeros(batch_size, self.num_units)
        elif self.style == "random_grid":
            scores = torch.rand(batch_size, self.num_units, generator=generator)
        elif self.style == "grid":
            scores = self._grid_scores(batch_size, generator)
        elif self.style == "stroke":
            scores = self._stroke_scores(batch_size, generator)
        else:
            scores = self._center_scores().expand(batch_size, -1)
        mask = self._lowest_scores_mask(scores)
        return mask if device is None else mask.to(device)

    # ----------------------------------------------------------------------------------------------
    # Every style assigns a score to each unit; the `num_masked_units` lowest scores are masked, which
    # makes the count exact by construction.

    def _lowest_scores_mask(self, scores: torch.Tensor) -> torch.BoolTensor:
        batch_size = scores.shape[0]
        mask = torch.zeros(batch_size, self.num_units, dtype=torch.bool)
        if self.num_masked_units == 0 or batch_size == 0:
            return mask
        if self.num_masked_units == self.num_units:
            return ~mask
        # A stable sort keeps ties in row-major order, so deterministic scores give deterministic masks.
        order = torch.sort(scores, dim=1, stable=True).indices[:, : self.num_masked_units]
        return mask.scatter_(1, order, True)

    def _unit_coordinates(self) -> tuple[torch.Tensor, torch.Tensor]:
        rows, cols = self.grid_size
        grid_rows, grid_cols = torch.meshgrid(
            torch.arange(rows, dtype=torch.float32), torch.arange(cols, dtype=torch.float32), indexing="ij"
        )
        return grid_rows.reshape(-1), grid_cols.reshape(-1)

    def _grid_scores(self, batch_size: int, generator: torch.Generator | None) -> torch.Tensor:
        rows, cols = self.grid_size
        # Dither period: the largest power of two (at most 8) that fits the unit grid.
        order = max(0, min(3, int(math.log2(max(1, min(rows, cols))))))
        period = 2**order
        bayer = torch.from_numpy(_bayer_matrix(order))
        shift_rows = torch.randint(period, (batch_size, 1), generator=generator)
        shift_cols = torch.randint(period, (batch_size, 1), generator=generator)
        unit_rows, unit_cols = self._unit_coordinates()
        dither_rows = (unit_rows.long()[None, :] + shift_rows) % period
        dither_cols = (unit_cols.long()[None, :] + shift_cols) % period
        level = bayer[dither_rows, dither_cols].float()
        # Random tie-break inside one level (only matters when the last level is filled partially).
        return level + 0.5 * torch.rand(batch_size, self.num_units, generator=generator)

    def _stroke_scores(self, batch_size: int, generator: torch.Generator | None) -> torch.Tensor:
        rows, cols = self.grid_size
        side = max(rows, cols)
        # Brush and stroke sizes are relative to the image, so the style looks the same at every unit size:
        # brush radius 4-9% of the image side (at least 0.6 units), strokes 30-100% of the side long,
        # walked in steps of half the brush radius (at least half a unit).
        min_radius, max_radius = max(0.6, 0.04 * side), max(0.6, 0.09 * side)
        steps_per_stroke = int(math.ceil(side / max(0.5, 0.5 * min_radius)))
        # Units a brush centred in unit (0, 0) can reach: a box of offsets around the centre.
        reach = int(math.ceil(max_radius)) + 1
        offsets = torch.arange(-reach, reach + 1)
        offset_rows, offset_cols = (o.reshape(-1) for o in torch.meshgrid(offsets, offsets, indexing="ij"))
        # Column `num_units` is a sink for brush positions that fall outside the image.
        first_painted = torch.full((batch_size, self.num_units + 1), float("inf"))
        clock = 0.0
        for _ in range(self.max_strokes):
            needs_paint = torch.isfinite(first_painted[:, :-1]).sum(dim=1) < self.num_masked_units
            active = needs_paint.nonzero().squeeze(1)
            if active.numel() == 0:
                break
            num_active = active.numel()
            # One random-walk stroke per sample still short of units; its heading drifts at each step.
            start = torch.rand(num_active, 1, 2, generator=generator) * torch.tensor([rows, cols]) - 0.5
            radius = min_radius + (max_radius - min_radius) * torch.rand(num_active, 1, 1, generator=generator)
            heading = torch.rand(num_active, 1, generator=generator) * 2 * math.pi
            turn = (torch.rand(num_active, steps_per_stroke, generator=generator) - 0.5) * 0.6
            angles = heading + torch.cumsum(turn, dim=1)
            step_length = torch.clamp(0.5 * radius, min=0.5)
            steps = step_length * torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1)
            points = start + torch.cumsum(steps, dim=1)  # (active, steps, 2), in unit coordinates
            stroke_length = (torch.rand(num_active, 1, generator=generator) * 0.7 + 0.3) * steps_per_stroke
            step_in_stroke = torch.arange(steps_per_stroke)[None, :] < stroke_length.ceil()  # (active, steps)
            # Units near each brush position, and which of them the brush (a disc) covers.
            near_rows = points[..., :1].round().long() + offset_rows  # (active, steps, box)
            near_cols = points[..., 1:].round().long() + offset_cols
            distance = torch.hypot(near_rows - points[..., :1], near_cols - points[..., 1:])
            inside = (near_rows >= 0) & (near_rows < rows) & (near_cols >= 0) & (near_cols < cols)
            touched = (distance <= radius) & inside & step_in_stroke[..., None]
            unit_index = torch.where(touched, near_rows * cols + near_cols, self.num_units)
            paint_time = clock + torch.arange(steps_per_stroke, dtype=torch.float32)[None, :, None]
            paint_time = paint_time.expand_as(distance)
            painted = first_painted[active].scatter_reduce(
                1, unit_index.reshape(num_active, -1), paint_time.reshape(num_active, -1), reduce="amin"
            )
            first_painted[active] = painted
            clock += steps_per_stroke
        first_painted = first_painted[:, :-1]
        # Random order inside one brush step; unpainted units come last, in random order (the extension
        # used when `max_strokes` strokes did not cover enough units, which happens near ratio 1).
        tie_break = torch.rand(batch_size, self.num_units, generator=generator)
        never_painted = torch.isinf(first_painted)
        return torch.where(never_painted, clock + 1.0 + tie_break, first_painted + 0.5 * tie_break)

    def _center_scores(self) -> torch.Tensor:
        rows, cols = self.grid_size
        unit_rows, unit_cols = self._unit_coordinates()
        offset_rows = unit_rows - (rows - 1) / 2
        offset_cols = unit_cols - (cols - 1) / 2
        # Square rings around the centre (scaled so non-square grids grow a block of the same shape).
        ring = torch.maximum(offset_rows.abs() / rows, offset_cols.abs() / cols)
        euclidean = torch.sqrt((offset_rows / rows) ** 2 + (offset_cols / cols) ** 2)
        ring_rank = torch.unique(ring, sorted=True, return_inverse=True)[1].float()
        euclid_rank = torch.unique(euclidean, sorted=True, return_inverse=True)[1].float()
        # Lexicographic (ring, euclidean); the stable sort adds row-major order as the last key.
        return (ring_rank * (self.num_units + 1) + euclid_rank)[None, :]


def expand_unit_mask(
    bool_masked_pos: torch.Tensor, image_size: int | tuple[int, int], mask_unit_size: int
) -> torch.BoolTensor:
    """Expands a unit mask to a pixel mask, e.g. for visualisation.

    Args:
        bool_masked_pos: `(batch, num_units)` bool, row-major over units (or `(num_units,)`).
        image_size: image size in pixels, int or `(height, width)`.
        mask_unit_size: side of one masking unit in pixels.

    Returns:
        `(batch, height, width)` bool tensor, True on the pixels of masked units.
    """
    height, width = _pair(image_size, "image_size")
    if height % mask_unit_size or width % mask_unit_size:
        raise ValueError(f"`mask_unit_size`={mask_unit_size} must divide the image size {(height, width)}.")
    rows, cols = height // mask_unit_size, width // mask_unit_size
    mask = torch.as_tensor(bool_masked_pos)
    if mask.dim() == 1:
        mask = mask[None]
    if mask.dim() != 2 or mask.shape[1] != rows * cols:
        raise ValueError(
            f"`bool_masked_pos` must have shape (batch, {rows * cols}) for a {height}x{width} image with "
            f"{mask_unit_size}px units, got {tuple(mask.shape)}."
        )
    grid = mask.bool().reshape(-1, rows, cols)
    return grid.repeat_interleave(mask_unit_size, dim=1).repeat_interleave(mask_unit_size, dim=2)


def draw_masking_styles(
    image: "np.ndarray | None" = None,
    image_size: int = 256,
    mask_unit_size: int = 16,
    mask_ratio: float = 0.5,
    seed: int = 0,
):
    """Draws the four masking styles side by side on one image (masked units in grey), as a PIL image.

    Args:
        image: `(height, width, 3)` uint8 image to mask; a procedural test pattern when None.
        image_size, mask_unit_size, mask_ratio: as for `MaskGenerator`.
        seed: seed of the masks.

    Returns:
        A `PIL.Image.Image` of width `4 * image_size + 5 * margin` with one labelled panel per style.
    """
    from PIL import Image, ImageDraw

    if image is None:
        yy, xx = np.mgrid[0:image_size, 0:image_size] / max(1, image_size - 1)
        image = np.stack([255 * xx, 255 * yy, 255 * (1 - xx) * (1 - yy)], axis=-1).astype(np.uint8)
    image = np.asarray(image)
    if image.shape[:2] != (image_size, image_size) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"`image` must be ({image_size}, {image_size}, 3) uint8, got shape {image.shape}.")
    margin, label_height = 8, 20
    canvas = Image.new(
        "RGB", (len(MASKING_STYLES) * (image_size + margin) + margin, image_size + label_height + 2 * margin), "white"
    )
    draw = ImageDraw.Draw(canvas)
    for index, style in enumerate(MASKING_STYLES):
        generator = torch.Generator().manual_seed(seed)
        unit_mask = MaskGenerator(image_size, mask_unit_size, mask_ratio, style)(1, generator=generator)
        pixel_mask = expand_unit_mask(unit_mask, image_size, mask_unit_size)[0].numpy()
        panel = image.copy()
        panel[pixel_mask] = 128
        left = margin + index * (image_size + margin)
        canvas.paste(Image.fromarray(panel), (left, margin + label_height))
        draw.text((left, margin), f"{style} ({int(unit_mask.sum())}/{unit_mask.shape[1]} units)", fill="black")
    return canvas
