"""Evaluate MVLT with the paper's protocols (Table 2): TIR / ITR, M-CR / S-CR, and masked image generation.

TIR / ITR: 1 positive + 100 negatives from the positive's sub-category, ranked by the ITM match probability,
1,000 seeded queries per draw, 5 draws averaged (R@1/5/10, SumR); --full_gallery also ranks against the whole
split. Recognition: accuracy and macro-F1 (SumC). MIG: originals / masked inputs / reconstructions as a PNG.

    python scripts/evaluate_mvlt.py --model_name_or_path outputs/mvlt-pretrained \\
        --recognition_model_name_or_path outputs/mvlt-category --output_dir outputs/mvlt-eval

Writes eval_results.json (with chance levels), results.md, reconstruction_grid.png and retrieval_examples.png.
"""

from fashionvl.recipes._common import parse_script_arguments
from fashionvl.recipes.mvlt import MVLTDataArguments, MVLTEvaluationArguments, evaluate


def main(argv=None):
    eval_args, data_args = parse_script_arguments(
        (MVLTEvaluationArguments, MVLTDataArguments), argv, description=__doc__.splitlines()[0]
    )
    report = evaluate(eval_args, data_args)
    print(report["table"])
    print(f"Metrics and figures written to {eval_args.output_dir}")


if __name__ == "__main__":
    main()
