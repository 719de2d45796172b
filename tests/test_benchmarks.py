"""Smoke runs of the benchmarks (tiny settings): they run, print their table and write their JSON."""

import importlib.util
import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_benchmark(name: str):
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_two_stage_benchmark_compares_itm_only_with_itc_first_stage(tmp_path, capsys):
    bench = load_benchmark("bench_mvlt_two_stage")
    output = tmp_path / "two_stage.json"
    rows = bench.main(bench.BenchmarkArguments(gallery_sizes=[50, 200], first_stage_k=8, itm_pairs=8, pair_batch_size=8,
                                               queries=1, output=str(output)))
    assert [row["gallery_size"] for row in rows] == [50, 200]
    # ITM-only cost is linear in the gallery size (extrapolated from the measured cost per pair)
    assert rows[1]["itm_only_seconds_per_query"] == rows[0]["itm_only_seconds_per_query"] * 4
    assert "two-stage speed-up" in capsys.readouterr().out
    assert json.loads(output.read_text())["rows"][0]["gallery_size"] == 50
