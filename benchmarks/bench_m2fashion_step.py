"""Training-step cost of M2Fashion's per-group attribute prediction against the paper's shared head, same run.

One training step = forward + backward (no optimizer) with the category and label-masked attribute losses. The
per-group head (issue 12) adds one pass of eq. 1-9 per attribute group on the backbone's feature map (the backbone
runs once), so its cost over the shared head should be small where the backbone dominates. Rows (randomly
initialised; cost does not depend on the weights):

- tiny preset at 64 px (8 x 8 maps), the synthetic catalog's 23 attributes in 7 groups, batch 30 (the recipe's);
- paper preset (ResNet-50, d = 512) at 224 px (7 x 7 maps), DeepFashion-C's 1,000 attributes in its 5 types.

Each pair's shared row is the reference of its ratios. Peak memory of a step is measured per row in a fresh
subprocess (CPU: peak resident memory above the resident memory before the first step, VmHWM - VmRSS from /proc,
Linux; CUDA: `torch.cuda.max_memory_allocated` above what the model and batch hold). Times come from one subprocess
that steps every row once per round, so a changing load on a shared machine affects all rows alike; on CPU the
ratios use the best process CPU time of a step (one torch thread by default).

    python benchmarks/bench_m2fashion_step.py                    # CPU: 5 rounds (~2 min)
    python benchmarks/bench_m2fashion_step.py --device cuda --repeats 20

Prints a Markdown table and writes the raw numbers as JSON (`--output`).
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
from transformers import HfArgumentParser

from _process_memory import process_memory_mib, reset_peak_memory
from _results import machine_environment, write_results
from _subprocess_runs import run_in_subprocess, synchronize


@dataclass
class BenchmarkArguments:
    device: str = field(default="cuda" if torch.cuda.is_available() else "cpu", metadata={"help": "cpu or cuda"})
    repeats: int = field(default=5, metadata={"help": "timed rounds"})
    warmup: int = field(default=1, metadata={"help": "untimed steps first"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads (1 keeps CPU time clean)"})
    paper_batch_size: int = field(default=4, metadata={"help": "images per step of the paper-preset rows"})
    rows: list[str] = field(default_factory=list, metadata={"help": "only these rows (default: all)"})
    output: str = field(default="benchmarks/results/bench_m2fashion_step.json", metadata={"help": "JSON output path"})


# name: (preset, image size, number of attributes, number of groups, batch size or None = paper_batch_size, reference)
ROWS = {
    "shared, tiny 64 px": ("tiny", 64, 23, 7, 30, None),
    "per-group, tiny 64 px": ("tiny", 64, 23, 7, 30, "shared, tiny 64 px"),
    "shared, paper 224 px": ("paper", 224, 1000, 5, None, None),
    "per-group, paper 224 px": ("paper", 224, 1000, 5, None, "shared, paper 224 px"),
}


class Case:
    """A model and a batch for one row, ready to step."""

    def __init__(self, name: str, args: BenchmarkArguments):
        from fashionvl import M2FashionConfig, M2FashionForAttributePrediction

        preset, image_size, num_attributes, num_groups, batch_size, _ = ROWS[name]
        batch_size = batch_size or args.paper_batch_size
        groups = [index % num_groups for index in range(num_attributes)]
        per_group = name.startswith("per-group")
        config = M2FashionConfig.from_preset(
            preset, num_labels=10, num_attributes=num_attributes,
            attribute_prediction="per_group" if per_group else "shared", attribute_groups=groups if per_group else None,
        )
        self.device = torch.device(args.device)
        torch.manual_seed(0)
        self.model = M2FashionForAttributePrediction(config).to(self.device).train()
        self.batch = {
            "pixel_values": torch.randn(batch_size, 3, image_size, image_size, device=self.device),
            "labels": torch.randint(0, 10, (batch_size,), device=self.device),
            "attribute_labels": (torch.randint(0, 2, (batch_size, num_attributes), device=self.device) * 2 - 1).float(),
        }
        self.batch_size = batch_size

    def step(self) -> None:
        self.model(**self.batch).loss.backward()

    def release_gradients(self) -> None:
        self.model.zero_grad(set_to_none=True)


def _measure_memory(name: str, args: BenchmarkArguments, queue) -> None:
    torch.set_num_threads(args.threads)
    case = Case(name, args)
    case.step()  # allocator and lazy initialisation settle; not counted
    case.release_gradients()
    if case.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(case.device)
        held = torch.cuda.memory_allocated(case.device)
        case.step()
        synchronize(case.device)
        peak = (torch.cuda.max_memory_allocated(case.device) - held) / 2**20
    else:
        reset_peak_memory()
        before = process_memory_mib("VmRSS")
        case.step()
        peak = process_memory_mib("VmHWM") - before
    queue.put({"name": name, "peak_step_memory_mib": peak, "batch_size": case.batch_size,
               "parameters": sum(parameter.numel() for parameter in case.model.parameters())})


def _measure_times(names: list[str], args: BenchmarkArguments, queue) -> None:
    torch.set_num_threads(args.threads)
    cases = {name: Case(name, args) for name in names}
    for case in cases.values():
        for _ in range(args.warmup):
            case.step()
            case.release_gradients()
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for _ in range(args.repeats):
        for name, case in cases.items():  # every row once per round: load changes hit all rows alike
            synchronize(case.device)
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            case.step()
            synchronize(case.device)
            wall[name].append(time.perf_counter() - wall_start)
            cpu[name].append(time.process_time() - cpu_start)
            case.release_gradients()
    queue.put({"wall": wall, "cpu": cpu})


def run_benchmark(args: BenchmarkArguments) -> list[dict]:
    names = args.rows or list(ROWS)
    unknown = [name for name in names if name not in ROWS]
    if unknown:
        raise ValueError(f"Unknown row(s) {unknown}; expected names from {list(ROWS)}.")
    context = multiprocessing.get_context("spawn")
    memory = {name: run_in_subprocess(context, _measure_memory, name, args) for name in names}
    times = run_in_subprocess(context, _measure_times, names, args)
    clock = "wall" if args.device == "cuda" else "cpu"
    results = []
    for name in names:
        best = min(times[clock][name])
        reference = ROWS[name][5]
        ratio = best / min(times[clock][reference]) if reference in names else None
        memory_ratio = (memory[name]["peak_step_memory_mib"] / memory[reference]["peak_step_memory_mib"]
                        if reference in names else None)
        results.append({
            "name": name, **memory[name], "best_step_seconds": best,
            "median_wall_seconds": statistics.median(times["wall"][name]), "time_ratio_vs_shared": ratio,
            "memory_ratio_vs_shared": memory_ratio, "clock": clock,
        })
    return results


def format_table(results: list[dict], args: BenchmarkArguments) -> str:
    clock = results[0]["clock"]
    lines = [
        f"| row | batch | parameters | best step ({clock} s) | time x shared | peak step memory (MiB) | memory x shared |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results:
        time_ratio = "1 (reference)" if row["time_ratio_vs_shared"] is None else f"{row['time_ratio_vs_shared']:.2f}"
        memory_ratio = "1 (reference)" if row["memory_ratio_vs_shared"] is None else f"{row['memory_ratio_vs_shared']:.2f}"
        lines.append(
            f"| {row['name']} | {row['batch_size']} | {row['parameters'] / 1e6:.2f} M | {row['best_step_seconds']:.3f} | "
            f"{time_ratio} | {row['peak_step_memory_mib']:.0f} | {memory_ratio} |"
        )
    return "\n".join(lines) + f"\n\n{args.device}, {args.threads} thread(s), best of {args.repeats} rounds."


def main(argv=None):
    (args,) = HfArgumentParser(BenchmarkArguments).parse_args_into_dataclasses(args=argv if argv is not None else sys.argv[1:])
    load_before = os.getloadavg()
    results = run_benchmark(args)
    print(format_table(results, args))
    write_results(args.output, {"arguments": asdict(args), "rows": results,
                                "environment": machine_environment(load_before)})


if __name__ == "__main__":
    main()
