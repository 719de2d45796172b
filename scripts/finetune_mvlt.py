"""Fine-tune a pre-trained MVLT: category recognition (M-CR + S-CR heads on [CLS]) or ITM retrieval.

    python scripts/finetune_mvlt.py --model_name_or_path outputs/mvlt-pretrained --task recognition \\
        --output_dir outputs/mvlt-category
    python scripts/finetune_mvlt.py --model_name_or_path outputs/mvlt-pretrained --task retrieval \\
        --output_dir outputs/mvlt-retrieval --hard_negatives true

Use the same data flags as pre-training (the processor saved with the checkpoint is reused). Every
`transformers.TrainingArguments` flag works, including torchrun / accelerate launch for several processes.
"""

from fashionvl.recipes._common import parse_script_arguments
from fashionvl.recipes.mvlt import MVLTDataArguments, MVLTFinetuningArguments, MVLTModelArguments, TRAINING_DEFAULTS, train
from fashionvl.training import FashionTrainingArguments

# Script defaults (shown by --help); flags on the command line win.
DEFAULTS = dict(
    TRAINING_DEFAULTS,
    output_dir="outputs/mvlt-finetuned",
    max_steps=300,
    learning_rate=1e-3,
    warmup_steps=20,
    save_steps=300,
)


def main(argv=None):
    model_args, data_args, finetuning_args, training_args = parse_script_arguments(
        (MVLTModelArguments, MVLTDataArguments, MVLTFinetuningArguments, FashionTrainingArguments),
        argv, DEFAULTS, description=__doc__.splitlines()[0],
    )
    result = train(model_args, data_args, finetuning_args, training_args)
    if training_args.process_index == 0:
        print(f"Fine-tuned MVLT ({finetuning_args.task}, {result.trainer.state.global_step} steps) saved to {result.output_dir}")


if __name__ == "__main__":
    main()
