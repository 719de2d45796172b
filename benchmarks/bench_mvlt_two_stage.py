"""Cost per text query of ranking a gallery with MVLT: ITM alone (the paper) vs ITC first stage + fused re-rank.

For gallery sizes 1k / 10k / 100k (tiny preset at 64 px, ITC on, random weights: cost does not depend on them):

- ITM only: every (query, gallery image) pair through the joint encoder. Its cost is linear in the gallery size, so
  it is measured on `--itm_pairs` pairs (batches of `--pair_batch_size`) and scaled to each size (stated as
  extrapolated in the table);
- ITC first stage: the query's text-only pass + `query @ gallery.T` over unit vectors + top-k (measured at every
  size; gallery embeddings precomputed, as a saved `FashionGalleryIndex` holds them);
- two-stage: the first stage + the fused re-rank of its top `--first_stage_k` (ITM on k pairs, measured).

All rows run in one process with `--threads` torch threads; the machine's load average is recorded before and after.
Prints a Markdown table and writes JSON to `--output`.

    python benchmarks/bench_mvlt_two_stage.py
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field

import torch
from transformers import HfArgumentParser


@dataclass
class BenchmarkArguments:
    gallery_sizes: list[int] = field(default_factory=lambda: [1_000, 10_000, 100_000], metadata={"help": "gallery sizes"})
    first_stage_k: int = field(default=100, metadata={"help": "candidates re-ranked by the fused score"})
    itm_pairs: int = field(default=512, metadata={"help": "pairs timed to measure the ITM cost per pair"})
    pair_batch_size: int = field(default=128, metadata={"help": "pairs per forward pass"})
    queries: int = field(default=5, metadata={"help": "timed queries per measurement (median)"})
    threads: int = field(default=1, metadata={"help": "torch threads"})
    output: str = field(default="benchmarks/results/bench_mvlt_two_stage.json", metadata={"help": "JSON output"})


def _median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


@torch.no_grad()
def main(args: BenchmarkArguments) -> list[dict]:
    from fashionvl import MVLTConfig, MVLTForImageTextRetrieval

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = os.getloadavg()
    config = MVLTConfig.from_preset("tiny", vocab_size=600, max_position_embeddings=32, itc_loss_weight=1.0)
    model = MVLTForImageTextRetrieval(config).eval()
    query_ids = torch.randint(5, 600, (1, 24))
    query_ids[:, 0] = 1
    pair_images = torch.randn(args.pair_batch_size, 3, 64, 64)

    def itm_batch(num_pairs: int):
        return model.get_itm_logits(query_ids.expand(num_pairs, -1), pair_images[:num_pairs])

    itm_batch(args.pair_batch_size)  # warm-up
    batches = max(1, args.itm_pairs // args.pair_batch_size)
    itm_seconds = _median_seconds(lambda: [itm_batch(args.pair_batch_size) for _ in range(batches)], 3)
    itm_per_pair = itm_seconds / (batches * args.pair_batch_size)
    rerank_pixels = torch.randn(args.first_stage_k, 3, 64, 64)

    rows = []
    for size in args.gallery_sizes:
        gallery = torch.nn.functional.normalize(torch.randn(size, config.projection_dim), dim=-1)

        def first_stage():
            query = model.get_text_features(query_ids)
            return torch.topk(query @ gallery.T, min(args.first_stage_k, size), dim=1)

        def two_stage():
            scores, _ = first_stage()
            logits = model.get_itm_logits(query_ids.expand(args.first_stage_k, -1), rerank_pixels)
            return scores[0] * model.mvlt.logit_scale.exp() + (logits[:, 1] - logits[:, 0])

        first_stage()
        two_stage()
        first_seconds = _median_seconds(first_stage, args.queries)
        two_stage_seconds = _median_seconds(two_stage, args.queries)
        itm_only_seconds = itm_per_pair * size
        rows.append({
            "gallery_size": size,
            "itm_only_seconds_per_query": itm_only_seconds,
            "itm_only_extrapolated": True,
            "itc_first_stage_seconds_per_query": first_seconds,
            "two_stage_seconds_per_query": two_stage_seconds,
            "speedup_two_stage_vs_itm_only": itm_only_seconds / two_stage_seconds,
        })
    load_after = os.getloadavg()
    print(f"\nITM cost per pair: {1e3 * itm_per_pair:.2f} ms (measured on {batches * args.pair_batch_size} pairs); "
          f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; {args.threads} thread(s), "
          f"{platform.processor() or platform.machine()}\n")
    print(f"| gallery | ITM only, s/query (extrapolated) | ITC first stage, ms/query | ITC + fused re-rank of top "
          f"{args.first_stage_k}, ms/query | two-stage speed-up |")
    print("|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['gallery_size']:,} | {row['itm_only_seconds_per_query']:.1f} | "
              f"{1e3 * row['itc_first_stage_seconds_per_query']:.2f} | {1e3 * row['two_stage_seconds_per_query']:.1f} | "
              f"x{row['speedup_two_stage_vs_itm_only']:.0f} |")
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as file:
        json.dump({"args": asdict(args), "itm_seconds_per_pair": itm_per_pair, "load_average_before": load_before,
                   "load_average_after": load_after, "rows": rows}, file, indent=2)
    return rows


if __name__ == "__main__":
    main(HfArgumentParser(BenchmarkArguments).parse_args_into_dataclasses()[0])
