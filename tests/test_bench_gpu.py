"""benchmarks/bench_gpu.py: its analytic FLOP count agrees with torch's FlopCounterMode, and its CPU smoke run works."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from fashionvl import MVLTConfig, MVLTForPreTraining

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_bench_gpu():
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("bench_gpu", BENCHMARKS / "bench_gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gpu"] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _tiny_case(bench, recipe: str, caption_lengths: str):
    config = MVLTConfig.from_preset("tiny", **bench.RECIPES[recipe])
    model = MVLTForPreTraining(config).train()
    batch = bench.make_batch(config, 3, 16, caption_lengths, torch.Generator().manual_seed(0))
    num_masked = int((batch["mlm_labels"] != -100).sum())
    return config, model, batch, num_masked


@pytest.mark.parametrize("recipe", ["paper", "retrieval"])
def test_analytic_forward_flops_equal_flop_counter_on_tiny_config(recipe):
    bench = load_bench_gpu()
    config, model, batch, num_masked = _tiny_case(bench, recipe, "padded")
    counter = FlopCounterMode(display=False)
    # Math SDPA: FlopCounterMode has no formula for the CPU flash kernel, but counts the math path's matmuls.
    with sdpa_kernel([SDPBackend.MATH]), counter:
        model(**batch)
    analytic = sum(bench.mvlt_forward_flops(config, 3, 16, num_masked).values())
    assert analytic == counter.get_total_flops()


def test_step_flops_of_three_forwards_are_within_one_percent_of_flop_counter():
    # x3 over-counts a little: the first patch conv computes no gradient of the pixels.
    bench = load_bench_gpu()
    config, model, batch, num_masked = _tiny_case(bench, "retrieval", "full")
    counter = FlopCounterMode(display=False)
    with sdpa_kernel([SDPBackend.MATH]), counter:
        model(**batch).loss.backward()
    analytic = bench.mvlt_step_flops(config, 3, 16, num_masked)
    assert 0.99 < counter.get_total_flops() / analytic <= 1.0


def test_cpu_smoke_run_reports_kernel_memory_and_skipped_compile(tmp_path, capsys):
    bench = load_bench_gpu()
    output = tmp_path / "bench_gpu_smoke.json"
    report = bench.main(bench.BenchmarkArguments(device="cpu", smoke=True, output=str(output)))
    eager, compiled = report["rows"]
    assert (eager["compile"], eager["batch_size"], eager["dtype"]) == ("off", 2, "fp32")
    assert eager["samples_per_second"] > 0 and eager["peak_memory_mib"] > 0
    assert eager["sdpa_kernels"] and eager["flop_counter_step_flops"] > 0
    assert compiled["compile"] == "on" and "smoke run" in compiled["skipped"]
    forced = {(result["backend"], result["caption_lengths"]): result for result in report["sdpa_sweep"]}
    assert "samples_per_second" in forced["math", "padded"]
    assert "unavailable" in forced["memory-efficient", "padded"]  # CUDA-only kernel
    assert report["load_average_before"] is not None and report["device_name"].startswith("CPU")
    assert "| recipe | batch | compile |" in capsys.readouterr().out
    assert json.loads(output.read_text())["rows"][0]["batch_size"] == 2
