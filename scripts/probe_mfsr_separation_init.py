"""How training moved the separation layers of finished mFSR runs (why the separation init matters).

    python scripts/probe_mfsr_separation_init.py --runs outputs/exp/sep_normal/separation_only/seed0 \
        outputs/exp/sep_orth/separation_only/seed0 --output docs/results/mfsr_separation_init_probe.json

Each run folder holds a model trained by `scripts/ablate_mfsr.py` (its config, seed in `eval_results.json`'s
folder name `seed<k>`); its initial model is rebuilt from the same config and seed, and
`fashionvl.evaluation.mfsr_diagnostics.separation_weight_drift` compares the two. Writes one JSON entry per run
with the drift report and the run's rsum.
"""

import argparse
import json
import re

import torch

from fashionvl.configs.configuration_mfsr import MFSRConfig
from fashionvl.evaluation.mfsr_diagnostics import separation_weight_drift
from fashionvl.modeling.modeling_mfsr import MFSRForRetrieval
from fashionvl.recipes._common import load_float32_model, metrics_file_in


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True, help="Run folders (…/seed<k>) of ablate_mfsr.py.")
    parser.add_argument("--output", default=None, help="JSON file for the reports.")
    args = parser.parse_args(argv)
    reports = {}
    for run_dir in args.runs:
        seed = int(re.search(r"seed(\d+)", run_dir).group(1))
        torch.manual_seed(seed)  # the recipe seeds the same way before building the model
        initial = MFSRForRetrieval(MFSRConfig.from_pretrained(run_dir))
        trained = load_float32_model(MFSRForRetrieval, run_dir)
        with open(metrics_file_in(run_dir), encoding="utf-8") as handle:
            rsum = json.load(handle)["metrics"]["rsum"]
        reports[run_dir] = {"separation_init": trained.config.separation_init, "rsum": rsum,
                            **separation_weight_drift(initial, trained)}
        print(run_dir, json.dumps(reports[run_dir]))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump(reports, handle, indent=2)


if __name__ == "__main__":
    main()
