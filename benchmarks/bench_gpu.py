"""MVLT pre-training step on one GPU: throughput, peak memory, SDPA kernel and MFU (issue 15, section 4).

Rows: the MVLT paper preset (`MVLTConfig.from_preset("paper")`, 256 px, captions of L = 128 tokens, MIR + ITM +
sparse MLM, loss weights 10/1/1) at batch 64 and at the paper's batch 150, under bf16 autocast, with
`torch.compile` off and on. `--retrieval_recipe` adds the retrieval recipe (`itc_loss_weight=1`,
`itm_negative_mining="itc"`: + a vision-only and a text-only ITC pass, and ITM on its own joint pass over 3 mined
pairs per row). One training step = zero_grad, forward, backward and an AdamW update (weights in fp32).

Captions are padded (lengths drawn in [L/4, L], `--caption_lengths padded`, as real Fashion-Gen captions) so the
model's additive attention bias for padded keys is live; `--caption_lengths full` gives captions without padding
(no attention mask at all). The mask decides which SDPA kernel PyTorch may use (flash takes no mask), so the SDPA
sweep runs both.

SDPA kernel: the kernel PyTorch picked by itself is read from a profiler trace of one step (the aten op that ran:
`_scaled_dot_product_flash_attention` / `_efficient_attention` / `_cudnn_attention`, or the math fallback, which
shows as `_scaled_dot_product_attention_math` or as plain matmuls). The sweep then forces each backend in turn with
`torch.nn.attention.sdpa_kernel([backend])` on the eager step: a backend that cannot serve the inputs raises, and
the table says why.

FLOPs (the analytic count of `mvlt_forward_flops`; a multiply-add is 2 FLOPs; only matmuls and convolutions are
counted, as `torch.utils.flop_counter` does; B = batch, L = caption length, D_k = hidden_sizes[k], N_k = H_k W_k
vision tokens of stage k, R_k = N_k / sr_k^2 reduced keys (N_k when sr_k = 1), r_k = mlp_ratios[k], c_k =
input channels of stage k's patch conv of kernel p_k, D_t = text_hidden_size, V = vocab_size):

    stage k, per joint pass:   text projection 2 B L D_{k-1} D_k  +  patch conv 2 B N_k (c_k p_k^2) D_k
    per block of stage k:      Q and output 2 x 2 B (L+N_k) D_k^2  +  K and V 2 x 2 B (L+R_k) D_k^2
                               + spatial-reduction conv 2 B R_k (D_k sr_k^2) D_k   (sr_k > 1)
                               + QK^T and AV 2 x 2 B (L+N_k) (L+R_k) D_k  +  MLP 2 x 2 B (L+N_k) D_k (r_k D_k)
    U-Net MIR decoder:         per level l = 3..1: 3x3 conv 2 B N_l 9 (C_in,l) w, C_in = D_l + (D_4 or w);
                               prediction 1x1 conv 2 B N_1 w (3 p_1^2)          (w = decoder_hidden_size)
    ITM head:                  2 P (D_4 D_t + 2 D_t)   (P pairs: B, or the mined pairs)
    MLM head (sparse):         2 M (D_4 D_t + D_t V)   (M = masked tokens; dense: M = B L)
    ITC (retrieval recipe):    a vision-only pass (L = 0) + a text-only pass (N_k = R_k = 0, no patch conv)
                               + projections 2 B D_4 d x 2 + similarity 2 B^2 d (x 2 with mined ITM: the mining
                               similarity); mined ITM: a joint pass over P = 3 B pairs, no decoder
    training step:             3 x forward (backward = 2 x forward: grad of inputs and grad of weights)

The x3 is the usual convention; it slightly over-counts (the first patch conv computes no input gradient, the
ITC-similarity matmul runs without gradient). tests/test_bench_gpu.py checks the forward count against
`torch.utils.flop_counter.FlopCounterMode` on a tiny config (math SDPA, so that attention is counted). The run
also measures FlopCounterMode's count of the real step (forward + backward) and prints both. MFU = analytic step
FLOPs x steps per second / the device's peak dense bf16 FLOP/s (table `PEAK_BF16_TFLOPS`, or `--peak_tflops`).

    python benchmarks/bench_gpu.py --device cuda                      # H200: paper preset, a few minutes
    python benchmarks/bench_gpu.py --device cuda --retrieval_recipe   # + the retrieval recipe rows
    python benchmarks/bench_gpu.py --device cpu --smoke               # tiny preset, batch 2, fp32, no compile

Prints a Markdown table, the device name and the load average before and after, and writes JSON (`--output`,
rewritten after every row, so a run cut short keeps what it measured). `--time_budget_s` skips the rows that would
start after the budget.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field

import torch
from transformers import HfArgumentParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _process_memory import process_memory_mib  # noqa: E402


# Peak dense bf16 tensor-core FLOP/s (no sparsity) from the vendors' data sheets, matched on the device name.
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10G": 70.0,
    "L4": 121.0,
}

SDPA_KERNEL_OPS = {
    "flash": ("_scaled_dot_product_flash_attention", "_flash_attention_forward"),
    "memory-efficient": ("_scaled_dot_product_efficient_attention", "_efficient_attention_forward"),
    "cudnn": ("_scaled_dot_product_cudnn_attention",),
    "math": ("_scaled_dot_product_attention_math",),
}

RECIPES = {
    "paper": {},
    "retrieval": {"itc_loss_weight": 1.0, "itm_negative_mining": "itc"},
}


@dataclass
class BenchmarkArguments:
    device: str = field(default="cuda" if torch.cuda.is_available() else "cpu", metadata={"help": "cuda or cpu"})
    smoke: bool = field(
        default=False,
        metadata={"help": "tiny preset, batch 2, fp32, compile skipped, 2 steps (always on for a CPU device)"},
    )
    preset: str = field(default="paper", metadata={"help": "MVLT preset (the smoke run uses 'tiny')"})
    batch_sizes: list[int] = field(default_factory=lambda: [64, 150], metadata={"help": "batch sizes (paper: 150)"})
    text_length: int = field(default=128, metadata={"help": "caption length L (tokens, incl. padding)"})
    caption_lengths: str = field(default="padded", metadata={"help": "'padded' (lengths in [L/4, L]) or 'full'"})
    retrieval_recipe: bool = field(default=False, metadata={"help": "also the retrieval recipe (ITC + mined ITM)"})
    compile_modes: list[str] = field(default_factory=lambda: ["off", "on"], metadata={"help": "torch.compile off/on"})
    dtype: str = field(default="bf16", metadata={"help": "autocast dtype: bf16 or fp32 (no autocast)"})
    warmup: int = field(default=3, metadata={"help": "untimed steps (the first compiles)"})
    steps: int = field(default=10, metadata={"help": "timed steps per row"})
    sdpa_sweep: bool = field(default=True, metadata={"help": "force each SDPA backend on the first eager row"})
    sweep_steps: int = field(default=3, metadata={"help": "timed steps per forced SDPA backend"})
    count_flops: bool = field(default=True, metadata={"help": "measure FlopCounterMode's count of one eager step"})
    peak_tflops: float = field(default=0.0, metadata={"help": "peak FLOP/s in TFLOP/s for MFU (0: from the table)"})
    time_budget_s: float = field(default=420.0, metadata={"help": "skip rows that would start after this"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch default)"})
    seed: int = field(default=0, metadata={"help": "random seed of weights and batch"})
    output: str = field(default="", metadata={"help": "JSON path (default benchmarks/results/bench_gpu[_smoke].json)"})

    def resolve(self) -> "BenchmarkArguments":
        """Fill the smoke-run defaults and check the choices."""
        if not self.device.startswith("cuda"):
            self.smoke = True  # the paper preset at batch 64-150 takes minutes per step on a CPU
        if self.smoke:
            self.preset, self.batch_sizes, self.text_length, self.dtype = "tiny", [2], 16, "fp32"
            self.compile_modes, self.warmup, self.steps, self.sweep_steps = ["off", "on"], 1, 2, 1
        if self.caption_lengths not in ("padded", "full"):
            raise ValueError(f"caption_lengths={self.caption_lengths!r}: expected 'padded' or 'full'.")
        if self.dtype not in ("bf16", "fp32"):
            raise ValueError(f"dtype={self.dtype!r}: expected 'bf16' or 'fp32'.")
        unknown = [mode for mode in self.compile_modes if mode not in ("off", "on")]
        if unknown:
            raise ValueError(f"compile_modes {unknown}: expected 'off' and/or 'on'.")
        if not self.output:
            self.output = f"benchmarks/results/bench_gpu{'_smoke' if self.smoke else ''}.json"
        return self


# ----------------------------------------------------------------------------------------------------------------------
# Analytic FLOP count (see the module docstring)
# ----------------------------------------------------------------------------------------------------------------------


def _pass_flops(config, batch_size: int, text_length: int, with_text: bool, with_vision: bool) -> dict[str, float]:
    """Forward FLOPs of one MVLTModel pass (joint, vision-only or text-only), by component."""
    flops = {"text stream projections": 0.0, "patch embeddings": 0.0, "attention projections": 0.0,
             "spatial reduction": 0.0, "attention scores": 0.0, "mlp": 0.0}
    text = text_length if with_text else 0
    side = config.image_size
    previous_width = config.text_hidden_size
    in_channels = config.num_channels
    for stage, width in enumerate(config.hidden_sizes):
        patch = config.patch_sizes[stage]
        side //= patch
        vision = side * side if with_vision else 0
        sr = config.sr_ratios[stage]
        reduced = ((side // sr) ** 2 if sr > 1 else vision) if with_vision else 0
        flops["text stream projections"] += 2 * batch_size * text * previous_width * width
        flops["patch embeddings"] += 2 * batch_size * vision * in_channels * patch**2 * width
        queries, keys = text + vision, text + reduced
        for _ in range(config.depths[stage]):
            flops["attention projections"] += 2 * 2 * batch_size * queries * width**2  # query, output
            flops["attention projections"] += 2 * 2 * batch_size * keys * width**2  # key, value
            if sr > 1:
                flops["spatial reduction"] += 2 * batch_size * reduced * width * sr**2 * width
            flops["attention scores"] += 2 * 2 * batch_size * queries * keys * width  # QK^T, AV (all heads)
            flops["mlp"] += 2 * 2 * batch_size * queries * width * int(width * config.mlp_ratios[stage])
        previous_width, in_channels = width, width
    return flops


def _unet_decoder_flops(config, batch_size: int) -> float:
    """Forward FLOPs of MVLTUNetDecoder: one 3x3 conv per level, the 1x1 prediction conv."""
    sides = []
    side = config.image_size
    for patch in config.patch_sizes:
        side //= patch
        sides.append(side)
    width, coarser = config.decoder_hidden_size, config.hidden_sizes[-1]
    flops = 0.0
    for level in reversed(range(config.num_stages - 1)):
        flops += 2 * batch_size * sides[level] ** 2 * 9 * (coarser + config.hidden_sizes[level]) * width
        coarser = width
    flops += 2 * batch_size * sides[0] ** 2 * width * config.num_channels * config.patch_sizes[0] ** 2
    return flops


def mvlt_forward_flops(config, batch_size: int, text_length: int, num_masked_tokens: int) -> dict[str, float]:
    """Analytic forward FLOPs of one `MVLTForPreTraining` step, by component (module docstring: the formula).

    Args:
        config: the `MVLTConfig` (U-Net MIR decoder).
        batch_size: B.
        text_length: L, caption length including padding (padded tokens are computed too).
        num_masked_tokens: M, the MLM-masked tokens of the batch (used when `mlm_sparse_prediction`).
    """
    if config.mir_decoder != "unet":
        raise ValueError(f"The FLOP count covers mir_decoder='unet', got {config.mir_decoder!r}.")
    flops = {f"joint pass: {name}": value for name, value in _pass_flops(config, batch_size, text_length, True, True).items()}
    top, text_width = config.hidden_sizes[-1], config.text_hidden_size
    flops["MIR decoder"] = _unet_decoder_flops(config, batch_size) if config.mir_loss_weight > 0 else 0.0
    pairs = batch_size
    if config.itc_loss_weight > 0:
        vision_only = _pass_flops(config, batch_size, 0, False, True)
        text_only = _pass_flops(config, batch_size, text_length, True, False)
        flops["ITC vision-only pass"] = sum(vision_only.values())
        flops["ITC text-only pass"] = sum(text_only.values())
        flops["ITC projections"] = 2 * 2 * batch_size * top * config.projection_dim
        # the B x B similarity logits of the loss, and once more (without gradient) to mine ITM negatives
        mining = 2 if config.itm_negative_mining == "itc" else 1
        flops["ITC similarity"] = mining * 2 * batch_size * batch_size * config.projection_dim
    if config.itm_negative_mining == "itc":
        pairs = config.itm_pairs_per_row * batch_size
        flops["mined ITM joint pass"] = sum(_pass_flops(config, pairs, text_length, True, True).values())
    flops["ITM head"] = 2 * pairs * (top * text_width + text_width * 2) if config.itm_loss_weight > 0 else 0.0
    decoded = num_masked_tokens if config.mlm_sparse_prediction else batch_size * text_length
    flops["MLM head"] = 2 * decoded * (top * text_width + text_width * config.vocab_size) if config.mlm_loss_weight > 0 else 0.0
    return flops


def mvlt_step_flops(config, batch_size: int, text_length: int, num_masked_tokens: int) -> float:
    """Analytic FLOPs of one training step: 3 x forward (backward = 2 x forward)."""
    return 3 * sum(mvlt_forward_flops(config, batch_size, text_length, num_masked_tokens).values())


# ----------------------------------------------------------------------------------------------------------------------
# Batch, step, kernel detection
# ----------------------------------------------------------------------------------------------------------------------


def make_batch(config, batch_size: int, text_length: int, caption_lengths: str, generator: torch.Generator) -> dict:
    """A synthetic pre-training batch: captions (padded or full), 15 % MLM labels, half the image units masked."""
    input_ids = torch.randint(5, config.vocab_size, (batch_size, text_length), generator=generator)
    if caption_lengths == "padded":
        lengths = torch.randint(max(text_length // 4, 2), text_length + 1, (batch_size,), generator=generator)
    else:
        lengths = torch.full((batch_size,), text_length)
    attention_mask = (torch.arange(text_length)[None, :] < lengths[:, None]).long()
    input_ids = input_ids.masked_fill(attention_mask == 0, config.pad_token_id)
    maskable = (torch.rand(batch_size, text_length, generator=generator) < 0.15) & (attention_mask == 1)
    maskable[:, 0] = False  # [CLS]
    mlm_labels = torch.where(maskable, input_ids, torch.full_like(input_ids, -100))
    bool_masked_pos = torch.zeros(batch_size, config.num_mask_units, dtype=torch.bool)
    for row in range(batch_size):
        bool_masked_pos[row, torch.randperm(config.num_mask_units, generator=generator)[: config.num_mask_units // 2]] = True
    if config.itm_negative_mining == "itc":
        itm_labels = torch.ones(batch_size, dtype=torch.long)  # the model mines its own negatives
    else:
        itm_labels = torch.randint(0, 2, (batch_size,), generator=generator)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "pixel_values": torch.randn(batch_size, 3, config.image_size, config.image_size, generator=generator),
        "bool_masked_pos": bool_masked_pos,
        "mlm_labels": mlm_labels,
        "itm_labels": itm_labels,
        "product_ids": torch.arange(batch_size),
    }


class TrainingStep:
    """zero_grad, forward under autocast, backward, AdamW update of one model (eager or compiled)."""

    def __init__(self, model, batch: dict, device: torch.device, dtype: str, compiled: bool):
        self.model, self.batch, self.device = model, batch, device
        self.forward = torch.compile(model) if compiled else model
        fused = device.type == "cuda"
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused)
        self.autocast_dtype = torch.bfloat16 if dtype == "bf16" else None

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def __call__(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            loss = self.forward(**self.batch).loss
        loss.backward()
        self.optimizer.step()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sdpa_kernels_in_trace(step) -> list[str]:
    """Names of the SDPA kernels that ran in one call of `step`, read from a profiler trace."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as trace:
        step()
    names = {event.key for event in trace.key_averages()}
    found = [kernel for kernel, ops in SDPA_KERNEL_OPS.items() if any(op in name for name in names for op in ops)]
    if not found and not any("scaled_dot_product" in name for name in names):
        found = ["none seen (compiled graph or eager attention)"]
    if any(name.endswith("_for_cpu") and "scaled_dot_product" in name for name in names):
        found = [f"{kernel} (CPU)" for kernel in found]
    return found


def peak_flops(args: BenchmarkArguments, device_name: str) -> float | None:
    if args.peak_tflops:
        return args.peak_tflops * 1e12
    for name, tflops in PEAK_BF16_TFLOPS.items():  # ordered: the more specific names first
        if name in device_name:
            return tflops * 1e12
    return None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


class PeakMemory:
    """Peak memory of the steps run inside, in MiB: CUDA allocated memory, or CPU peak resident memory (VmHWM of the
    whole process, so on CPU a later row cannot read below an earlier row's peak)."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self.peak_mib = process_memory_mib("VmHWM")
        return False


# ----------------------------------------------------------------------------------------------------------------------
# Rows
# ----------------------------------------------------------------------------------------------------------------------


def _build(args: BenchmarkArguments, recipe: str, batch_size: int, device: torch.device):
    from fashionvl import MVLTConfig, MVLTForPreTraining

    torch.manual_seed(args.seed)
    config = MVLTConfig.from_preset(args.preset, **RECIPES[recipe])
    model = MVLTForPreTraining(config).to(device).train()
    generator = torch.Generator().manual_seed(args.seed)
    batch = make_batch(config, batch_size, args.text_length, args.caption_lengths, generator)
    num_masked = int((batch["mlm_labels"] != -100).sum())
    batch = {key: value.to(device) for key, value in batch.items()}
    return config, model, batch, num_masked


def measure_row(args: BenchmarkArguments, recipe: str, batch_size: int, compiled: bool, device: torch.device) -> dict:
    """Throughput, peak memory, SDPA kernel and MFU of one (recipe, batch, compile) row."""
    row = {"recipe": recipe, "batch_size": batch_size, "compile": "on" if compiled else "off", "dtype": args.dtype}
    config, model, batch, num_masked = _build(args, recipe, batch_size, device)
    row["parameters_m"] = sum(parameter.numel() for parameter in model.parameters()) / 1e6
    row["analytic_step_flops"] = mvlt_step_flops(config, batch_size, args.text_length, num_masked)
    step = TrainingStep(model, batch, device, args.dtype, compiled)
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        step()
        _synchronize(device)
        row["first_step_seconds"] = time.perf_counter() - start  # includes compilation when compiled
        for _ in range(args.warmup - 1):
            step()
        _synchronize(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        _synchronize(device)
        elapsed = time.perf_counter() - start
    row["step_seconds"] = elapsed / args.steps
    row["samples_per_second"] = batch_size / row["step_seconds"]
    row["peak_memory_mib"] = memory.peak_mib
    row["achieved_tflops"] = row["analytic_step_flops"] / row["step_seconds"] / 1e12
    peak = peak_flops(args, device_name(device))
    row["mfu"] = row["analytic_step_flops"] / row["step_seconds"] / peak if peak else None
    row["sdpa_kernels"] = sdpa_kernels_in_trace(step)
    if args.count_flops and not compiled:
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            step()
        row["flop_counter_step_flops"] = counter.get_total_flops()
    del step, model, batch
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def sdpa_sweep(args: BenchmarkArguments, device: torch.device) -> list[dict]:
    """The eager paper step at the first batch size with each SDPA backend forced, for padded and full captions."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backends = {"flash": SDPBackend.FLASH_ATTENTION, "memory-efficient": SDPBackend.EFFICIENT_ATTENTION,
                "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}
    results = []
    caption_modes = [args.caption_lengths] + [mode for mode in ("padded", "full") if mode != args.caption_lengths]
    for caption_lengths in caption_modes:
        sweep_args = BenchmarkArguments(**{**asdict(args), "caption_lengths": caption_lengths})
        config, model, batch, _ = _build(sweep_args, "paper", args.batch_sizes[0], device)
        step = TrainingStep(model, batch, device, args.dtype, compiled=False)
        for name, backend in backends.items():
            result = {"backend": name, "caption_lengths": caption_lengths, "batch_size": args.batch_sizes[0]}
            try:
                with sdpa_kernel([backend]), warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    step()
                    _synchronize(device)
                    start = time.perf_counter()
                    for _ in range(args.sweep_steps):
                        step()
                    _synchronize(device)
                result["step_seconds"] = (time.perf_counter() - start) / args.sweep_steps
                result["samples_per_second"] = args.batch_sizes[0] / result["step_seconds"]
            except RuntimeError as error:  # "No available kernel": this backend cannot serve these inputs
                # PyTorch warns why each forced kernel refused the inputs (mask, dtype, head dim) before it raises.
                reasons = sorted({str(w.message).strip().splitlines()[0][:160] for w in caught})
                result["unavailable"] = "; ".join(reasons) or str(error).strip().splitlines()[0][:160]
            results.append(result)
        del step, model, batch
    return results


def run_benchmark(args: BenchmarkArguments) -> dict:
    args.resolve()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    started = time.perf_counter()
    report = {
        "arguments": asdict(args),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "load_average_before": _load_average(),
        "rows": [],
        "sdpa_sweep": [],
    }
    compile_skip_reason = None
    if args.smoke and "on" in args.compile_modes:
        compile_skip_reason = "smoke run: compiling the model costs minutes on CPU"
    if args.sdpa_sweep:  # first: eager and short, and it says which kernels exist for these inputs
        print("[sdpa sweep] ...", file=sys.stderr, flush=True)
        report["sdpa_sweep"] = sdpa_sweep(args, device)
        _write(report, args.output)
    recipes = ["paper"] + (["retrieval"] if args.retrieval_recipe else [])
    plan = [(recipe, batch_size, mode) for recipe in recipes for batch_size in args.batch_sizes for mode in args.compile_modes]
    for recipe, batch_size, mode in plan:
        label = f"{recipe}, batch {batch_size}, compile {mode}"
        if mode == "on" and compile_skip_reason:
            report["rows"].append({"recipe": recipe, "batch_size": batch_size, "compile": mode, "skipped": compile_skip_reason})
            continue
        if time.perf_counter() - started > args.time_budget_s:
            report["rows"].append({"recipe": recipe, "batch_size": batch_size, "compile": mode,
                                   "skipped": f"time budget {args.time_budget_s:.0f} s spent"})
            continue
        print(f"[row] {label} ...", file=sys.stderr, flush=True)
        try:
            report["rows"].append(measure_row(args, recipe, batch_size, mode == "on", device))
        except Exception as error:  # one failing row (OOM, compile error) is reported, the others still run
            report["rows"].append({"recipe": recipe, "batch_size": batch_size, "compile": mode,
                                   "error": f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200]}"})
            if device.type == "cuda":
                torch.cuda.empty_cache()
        _write(report, args.output)
    report["load_average_after"] = _load_average()
    report["wall_seconds"] = time.perf_counter() - started
    _write(report, args.output)
    return report


def _write(report: dict, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)


def format_table(report: dict) -> str:
    args = report["arguments"]
    lines = [
        f"Device: {report['device_name']}, torch {report['torch']}, preset {args['preset']}, L = {args['text_length']} "
        f"({args['caption_lengths']} captions), {args['dtype']}, {args['steps']} timed steps after {args['warmup']} "
        f"warm-up; load average before {report['load_average_before']}, after {report.get('load_average_after')}.",
        "",
        "| recipe | batch | compile | samples/s | step (ms) | first step (s) | peak memory (MiB) | SDPA kernel | "
        "analytic GFLOP/step | FlopCounter GFLOP/step | achieved TFLOP/s | MFU |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in report["rows"]:
        head = f"| {row['recipe']} | {row['batch_size']} | {row['compile']} |"
        if "skipped" in row or "error" in row:
            lines.append(f"{head} {'skipped: ' + row['skipped'] if 'skipped' in row else row['error']} | | | | | | | | |")
            continue
        counted = row.get("flop_counter_step_flops")
        mfu = f"{100 * row['mfu']:.1f} %" if row["mfu"] is not None else "n/a (no peak known)"
        lines.append(
            f"{head} {row['samples_per_second']:.1f} | {1000 * row['step_seconds']:.1f} | {row['first_step_seconds']:.1f} | "
            f"{row['peak_memory_mib']:.0f} | {', '.join(row['sdpa_kernels'])} | {row['analytic_step_flops'] / 1e9:.1f} | "
            f"{counted / 1e9 if counted else float('nan'):.1f} | {row['achieved_tflops']:.3g} | {mfu} |"
        )
    if report["sdpa_sweep"]:
        lines += ["", "| SDPA backend forced | captions | batch | samples/s | step (ms) |", "| --- | --- | ---: | ---: | ---: |"]
        for result in report["sdpa_sweep"]:
            if "unavailable" in result:
                lines.append(f"| {result['backend']} | {result['caption_lengths']} | {result['batch_size']} | "
                             f"unavailable: {result['unavailable']} | |")
            else:
                lines.append(f"| {result['backend']} | {result['caption_lengths']} | {result['batch_size']} | "
                             f"{result['samples_per_second']:.1f} | {1000 * result['step_seconds']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    if isinstance(argv, BenchmarkArguments):
        args = argv
    else:
        (args,) = HfArgumentParser(BenchmarkArguments).parse_args_into_dataclasses(args=argv)
    report = run_benchmark(args)
    print(format_table(report))
    print(f"\nWrote {args.output}")
    return report


if __name__ == "__main__":
    main()
