"""What every CPU benchmark records next to its numbers: the machine, its load before and after, and the JSON file."""

import json
import os
import platform

import torch


def machine_environment(load_before, **extra) -> dict:
    """Python / torch versions, CPU count, torch threads and the 1/5/15-minute load average before and now."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        **extra,
    }


def write_results(path: str, result: dict) -> dict:
    """Print the load line, write ``result`` as JSON to ``path`` (folders made), and return it."""
    environment = result.get("environment", {})
    print(f"\nload average before {environment.get('load_average_before')}, after "
          f"{environment.get('load_average_after')}; {environment.get('cpu_count')} CPUs")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(result, handle, indent=2)
    print(f"results written to {path}")
    return result
