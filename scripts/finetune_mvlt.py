"""Fine-tune a pre-trained MVLT: category recognition (M-CR + S-CR heads on [CLS]) or ITM retrieval.

    python scripts/finetune_mvlt.py --model_name_or_path outputs/mvlt-pretrained --task recognition \\
        --output_dir outputs/mvlt-category
    python scripts/finetune_mvlt.py --model_name_or_path outputs/mvlt-pretrained --task retrieval \\
        --output_dir outputs/mvlt-retrieval --hard_negatives true

Use the same data flags as pre-training (the processor saved with the checkpoint is reused). Every
`transformers.TrainingArguments` flag works, including torchrun / accelerate launch for several processes.
"""

import sys

from transformers import HfArgumentParser

from fashionvl.recipes.mvlt import MVLTDataArguments, MVLTFinetuningArguments, MVLTModelArguments, finetune_mvlt
from fashionvl.training import FashionTrainingArguments

DEFAULTS = dict(
    output_dir="outputs/mvlt-finetuned",
    max_steps=300,
    per_device_train_batch_size=32,
    learning_rate=1e-3,
    lr_scheduler_type="cosine",
    warmup_steps=20,
    weight_decay=1e-4,
    logging_steps=20,
    save_steps=300,
    report_to=["tensorboard"],
    remove_unused_columns=False,
    seed=0,
)


def main(argv=None):
    parser = HfArgumentParser(
        (MVLTModelArguments, MVLTDataArguments, MVLTFinetuningArguments, FashionTrainingArguments),
        description=__doc__.splitlines()[0],
    )
    parser.set_defaults(**DEFAULTS)
    model_args, data_args, finetuning_args, training_args = parser.parse_args_into_dataclasses(
        args=sys.argv[1:] if argv is None else argv
    )
    result = finetune_mvlt(model_args, data_args, finetuning_args, training_args)
    if training_args.process_index == 0:
        print(f"Fine-tuned MVLT ({finetuning_args.task}, {result.trainer.state.global_step} steps) saved to {result.output_dir}")


if __name__ == "__main__":
    main()
