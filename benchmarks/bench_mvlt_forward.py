"""Training-step cost of MVLT against the bare PVT-Tiny it extends, measured in the same run.

One training step = forward + backward (no optimizer). Rows (all randomly initialised; cost does not depend on the
weights):

- transformers ``PvtModel`` (PVT-Tiny, ``PvtConfig()``) at 224px and at 256px (the reference for the ratios);
- ``MVLTModel`` (paper preset) without text (L = 0): the vision stream alone, should cost what PVT-256 costs;
- ``MVLTModel`` with L = 128 text tokens: + the chained text stream;
- ``MVLTModel`` + MIR decoder (U-Net): the two costs the paper adds to PVT besides the heads;
- ``MVLTForPreTraining`` (MIR + ITM + MLM losses, paper weights), MLM decoded on the masked tokens only
  (``mlm_sparse_prediction=True``) and on all 128 tokens (the default, Hugging Face-style logits); and the sparse
  one with gradient checkpointing on (``activation_checkpointing_enable()``, transformers 5: memory traded for
  recomputation);
- the retrieval recipe's steps (sparse MLM): + ITC (a vision-only and a text-only pass), and + ITM on its own joint
  pass over ITC-mined pairs (3 pairs per row as ALBEF, or 1 as the CPU demo). Their cost against today's step is
  the ratio of their "time x" to the sparse-MLM row's, both measured in the same run.

Peak memory of a step is measured for each row in a fresh subprocess (CUDA: ``torch.cuda.max_memory_allocated``
above what the model and batch hold; CPU: peak resident memory above the resident memory before the first step,
VmHWM - VmRSS from /proc, Linux). Time is measured in one subprocess holding every row, in ``repeats`` rounds that
step each row once in turn, so that changing load on a shared machine affects all rows alike. On CPU the rows run
with one torch thread by default and the ratios use the best process CPU time of a step, which other processes on a
shared machine disturb much less than wall time (printed too).

    python benchmarks/bench_mvlt_forward.py                                   # CPU: batch 2, 5 rounds (~3 min)
    python benchmarks/bench_mvlt_forward.py --device cuda --batch_size 8 --repeats 10 --warmup 3

Prints a Markdown table and writes the raw numbers as JSON (``--output``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
from transformers import HfArgumentParser

from _process_memory import process_memory_mib
from _subprocess_runs import run_in_subprocess, synchronize


REFERENCE_ROW = "PvtModel tiny 256"


@dataclass
class BenchmarkArguments:
    device: str = field(default="cuda" if torch.cuda.is_available() else "cpu", metadata={"help": "cpu or cuda"})
    batch_size: int = field(default=0, metadata={"help": "images per step (0: 8 on CUDA, 2 on CPU)"})
    text_length: int = field(default=128, metadata={"help": "caption length L of the MVLT rows"})
    repeats: int = field(default=0, metadata={"help": "timed rounds (0: 10 on CUDA, 5 on CPU)"})
    warmup: int = field(default=0, metadata={"help": "untimed steps first (0: 3 on CUDA, 1 on CPU)"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads (0: torch default; 1 keeps CPU time clean)"})
    rows: list[str] = field(default_factory=list, metadata={"help": "only these rows (default: all)"})
    output: str = field(default="benchmarks/results/bench_mvlt_forward.json", metadata={"help": "JSON output path"})


def _pvt_case(image_size: int, batch_size: int, device: str):
    from transformers import PvtConfig, PvtModel

    model = PvtModel(PvtConfig(image_size=image_size))
    inputs = {"pixel_values": torch.randn(batch_size, 3, image_size, image_size)}

    def loss_of(outputs):
        return outputs.last_hidden_state.float().mean()

    return model, inputs, loss_of


def _mvlt_batch(config, batch_size: int, text_length: int) -> dict:
    input_ids = torch.randint(5, config.vocab_size, (batch_size, text_length))
    mlm_labels = torch.where(torch.rand(batch_size, text_length) < 0.15, input_ids, torch.full_like(input_ids, -100))
    bool_masked_pos = torch.zeros(batch_size, config.num_mask_units, dtype=torch.bool)
    bool_masked_pos[:, torch.randperm(config.num_mask_units)[: config.num_mask_units // 2]] = True
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "pixel_values": torch.randn(batch_size, 3, config.image_size, config.image_size),
        "bool_masked_pos": bool_masked_pos,
        "mlm_labels": mlm_labels,
        "itm_labels": torch.randint(0, 2, (batch_size,)),
        "product_ids": torch.arange(batch_size),
    }


def _mvlt_encoder_case(text_length: int, with_decoder: bool, batch_size: int, device: str):
    from fashionvl import MVLTConfig, MVLTForPreTraining, MVLTModel

    config = MVLTConfig.from_preset("paper")
    batch = _mvlt_batch(config, batch_size, text_length)
    inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "pixel_values", "bool_masked_pos")}
    if with_decoder:
        # Only the MIR loss: the encoder + U-Net decoder.
        model = MVLTForPreTraining(MVLTConfig.from_preset("paper", itm_loss_weight=0.0, mlm_loss_weight=0.0))

        def loss_of(outputs):
            return outputs.loss
    else:
        model = MVLTModel(config)

        def loss_of(outputs):
            loss = sum(feature_map.float().mean() for feature_map in outputs.vision_hidden_states)
            return loss + outputs.last_hidden_state.float().mean() if text_length else loss

    return model, inputs, loss_of


def _mvlt_pretraining_case(sparse_mlm: bool, text_length: int, batch_size: int, device: str,
                           gradient_checkpointing: bool = False, **overrides):
    from fashionvl import MVLTConfig, MVLTForPreTraining

    config = MVLTConfig.from_preset("paper", mlm_sparse_prediction=sparse_mlm, **overrides)
    model = MVLTForPreTraining(config)
    if gradient_checkpointing:  # recompute each encoder block in backward instead of keeping its activations
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    batch = _mvlt_batch(config, batch_size, text_length)
    if config.itm_negative_mining == "itc":
        batch["itm_labels"] = torch.ones_like(batch["itm_labels"])  # the model mines its own negatives

    def loss_of(outputs):
        return outputs.loss

    return model, batch, loss_of


# The retrieval issue's recipes: ITC (two unimodal passes) on top of the paper's step, and ITM on its own pass over
# ITC-mined pairs (ALBEF: 3 pairs per row; our CPU demo: 1 pair per row).
ITC_ROWS = {
    "MVLTForPreTraining + ITC, sparse MLM": {"itc_loss_weight": 1.0},
    "MVLTForPreTraining + ITC + mined ITM (3 pairs/row)": {"itc_loss_weight": 1.0, "itm_negative_mining": "itc"},
    "MVLTForPreTraining + ITC + mined ITM (1 pair/row)": {
        "itc_loss_weight": 1.0, "itm_negative_mining": "itc", "itm_pairs_per_row": 1,
    },
}


def row_builders(args: BenchmarkArguments) -> dict:
    """Row name -> (description of the inputs, builder(batch_size, device) -> (model, inputs, loss_of))."""
    length = args.text_length
    return {
        "PvtModel tiny 224": ("224px", lambda b, d: _pvt_case(224, b, d)),
        REFERENCE_ROW: ("256px", lambda b, d: _pvt_case(256, b, d)),
        "MVLTModel, no text": ("256px, L=0", lambda b, d: _mvlt_encoder_case(0, False, b, d)),
        "MVLTModel": (f"256px, L={length}", lambda b, d: _mvlt_encoder_case(length, False, b, d)),
        "MVLTModel + MIR U-Net decoder": (f"256px, L={length}", lambda b, d: _mvlt_encoder_case(length, True, b, d)),
        "MVLTForPreTraining, sparse MLM": (f"256px, L={length}", lambda b, d: _mvlt_pretraining_case(True, length, b, d)),
        "MVLTForPreTraining, dense MLM": (f"256px, L={length}", lambda b, d: _mvlt_pretraining_case(False, length, b, d)),
        "MVLTForPreTraining, sparse MLM, gradient checkpointing": (
            f"256px, L={length}", lambda b, d: _mvlt_pretraining_case(True, length, b, d, gradient_checkpointing=True)
        ),
        **{
            name: (f"256px, L={length}", lambda b, d, overrides=overrides: _mvlt_pretraining_case(True, length, b, d, **overrides))
            for name, overrides in ITC_ROWS.items()
        },
    }


def analytic_step_flops(name: str, batch_size: int, text_length: int) -> float | None:
    """Analytic FLOPs of one forward + backward step of row ``name`` (the FLOP count of ``bench_gpu.py``; backward =
    2 x forward, gradient checkpointing recomputes the forward once more); None for rows it does not cover."""
    from bench_gpu import _pass_flops, _unet_decoder_flops, mvlt_forward_flops

    from fashionvl import MVLTConfig

    if name.startswith("PvtModel tiny"):  # PVT-Tiny = MVLT's vision stream (same widths, depths, reductions)
        config = MVLTConfig.from_preset("paper", image_size=int(name.split()[-1]))
        return 3 * sum(_pass_flops(config, batch_size, 0, False, True).values())
    config = MVLTConfig.from_preset("paper", **ITC_ROWS.get(name, {}))
    if name == "MVLTModel, no text":
        return 3 * sum(_pass_flops(config, batch_size, 0, False, True).values())
    if name == "MVLTModel":
        return 3 * sum(_pass_flops(config, batch_size, text_length, True, True).values())
    if name == "MVLTModel + MIR U-Net decoder":
        return 3 * (sum(_pass_flops(config, batch_size, text_length, True, True).values()) + _unet_decoder_flops(config, batch_size))
    if name.startswith("MVLTForPreTraining"):
        config.mlm_sparse_prediction = "dense MLM" not in name
        masked = round(0.15 * batch_size * text_length)
        passes = 4 if "gradient checkpointing" in name else 3
        return passes * sum(mvlt_forward_flops(config, batch_size, text_length, masked).values())
    return None


class _Row:
    """One benchmark row ready to run: model in train mode on the device, its batch and its loss."""

    def __init__(self, name: str, args: BenchmarkArguments):
        self.name = name
        self.device = torch.device(args.device)
        model, inputs, self.loss_of = row_builders(args)[name][1](args.batch_size, args.device)
        self.model = model.to(self.device).train()
        self.inputs = {key: value.to(self.device) for key, value in inputs.items()}
        self.parameters = sum(parameter.numel() for parameter in self.model.parameters())

    def step(self) -> None:
        self.model.zero_grad(set_to_none=True)
        self.loss_of(self.model(**self.inputs)).backward()

    def release_gradients(self) -> None:
        self.model.zero_grad(set_to_none=True)


def _measure_memory(name: str, args: BenchmarkArguments, queue) -> None:
    """Child process: peak memory of the warm-up steps and one more step of one row, above what the model and its
    batch hold (CUDA: allocated memory; CPU: resident memory)."""
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        row = _Row(name, args)
        synchronize(row.device)
        if row.device.type == "cuda":
            held = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        else:
            held = process_memory_mib("VmRSS")
        for _ in range(args.warmup + 1):
            row.step()
        synchronize(row.device)
        if row.device.type == "cuda":
            peak_mib = (torch.cuda.max_memory_allocated() - held) / 2**20
        else:
            peak_mib = process_memory_mib("VmHWM") - held
        queue.put({"row": name, "peak_step_memory_mib": peak_mib, "parameters": row.parameters})
    except Exception as error:  # reported in the table instead of killing the whole benchmark
        queue.put({"row": name, "error": f"{type(error).__name__}: {error}"})


def _measure_times(names: list[str], args: BenchmarkArguments, queue) -> None:
    """Child process: build every row, warm each up, then time `repeats` rounds that step every row once in turn
    (round-robin), so that load from other processes affects all rows alike."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows, results = {}, {}
    for name in names:
        try:
            rows[name] = _Row(name, args)
            for _ in range(args.warmup):
                rows[name].step()
            rows[name].release_gradients()
            results[name] = {"step_seconds_all": [], "step_cpu_seconds_all": []}
        except Exception as error:
            results[name] = {"error": f"{type(error).__name__}: {error}"}
    for round_index in range(args.repeats):
        print(f"  timing round {round_index + 1}/{args.repeats}", file=sys.stderr, flush=True)
        for name, row in rows.items():
            synchronize(row.device)
            start, cpu_start = time.perf_counter(), time.process_time()
            row.step()
            synchronize(row.device)
            results[name]["step_seconds_all"].append(time.perf_counter() - start)
            results[name]["step_cpu_seconds_all"].append(time.process_time() - cpu_start)
            row.release_gradients()
    for result in results.values():
        if "error" not in result:
            result["step_seconds"] = statistics.median(result["step_seconds_all"])
            # Best of the rounds: contention from other processes only ever adds CPU time (cache misses, SMT).
            result["step_cpu_seconds"] = min(result["step_cpu_seconds_all"])
    queue.put(results)


def run_benchmark(args: BenchmarkArguments) -> list[dict]:
    """Measure every selected row (memory: one fresh process per row; time: one process, round-robin) and return
    the results with ratios to PVT-256."""
    on_cuda = args.device.startswith("cuda")
    args.batch_size = args.batch_size or (8 if on_cuda else 2)
    args.repeats = args.repeats or (10 if on_cuda else 5)
    args.warmup = args.warmup or (3 if on_cuda else 1)
    builders = row_builders(args)
    names = args.rows or list(builders)
    unknown = [name for name in names if name not in builders]
    if unknown:
        raise ValueError(f"Unknown rows {unknown}; expected some of {list(builders)}.")
    context = multiprocessing.get_context("spawn")
    results = []
    for index, name in enumerate(names, start=1):
        print(f"[memory {index}/{len(names)}] {name} ...", file=sys.stderr, flush=True)
        result = run_in_subprocess(context, _measure_memory, name, args)
        result["inputs"] = builders[name][0]
        results.append(result)
    print(f"[time] {len(names)} rows, {args.repeats} rounds ...", file=sys.stderr, flush=True)
    times = run_in_subprocess(context, _measure_times, names, args)
    for result in results:
        timing = times[result["row"]]
        if "error" in timing:
            result.setdefault("error", timing["error"])
        elif "error" not in result:
            result.update(timing)
    reference = next((r for r in results if r["row"] == REFERENCE_ROW and "error" not in r), None)
    # On CPU the ratio uses process CPU time, which other processes on a shared machine barely disturb.
    time_key = "step_seconds" if on_cuda else "step_cpu_seconds"
    for result in results:
        if reference and "error" not in result:
            result["time_ratio"] = result[time_key] / reference[time_key]
            result["memory_ratio"] = result["peak_step_memory_mib"] / max(reference["peak_step_memory_mib"], 1e-9)
    reference_flops = analytic_step_flops(REFERENCE_ROW, args.batch_size, args.text_length)
    for result in results:
        flops = analytic_step_flops(result["row"], args.batch_size, args.text_length)
        result["analytic_step_gflops"] = None if flops is None else flops / 1e9
        result["flop_ratio"] = None if flops is None else flops / reference_flops
    return results


def format_table(results: list[dict], args: BenchmarkArguments) -> str:
    lines = [
        f"| model | inputs | params (M) | step wall (s, median) | step CPU (s, best) | time x {REFERENCE_ROW} | "
        f"analytic FLOPs x {REFERENCE_ROW} | peak step memory (MiB) | memory x {REFERENCE_ROW} |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        if "error" in result:
            lines.append(f"| {result['row']} | {result['inputs']} | - | {result['error']} | | | | | |")
            continue
        lines.append(
            f"| {result['row']} | {result['inputs']} | {result['parameters'] / 1e6:.1f} | {result['step_seconds']:.3f} | "
            f"{result['step_cpu_seconds']:.3f} | "
            f"{result.get('time_ratio', float('nan')):.2f} | "
            f"{'-' if result.get('flop_ratio') is None else format(result['flop_ratio'], '.2f')} | "
            f"{result['peak_step_memory_mib']:.0f} | "
            f"{result.get('memory_ratio', float('nan')):.2f} |"
        )
    lines.append(
        f"\nForward + backward, batch {args.batch_size}, {args.repeats} timed round-robin rounds after {args.warmup} "
        f"warm-up step(s), "
        f"device {args.device}, {args.threads or torch.get_num_threads()} torch thread(s), torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs. Time ratios use "
        f"{'wall' if args.device.startswith('cuda') else 'process CPU'} time. Analytic FLOPs: the count of "
        f"bench_gpu.py (matmuls and convolutions; backward = 2 x forward), the floor any implementation of the same "
        f"computation pays."
    )
    return "\n".join(lines)


def main(argv=None):
    (args,) = HfArgumentParser(BenchmarkArguments).parse_args_into_dataclasses(args=argv)
    results = run_benchmark(args)
    print(format_table(results, args))
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump({"arguments": asdict(args), "results": results}, handle, indent=2)
    print(f"\nWrote {args.output}")


if __name__ == "__main__":
    main()
