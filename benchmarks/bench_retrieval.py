"""Gallery search cost vs gallery size: exact torch search, FAISS, and MVLT re-ranking of the top 100.

For each gallery size (default 1k, 10k, 100k synthetic unit-norm embeddings of dimension 512) and backend, a
fresh subprocess builds a ``FashionGalleryIndex`` and searches it with a batch of queries; it reports queries
per second, the index's memory and the search's peak resident memory above the process's size once the index
exists (VmHWM after a reset minus VmRSS, Linux). Two-stage search adds MVLT ITM re-ranking of each query's top 100
candidates (a randomly initialised MVLT of the chosen preset on random pixels; the cost of ITM does not depend
on the weights).

    python benchmarks/bench_retrieval.py                         # all sizes, torch + faiss (if installed) + MVLT
    python benchmarks/bench_retrieval.py --sizes 1000 10000 --mvlt_preset tiny --output results.json

Prints a Markdown table (time per query and its ratio to the 1k gallery) and writes the raw results as JSON.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser

from _process_memory import process_memory_mib, reset_peak_memory
from _results import machine_environment, write_results


@dataclass
class BenchmarkArguments:
    sizes: list[int] = field(default_factory=lambda: [1_000, 10_000, 100_000], metadata={"help": "gallery sizes"})
    dim: int = field(default=512, metadata={"help": "embedding dimension"})
    num_queries: int = field(default=256, metadata={"help": "queries per exact / FAISS search measurement"})
    top_k: int = field(default=10, metadata={"help": "results per query"})
    repeats: int = field(default=3, metadata={"help": "timed repetitions (best is reported)"})
    rerank_k: int = field(default=100, metadata={"help": "first-stage candidates MVLT re-ranks"})
    rerank_queries: int = field(default=4, metadata={"help": "queries timed for two-stage search (ITM is slow on CPU)"})
    mvlt_preset: str = field(default="tiny", metadata={"help": "MVLT preset for re-ranking ('tiny' or 'paper'); '' skips it"})
    rerank_batch_size: int = field(default=50, metadata={"help": "ITM pairs per forward pass"})
    threads: int = field(default=0, metadata={"help": "torch threads (0: torch default)"})
    output: str = field(default="benchmarks/results/bench_retrieval.json", metadata={"help": "JSON output path"})


def _random_unit_vectors(count: int, dim: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(count, dim, generator=generator), dim=-1)


def _build_mvlt_reranker(preset: str, batch_size: int):
    """A callback ``(query_position, candidate_indices) -> ITM scores`` over random pixels and captions."""
    from fashionvl import MVLTConfig, MVLTForImageTextRetrieval

    config = MVLTConfig.from_preset(preset)
    model = MVLTForImageTextRetrieval(config).eval()
    generator = torch.Generator().manual_seed(0)
    image_pool = torch.randn(16, 3, config.image_size, config.image_size, generator=generator)
    caption = torch.randint(5, config.vocab_size, (1, 32), generator=generator)

    @torch.no_grad()
    def rerank(query_position: int, candidate_indices: torch.Tensor) -> torch.Tensor:
        scores = []
        for start in range(0, len(candidate_indices), batch_size):
            chunk = candidate_indices[start : start + batch_size]
            pixel_values = image_pool[chunk % len(image_pool)]
            input_ids = caption.expand(len(chunk), -1)
            scores.append(model(input_ids=input_ids, pixel_values=pixel_values).scores)
        return torch.cat(scores)

    return rerank, sum(p.numel() for p in model.parameters())


def _measure(task: dict) -> dict:
    """One (backend, gallery size) measurement; runs in a fresh subprocess so peak memory is its own."""
    from fashionvl import FashionGalleryIndex

    if task["threads"]:
        torch.set_num_threads(task["threads"])
    size, dim, backend = task["size"], task["dim"], task["backend"]
    if backend == "faiss" and task["threads"]:
        import faiss

        faiss.omp_set_num_threads(task["threads"])
    index = FashionGalleryIndex(_random_unit_vectors(size, dim, seed=0))
    build_start = time.perf_counter()
    if backend == "faiss":
        index.faiss_index()
    build_seconds = time.perf_counter() - build_start
    # the torch embeddings, plus FAISS's own copy of them
    index_mb = index.embeddings.numel() * 4 / 2**20 * (2 if backend == "faiss" else 1)
    # search memory only: what the process needs above its resident size once the index exists
    reset_peak_memory()
    baseline_mb = process_memory_mib("VmRSS")

    if backend == "two-stage":
        rerank, num_parameters = _build_mvlt_reranker(task["mvlt_preset"], task["rerank_batch_size"])
        queries = _random_unit_vectors(task["rerank_queries"], dim, seed=1)
        index.search_two_stage(queries[:1], rerank, first_stage_k=task["rerank_k"], top_k=task["top_k"])  # warm-up
        timings = []
        for _ in range(task["repeats"]):
            start = time.perf_counter()
            index.search_two_stage(queries, rerank, first_stage_k=task["rerank_k"], top_k=task["top_k"])
            timings.append(time.perf_counter() - start)
        extra = {"mvlt_preset": task["mvlt_preset"], "mvlt_parameters": num_parameters, "rerank_k": task["rerank_k"]}
    else:
        queries = _random_unit_vectors(task["num_queries"], dim, seed=1)
        search_backend = "faiss" if backend == "faiss" else "torch"
        index.search(queries[:8], top_k=task["top_k"], backend=search_backend)  # warm-up
        timings = []
        for _ in range(task["repeats"]):
            start = time.perf_counter()
            index.search(queries, top_k=task["top_k"], backend=search_backend)
            timings.append(time.perf_counter() - start)
        extra = {}
    best = min(timings)
    return {
        "backend": backend,
        "gallery_size": size,
        "dim": dim,
        "num_queries": len(queries),
        "seconds_per_query": best / len(queries),
        "queries_per_second": len(queries) / best,
        "index_build_seconds": build_seconds,
        "index_memory_mb": index_mb,
        "search_peak_memory_mb": process_memory_mib("VmHWM") - baseline_mb,
        **extra,
    }


def _run_isolated(task: dict) -> dict:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_measure, (task,))


def format_table(results: list[dict]) -> str:
    """Markdown table with the per-query cost ratio to the smallest gallery of the same backend."""
    smallest = {}
    for result in results:
        key = result["backend"]
        if key not in smallest or result["gallery_size"] < smallest[key]["gallery_size"]:
            smallest[key] = result
    lines = [
        "| backend | gallery | queries/s | ms/query | cost vs smallest gallery | index MB | search peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        ratio = result["seconds_per_query"] / smallest[result["backend"]]["seconds_per_query"]
        lines.append(
            f"| {result['backend']} | {result['gallery_size']:,} | {result['queries_per_second']:,.1f} | "
            f"{1000 * result['seconds_per_query']:.3f} | x{ratio:.2f} | {result['index_memory_mb']:.1f} | "
            f"{result['search_peak_memory_mb']:.1f} |"
        )
    return "\n".join(lines)


def main(args: BenchmarkArguments) -> list[dict]:
    from fashionvl.pipelines.gallery_index import is_faiss_available

    backends = ["torch"]
    if is_faiss_available():
        backends.append("faiss")
    else:
        print("faiss not installed: skipping the FAISS backend (pip install 'fashionvl[faiss]')", file=sys.stderr)
    if args.mvlt_preset:
        backends.append("two-stage")
    load_before = os.getloadavg()
    results = []
    for backend in backends:
        for size in args.sizes:
            task = {**vars(args), "backend": backend, "size": size}
            result = _run_isolated(task)
            print(
                f"{backend:>9} {size:>8,}: {result['queries_per_second']:10.1f} queries/s, "
                f"search peak +{result['search_peak_memory_mb']:.0f} MB",
                flush=True,
            )
            results.append(result)
    print()
    print(format_table(results))
    write_results(args.output, {"arguments": vars(args), "environment": machine_environment(load_before), "results": results})
    return results

if __name__ == "__main__":
    (arguments,) = HfArgumentParser(BenchmarkArguments).parse_args_into_dataclasses()
    main(arguments)
