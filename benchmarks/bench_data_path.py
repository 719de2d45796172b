"""The MVLT data path against the training step it feeds (issue 15 §3): is data preparation < 5 % of the step?

For one batch of synthetic-catalog rows at the paper preset (256 px, L = 128), each component of
`DataCollatorForMVLTPretraining` is timed on its own, then the whole collator, then one training step of
`MVLTForPreTraining` (forward, backward, AdamW) on the batch it produced, measured in the same run:

- decode: reading the rows from the `datasets.Dataset` and decoding their PNG images (what a DataLoader worker
  does per access unless the images are decoded once);
- image processing: `MVLTImageProcessor` (resize, rescale, normalise) of the decoded images;
- image masking: the `bool_masked_pos` draw of the image processor (random grid, half the units);
- tokenisation: the tokenizer on the batch's captions (padding to the longest);
- MLM masking: `mask_tokens_for_mlm` on the tokenised batch;
- collator: the full `__call__` (ITM pairing + all of the above but decoding).

    python benchmarks/bench_data_path.py                               # paper preset, batch 8, 1 thread
    python benchmarks/bench_data_path.py --preset tiny --image_size 64 --batch_size 32

Prints a table with each component's time and share of the step, records the load average, writes JSON.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import machine_environment, write_results  # noqa: E402

from fashionvl import DataCollatorForMVLTPretraining, MVLTConfig, MVLTForPreTraining, MVLTProcessor
from fashionvl.data.synthetic import generate_catalog
from fashionvl.processing.collators import mask_tokens_for_mlm


@dataclass
class DataPathArguments:
    preset: str = field(default="paper", metadata={"help": "MVLT preset"})
    image_size: int = field(default=256, metadata={"help": "catalog and model image size (paper: 256)"})
    batch_size: int = field(default=8, metadata={"help": "rows per batch"})
    repeats: int = field(default=3, metadata={"help": "timed repetitions per component (best is kept)"})
    threads: int = field(default=1, metadata={"help": "torch threads"})
    output: str = field(default="benchmarks/results/bench_data_path.json", metadata={"help": "JSON output path"})


def _best(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main(args: DataPathArguments) -> dict:
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    catalog = generate_catalog(max(20, args.batch_size), seed=0, image_size=args.image_size, progress=False)["train"]
    config = MVLTConfig.from_preset(args.preset, image_size=args.image_size)
    processor = MVLTProcessor.from_captions(list(catalog["caption"]), vocab_size=2000, config=config)
    config.vocab_size = len(processor.tokenizer)
    collator = DataCollatorForMVLTPretraining(processor, seed=0)
    row_indices = list(range(args.batch_size))

    def decode():
        rows = [catalog[index] for index in row_indices]
        for row in rows:
            row["image"].load()
        return rows

    rows = decode()
    images = [row["image"] for row in rows]
    captions = [row["caption"] for row in rows]
    image_processor, tokenizer = processor.image_processor, processor.tokenizer
    generator = torch.Generator().manual_seed(0)
    encoding = tokenizer(captions, padding="longest", truncation=True, max_length=config.max_position_embeddings,
                         return_tensors="pt", return_special_tokens_mask=True)
    maskable = (encoding["special_tokens_mask"] == 0) & (encoding["attention_mask"] == 1)

    components = {
        "decode (row access + PNG decode)": lambda: decode(),
        "image processing": lambda: image_processor(images, return_tensors="pt"),
        "image masking": lambda: image_processor(images, return_tensors="pt", return_bool_masked_pos=True,
                                                 generator=generator),
        "tokenisation": lambda: tokenizer(captions, padding="longest", truncation=True,
                                          max_length=config.max_position_embeddings, return_tensors="pt"),
        "MLM masking": lambda: mask_tokens_for_mlm(encoding["input_ids"], maskable, mask_token_id=tokenizer.mask_token_id,
                                                   random_token_ids=collator.random_token_ids, generator=generator),
        "collator (all but decode)": lambda: collator(rows),
    }
    seconds = {name: _best(function, args.repeats) for name, function in components.items()}
    # the masking row above includes the image processing; report its own cost
    seconds["image masking"] = max(0.0, seconds["image masking"] - seconds["image processing"])

    model = MVLTForPreTraining(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = collator(rows)

    def step():
        optimizer.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        optimizer.step()

    step_seconds = _best(step, max(1, args.repeats - 1))

    lines = [
        f"MVLT `{args.preset}` at {args.image_size} px, batch {args.batch_size}, {args.threads} thread(s); "
        f"training step {1000 * step_seconds:.1f} ms",
        "",
        "| component | ms per batch | share of the step |",
        "|---|---:|---:|",
    ]
    for name, value in seconds.items():
        lines.append(f"| {name} | {1000 * value:.2f} | {100 * value / step_seconds:.2f} % |")
    prepared = seconds["collator (all but decode)"]
    lines.append(f"| **data path without decode (collator)** | {1000 * prepared:.2f} | **{100 * prepared / step_seconds:.2f} %** |")
    with_decode = prepared + seconds["decode (row access + PNG decode)"]
    lines.append(f"| **data path with decode per access** | {1000 * with_decode:.2f} | **{100 * with_decode / step_seconds:.2f} %** |")
    table = "\n".join(lines)
    print(table)
    result = {
        "arguments": vars(args),
        "environment": machine_environment(load_before),
        "step_ms": 1000 * step_seconds,
        "components_ms": {name: 1000 * value for name, value in seconds.items()},
        "share_of_step": {name: value / step_seconds for name, value in seconds.items()},
        "data_path_share": prepared / step_seconds,
        "data_path_with_decode_share": with_decode / step_seconds,
    }
    return write_results(args.output, result)


if __name__ == "__main__":
    (arguments,) = HfArgumentParser(DataPathArguments).parse_args_into_dataclasses()
    main(arguments)
