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


def test_gallery_scale_benchmark_reports_recall_against_exact_search(tmp_path, capsys):
    import pytest

    pytest.importorskip("faiss")
    bench = load_benchmark("bench_gallery_scale")
    output = tmp_path / "scale.json"
    result = bench.main(bench.ScaleArguments(size=3000, dim=16, num_queries=16, latency_queries=2, num_clusters=30,
                                            nlist=30, nprobes=[30], ef_searches=[64], flat_size=500,
                                            output=str(output)))
    rows = {(row["gallery"], row["method"]): row for row in result["scale"]}
    # exact search is the baseline; visiting every IVF cell is exact as well
    assert rows[("low_rank", "exact (torch matmul + topk)")]["recall@k"] == 1.0
    assert rows[("uniform", "FAISS IVF-Flat nlist=30 nprobe=30")]["recall@k"] >= 0.99
    assert {row["threads"] for row in result["flat_vs_torch"]} >= {1}
    assert "recall@10 vs exact" in capsys.readouterr().out
    assert json.loads(output.read_text())["environment"]["load_average_before"]


def test_data_path_benchmark_reports_each_component_as_a_share_of_the_step(tmp_path, capsys):
    bench = load_benchmark("bench_data_path")
    output = tmp_path / "data_path.json"
    result = bench.main(bench.DataPathArguments(preset="tiny", image_size=32, batch_size=2, repeats=1,
                                               output=str(output)))
    assert set(result["components_ms"]) >= {"image processing", "tokenisation", "MLM masking", "collator (all but decode)"}
    assert 0 < result["data_path_share"] < result["data_path_with_decode_share"]
    assert "share of the step" in capsys.readouterr().out
    assert json.loads(output.read_text())["step_ms"] > 0


def test_two_stage_pipeline_benchmark_compares_against_a_raw_forward(tmp_path, capsys):
    bench = load_benchmark("bench_two_stage_pipeline")
    output = tmp_path / "two_stage_pipeline.json"
    result = bench.main(bench.TwoStageArguments(gallery_size=12, first_stage_k=6, batch_size=3, queries=1, rounds=1,
                                               image_size=32, output=str(output)))
    rows = {row["row"]: row for row in result["rows"]}
    assert rows["raw batched get_itm_logits (baseline)"]["ratio_to_raw"] == 1.0
    assert rows["pipeline two-stage, warm cache"]["ms_per_pair"] > 0
    assert "x raw forward" in capsys.readouterr().out
    assert json.loads(output.read_text())["environment"]["cpu_count"]


def test_m2fashion_step_benchmark_compares_per_group_with_the_shared_head(tmp_path, capsys):
    bench = load_benchmark("bench_m2fashion_step")
    output = tmp_path / "m2fashion_step.json"
    bench.main(["--rows", "shared, tiny 64 px", "per-group, tiny 64 px", "--repeats", "1", "--warmup", "0",
                "--output", str(output)])
    rows = {row["name"]: row for row in json.loads(output.read_text())["rows"]}
    assert rows["shared, tiny 64 px"]["time_ratio_vs_shared"] is None  # the reference
    assert rows["per-group, tiny 64 px"]["time_ratio_vs_shared"] > 0
    assert rows["per-group, tiny 64 px"]["parameters"] == rows["shared, tiny 64 px"]["parameters"] + 7 * 32  # G x d
    assert "time x shared" in capsys.readouterr().out
