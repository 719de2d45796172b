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
Karpathy JSON + image folder (`write_karpathy`) and the ASEN release of DARN (`write_darn`).
"""

from __future__ import annotations

import io
import json
import math
import os
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from .fashiongen import write_fashiongen_h5  # re-exported: the Fashion-Gen writer lives with its reader
from .metadata import catalog_info_description


# ----------------------------------------------------------------------------------------------
# Vocabulary: colours, patterns, fabrics, typed attributes, categorical dimensions
# ----------------------------------------------------------------------------------------------

#: Garment colours (RGB). Chosen to stay distinct after shading jitter and at 64 px.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 35),
    "orange": (240, 125, 20),
    "yellow": (245, 205, 30),
    "green": (40, 150, 60),
    "blue": (35, 90, 200),
    "purple": (120, 50, 160),
    "pink": (240, 120, 170),
    "brown": (115, 70, 35),
    "black": (30, 30, 30),
    "grey": (140, 140, 140),
}
_LIGHT_COLORS = {"yellow", "pink", "orange", "grey"}
_WHITE = (255, 255, 255)
_PATTERN_LIGHT = (248, 248, 248)
_PATTERN_DARK = (25, 25, 25)

PATTERNS = ("solid", "striped", "dotted", "checked", "floral")
FABRICS = ("cotton", "denim", "knit", "leather")
SLEEVES = ("sleeveless", "short sleeve", "long sleeve")
NECKLINES = ("crew neck", "v-neck", "collar", "turtleneck")
LENGTHS = ("short", "long")
FITS = ("fitted", "loose")
STYLES = ("casual", "formal", "sporty")

#: Typed binary attributes (DeepFashion-C style: type 1 texture, 2 fabric, 3 shape, 4 part, 5 style).
#: Some names contain spaces, as in DeepFashion's list_attr_cloth.txt.
ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("solid", "texture"),
    ("striped", "texture"),
    ("polka dot", "texture"),
    ("checked", "texture"),
    ("floral", "texture"),
    ("cotton", "fabric"),
    ("denim", "fabric"),
    ("knit", "fabric"),
    ("leather", "fabric"),
    ("sleeveless", "shape"),
    ("short sleeve", "shape"),
    ("long sleeve", "shape"),
    ("short length", "shape"),
    ("long length", "shape"),
    ("fitted", "shape"),
    ("loose", "shape"),
    ("crew neck", "part"),
    ("v-neck", "part"),
    ("collar", "part"),
    ("turtleneck", "part"),
    ("casual", "style"),
    ("formal", "style"),
    ("sporty", "style"),
)
_PATTERN_ATTRIBUTE = {"solid": "solid", "striped": "striped", "dotted": "polka dot", "checked": "checked", "floral": "floral"}


@dataclass(frozen=True)
class SubcategorySpec:
    """How one sub-category is drawn and which property values it allows."""

    name: str
    main: str
    nouns: tuple[str, ...]
    shape: str
    sleeves: tuple[str, ...] = ()
    necklines: tuple[str, ...] = ()
    length: str | None = None
    fits: tuple[str, ...] = ()
    fabrics: tuple[str, ...] = ("cotton",)
    styles: tuple[str, ...] = STYLES
    category_type: int = 1  # DeepFashion clothes type: 1 upper-body, 2 lower-body, 3 full-body


_TOP_FITS = ("fitted", "loose")
SUBCATEGORIES: tuple[SubcategorySpec, ...] = (
    SubcategorySpec("SHIRTS", "SHIRTS", ("shirt", "button-up shirt"), "top", ("short sleeve", "long sleeve"),
                    ("collar",), None, _TOP_FITS, ("cotton", "denim")),
    SubcategorySpec("BLOUSES", "SHIRTS", ("blouse",), "top", SLEEVES, ("crew neck", "v-neck"), None,
                    _TOP_FITS, ("cotton", "knit")),
    SubcategorySpec("CREWNECKS", "SWEATERS", ("crewneck sweater", "sweater", "jumper"), "top", ("long sleeve",),
                    ("crew neck",), None, _TOP_FITS, ("knit", "cotton")),
    SubcategorySpec("TURTLENECKS", "SWEATERS", ("turtleneck sweater", "turtleneck"), "top", ("long sleeve",),
                    ("turtleneck",), None, _TOP_FITS, ("knit", "cotton")),
    SubcategorySpec("TROUSERS", "PANTS", ("trousers", "pants"), "pants", (), (), "long", _TOP_FITS,
                    ("cotton", "denim", "leather"), category_type=2),
    SubcategorySpec("SHORTS", "PANTS", ("shorts",), "pants", (), (), "short", _TOP_FITS,
                    ("cotton", "denim", "leather"), category_type=2),
    SubcategorySpec("T-SHIRTS", "TOPS", ("t-shirt", "tee"), "top", ("short sleeve", "long sleeve"),
                    ("crew neck", "v-neck"), None, _TOP_FITS, ("cotton", "knit")),
    SubcategorySpec("TANK TOPS", "TOPS", ("tank top", "tank"), "top", ("sleeveless",), ("crew neck", "v-neck"),
                    None, _TOP_FITS, ("cotton", "knit")),
    SubcategorySpec("JACKETS", "JACKETS & COATS", ("jacket",), "jacket", ("long sleeve",), ("collar", "v-neck"),
                    "short", _TOP_FITS, ("denim", "leather", "cotton")),
    SubcategorySpec("COATS", "JACKETS & COATS", ("coat", "overcoat"), "jacket", ("long sleeve",), ("collar", "v-neck"),
                    "long", _TOP_FITS, ("cotton", "leather", "knit")),
    SubcategorySpec("CAPS", "HATS", ("cap", "baseball cap"), "cap", fabrics=("cotton", "denim", "leather"),
                    styles=("casual", "sporty")),
    SubcategorySpec("BEANIES", "HATS", ("beanie", "winter hat"), "beanie", fabrics=("knit", "cotton"),
                    styles=("casual", "sporty")),
    SubcategorySpec("SHORT SKIRTS", "SKIRTS", ("mini skirt", "short skirt"), "skirt", (), (), "short",
                    _TOP_FITS, ("cotton", "denim", "leather"), category_type=2),
    SubcategorySpec("LONG SKIRTS", "SKIRTS", ("maxi skirt", "long skirt"), "skirt", (), (), "long",
                    _TOP_FITS, ("cotton", "denim", "knit"), category_type=2),
    SubcategorySpec("SHORT DRESSES", "DRESSES", ("mini dress", "short dress"), "dress", SLEEVES,
                    ("crew neck", "v-neck"), "short", _TOP_FITS, ("cotton", "knit"), category_type=3),
    SubcategorySpec("LONG DRESSES", "DRESSES", ("maxi dress", "long dress", "gown"), "dress", SLEEVES,
                    ("crew neck", "v-neck"), "long", _TOP_FITS, ("cotton", "knit"), category_type=3),
    SubcategorySpec("TOTE BAGS", "TOTE BAGS", ("tote bag", "tote"), "tote", fabrics=("leather", "cotton", "denim"),
                    styles=("casual", "formal")),
    SubcategorySpec("SHOULDER BAGS", "TOTE BAGS", ("shoulder bag", "crossbody bag"), "shoulder_bag",
                    fabrics=("leather", "cotton", "denim"), styles=("casual", "formal")),
    SubcategorySpec("LOW TOP SNEAKERS", "SNEAKERS", ("low-top sneakers", "sneakers", "trainers"), "sneaker_low",
                    fabrics=("leather", "cotton", "knit"), styles=("casual", "sporty"), category_type=2),
    SubcategorySpec("HIGH TOP SNEAKERS", "SNEAKERS", ("high-top sneakers", "high-tops"), "sneaker_high",
                    fabrics=("leather", "cotton", "knit"), styles=("casual", "sporty"), category_type=2),
)
#: Main categories in the order of Fashion-Gen's category ids (so sorted names give the same ids).
MAIN_CATEGORIES: tuple[str, ...] = (
    "SHIRTS", "SWEATERS", "PANTS", "TOPS", "JACKETS & COATS", "HATS", "SKIRTS", "DRESSES", "TOTE BAGS", "SNEAKERS",
)
SUBCATEGORY_NAMES: tuple[str, ...] = tuple(spec.name for spec in SUBCATEGORIES)

#: Categorical attribute dimensions (DARN keeps 9 such dimensions with value ids).
ATTRIBUTE_DIMENSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("category", SUBCATEGORY_NAMES),
    ("color", tuple(COLORS)),
    ("pattern", PATTERNS),
    ("fabric", FABRICS),
    ("sleeve length", SLEEVES),
    ("neckline", NECKLINES),
    ("length", LENGTHS),
    ("fit", FITS),
    ("style", STYLES),
)

NUM_CAPTIONS_PER_PRODUCT = 5
SPLIT_NAMES = ("train", "validation", "test")


# ----------------------------------------------------------------------------------------------
# Product sampling
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    """Everything that defines one synthetic product (its images and texts derive from this)."""

    product_id: int
    subcategory: int
    color: str
    pattern: str
    fabric: str
    sleeve: str | None
    neckline: str | None
    length: str | None
    fit: str | None
    style: str

    @property
    def spec(self) -> SubcategorySpec:
        return SUBCATEGORIES[self.subcategory]

    @property
    def category(self) -> int:
        return MAIN_CATEGORIES.index(self.spec.main)

    def attribute_codes(self) -> list[int]:
        """Typed binary attributes as -1/1 codes, in the order of `ATTRIBUTES`."""
        present = {_PATTERN_ATTRIBUTE[self.pattern], self.fabric, self.style}
        for value in (self.sleeve, self.neckline, self.fit):
            if value is not None:
                present.add(value)
        if self.length is not None:
            present.add(f"{self.length} length")
        return [1 if name in present else -1 for name, _ in ATTRIBUTES]

    def attribute_values(self) -> list[int]:
        """Value index per categorical dimension (`ATTRIBUTE_DIMENSIONS`), -1 where not applicable."""
        chosen = (SUBCATEGORY_NAMES[self.subcategory], self.color, self.pattern, self.fabric, self.sleeve,
                  self.neckline, self.length, self.fit, self.style)
        return [-1 if value is None else values.index(value) for value, (_, values) in zip(chosen, ATTRIBUTE_DIMENSIONS)]


def _pick(rng: random.Random, options):
    return rng.choice(options) if options else None


def sample_product(product_id: int, seed: int = 0) -> Product:
    """Sample product ``product_id`` of the catalog with ``seed`` (independent of the catalog size).

    Sub-categories are assigned round-robin, so any ``20 * k`` products are exactly balanced.
    """
    rng = random.Random(f"{seed}:{product_id}:product")
    spec = SUBCATEGORIES[product_id % len(SUBCATEGORIES)]
    return Product(
        product_id=product_id,
        subcategory=product_id % len(SUBCATEGORIES),
        color=_pick(rng, tuple(COLORS)),
        pattern=_pick(rng, PATTERNS),
        fabric=_pick(rng, spec.fabrics),
        sleeve=_pick(rng, spec.sleeves),
        neckline=_pick(rng, spec.necklines),
        length=spec.length,
        fit=_pick(rng, spec.fits),
        style=_pick(rng, spec.styles),
    )


def product_split(product_id: int) -> str:
    """Split of a product: 8 of every 10 products of a sub-category train, 1 validation, 1 test.

    The position in the cycle is offset by the sub-category, so even tiny catalogs have
    validation/test products spread over sub-categories.
    """
    num_sub = len(SUBCATEGORIES)
    slot = (product_id // num_sub + product_id % num_sub) % 10
    return "validation" if slot == 8 else "test" if slot == 9 else "train"


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


# ----------------------------------------------------------------------------------------------
# Writers: the catalog in the on-disk formats of the real datasets
# ----------------------------------------------------------------------------------------------

_DEEPFASHION_SPLITS = {"train": "train", "validation": "val", "test": "test"}
_DARN_SPLITS = {"train": "train", "validation": "valid", "test": "test"}
_KARPATHY_SPLITS = {"train": "train", "validation": "val", "test": "test"}
#: Landmarks DeepFashion annotates per clothes type (upper 6, lower 4, full body 8) as bbox fractions.
_LANDMARK_LAYOUT = {
    1: [(0.35, 0.05), (0.65, 0.05), (0.05, 0.6), (0.95, 0.6), (0.2, 0.98), (0.8, 0.98)],
    2: [(0.2, 0.03), (0.8, 0.03), (0.2, 0.97), (0.8, 0.97)],
    3: [(0.38, 0.04), (0.62, 0.04), (0.1, 0.3), (0.9, 0.3), (0.3, 0.4), (0.7, 0.4), (0.15, 0.97), (0.85, 0.97)],
}


def _as_splits(catalog, names: dict[str, str]) -> list[tuple[str, object]]:
    """``[(format split name, dataset)]`` for a DatasetDict, or a single Dataset (its ``split``, else train)."""
    if hasattr(catalog, "column_names") and not isinstance(catalog.column_names, dict):
        return [(names.get(str(catalog.split or "train"), "train"), catalog)]
    unknown = sorted(set(catalog) - set(names))
    if unknown:
        raise ValueError(f"unknown split name(s) {unknown}; expected a subset of {sorted(names)}")
    return [(names[split], dataset) for split, dataset in catalog.items()]


def _garment_box(image: Image.Image) -> tuple[int, int, int, int]:
    pixels = np.asarray(image.convert("RGB"))
    rows, cols = np.nonzero(pixels.min(axis=2) < 250)
    if len(rows) == 0:
        return 0, 0, image.width - 1, image.height - 1
    return int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())


def _folder_name(name: str, product_id: int) -> str:
    return "_".join(name.split()).replace("/", "-") + f"_{product_id:06d}"


def _write_counted(path: str, header: str, lines: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"{len(lines)}\n{header}\n")
        handle.writelines(line + "\n" for line in lines)


def write_deepfashion(catalog, root, image_format: str = "jpg") -> None:
    """Write a catalog in the DeepFashion Category & Attribute Prediction layout under ``root``.

    DeepFashion has one category level: its categories are the catalog's *sub*-categories (with
    the clothes type 1 upper / 2 lower / 3 full body of `SubcategorySpec`). Every image goes to
    ``Img/img/<Product_Title>_<product id>/img_<row>.jpg`` (one folder per product, like
    DeepFashion's item folders); annotations to ``Anno_coarse/``, the partition to ``Eval/``.
    Bounding boxes are the garment's non-white extent; landmarks are placed in the box.
    """
    from tqdm.auto import tqdm

    from .deepfashion import PARTITION_FILE
    from .metadata import ATTRIBUTE_TYPE_IDS, attribute_names, attribute_types, subcategory_names

    splits = _as_splits(catalog, _DEEPFASHION_SPLITS)
    reference = splits[0][1]
    sub_names = subcategory_names(reference)
    types_by_name = {spec.name: spec.category_type for spec in SUBCATEGORIES}
    cloth_types = [types_by_name.get(name, 1) for name in sub_names]
    anno, evaluation = os.path.join(root, "Anno_coarse"), os.path.join(root, "Eval")
    for folder in (anno, evaluation):
        os.makedirs(folder, exist_ok=True)

    tables = {key: [] for key in ("category_img", "attr_img", "partition", "bbox", "landmarks")}
    row_number = 0
    for split, dataset in splits:
        for row in tqdm(dataset, desc=f"DeepFashion {split}", leave=False):
            folder = _folder_name(row.get("name") or sub_names[row["subcategory"]], row["product_id"])
            image_name = f"img/{folder}/img_{row_number:08d}.{image_format}"
            path = os.path.join(root, "Img", image_name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            row["image"].convert("RGB").save(path, quality=95)
            left, top, right, bottom = _garment_box(row["image"])
            cloth_type = cloth_types[row["subcategory"]]
            points = [(round(left + fx * (right - left)), round(top + fy * (bottom - top)))
                      for fx, fy in _LANDMARK_LAYOUT[cloth_type]]
            tables["category_img"].append(f"{image_name} {row['subcategory'] + 1}")
            tables["attr_img"].append(f"{image_name} " + " ".join(str(int(code)) for code in row["attributes"]))
            tables["partition"].append(f"{image_name} {split}")
            tables["bbox"].append(f"{image_name} {left} {top} {right} {bottom}")
            tables["landmarks"].append(f"{image_name} {cloth_type} 1 " + " ".join(f"0 {x} {y}" for x, y in points))
            row_number += 1

    _write_counted(os.path.join(anno, "list_category_cloth.txt"), "category_name category_type",
                   [f"{name} {kind}" for name, kind in zip(sub_names, cloth_types)])
    _write_counted(os.path.join(anno, "list_attr_cloth.txt"), "attribute_name attribute_type",
                   [f"{name} {ATTRIBUTE_TYPE_IDS[kind]}"
                    for name, kind in zip(attribute_names(reference), attribute_types(reference))])
    _write_counted(os.path.join(anno, "list_category_img.txt"), "image_name category_label", tables["category_img"])
    _write_counted(os.path.join(anno, "list_attr_img.txt"), "image_name attribute_labels", tables["attr_img"])
    _write_counted(os.path.join(anno, "list_bbox.txt"), "image_name x_1 y_1 x_2 y_2", tables["bbox"])
    _write_counted(os.path.join(anno, "list_landmarks.txt"),
                   "image_name clothes_type variation_type landmark_visibility_1 landmark_location_x_1 "
                   "landmark_location_y_1 ...", tables["landmarks"])
    _write_counted(os.path.join(evaluation, PARTITION_FILE), "image_name evaluation_status", tables["partition"])


def write_karpathy(catalog, root, dataset_name: str = "fashionvl_synthetic", restval_every: int | None = None) -> str:
    """Write a catalog as a Karpathy split file + image folder; returns the JSON path.

    One JSON image per row (view) with the product's five ``captions`` as sentences; images go to
    ``root/images/<split>/<product id>_<view>.jpg`` (``filepath`` = ``images/<split>``). With
    ``restval_every=k`` every k-th train product is marked ``restval``, like COCO's extra images.
    """
    from tqdm.auto import tqdm

    images = []
    sentence_id = 0
    for split, dataset in _as_splits(catalog, _KARPATHY_SPLITS):
        filepath = f"images/{split}"
        os.makedirs(os.path.join(root, filepath), exist_ok=True)
        for row in tqdm(dataset, desc=f"Karpathy {split}", leave=False):
            filename = f"{row['product_id']:06d}_{row.get('view', 0)}.jpg"
            row["image"].convert("RGB").save(os.path.join(root, filepath, filename), quality=95)
            captions = row.get("captions") or [row["caption"]]
            image_id = len(images)
            sentences = [{"raw": caption, "tokens": caption.lower().replace(",", " ").replace(".", " ").split(),
                          "imgid": image_id, "sentid": sentence_id + k} for k, caption in enumerate(captions)]
            marked = split
            if split == "train" and restval_every and row["product_id"] % restval_every == 0:
                marked = "restval"
            images.append({"filepath": filepath, "filename": filename, "imgid": image_id, "split": marked,
                           "sentences": sentences, "sentids": [s["sentid"] for s in sentences],
                           "cocoid": int(row["product_id"])})
            sentence_id += len(sentences)
    json_path = os.path.join(root, f"dataset_{dataset_name}.json")
    with open(json_path, "w", encoding="utf-8") as handle:
        json.dump({"images": images, "dataset": dataset_name}, handle)
    return json_path


def write_darn(catalog, root, query_every: int = 4) -> None:
    """Write a catalog in the ASEN release layout of DARN under ``root``.

    ``filenames_<split>.txt`` lists ``images/<split>/<product id>_<view>.jpg``; ``label_train.txt``
    has one line per train image with every applicable ``attr val`` pair of ``attribute_values``;
    for valid/test, every ``query_every``-th image goes to ``query_<split>.txt`` and the others to
    ``candidate_<split>.txt``, one ``img attr val`` line per applicable attribute. ``meta.json``
    names the dimensions and their values.
    """
    from tqdm.auto import tqdm

    from .metadata import attribute_dimensions

    splits = _as_splits(catalog, _DARN_SPLITS)
    dimensions = attribute_dimensions(splits[0][1])
    os.makedirs(root, exist_ok=True)
    for split, dataset in splits:
        folder = f"images/{split}"
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        filenames, labels, queries, candidates = [], [], [], []
        for index, row in enumerate(tqdm(dataset, desc=f"DARN {split}", leave=False)):
            filename = f"{folder}/{row['product_id']:06d}_{row.get('view', 0)}.jpg"
            row["image"].convert("RGB").save(os.path.join(root, filename), quality=95)
            filenames.append(filename)
            pairs = [(attribute, value) for attribute, value in enumerate(row["attribute_values"]) if value >= 0]
            if split == "train":
                labels.append(f"{index} " + " ".join(f"{attribute} {value}" for attribute, value in pairs))
            else:
                target = queries if index % query_every == 0 else candidates
                target.extend(f"{index} {attribute} {value}" for attribute, value in pairs)
        outputs = {f"filenames_{split}.txt": filenames}
        if split == "train":
            outputs["label_train.txt"] = labels
        else:
            outputs.update({f"query_{split}.txt": queries, f"candidate_{split}.txt": candidates})
        for name, lines in outputs.items():
            with open(os.path.join(root, name), "w", encoding="utf-8") as handle:
                handle.writelines(line + "\n" for line in lines)
    meta = {"ATTRIBUTES": list(dimensions), "ATTRIBUTES_NUM": {name: len(v) for name, v in dimensions.items()},
            "ATTRIBUTES_VALUES": dimensions}
    with open(os.path.join(root, "meta.json"), "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=1)


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
