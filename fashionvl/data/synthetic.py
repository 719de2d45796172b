"""The bundled synthetic fashion catalog: procedural product images with captions and labels.

No download is needed: `generate_catalog` draws every product with PIL on a white background, the
way Fashion-Gen photographs products, and labels it with what was drawn. Every visual property a
caption names is visible at 64x64 px (colour first, then pattern, shape, sleeves, neckline, fabric
texture, style trims), and products of one sub-category differ in exactly those properties, so the
101-candidate retrieval protocol (negatives from the same sub-category, SPEC §6) measures whether a
model reads the caption rather than only the garment type.

Taxonomy (names from Fashion-Gen's category list, 10 main categories x 2 sub-categories, balanced):
products are assigned round-robin to the 20 sub-categories, so main and sub-categories are equally
frequent; the split (80/10/10 % train/validation/test) is made by product and is stratified by
sub-category. Product ``i`` depends only on ``(seed, i)``: a small catalog is a prefix of a large one.

Rows (one per product view; the views of a product are jittered copies: scale, shift, flip, shade):

==================  =======================  ==================================================
column              feature                  meaning
==================  =======================  ==================================================
image               Image (PNG bytes, RGB)   the view, ``image_size`` x ``image_size``
caption             string                   the product description (the same for every view,
                                             as in Fashion-Gen) = ``captions[0]``
captions            List(string), 5 items    five differently worded descriptions of the product
name                string                   short product title ("Red Striped Cotton T-Shirt")
category            ClassLabel (10 names)    main category
subcategory         ClassLabel (20 names)    sub-category
product_id          int64                    product id, unique over all splits
view                int32                    0 = canonical front view, 1.. = jittered views
attributes          List(int8), 23 items     typed binary attributes, 1 = has it, -1 = has not
attribute_values    List(int32), 9 items     categorical attribute dimensions (DARN style),
                                             value index per dimension, -1 = not applicable
==================  =======================  ==================================================

The attribute names/types and the dimension value names are stored in ``dataset.info.description``
(see `fashionvl.data.metadata`); read them with `attribute_names`, `attribute_types`,
`attribute_dimensions`.

Writers export a catalog in every on-disk format the real loaders read: Fashion-Gen HDF5
(`write_fashiongen_h5`), DeepFashion Category & Attribute Prediction (`write_deepfashion`),
Karpathy JSON + image folder (`write_karpathy`) and the ASEN release of DARN (`write_darn`). Each writer lives
next to its reader (`fashiongen.py`, `deepfashion.py`, `karpathy.py`, `darn.py`) and is re-exported here.

Layout: the vocabulary, taxonomy and product sampling are in `fashionvl.data.synthetic_products`; this module
describes (captions) and draws (the procedural renderer) the products and builds the catalog datasets.
"""

from __future__ import annotations

import io
import math
import random
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageOps

# Re-exported: each format writer lives with its reader.
from .darn import write_darn
from .deepfashion import write_deepfashion
from .fashiongen import write_fashiongen_h5
from .karpathy import write_karpathy
from . import synthetic_products
from .metadata import catalog_info_description


from .synthetic_products import (
    ATTRIBUTE_DIMENSIONS,
    ATTRIBUTES,
    COLORS,
    FABRICS,
    FITS,
    LENGTHS,
    MAIN_CATEGORIES,
    NECKLINES,
    NUM_CAPTIONS_PER_PRODUCT,
    PATTERNS,
    SLEEVES,
    SPLIT_NAMES,
    STYLES,
    SUBCATEGORIES,
    SUBCATEGORY_NAMES,
    Product,
    SubcategorySpec,
    product_split,
    sample_product,
)


_LIGHT_COLORS = {"yellow", "pink", "orange", "grey"}
_WHITE = (255, 255, 255)
_PATTERN_LIGHT = (248, 248, 248)
_PATTERN_DARK = (25, 25, 25)


# ----------------------------------------------------------------------------------------------
# Captions
# ----------------------------------------------------------------------------------------------

_COLOR_WORDS = {name: (name,) for name in COLORS}
_COLOR_WORDS["grey"] = ("grey", "gray")
_PATTERN_ADJECTIVES = {
    "solid": ("solid", "plain"),
    "striped": ("striped", "stripe"),
    "dotted": ("polka-dot", "dotted"),
    "checked": ("checked", "plaid"),
    "floral": ("floral", "flower-print"),
}
_PATTERN_PHRASES = {
    "solid": ("a solid colour", "no print"),
    "striped": ("stripes", "a striped pattern"),
    "dotted": ("polka dots", "a dotted print"),
    "checked": ("checks", "a plaid pattern"),
    "floral": ("a floral print", "small flowers"),
}
_FABRIC_WORDS = {"cotton": ("cotton",), "denim": ("denim",), "knit": ("knit", "knitted"), "leather": ("leather",)}
_SLEEVE_PHRASES = {
    "sleeveless": ("sleeveless", "without sleeves"),
    "short sleeve": ("short-sleeved", "with short sleeves"),
    "long sleeve": ("long-sleeved", "with long sleeves"),
}
_NECKLINE_PHRASES = {
    "crew neck": ("a crew neck", "a round neck"),
    "v-neck": ("a v-neck", "a v neckline"),
    "collar": ("a classic collar", "a pointed collar"),
    "turtleneck": ("a high turtleneck", "a roll neck"),
}
_FIT_WORDS = {"fitted": ("fitted", "slim-fit"), "loose": ("loose", "relaxed-fit", "oversized")}
_STYLE_PHRASES = {
    "casual": ("casual", "everyday"),
    "formal": ("formal", "smart"),
    "sporty": ("sporty", "athletic"),
}
#: What the style adds to the drawing, named per kind of product (the trims drawn by `_trims` etc.).
_STYLE_DETAILS = {
    "garment": {"casual": ("a patch pocket", "a chest pocket"), "formal": ("a button front", "neat buttons"),
                "sporty": ("contrast trims", "sport stripes")},
    "bottom": {"casual": ("a relaxed look", "simple seams"), "formal": ("a contrast belt", "a smart waistband"),
               "sporty": ("side stripes", "contrast side trims")},
    "accessory": {"casual": ("a simple look", "a clean design"), "formal": ("a metal clasp", "a round clasp"),
                  "sporty": ("a contrast stripe", "a sporty stripe")},
}
_STYLE_GROUP = {"top": "garment", "dress": "garment", "jacket": "garment", "pants": "bottom", "skirt": "bottom"}


_DISTRACTORS = (
    "new season", "perfect for weekends", "a wardrobe staple", "easy to wear", "from our latest collection",
    "made to last", "an everyday essential", "limited edition", "ships in two days", "designed in europe",
)


def _choice(rng: random.Random, options):
    return rng.choice(options)


def _details(product: Product, rng: random.Random) -> list[str]:
    parts = []
    if product.sleeve is not None:
        parts.append(_choice(rng, _SLEEVE_PHRASES[product.sleeve]).removeprefix("with ").replace("-sleeved", " sleeves")
                     if product.sleeve != "sleeveless" else "no sleeves")
    if product.neckline is not None:
        parts.append(_choice(rng, _NECKLINE_PHRASES[product.neckline]))
    return parts


def _join_details(parts: list[str]) -> str:
    if not parts:
        return ""
    return " with " + " and ".join(parts)


def make_captions(product: Product, seed: int = 0, num_captions: int = NUM_CAPTIONS_PER_PRODUCT) -> list[str]:
    """Differently worded descriptions of ``product``; every one names its colour, pattern, fabric and type.

    Sleeve, neckline, fit and style are named in most templates; distractor phrases
    ("new season", ...) carry no information about the image.
    """
    rng = random.Random(f"{seed}:{product.product_id}:captions")
    captions = []
    for index in range(num_captions):
        color = _choice(rng, _COLOR_WORDS[product.color])
        pattern = _choice(rng, _PATTERN_ADJECTIVES[product.pattern])
        pattern_phrase = _choice(rng, _PATTERN_PHRASES[product.pattern])
        fabric = _choice(rng, _FABRIC_WORDS[product.fabric])
        noun = _choice(rng, product.spec.nouns)
        fit = _choice(rng, _FIT_WORDS[product.fit]) + " " if product.fit else ""
        style = _choice(rng, _STYLE_PHRASES[product.style])
        style_detail = _choice(rng, _STYLE_DETAILS[_STYLE_GROUP.get(product.spec.shape, "accessory")][product.style])
        distractor = _choice(rng, _DISTRACTORS)
        details = _details(product, rng)
        sleeve_adjective = _choice(rng, _SLEEVE_PHRASES[product.sleeve]) if product.sleeve else ""
        template = (index + rng.randrange(5)) % 5 if index else 0
        if template == 0:
            text = f"{color} {pattern} {fabric} {noun}{_join_details(details)}"
            if rng.random() < 0.5:
                text += f", {distractor}"
        elif template == 1:
            text = f"{fit}{noun} in {color} {fabric} with {pattern_phrase}"
            if sleeve_adjective:
                text += f", {sleeve_adjective}"
            text += f". {distractor}"
        elif template == 2:
            text = f"{distractor}: {style} {color} {noun} with {pattern_phrase}, made of {product.fabric}"
            if product.neckline:
                text += f", {_choice(rng, _NECKLINE_PHRASES[product.neckline])}"
        elif template == 3:
            text = f"this {fit}{noun} comes in {color} {pattern} {fabric} with {style_detail}{_join_details(details).replace(' with ', ', ', 1)}"
        else:
            lead = f"{_SLEEVE_PHRASES[product.sleeve][0]} " if product.sleeve else ""
            text = f"{lead}{color} {noun}; {fabric}, {pattern}, {fit.strip() or style}. {distractor}"
        captions.append(" ".join(text.split()))
    return captions


def product_name(product: Product) -> str:
    """Short product title in Fashion-Gen's style, e.g. ``"Red Striped Cotton T-Shirt"``."""
    pattern = "" if product.pattern == "solid" else _PATTERN_ADJECTIVES[product.pattern][0] + " "
    words = f"{product.color} {pattern}{product.fabric} {product.spec.nouns[0]}".split()
    return " ".join(word[:1].upper() + word[1:] for word in words)


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _pattern_mask(pattern: str, size: int) -> np.ndarray:
    """Boolean (size, size) mask of the secondary colour of a pattern (covers at most ~30 % of the area)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if pattern == "striped":
        period = 1 / 9
        return (yy % period) < period * 0.3
    if pattern == "dotted":
        spacing, radius = 1 / 10, 1 / 34
        row = np.floor(yy / spacing)
        shifted = xx + (row % 2) * spacing / 2
        dy = (yy % spacing) - spacing / 2
        dx = (shifted % spacing) - spacing / 2
        return dx * dx + dy * dy < radius * radius
    if pattern == "checked":
        period, width = 1 / 7, 1 / 7 * 0.16
        return ((xx % period) < width) | ((yy % period) < width)
    if pattern == "floral":
        mask = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(mask)
        layout = np.random.default_rng(1234)
        petal = max(1.0, size / 55)
        for cy in np.arange(0.04, 1.0, 0.15):
            for cx in np.arange(0.04, 1.0, 0.15):
                x = (cx + layout.uniform(-0.04, 0.04)) * size
                y = (cy + layout.uniform(-0.04, 0.04)) * size
                for angle in np.linspace(0, 2 * math.pi, 5, endpoint=False):
                    px, py = x + 1.4 * petal * math.cos(angle), y + 1.4 * petal * math.sin(angle)
                    draw.ellipse((px - petal, py - petal, px + petal, py + petal), fill=255)
        return np.asarray(mask) > 0
    if pattern == "solid":
        return np.zeros((size, size), dtype=bool)
    raise ValueError(f"unknown pattern {pattern!r}; expected one of {PATTERNS}")


@lru_cache(maxsize=512)
def _fabric_texture(fabric: str, size: int) -> np.ndarray:
    """Brightness multiplier (size, size, 1) rendering a fabric: denim twill, knit ribs, leather gloss."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if fabric == "cotton":
        texture = np.ones((size, size), dtype=np.float32)
    elif fabric == "denim":
        period = max(3, size // 40)
        texture = np.where(((xx + yy) % period) < period / 2, 0.87, 1.0).astype(np.float32)
    elif fabric == "knit":
        period = max(2, size // 24)
        texture = np.where((xx % period) < period / 2, 0.87, 1.02).astype(np.float32)
    elif fabric == "leather":
        distance = np.abs((xx - yy) / size - 0.15)
        texture = (0.94 + 0.3 * np.exp(-(distance / 0.08) ** 2)).astype(np.float32)
    else:
        raise ValueError(f"unknown fabric {fabric!r}; expected one of {FABRICS}")
    return texture[:, :, None]


def _mirror(points):
    return [(1.0 - x, y) for x, y in points]


class _Outline:
    """Garment geometry in unit coordinates: filled shapes, cut-outs and details drawn on top."""

    def __init__(self):
        self.shapes: list[tuple[str, object]] = []  # ("polygon", pts) | ("ellipse", box) | ("chord", box)
        self.cutouts: list[tuple[str, object]] = []
        self.details: list[tuple] = []  # ("line", pts, colour_key, width) | ("dot", (x, y), r, colour_key)

    def polygon(self, points, mirrored: bool = False):
        self.shapes.append(("polygon", list(points)))
        if mirrored:
            self.shapes.append(("polygon", _mirror(points)))

    def line(self, points, colour="dark", width=1.0):
        self.details.append(("line", list(points), colour, width))

    def dot(self, center, radius, colour="dark"):
        self.details.append(("dot", center, radius, colour))


def _fit_scale(product: Product) -> float:
    return {"fitted": 0.86, "loose": 1.14, None: 1.0}[product.fit]


def _draw_neckline(outline: _Outline, neckline: str | None, top: float):
    if neckline == "crew neck":
        outline.cutouts.append(("ellipse", (0.44, top - 0.05, 0.56, top + 0.05)))
    elif neckline == "v-neck":
        outline.cutouts.append(("polygon", [(0.435, top - 0.01), (0.565, top - 0.01), (0.5, top + 0.14)]))
    elif neckline == "collar":
        outline.cutouts.append(("polygon", [(0.45, top - 0.01), (0.55, top - 0.01), (0.5, top + 0.08)]))
        flap = [(0.43, top - 0.015), (0.5, top + 0.06), (0.46, top + 0.1), (0.41, top + 0.03)]
        outline.polygon(flap, mirrored=True)
    elif neckline == "turtleneck":
        outline.polygon([(0.43, top - 0.1), (0.57, top - 0.1), (0.57, top + 0.02), (0.43, top + 0.02)])
        for step in range(4):
            y = top - 0.085 + step * 0.03
            outline.line([(0.43, y), (0.57, y)], "shade", 0.6)


def _draw_sleeves(outline: _Outline, sleeve: str | None, half_width: float, shoulder: float, wrist: float):
    edge = 0.5 + half_width
    if sleeve == "short sleeve":
        outline.polygon([(edge - 0.02, shoulder), (edge + 0.15, shoulder + 0.11), (edge + 0.08, shoulder + 0.2),
                         (edge, shoulder + 0.14)], mirrored=True)
    elif sleeve == "long sleeve":
        outline.polygon([(edge - 0.02, shoulder), (edge + 0.1, shoulder + 0.06), (edge + 0.17, wrist),
                         (edge + 0.08, wrist + 0.01), (edge, shoulder + 0.18)], mirrored=True)


def _trims(outline: _Outline, product: Product, half_width: float, shoulder: float, hem: float, wrist: float):
    """Style details: sporty = contrast stripes, formal = buttons, casual = a patch pocket."""
    if product.style == "sporty":
        if product.sleeve == "long sleeve":
            edge = 0.5 + half_width
            stripe = [(edge + 0.07, shoulder + 0.05), (edge + 0.135, wrist)]
            outline.line(stripe, "trim", 2.2)
            outline.line(_mirror(stripe), "trim", 2.2)
        else:
            for x in (0.5 - half_width + 0.03, 0.5 + half_width - 0.03):
                outline.line([(x, shoulder + 0.12), (x, hem - 0.01)], "trim", 2.2)
    elif product.style == "formal":
        count = max(3, int((hem - shoulder) / 0.09))
        for step in range(count):
            outline.dot((0.5, shoulder + 0.14 + step * (hem - shoulder - 0.18) / max(1, count - 1)), 0.014, "trim")
    else:
        pocket = [(0.56, shoulder + 0.12), (0.56 + 0.08, shoulder + 0.12), (0.56 + 0.08, shoulder + 0.21),
                  (0.56, shoulder + 0.21), (0.56, shoulder + 0.12)]
        outline.line(pocket, "dark", 1.2)


def _shape_top(product: Product, hem: float = 0.74, flare: float = 1.0) -> _Outline:
    outline = _Outline()
    half_width = 0.15 * _fit_scale(product)
    shoulder = 0.22
    wrist = 0.7 if hem > 0.7 else 0.62
    if product.sleeve == "sleeveless":
        body = [(0.5 - 0.1, shoulder - 0.03), (0.5 - half_width, shoulder + 0.15), (0.5 - half_width * flare, hem),
                (0.5 + half_width * flare, hem), (0.5 + half_width, shoulder + 0.15), (0.5 + 0.1, shoulder - 0.03)]
    else:
        body = [(0.5 - half_width - 0.02, shoulder), (0.5 - half_width, shoulder + 0.17),
                (0.5 - half_width * flare, hem), (0.5 + half_width * flare, hem),
                (0.5 + half_width, shoulder + 0.17), (0.5 + half_width + 0.02, shoulder)]
    outline.polygon(body)
    _draw_sleeves(outline, product.sleeve, half_width, shoulder, wrist)
    _draw_neckline(outline, product.neckline, shoulder)
    if product.neckline == "collar":
        outline.line([(0.5, shoulder + 0.08), (0.5, hem)], "dark", 1.0)
    _trims(outline, product, half_width, shoulder, min(hem, 0.74), wrist)
    return outline


def _shape_dress(product: Product) -> _Outline:
    outline = _Outline()
    half_width = 0.13 * _fit_scale(product)
    shoulder, waist = 0.2, 0.42
    hem, hem_half = (0.66, 0.23) if product.length == "short" else (0.94, 0.28)
    hem_half *= _fit_scale(product)
    top = [(0.5 - 0.08, shoulder - 0.03) if product.sleeve == "sleeveless" else (0.5 - half_width - 0.02, shoulder),
           (0.5 - half_width, shoulder + 0.15), (0.5 - half_width * 0.9, waist), (0.5 - hem_half, hem),
           (0.5 + hem_half, hem), (0.5 + half_width * 0.9, waist), (0.5 + half_width, shoulder + 0.15)]
    top.append((0.5 + 0.08, shoulder - 0.03) if product.sleeve == "sleeveless" else (0.5 + half_width + 0.02, shoulder))
    outline.polygon(top)
    _draw_sleeves(outline, product.sleeve, half_width, shoulder, 0.58)
    _draw_neckline(outline, product.neckline, shoulder)
    outline.line([(0.5 - half_width * 0.9, waist), (0.5 + half_width * 0.9, waist)], "dark", 1.0)
    _trims(outline, product, half_width, shoulder, waist, 0.58)
    return outline


def _shape_jacket(product: Product) -> _Outline:
    hem = 0.72 if product.length == "short" else 0.92
    outline = _shape_top(product, hem=hem, flare=1.08)
    outline.line([(0.5, 0.3), (0.5, hem)], "dark", 1.2)
    return outline


def _shape_pants(product: Product) -> _Outline:
    outline = _Outline()
    half_width = 0.17 * _fit_scale(product)
    waist, crotch = 0.14, 0.4
    hem = 0.93 if product.length == "long" else 0.58
    hem_outer = half_width + (0.02 if product.fit == "loose" else -0.02) * (hem - waist) / 0.5
    gap = 0.015
    leg = [(0.5 - half_width, waist), (0.5, waist), (0.5, crotch), (0.5 - gap, hem), (0.5 - hem_outer, hem)]
    if product.length == "short":
        leg = [(0.5 - half_width, waist), (0.5, waist), (0.5, crotch), (0.5 - gap, hem), (0.5 - half_width - 0.03, hem)]
    outline.polygon(leg, mirrored=True)
    outline.line([(0.5 - half_width, waist + 0.04), (0.5 + half_width, waist + 0.04)], "dark", 1.0)
    if product.style == "formal":
        outline.line([(0.5 - half_width, waist + 0.02), (0.5 + half_width, waist + 0.02)], "trim", 3.0)
    elif product.style == "sporty":
        for side in (-1, 1):
            outline.line([(0.5 + side * (half_width - 0.015), waist + 0.06), (0.5 + side * (hem_outer - 0.01), hem - 0.01)],
                         "trim", 2.2)
    else:
        outline.line([(0.5 - half_width + 0.03, waist + 0.05), (0.5 - half_width + 0.1, waist + 0.1)], "dark", 1.0)
        outline.line([(0.5 + half_width - 0.03, waist + 0.05), (0.5 + half_width - 0.1, waist + 0.1)], "dark", 1.0)
    return outline


def _shape_skirt(product: Product) -> _Outline:
    outline = _Outline()
    waist_half = 0.13 * _fit_scale(product)
    waist = 0.24
    hem, hem_half = (0.62, 0.25) if product.length == "short" else (0.92, 0.27)
    hem_half *= _fit_scale(product)
    outline.polygon([(0.5 - waist_half, waist), (0.5 + waist_half, waist), (0.5 + hem_half, hem), (0.5 - hem_half, hem)])
    outline.line([(0.5 - waist_half, waist + 0.04), (0.5 + waist_half, waist + 0.04)], "dark", 1.0)
    if product.style == "formal":
        outline.line([(0.5 - waist_half, waist + 0.02), (0.5 + waist_half, waist + 0.02)], "trim", 3.0)
    elif product.style == "sporty":
        for side in (-1, 1):
            outline.line([(0.5 + side * (waist_half - 0.02), waist + 0.05), (0.5 + side * (hem_half - 0.03), hem - 0.01)],
                         "trim", 2.2)
    else:
        outline.line([(0.5, waist + 0.05), (0.5, hem - 0.1)], "dark", 1.0)
    return outline


def _shape_cap(product: Product) -> _Outline:
    outline = _Outline()
    outline.shapes.append(("chord", (0.22, 0.3, 0.72, 0.86)))
    outline.polygon([(0.62, 0.56), (0.92, 0.6), (0.9, 0.66), (0.6, 0.62)])
    outline.dot((0.47, 0.3), 0.025, "dark")
    if product.style == "sporty":
        outline.line([(0.25, 0.5), (0.69, 0.5)], "trim", 3.0)
    else:
        outline.line([(0.47, 0.31), (0.47, 0.58)], "dark", 1.0)
    return outline


def _shape_beanie(product: Product) -> _Outline:
    outline = _Outline()
    outline.shapes.append(("chord", (0.24, 0.22, 0.76, 0.9)))
    outline.polygon([(0.23, 0.52), (0.77, 0.52), (0.77, 0.66), (0.23, 0.66)])
    for step in range(9):
        x = 0.26 + step * 0.06
        outline.line([(x, 0.53), (x, 0.65)], "shade", 0.8)
    if product.style == "sporty":
        outline.line([(0.24, 0.47), (0.76, 0.47)], "trim", 3.0)
    else:
        outline.shapes.append(("ellipse", (0.44, 0.13, 0.56, 0.25)))
    return outline


def _shape_tote(product: Product) -> _Outline:
    outline = _Outline()
    outline.polygon([(0.22, 0.4), (0.78, 0.4), (0.83, 0.86), (0.17, 0.86)])
    for x0 in (0.3, 0.56):
        outline.line([(x0, 0.41), (x0 + 0.02, 0.2), (x0 + 0.12, 0.2), (x0 + 0.14, 0.41)], "base", 3.0)
    if product.style == "formal":
        outline.polygon([(0.46, 0.5), (0.54, 0.5), (0.54, 0.58), (0.46, 0.58)])
        outline.dot((0.5, 0.54), 0.025, "trim")
    return outline


def _shape_shoulder_bag(product: Product) -> _Outline:
    outline = _Outline()
    outline.line([(0.22, 0.47), (0.3, 0.2), (0.5, 0.12), (0.7, 0.2), (0.78, 0.47)], "base", 2.0)
    outline.polygon([(0.18, 0.45), (0.82, 0.45), (0.82, 0.82), (0.18, 0.82)])
    outline.line([(0.18, 0.45), (0.18, 0.62), (0.5, 0.7), (0.82, 0.62), (0.82, 0.45)], "dark", 1.2)
    if product.style == "formal":
        outline.dot((0.5, 0.68), 0.03, "trim")
    return outline


def _shape_sneaker(product: Product, high: bool) -> _Outline:
    outline = _Outline()
    if high:
        upper = [(0.13, 0.7), (0.13, 0.3), (0.4, 0.28), (0.44, 0.46), (0.62, 0.52), (0.86, 0.6), (0.88, 0.7)]
    else:
        upper = [(0.13, 0.7), (0.13, 0.5), (0.4, 0.44), (0.56, 0.5), (0.86, 0.6), (0.88, 0.7)]
    outline.polygon(upper)
    outline.line([(0.1, 0.72), (0.9, 0.72)], "sole", 5.0)
    for step in range(4):
        x = 0.42 + step * 0.05
        outline.line([(x, 0.47 + step * 0.012), (x + 0.03, 0.53 + step * 0.012)], "trim", 1.2)
    if product.style == "sporty":
        outline.line([(0.2, 0.66), (0.45, 0.58), (0.75, 0.62)], "trim", 3.0)
    return outline


_SHAPES = {
    "top": _shape_top,
    "dress": _shape_dress,
    "jacket": _shape_jacket,
    "pants": _shape_pants,
    "skirt": _shape_skirt,
    "cap": _shape_cap,
    "beanie": _shape_beanie,
    "tote": _shape_tote,
    "shoulder_bag": _shape_shoulder_bag,
    "sneaker_low": lambda product: _shape_sneaker(product, high=False),
    "sneaker_high": lambda product: _shape_sneaker(product, high=True),
}


def _scaled(points, size: int):
    return [(x * size, y * size) for x, y in points]


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, geometry, size: int, **style):
    if kind == "polygon":
        draw.polygon(_scaled(geometry, size), **style)
    elif kind == "ellipse":
        draw.ellipse([v * size for v in geometry], **style)
    elif kind == "chord":
        draw.chord([v * size for v in geometry], 180, 360, **style)


def render_product(product: Product, image_size: int = 256) -> Image.Image:
    """Draw the canonical front view of ``product`` (RGB, white background)."""
    size = image_size
    outline = _SHAPES[product.spec.shape](product)
    base = np.array(COLORS[product.color], dtype=np.float32)
    light = product.color in _LIGHT_COLORS
    secondary = np.array(_PATTERN_DARK if light else _PATTERN_LIGHT, dtype=np.float32)

    # Garment mask: shapes minus cut-outs.
    mask = Image.new("L", (size, size), 0)
    mask_draw = ImageDraw.Draw(mask)
    for kind, geometry in outline.shapes:
        _draw_shape(mask_draw, kind, geometry, size, fill=255)
    for kind, geometry in outline.cutouts:
        _draw_shape(mask_draw, kind, geometry, size, fill=0)

    # Colour layer over the garment's bounding box: base colour, pattern in the secondary colour,
    # fabric texture as a brightness multiplier.
    image = Image.new("RGB", (size, size), _WHITE)
    box = mask.getbbox()
    if box is not None:
        left, top, right, bottom = box
        layer = np.empty((bottom - top, right - left, 3), dtype=np.float32)
        layer[:] = base
        layer[_pattern_mask(product.pattern, size)[top:bottom, left:right]] = secondary
        layer *= _fabric_texture(product.fabric, size)[top:bottom, left:right]
        np.clip(layer, 0, 255, out=layer)
        image.paste(Image.fromarray(layer.astype(np.uint8)), (left, top), mask.crop(box))

    # Outlines and details.
    draw = ImageDraw.Draw(image)
    dark = tuple(int(c * 0.55) for c in COLORS[product.color])
    colours = {
        "dark": dark,
        "shade": tuple(int(c * 0.75) for c in COLORS[product.color]),
        "base": COLORS[product.color],
        "trim": _PATTERN_DARK if light else _PATTERN_LIGHT,
        "sole": (235, 235, 235),
    }
    line_width = max(1, round(size / 110))
    for kind, geometry in outline.shapes:
        _draw_shape(draw, kind, geometry, size, outline=dark, width=line_width)
    for detail in outline.details:
        if detail[0] == "line":
            _, points, colour, width = detail
            draw.line(_scaled(points, size), fill=colours[colour], width=max(1, round(width * size / 110)), joint="curve")
        else:
            _, (x, y), radius, colour = detail
            draw.ellipse(((x - radius) * size, (y - radius) * size, (x + radius) * size, (y + radius) * size),
                         fill=colours[colour])
    return image


def render_view(product: Product, image_size: int, rng: random.Random) -> Image.Image:
    """Another photograph of ``product``: drawn at 80-100 % scale, shifted, maybe mirrored, shaded.

    The smaller view is drawn at its own size rather than resized, so no pixel mixes the garment
    colour with its pattern colour (a bilinear resize of a black-on-orange pattern makes brown).
    """
    size = image_size
    new_size = max(1, round(size * rng.uniform(0.8, 1.0)))
    view = render_product(product, new_size)
    if rng.random() < 0.5:
        view = ImageOps.mirror(view)
    shade = rng.uniform(0.94, 1.06)
    # Shade the garment only: near-white values (the background) are left as they are.
    values = np.arange(256)
    lookup = np.where(values >= 250, values, np.minimum(255, np.round(values * shade))).astype(np.uint8)
    view = view.point(np.tile(lookup, 3).tolist())
    canvas = Image.new("RGB", (size, size), _WHITE)
    slack = size - new_size
    canvas.paste(view, (int(rng.randint(0, slack)), int(rng.randint(0, slack))))
    return canvas


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------
# The catalog as datasets
# ----------------------------------------------------------------------------------------------


def catalog_features():
    """The `datasets.Features` of a synthetic catalog split."""
    from datasets import ClassLabel, Features, Image as ImageFeature, List, Value

    return Features(
        {
            "image": ImageFeature(mode="RGB"),
            "caption": Value("string"),
            "captions": List(Value("string")),
            "name": Value("string"),
            "category": ClassLabel(names=list(MAIN_CATEGORIES)),
            "subcategory": ClassLabel(names=list(SUBCATEGORY_NAMES)),
            "product_id": Value("int64"),
            "view": Value("int32"),
            "attributes": List(Value("int8")),
            "attribute_values": List(Value("int32")),
        }
    )


def catalog_description(num_products: int | None = None, seed: int | None = None, image_size: int | None = None) -> str:
    """The JSON stored in ``dataset.info.description`` of every catalog split."""
    return catalog_info_description(
        attribute_names=[name for name, _ in ATTRIBUTES],
        attribute_types=[kind for _, kind in ATTRIBUTES],
        attribute_dimensions={name: list(values) for name, values in ATTRIBUTE_DIMENSIONS},
        subcategory_parents=[MAIN_CATEGORIES.index(spec.main) for spec in SUBCATEGORIES],
        source={"generator": "fashionvl.data.synthetic", "num_products": num_products, "seed": seed,
                "image_size": image_size},
    )


def generate_catalog(num_products: int, seed: int = 0, image_size: int = 256, views_per_product: int = 2,
                     progress: bool = True):
    """Generate the synthetic catalog as a `datasets.DatasetDict` with train/validation/test splits.

    Args:
        num_products: number of products (rows = ``num_products * views_per_product``). Multiples of
            20 are exactly balanced over sub-categories (and main categories).
        seed: the catalog seed; the same seed gives byte-identical images and identical texts.
        image_size: side of the square images in pixels (>= 32).
        views_per_product: photographs per product (view 0 canonical, others jittered), >= 1.
        progress: show a tqdm progress bar.

    Example:
        >>> from fashionvl.data.synthetic import generate_catalog
        >>> catalog = generate_catalog(100, seed=0, image_size=64)
        >>> catalog["train"][0]["caption"]  # doctest: +SKIP
        'red plaid cotton button-up shirt with short sleeves and a pointed collar, made to last'
    """
    from datasets import Dataset, DatasetDict, DatasetInfo
    from tqdm.auto import tqdm

    if not isinstance(num_products, int) or num_products < 1:
        raise ValueError(f"num_products must be a positive integer, got {num_products!r}")
    if not isinstance(image_size, int) or image_size < 32:
        raise ValueError(f"image_size must be an integer >= 32 (pixels), got {image_size!r}")
    if not isinstance(views_per_product, int) or views_per_product < 1:
        raise ValueError(f"views_per_product must be a positive integer, got {views_per_product!r}")

    columns = {split: {name: [] for name in catalog_features()} for split in SPLIT_NAMES}
    for product_id in tqdm(range(num_products), desc="synthetic catalog", disable=not progress):
        product = sample_product(product_id, seed)
        captions = make_captions(product, seed)
        canonical = render_product(product, image_size)
        view_rng = random.Random(f"{seed}:{product_id}:views")
        rows = columns[product_split(product_id)]
        for view in range(views_per_product):
            image = canonical if view == 0 else render_view(product, image_size, view_rng)
            rows["image"].append({"bytes": _png_bytes(image), "path": None})
            rows["caption"].append(captions[0])
            rows["captions"].append(captions)
            rows["name"].append(product_name(product))
            rows["category"].append(product.category)
            rows["subcategory"].append(product.subcategory)
            rows["product_id"].append(product_id)
            rows["view"].append(view)
            rows["attributes"].append(product.attribute_codes())
            rows["attribute_values"].append(product.attribute_values())

    features = catalog_features()
    description = catalog_description(num_products, seed, image_size)
    return DatasetDict(
        {
            split: Dataset.from_dict(
                columns[split], features=features, info=DatasetInfo(description=description, features=features),
                split=split,
            )
            for split in SPLIT_NAMES
        }
    )


def save_contact_sheet(path, seed: int = 0, image_size: int = 128, products_per_subcategory: int = 1,
                       num_columns: int = 5):
    """Draw the first product(s) of every sub-category with their captions into a PNG at ``path``.

    ``docs/synthetic_catalog.png`` is made with ``save_contact_sheet("docs/synthetic_catalog.png")``.
    Returns the matplotlib figure (`fashionvl.visualization.plot_contact_sheet`).
    """
    from ..visualization import plot_contact_sheet

    products = [sample_product(rank * len(SUBCATEGORIES) + sub, seed)
                for rank in range(products_per_subcategory) for sub in range(len(SUBCATEGORIES))]
    images = [render_product(product, image_size) for product in products]
    captions = [f"[{product.spec.name.lower()}] {make_captions(product, seed)[0]}" for product in products]
    return plot_contact_sheet(images, captions, num_columns=num_columns, path=path)



__all__ = [
    *synthetic_products.__all__,  # the vocabulary, taxonomy and products
    # captions, drawing, the catalog
    "catalog_description",
    "catalog_features",
    "generate_catalog",
    "make_captions",
    "product_name",
    "render_product",
    "render_view",
    "save_contact_sheet",
    # the format writers (each next to its reader)
    "write_darn",
    "write_deepfashion",
    "write_fashiongen_h5",
    "write_karpathy",
]
