"""Import time of fashionvl next to ``import transformers`` (issue 14 §4), measured in the same run.

Each statement runs in a fresh ``python -c`` subprocess (cold interpreter, warm OS file cache after the first
repeat) `--repeats` times; the table gives the median wall time of the statement itself (``time.perf_counter``
around it inside the subprocess, interpreter start-up excluded) and its ratio to the median of
``import transformers``. Statements:

- ``import transformers``: the reference;
- ``import fashionvl``: installs the registration hooks only (configs, model stand-ins, processors and the task are
  registered when transformers' Auto modules are imported);
- ``import fashionvl.evaluation``: the metrics (torch, numpy), without the modeling stack;
- ``import fashionvl; fashionvl.MVLTModel``: the first access to a model class (imports the modeling stack);
- ``from transformers import AutoModel`` with and without ``import fashionvl`` first: what registration adds to
  the import a user makes anyway.

The machine's load average is recorded before and after (other processes share the CPUs). Prints a Markdown table
and writes JSON to `--output`.

    python benchmarks/bench_import.py
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field

STATEMENTS = {
    "import transformers": "import transformers",
    "import fashionvl": "import fashionvl",
    "import fashionvl.evaluation": "import fashionvl.evaluation",
    "import fashionvl; fashionvl.MVLTModel": "import fashionvl; fashionvl.MVLTModel",
    "from transformers import AutoModel": "from transformers import AutoModel",
    "import fashionvl; from transformers import AutoModel": "import fashionvl; from transformers import AutoModel",
}
REFERENCE = "import transformers"
TIMER = "import time; _start = time.perf_counter(); {statement}; print(time.perf_counter() - _start)"


@dataclass
class BenchmarkArguments:
    repeats: int = field(default=5, metadata={"help": "fresh subprocesses per statement (median)"})
    output: str = field(default="benchmarks/results/bench_import.json", metadata={"help": "JSON output"})


def time_statement(statement: str) -> float:
    """Seconds the statement takes in a fresh interpreter (start-up excluded)."""
    completed = subprocess.run(
        [sys.executable, "-c", TIMER.format(statement=statement)], capture_output=True, text=True, check=True
    )
    return float(completed.stdout.strip().splitlines()[-1])


def main(args: BenchmarkArguments) -> list[dict]:
    load_before = os.getloadavg()
    times = {name: [] for name in STATEMENTS}
    for _ in range(args.repeats):  # interleaved, so a load change hits every statement alike
        for name, statement in STATEMENTS.items():
            times[name].append(time_statement(statement))
    load_after = os.getloadavg()
    reference = statistics.median(times[REFERENCE])
    rows = [
        {
            "statement": name,
            "median_seconds": statistics.median(samples),
            "min_seconds": min(samples),
            "ratio_to_transformers": statistics.median(samples) / reference,
            "samples": samples,
        }
        for name, samples in times.items()
    ]
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} CPUs); "
          f"{args.repeats} fresh subprocesses per statement\n")
    print("| statement | median s | min s | x `import transformers` |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| `{row['statement']}` | {row['median_seconds']:.2f} | {row['min_seconds']:.2f} | "
              f"{row['ratio_to_transformers']:.2f} |")
    result = {
        "arguments": asdict(args),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "rows": rows,
    }
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    return rows


if __name__ == "__main__":
    from transformers import HfArgumentParser

    main(HfArgumentParser(BenchmarkArguments).parse_args_into_dataclasses()[0])
