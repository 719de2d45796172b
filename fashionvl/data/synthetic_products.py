"""What the synthetic catalog is made of: its vocabulary (colours, patterns, fabrics, typed attributes, categorical
dimensions), its taxonomy (Fashion-Gen names, 10 main x 2 sub-categories, `SubcategorySpec`), and the products
sampled from them (`Product`, `sample_product`, `product_split`).

`fashionvl.data.synthetic` draws and describes these products and builds the catalog datasets; it re-exports every
public name here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


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


__all__ = [
    "ATTRIBUTES",
    "ATTRIBUTE_DIMENSIONS",
    "COLORS",
    "FABRICS",
    "FITS",
    "LENGTHS",
    "MAIN_CATEGORIES",
    "NECKLINES",
    "NUM_CAPTIONS_PER_PRODUCT",
    "PATTERNS",
    "SLEEVES",
    "SPLIT_NAMES",
    "STYLES",
    "SUBCATEGORIES",
    "SUBCATEGORY_NAMES",
    "Product",
    "SubcategorySpec",
    "product_split",
    "sample_product",
]
