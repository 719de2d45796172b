"""Where one MVLT pre-training step spends its CPU time, grouped by module (issue 15, section 1: profile first).

Runs `torch.profiler` over one training step of `MVLTForPreTraining` (forward, backward, AdamW update) after one
untimed warm-up step, for each case:

- the paper preset at 256 px, L = 128, batch 2 (MIR + ITM + sparse MLM, the paper's step);
- the same with the retrieval recipe (`itc_loss_weight=1, itm_negative_mining="itc"`: + ITC passes, mined ITM);
- the tiny preset at 64 px, batch 32, L = 40 (our CPU demo's model), paper recipe.

Captions are padded (lengths in [L/4, L]) so that the attention-bias path runs. Nothing in `fashionvl/` is
changed: the labels come from forward hooks that this script puts on the model's modules (a
`torch.profiler.record_function` range per module call, and one per encoder pass: joint, ITC vision-only, ITC
text-only, mined ITM). Each forward op is charged to the innermost labelled module around it, and split by the op
right below that module where one module does several things (the attention module: SDPA versus the split/cat of
the text and vision tokens; the stage: concatenating the joint sequence and splitting it back; the encoder: the
attention-bias padding versus the image masking). A backward op is charged to the forward op that created it
(the autograd node's sequence number), so "backward" columns are per module too.

    python benchmarks/profile_mvlt_step.py                     # all cases, 1 thread (~1 min on a quiet CPU)
    python benchmarks/profile_mvlt_step.py --cases paper-256-b2

Prints one table per case and the top ops by self time, and writes `benchmarks/results/profile_mvlt_step.json`
and `.txt`. Times are profiler CPU times (with the profiler's overhead of a few microseconds per op, which
inflates the many-small-ops groups a little).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field

import torch
from torch.profiler import ProfilerActivity, profile, record_function
from transformers import HfArgumentParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gpu import RECIPES, make_batch  # noqa: E402


CASES = {
    "paper-256-b2": {"preset": "paper", "recipe": "paper", "batch_size": 2, "text_length": 128},
    "paper-256-b2-retrieval": {"preset": "paper", "recipe": "retrieval", "batch_size": 2, "text_length": 128},
    "tiny-64-b32": {"preset": "tiny", "recipe": "paper", "batch_size": 32, "text_length": 40},
}

LABEL_PREFIX = "mvlt:"
PASS_PREFIX = "mvlt-pass:"

SDPA_OPS = ("scaled_dot_product", "_flash_attention", "_efficient_attention", "softmax", "matmul", "bmm", "baddbmm")
COPY_OPS = ("aten::cat", "aten::split", "aten::split_with_sizes", "aten::contiguous", "aten::clone", "aten::copy_",
            "aten::reshape", "aten::view", "aten::transpose", "aten::flatten", "aten::narrow", "aten::slice")
PAD_OPS = ("aten::pad", "aten::constant_pad_nd")


@dataclass
class ProfileArguments:
    cases: list[str] = field(default_factory=lambda: list(CASES), metadata={"help": f"some of {list(CASES)}"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    top_ops: int = field(default=15, metadata={"help": "rows of the top-ops table"})
    output: str = field(default="benchmarks/results/profile_mvlt_step.json", metadata={"help": "JSON path (+ .txt)"})


def module_group(module, name: str) -> str | None:
    """The profile group of a module of MVLTForPreTraining, or None to leave it to its parent."""
    from fashionvl.modeling import modeling_mvlt as mvlt

    parts = name.split(".")
    if isinstance(module, mvlt.MVLTTextEmbeddings):
        return "text stream: embeddings"
    if isinstance(module, mvlt.MVLTTextProjection):
        return "text stream: per-stage projection (eq. 1)"
    if isinstance(module, mvlt.MVLTPatchEmbeddings):
        return "vision: patch embeddings (eq. 2)"
    if isinstance(module, mvlt.MVLTSpatialReductionAttention):
        return "attention"
    if parts[-1] in ("query", "key", "value", "output") and ".attention." in f".{name}.":
        return "attention: q/k/v/output projections"
    if parts[-1] in ("spatial_reduction", "spatial_reduction_norm"):
        return "attention: spatial-reduction conv + norm"
    if isinstance(module, mvlt.MVLTMLP):
        return "block: MLP"
    if isinstance(module, mvlt.MVLTLayer):
        return "block: layer norms, residuals, drop path"
    if isinstance(module, mvlt.MVLTStage):
        return "stage"
    if isinstance(module, (mvlt.MVLTUNetDecoder, mvlt.MVLTPartialDecoder)):
        return "MIR decoder"
    if isinstance(module, mvlt.MVLTMLMHead):
        return "MLM head"
    if isinstance(module, mvlt.MVLTClassificationHead):
        return "ITM head"
    if isinstance(module, mvlt.MVLTModel):
        return "encoder"
    if isinstance(module, mvlt.MVLTForPreTraining):
        return "pre-training glue"
    return None


def refine_group(group: str, top_op: str) -> str:
    """Split a module that does several things by the op right below it."""
    if group == "attention":
        if any(op in top_op for op in SDPA_OPS):
            return "attention: SDPA"
        return "attention: text/vision split, cat, reshapes"
    if group == "stage":
        return "stage: cat/split of the joint sequence"
    if group == "encoder":
        if top_op in PAD_OPS:
            return "encoder: attention-bias padding"
        return "encoder: input checks, image masking (eq. 3), bias"
    if group == "pre-training glue":
        return "pre-training glue: losses, sparse-MLM gather, ITM mining"
    return group


class ProfileLabels:
    """Forward hooks that open a `record_function` range per labelled module call and per encoder pass."""

    def __init__(self, model):
        from fashionvl.modeling.modeling_mvlt import MVLTModel

        self.handles, self.open_ranges, self.joint_passes = [], [], 0
        for name, module in model.named_modules():
            group = module_group(module, name)
            if group is None:
                continue
            label = LABEL_PREFIX + group
            if isinstance(module, MVLTModel):
                self.handles.append(module.register_forward_pre_hook(self._open_pass, with_kwargs=True))
            self.handles.append(module.register_forward_pre_hook(lambda *_, label=label: self._open(label)))
            self.handles.append(module.register_forward_hook(lambda *_: self._close()))
            if isinstance(module, MVLTModel):
                self.handles.append(module.register_forward_hook(lambda *_: self._close()))

    def _open(self, label: str) -> None:
        scope = record_function(label)
        scope.__enter__()
        self.open_ranges.append(scope)

    def _close(self) -> None:
        self.open_ranges.pop().__exit__(None, None, None)

    def _open_pass(self, module, args, kwargs) -> None:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        pixel_values = kwargs.get("pixel_values", args[1] if len(args) > 1 else None)
        if input_ids is None or input_ids.shape[1] == 0:
            name = "ITC vision-only pass"
        elif pixel_values is None:
            name = "ITC text-only pass"
        else:
            name = "joint pass" if self.joint_passes == 0 else "mined ITM joint pass"
            self.joint_passes += 1
        self._open(PASS_PREFIX + name)

    def new_step(self) -> None:
        self.joint_passes = 0

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _attribution(event) -> tuple[str, str]:
    """(pass, group) of a forward op: the encoder pass around it and its innermost labelled module."""
    chain, node = [], event
    while node is not None:
        chain.append(node)
        node = node.cpu_parent
    group, top_op, encoder_pass = None, event.name, "outside the encoder"
    for index, node in enumerate(chain):
        if group is None and node.name.startswith(LABEL_PREFIX):
            group = node.name[len(LABEL_PREFIX):]
            top_op = chain[index - 1].name if index else event.name
        if node.name.startswith(PASS_PREFIX):
            encoder_pass = node.name[len(PASS_PREFIX):]
            break
    if group is None:
        return encoder_pass, "unlabelled"
    return encoder_pass, refine_group(group, top_op)


def _row_key(encoder_pass: str, group: str) -> str:
    # The extra encoder passes are reported whole: the question is what each pass costs.
    if encoder_pass in ("ITC vision-only pass", "ITC text-only pass", "mined ITM joint pass"):
        return f"{encoder_pass} (all modules)"
    return group


def profile_case(name: str, args: ProfileArguments) -> dict:
    from fashionvl import MVLTConfig, MVLTForPreTraining

    case = CASES[name]
    torch.manual_seed(0)
    config = MVLTConfig.from_preset(case["preset"], **RECIPES[case["recipe"]])
    model = MVLTForPreTraining(config).train()
    batch = make_batch(config, case["batch_size"], case["text_length"], "padded", torch.Generator().manual_seed(0))
    # fused AdamW, as the Trainer's default optim ("adamw_torch_fused"); the for-loop form is ~9x slower on CPU
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    labels = ProfileLabels(model)

    def step():
        labels.new_step()
        optimizer.zero_grad(set_to_none=True)
        with record_function("step: forward"):
            loss = model(**batch).loss
        with record_function("step: backward"):
            loss.backward()
        with record_function("step: optimizer"):
            optimizer.step()

    step()  # warm-up: allocations, lazy initialisation
    start, cpu_start = time.perf_counter(), time.process_time()
    with profile(activities=[ProfilerActivity.CPU]) as trace:
        step()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    labels.remove()
    events = sorted(trace.events(), key=lambda event: event.time_range.start)
    region = {}
    for event in events:
        if event.name.startswith("step: "):
            region[event.name] = event.cpu_time_total / 1e3
    forward_ms, backward_ms = defaultdict(float), defaultdict(float)
    forward_by_sequence = {}
    for event in events:
        if event.name.startswith(("step: ", LABEL_PREFIX, PASS_PREFIX)) or event.fwd_thread:
            continue
        if not _inside(event, "step: forward"):
            continue
        key = _row_key(*_attribution(event))
        forward_ms[key] += event.self_cpu_time_total / 1e3
        if event.sequence_nr >= 0:
            # Ops that create no autograd node record the next node's number too; the last op with a number is the
            # one whose node it is (events are in start order).
            forward_by_sequence[event.sequence_nr] = key
    for event in events:
        if not event.name.startswith("autograd::engine::evaluate_function") or not _inside(event, "step: backward"):
            continue
        key = forward_by_sequence.get(event.sequence_nr, "backward: gradient accumulation, engine")
        backward_ms[key] += event.cpu_time_total / 1e3
    accounted_backward = sum(backward_ms.values())
    backward_ms["backward: gradient accumulation, engine"] += max(region.get("step: backward", 0.0) - accounted_backward, 0.0)
    step_ms = sum(region.values())
    groups = sorted(set(forward_ms) | set(backward_ms), key=lambda key: -(forward_ms[key] + backward_ms[key]))
    rows = [
        {"group": key, "forward_ms": forward_ms[key], "backward_ms": backward_ms[key],
         "total_ms": forward_ms[key] + backward_ms[key], "share": (forward_ms[key] + backward_ms[key]) / step_ms}
        for key in groups
    ]
    optimizer_ms = region.get("step: optimizer", 0.0)
    rows.append({"group": "optimizer (AdamW)", "forward_ms": 0.0, "backward_ms": 0.0, "total_ms": optimizer_ms,
                 "share": optimizer_ms / step_ms})
    top_ops = sorted(
        (average for average in trace.key_averages() if not average.key.startswith(("step: ", LABEL_PREFIX, PASS_PREFIX))),
        key=lambda average: -average.self_cpu_time_total,
    )[: args.top_ops]
    return {
        "case": name,
        **case,
        "step_ms": step_ms,
        "regions_ms": region,
        "wall_seconds_profiled": wall,
        "cpu_seconds_profiled": cpu,
        "groups": rows,
        "top_ops": [
            {"op": average.key, "calls": average.count, "self_cpu_ms": average.self_cpu_time_total / 1e3,
             "share": average.self_cpu_time_total / 1e3 / step_ms}
            for average in top_ops
        ],
    }


def _inside(event, region: str) -> bool:
    node = event.cpu_parent
    while node is not None:
        if node.name == region:
            return True
        node = node.cpu_parent
    return False


def format_case(result: dict) -> str:
    lines = [
        f"### {result['case']}: {result['preset']} preset, recipe {result['recipe']}, batch {result['batch_size']}, "
        f"L = {result['text_length']} (padded captions)",
        "",
        f"Profiled step: {result['step_ms']:.0f} ms of profiler CPU time (forward "
        f"{result['regions_ms'].get('step: forward', 0):.0f}, backward {result['regions_ms'].get('step: backward', 0):.0f}, "
        f"optimizer {result['regions_ms'].get('step: optimizer', 0):.0f}); wall {result['wall_seconds_profiled']:.2f} s, "
        f"process CPU {result['cpu_seconds_profiled']:.2f} s.",
        "",
        "| group | forward ms | backward ms | total ms | share of step |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in result["groups"]:
        lines.append(f"| {row['group']} | {row['forward_ms']:.1f} | {row['backward_ms']:.1f} | {row['total_ms']:.1f} | "
                     f"{100 * row['share']:.1f} % |")
    lines += ["", "| top ops (self CPU) | calls | self ms | share of step |", "| --- | ---: | ---: | ---: |"]
    for op in result["top_ops"]:
        lines.append(f"| `{op['op']}` | {op['calls']} | {op['self_cpu_ms']:.1f} | {100 * op['share']:.1f} % |")
    return "\n".join(lines)


def main(argv=None):
    if isinstance(argv, ProfileArguments):
        args = argv
    else:
        (args,) = HfArgumentParser(ProfileArguments).parse_args_into_dataclasses(args=argv)
    unknown = [name for name in args.cases if name not in CASES]
    if unknown:
        raise ValueError(f"Unknown cases {unknown}; expected some of {list(CASES)}.")
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    results = []
    for name in args.cases:
        print(f"[profile] {name} ...", file=sys.stderr, flush=True)
        results.append(profile_case(name, args))
    load_after = os.getloadavg()
    header = (f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs; load average before {[round(v, 2) for v in load_before]}, "
              f"after {[round(v, 2) for v in load_after]}.")
    text = "\n\n".join([header] + [format_case(result) for result in results])
    print(text)
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump({"arguments": asdict(args), "header": header, "results": results}, handle, indent=2)
    with open(os.path.splitext(args.output)[0] + ".txt", "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    print(f"\nWrote {args.output}")
    return results


if __name__ == "__main__":
    main()
