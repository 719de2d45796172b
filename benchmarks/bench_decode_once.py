"""What decoding the synthetic catalog's images once (`fashionvl.data.decode_once.DecodeOnceDataset`) saves in
the MVLT pre-training data path, per image size (issue 15 §3).

For each image size it runs, in this process and run, the Trainer's data path for `--epochs` epochs over the
training split (shuffled data loader, batch 32, `DataCollatorForMVLTPretraining`: PNG decode, image processor,
MIR masks, ITM negatives, MLM) twice:

- ``baseline``: the `datasets.Dataset` itself (every access decodes the PNG);
- ``decode once``: the same rows through `DecodeOnceDataset` (epoch 1 decodes, later epochs reuse).

It also times fetching the rows alone (the data loader's batched `__getitems__`, no collation), decoded per access
and decoded once. CPU seconds of this process are the measure (shared machine); the load average is printed.

    python benchmarks/bench_decode_once.py                        # 400 products, 64 and 256 px, 3 epochs
    python benchmarks/bench_decode_once.py --sizes 64 --epochs 5 --output benchmarks/results/bench_decode_once.json
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import torch

from fashionvl.data.decode_once import DecodeOnceDataset
from fashionvl.data.synthetic import generate_catalog
from fashionvl.processing.collators import DataCollatorForMVLTPretraining
from fashionvl.processing.image_processing_mvlt import MVLTImageProcessor
from fashionvl.processing.processing_mvlt import MVLTProcessor
from fashionvl.processing.tokenization import train_wordpiece_tokenizer
from fashionvl.recipes._common import parse_script_arguments


@dataclass
class BenchmarkArguments:
    num_products: int = field(default=400, metadata={"help": "products in the catalog (80 percent train)"})
    sizes: list[int] = field(default_factory=lambda: [64, 256], metadata={"help": "image sizes in pixels"})
    epochs: int = field(default=3, metadata={"help": "epochs over the training split"})
    batch_size: int = field(default=32, metadata={"help": "rows per batch"})
    threads: int = field(default=1, metadata={"help": "torch threads"})
    output: str = field(default="", metadata={"help": "optional JSON output path"})


def _cpu_seconds(function) -> float:
    start = time.process_time()
    function()
    return time.process_time() - start


def _epochs(dataset, collator, batch_size: int, epochs: int) -> list[float]:
    """CPU seconds of each epoch of a shuffled data loader (no model)."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, collate_fn=collator,
                                         generator=torch.Generator().manual_seed(0))
    return [_cpu_seconds(lambda: [None for _ in loader]) for _ in range(epochs)]


def _fetch_ms_per_row(dataset, batch_size: int) -> float:
    """CPU milliseconds per row of fetching every row in batches (the data loader's `__getitems__`), no collation."""
    indices = list(range(len(dataset)))
    seconds = _cpu_seconds(lambda: [dataset.__getitems__(indices[start : start + batch_size])
                                    for start in range(0, len(indices), batch_size)])
    return 1e3 * seconds / len(indices)


def main(argv=None) -> None:
    (args,) = parse_script_arguments((BenchmarkArguments,), argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results = []
    for size in args.sizes:
        train = generate_catalog(args.num_products, image_size=size, views_per_product=1, progress=False)["train"]
        tokenizer = train_wordpiece_tokenizer(train["caption"], vocab_size=300, model_max_length=32)
        processor = MVLTProcessor(MVLTImageProcessor(size={"height": size, "width": size}), tokenizer)
        collator = DataCollatorForMVLTPretraining(processor=processor, caption_pool=train, mask_unit_size=16,
                                                  max_length=32)
        warm = DecodeOnceDataset(train)
        _fetch_ms_per_row(warm, args.batch_size)  # decodes every image once
        baseline = _epochs(train, collator, args.batch_size, args.epochs)
        once = _epochs(DecodeOnceDataset(train), collator, args.batch_size, args.epochs)
        results.append({
            "image_size": size, "rows": len(train),
            "fetch_ms_per_row": _fetch_ms_per_row(train, args.batch_size),
            "fetch_decoded_once_ms_per_row": _fetch_ms_per_row(warm, args.batch_size),
            "baseline_epoch_cpu_s": baseline, "decode_once_epoch_cpu_s": once,
        })
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.num_products} products, {args.epochs} epochs, batch {args.batch_size}, {args.threads} torch thread(s), "
          f"load average {load_before:.1f} before, {load_after:.1f} after\n")
    print("| size | rows | row fetch (ms/row): decoded per access | decoded once | data path CPU s per epoch: "
          "baseline | decode once | later epochs: decode once / baseline |")
    print("|---:|---:|---:|---:|---|---|---:|")
    for row in results:
        later = sum(row["decode_once_epoch_cpu_s"][1:]) / max(1e-9, sum(row["baseline_epoch_cpu_s"][1:]))
        print(f"| {row['image_size']} | {row['rows']} | {row['fetch_ms_per_row']:.3f} | "
              f"{row['fetch_decoded_once_ms_per_row']:.3f} | "
              f"{' / '.join(f'{value:.2f}' for value in row['baseline_epoch_cpu_s'])} | "
              f"{' / '.join(f'{value:.2f}' for value in row['decode_once_epoch_cpu_s'])} | {later:.2f} |")
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump({"arguments": vars(args), "load_average": [load_before, load_after], "results": results},
                      handle, indent=1)


if __name__ == "__main__":
    main()
