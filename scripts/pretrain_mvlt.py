"""Pre-train MVLT with masked image reconstruction, image-text matching and masked language modelling (eq. 8).

Defaults: the bundled synthetic catalog, the tiny preset at 64 px, CPU-friendly. Examples:

    python scripts/pretrain_mvlt.py --output_dir outputs/mvlt-pretrained --num_products 4000 --max_steps 2000
    python scripts/pretrain_mvlt.py --dataset_name my_shop/ --output_dir outputs/mvlt-shop   # imagefolder + metadata.jsonl
    python scripts/pretrain_mvlt.py --dataset_name fashiongen --train_file fashiongen_256_256_train.h5 \\
        --validation_file fashiongen_256_256_validation.h5 --preset paper --image_size 256 --max_text_length 128 \\
        --tokenizer_vocab_size 8000 --pvt_name_or_path Zetatech/pvt-tiny-224 --bf16 true
    torchrun --nproc_per_node 2 scripts/pretrain_mvlt.py --ddp_backend gloo      # 2 CPU processes
    torchrun --nproc_per_node 8 scripts/pretrain_mvlt.py --preset paper ...      # 8 GPUs (NCCL)
    accelerate launch --num_processes 2 scripts/pretrain_mvlt.py ...

Your own data: `--dataset_name` a folder (imagefolder with metadata.jsonl / .csv: file_name, caption, and optional
category / subcategory / product_id columns, string labels allowed), a save_to_disk folder or a Hub dataset, or
`--train_file` / `--validation_file` (CSV / JSON lines with an image path column); the column options are those of
transformers' run_clip.py (`--image_column`, `--caption_column`, `--category_column`, ...).
Every `transformers.TrainingArguments` flag works (mixed precision, --deepspeed, --fsdp, --gradient_accumulation_steps,
--resume_from_checkpoint, ...). Writes the model and the processor to --output_dir; TensorBoard logs every loss part
(mir_loss, itm_loss, mlm_loss) under --output_dir/runs.
"""

from fashionvl.recipes._common import parse_script_arguments
from fashionvl.recipes.mvlt import MVLTDataArguments, MVLTModelArguments, MVLTPretrainingArguments, TRAINING_DEFAULTS, train
from fashionvl.training import FashionTrainingArguments

# Script defaults (shown by --help); flags on the command line win.
DEFAULTS = dict(
    TRAINING_DEFAULTS,
    output_dir="outputs/mvlt-pretrained",
    max_steps=1000,
    learning_rate=2e-3,
    warmup_steps=50,
    save_steps=500,
)


def main(argv=None):
    model_args, data_args, pretraining_args, training_args = parse_script_arguments(
        (MVLTModelArguments, MVLTDataArguments, MVLTPretrainingArguments, FashionTrainingArguments),
        argv, DEFAULTS, description=__doc__.splitlines()[0],
    )
    result = train(model_args, data_args, pretraining_args, training_args)
    if training_args.process_index == 0:
        print(f"Pre-trained MVLT ({result.trainer.state.global_step} steps) saved to {result.output_dir}")


if __name__ == "__main__":
    main()
