"""Draw the four MVLT masking styles (paper Fig. 8 / Table 3c) on a synthetic catalog product.

    python scripts/plot_masking_styles.py                      # writes docs/masking_styles.png
    python scripts/plot_masking_styles.py --mask_ratio 0.3 --output masks.png
"""

from dataclasses import dataclass, field

import numpy as np
from fashionvl.data.synthetic import render_product, sample_product
from fashionvl.processing.masking import draw_masking_styles
from fashionvl.recipes._common import parse_script_arguments


@dataclass
class MaskingFigureArguments:
    output: str = field(default="docs/masking_styles.png", metadata={"help": "PNG file to write."})
    image_size: int = field(default=256, metadata={"help": "Image side in pixels."})
    mask_unit_size: int = field(default=16, metadata={"help": "Masking unit side in pixels (alpha * P)."})
    mask_ratio: float = field(default=0.5, metadata={"help": "Fraction of units masked."})
    product_id: int = field(default=3, metadata={"help": "Synthetic catalog product to draw."})
    seed: int = field(default=0, metadata={"help": "Seed of the masks."})


def main(argv=None):
    (args,) = parse_script_arguments((MaskingFigureArguments,), argv)
    image = np.asarray(render_product(sample_product(args.product_id), image_size=args.image_size).convert("RGB"))
    figure = draw_masking_styles(image, args.image_size, args.mask_unit_size, args.mask_ratio, args.seed)
    figure.save(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
