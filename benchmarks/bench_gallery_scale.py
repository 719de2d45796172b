"""First-stage search at scale (issue 15 §2): exact torch and FAISS-flat vs approximate FAISS (IVF-Flat, HNSW).

A gallery of ``--size`` unit vectors of dimension ``--dim`` (default 1M x 256) is searched by ``--num_queries``
queries, top 10. Exact torch search is the baseline, measured in the same run; each approximate index reports
its recall@10 against it, its speed-up, its build time and its memory per item (FAISS's serialised size).

Galleries, because recall depends on the data:
- ``low_rank`` (default): unit vectors near a random ``--intrinsic_dim``-dimensional subspace (Gaussian latent
  codes through a fixed random linear map, plus isotropic noise), as learned embeddings concentrate near a
  low-dimensional manifold; nearest-neighbour cosines ~0.85, as for product embeddings. The realistic case.
- ``clustered``: unit vectors around ``--num_clusters`` random centres (noise ``--cluster_noise``): well separated
  clusters that IVF cells match almost exactly, the easy case (opt-in).
- ``uniform`` (default): i.i.d. uniform directions, the worst case for any index (no structure to exploit);
  reported so nobody reads the other numbers as a guarantee.

The FAISS-flat vs torch comparison is taken at ``--flat_size`` items for query batches of 1 and ``--num_queries``
and 1 / all threads, to show where the gap between them comes from.

    OMP_NUM_THREADS=2 python benchmarks/bench_gallery_scale.py                        # 1M x 256, ~5 min on 2 cores
    python benchmarks/bench_gallery_scale.py --size 100000 --galleries clustered      # quick

Prints Markdown tables, records the machine's load average before and after, writes JSON to ``--output``.
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

from fashionvl.pipelines.gallery_index import FashionGalleryIndex


@dataclass
class ScaleArguments:
    size: int = field(default=1_000_000, metadata={"help": "gallery items"})
    dim: int = field(default=256, metadata={"help": "embedding dimension"})
    num_queries: int = field(default=256, metadata={"help": "queries per batched measurement"})
    latency_queries: int = field(default=32, metadata={"help": "queries timed one at a time (batch of 1)"})
    top_k: int = field(default=10, metadata={"help": "results per query (recall@k is measured at this k)"})
    galleries: list[str] = field(default_factory=lambda: ["low_rank", "uniform"],
                                 metadata={"help": "low_rank, clustered, uniform"})
    intrinsic_dim: int = field(default=16, metadata={"help": "latent dimension of the low_rank gallery"})
    low_rank_noise: float = field(default=0.1, metadata={"help": "isotropic noise of the low_rank gallery"})
    num_clusters: int = field(default=2000, metadata={"help": "centres of the clustered gallery"})
    cluster_noise: float = field(default=0.7, metadata={"help": "per-dimension noise / centre norm ratio"})
    nlist: int = field(default=1000, metadata={"help": "IVF cells (sqrt(N) at 1M, the index default)"})
    nprobes: list[int] = field(default_factory=lambda: [16, 64, 128], metadata={"help": "IVF cells visited per query"})
    ef_searches: list[int] = field(default_factory=lambda: [64, 256], metadata={"help": "HNSW candidates per query"})
    hnsw: bool = field(default=True, metadata={"help": "build the HNSW index (slowest to build)"})
    flat_size: int = field(default=100_000, metadata={"help": "gallery size of the FAISS-flat vs torch study"})
    output: str = field(default="benchmarks/results/bench_gallery_scale.json", metadata={"help": "JSON output path"})


def make_gallery(kind: str, count: int, dim: int, args: ScaleArguments, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if kind not in ("low_rank", "clustered", "uniform"):
        raise ValueError(f"gallery kind must be low_rank, clustered or uniform, got {kind!r}.")
    if kind == "uniform":
        return torch.nn.functional.normalize(torch.randn(count, dim, generator=generator), dim=-1)
    if kind == "low_rank":
        mixing = torch.randn(dim, args.intrinsic_dim, generator=torch.Generator().manual_seed(1234))
        vectors = torch.empty(count, dim)
        for start in range(0, count, 100_000):
            stop = min(count, start + 100_000)
            codes = torch.randn(stop - start, args.intrinsic_dim, generator=generator)
            noise = torch.randn(stop - start, dim, generator=generator) * (args.low_rank_noise * args.intrinsic_dim**0.5)
            vectors[start:stop] = torch.nn.functional.normalize(codes @ mixing.T + noise, dim=-1)
        return vectors
    centres = torch.nn.functional.normalize(
        torch.randn(args.num_clusters, dim, generator=torch.Generator().manual_seed(1234)), dim=-1
    )
    vectors = torch.empty(count, dim)
    for start in range(0, count, 100_000):  # chunks keep the temporaries small
        stop = min(count, start + 100_000)
        assignment = torch.randint(args.num_clusters, (stop - start,), generator=generator)
        noise = torch.randn(stop - start, dim, generator=generator) * (args.cluster_noise / dim**0.5)
        vectors[start:stop] = torch.nn.functional.normalize(centres[assignment] + noise, dim=-1)
    return vectors


def _timed(function, repeats: int = 2) -> float:
    function()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def _recall(found: torch.Tensor, exact: torch.Tensor) -> float:
    return sum(len(set(f.tolist()) & set(e.tolist())) for f, e in zip(found, exact)) / exact.numel()


def _index_bytes(index) -> int:
    import faiss

    return int(faiss.serialize_index(index).nbytes)


def _measure_search(index: FashionGalleryIndex, queries: torch.Tensor, args: ScaleArguments, **kwargs) -> dict:
    batched = _timed(lambda: index.search(queries, top_k=args.top_k, **kwargs))
    single = queries[: args.latency_queries]

    def one_at_a_time():
        for query in single:
            index.search(query, top_k=args.top_k, **kwargs)

    latency = _timed(one_at_a_time, repeats=1)
    return {"batched_ms_per_query": 1000 * batched / len(queries), "single_query_ms": 1000 * latency / len(single)}


def scale_study(kind: str, args: ScaleArguments) -> list[dict]:
    gallery = make_gallery(kind, args.size, args.dim, args, seed=0)
    queries = make_gallery(kind, args.num_queries, args.dim, args, seed=1)
    index = FashionGalleryIndex(gallery)
    del gallery
    rows = []
    _, exact = index.search(queries, top_k=args.top_k)
    exact_row = {"gallery": kind, "method": "exact (torch matmul + topk)", "recall@k": 1.0, "build_s": 0.0,
                 "bytes_per_item": 4 * args.dim, **_measure_search(index, queries, args)}
    rows.append(exact_row)
    print(f"[{kind}] exact torch: {exact_row['batched_ms_per_query']:.2f} ms/query batched", flush=True)

    configurations = [("flat", {}, "FAISS IndexFlatIP")]
    configurations += [("ivf", {"nprobe": n}, f"FAISS IVF-Flat nlist={args.nlist} nprobe={n}") for n in args.nprobes]
    if args.hnsw:
        configurations += [("hnsw", {"ef_search": e}, f"FAISS HNSW M=32 efSearch={e}") for e in args.ef_searches]
    built = {}
    for index_type, params, name in configurations:
        if index_type not in built:
            start = time.perf_counter()
            faiss_index = index.faiss_index(index_type, nlist=args.nlist if index_type == "ivf" else None)
            built[index_type] = (time.perf_counter() - start, _index_bytes(faiss_index) / len(index))
            print(f"[{kind}] built {index_type} in {built[index_type][0]:.1f} s", flush=True)
        kwargs = {"backend": "faiss", "index_type": index_type, **params}
        _, found = index.search(queries, top_k=args.top_k, **kwargs)
        row = {"gallery": kind, "method": name, "recall@k": _recall(found, exact), "build_s": built[index_type][0],
               "bytes_per_item": built[index_type][1], **_measure_search(index, queries, args, **kwargs)}
        rows.append(row)
        print(f"[{kind}] {name}: recall {row['recall@k']:.3f}, {row['batched_ms_per_query']:.3f} ms/query batched, "
              f"{row['single_query_ms']:.3f} ms single", flush=True)
    for row in rows:
        row["speedup_vs_exact_batched"] = exact_row["batched_ms_per_query"] / row["batched_ms_per_query"]
        row["speedup_vs_exact_single"] = exact_row["single_query_ms"] / row["single_query_ms"]
    return rows


def flat_study(args: ScaleArguments) -> list[dict]:
    """Exact search two ways (torch BLAS matmul vs FAISS IndexFlatIP) by threads and query batch."""
    import faiss

    index = FashionGalleryIndex(make_gallery("uniform", args.flat_size, args.dim, args, seed=0))
    queries = make_gallery("uniform", args.num_queries, args.dim, args, seed=1)
    index.faiss_index("flat")
    rows, all_threads = [], torch.get_num_threads()
    for threads in sorted({1, all_threads}):
        torch.set_num_threads(threads)
        faiss.omp_set_num_threads(threads)
        for batch in (1, args.num_queries):
            batch_queries = queries[:batch] if batch > 1 else queries[: args.latency_queries]

            def run(backend):
                if batch == 1:
                    for query in batch_queries:
                        index.search(query, top_k=args.top_k, backend=backend)
                else:
                    index.search(batch_queries, top_k=args.top_k, backend=backend)

            torch_s = _timed(lambda: run("torch")) / len(batch_queries)
            faiss_s = _timed(lambda: run("faiss")) / len(batch_queries)
            rows.append({"threads": threads, "query_batch": batch, "torch_ms_per_query": 1000 * torch_s,
                         "faiss_flat_ms_per_query": 1000 * faiss_s, "faiss_over_torch": faiss_s / torch_s})
            print(f"flat study: threads {threads}, batch {batch}: torch {1000 * torch_s:.3f} ms, "
                  f"faiss {1000 * faiss_s:.3f} ms", flush=True)
    torch.set_num_threads(all_threads)
    faiss.omp_set_num_threads(all_threads)
    return rows


def format_tables(scale_rows: list[dict], flat_rows: list[dict], args: ScaleArguments) -> str:
    lines = [
        f"Gallery {args.size:,} x {args.dim}, top {args.top_k}, {args.num_queries} queries batched, "
        f"{args.latency_queries} one at a time.",
        "",
        "| gallery | method | recall@10 vs exact | ms/query (batched) | speed-up | ms/query (one at a time) | speed-up "
        "| build s | bytes/item |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in scale_rows:
        lines.append(
            f"| {row['gallery']} | {row['method']} | {row['recall@k']:.3f} | {row['batched_ms_per_query']:.3f} | "
            f"x{row['speedup_vs_exact_batched']:.1f} | {row['single_query_ms']:.3f} | x{row['speedup_vs_exact_single']:.1f} | "
            f"{row['build_s']:.1f} | {row['bytes_per_item']:.0f} |"
        )
    if flat_rows:
        lines += ["", f"Exact search at {args.flat_size:,} x {args.dim}: torch vs FAISS IndexFlatIP", "",
                  "| threads | query batch | torch ms/query | FAISS-flat ms/query | FAISS / torch |", "|---:|---:|---:|---:|---:|"]
        for row in flat_rows:
            lines.append(f"| {row['threads']} | {row['query_batch']} | {row['torch_ms_per_query']:.3f} | "
                         f"{row['faiss_flat_ms_per_query']:.3f} | x{row['faiss_over_torch']:.2f} |")
    return "\n".join(lines)


def main(args: ScaleArguments) -> dict:
    import faiss

    load_before = os.getloadavg()
    flat_rows = flat_study(args) if args.flat_size else []
    scale_rows = [row for kind in args.galleries for row in scale_study(kind, args)]
    table = format_tables(scale_rows, flat_rows, args)
    print()
    print(table)
    result = {
        "arguments": vars(args),
        "environment": machine_environment(load_before, faiss=faiss.__version__),
        "scale": scale_rows,
        "flat_vs_torch": flat_rows,
    }
    return write_results(args.output, result)

if __name__ == "__main__":
    (arguments,) = HfArgumentParser(ScaleArguments).parse_args_into_dataclasses()
    main(arguments)
