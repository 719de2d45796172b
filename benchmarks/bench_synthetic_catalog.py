"""How fast the bundled synthetic catalog is generated, per image size.

For each image size it times, in this process and run:

- ``generate_catalog``: the whole pipeline (sampling, drawing every view, captions, PNG encoding,
  building the three `datasets.Dataset` splits);
- ``draw only``: drawing the product views (`render_product` / `render_view`), no encoding;
- ``baseline``: the least any catalog of the same rows costs: a blank PIL image per row, PNG-encoded
  with the same settings. ``x baseline`` is how many times that floor the full pipeline takes.

Wall-clock and this process's CPU seconds are both reported: on a shared machine the CPU time is the
better measure of the generator's own cost.

    python benchmarks/bench_synthetic_catalog.py                               # 2,000 products, 64/128/256 px
    python benchmarks/bench_synthetic_catalog.py --num_products 500 --sizes 64 --output results.json

Prints a Markdown table; ``--output`` also writes the numbers as JSON.
"""

from __future__ import annotations

import json
import os
import platform
import random
import time
from dataclasses import dataclass, field

from PIL import Image
from transformers import HfArgumentParser

from fashionvl.data.synthetic import _png_bytes, generate_catalog, render_product, render_view, sample_product


@dataclass
class BenchmarkArguments:
    num_products: int = field(default=2000, metadata={"help": "products per catalog"})
    sizes: list[int] = field(default_factory=lambda: [64, 128, 256], metadata={"help": "image sizes in pixels"})
    views_per_product: int = field(default=2, metadata={"help": "views (rows) per product"})
    seed: int = field(default=0, metadata={"help": "catalog seed"})
    output: str = field(default="", metadata={"help": "optional JSON output path"})


def _seconds(function) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds of this process) of ``function()``."""
    start, start_cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - start, time.process_time() - start_cpu


def _draw_only(num_products: int, size: int, views: int, seed: int) -> None:
    for product_id in range(num_products):
        product = sample_product(product_id, seed)
        render_product(product, size)
        rng = random.Random(f"{seed}:{product_id}:views")
        for _ in range(views - 1):
            render_view(product, size, rng)


def _baseline(num_products: int, size: int, views: int) -> None:
    for _ in range(num_products * views):
        _png_bytes(Image.new("RGB", (size, size), (255, 255, 255)))


def main() -> None:
    (args,) = HfArgumentParser(BenchmarkArguments).parse_args_into_dataclasses()
    generate_catalog(20, seed=args.seed, image_size=min(args.sizes), progress=False)  # import and cache warm-up
    results = []
    for size in args.sizes:
        full, full_cpu = _seconds(lambda: generate_catalog(args.num_products, seed=args.seed, image_size=size,
                                                 views_per_product=args.views_per_product, progress=False))
        draw = _seconds(lambda: _draw_only(args.num_products, size, args.views_per_product, args.seed))[0]
        base = _seconds(lambda: _baseline(args.num_products, size, args.views_per_product))[0]
        results.append({"image_size": size, "generate_catalog_s": full, "generate_catalog_cpu_s": full_cpu, "draw_only_s": draw, "baseline_s": base,
                        "products_per_s": args.num_products / full,
                        "rows_per_s": args.num_products * args.views_per_product / full,
                        "draw_products_per_s": args.num_products / draw,
                        "baseline_products_per_s": args.num_products / base})
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.num_products} products x {args.views_per_product} views, {os.cpu_count()} CPUs, "
          f"load average {load:.1f}, Python {platform.python_version()}\n")
    print("| size | generate_catalog wall (s) | CPU (s) | products/s | rows/s | draw only (products/s) | "
          "baseline: blank PIL + PNG (products/s) | x baseline |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in results:
        print(f"| {row['image_size']} | {row['generate_catalog_s']:.1f} | {row['generate_catalog_cpu_s']:.1f} | {row['products_per_s']:.0f} | "
              f"{row['rows_per_s']:.0f} | {row['draw_products_per_s']:.0f} | {row['baseline_products_per_s']:.0f} | "
              f"{row['generate_catalog_s'] / row['baseline_s']:.1f} |")
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as handle:
            json.dump({"arguments": vars(args), "load_average": load, "results": results}, handle, indent=1)


if __name__ == "__main__":
    main()
