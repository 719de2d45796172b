"""Your own data end to end (issue 14 §1): a folder of 12 images with a metadata.jsonl of captions and string
categories -> a few training steps of each model through its script -> `pipeline("fashion-retrieval")` over that
folder ranks it; string categories come back as the saved config's `id2label`."""

import json
import runpy
from pathlib import Path

import pytest
from PIL import Image

import fashionvl  # noqa: F401  (registers the fashion-retrieval task)
from test_data_user import CATEGORIES, write_image_folder
from transformers import pipeline

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
TINY_RUN = ["--use_cpu", "true", "--report_to", "none", "--save_strategy", "no", "--disable_tqdm", "true",
            "--per_device_train_batch_size", "4", "--logging_steps", "1"]


def run_script(name: str, argv: list[str]):
    return runpy.run_path(str(SCRIPTS / name), run_name="fashionvl_script")["main"](argv)


def folder_images(folder: Path) -> list[str]:
    return sorted(str(path) for path in folder.glob("*.png"))


def assert_ranks_the_folder(model_folder: Path, shop: Path):
    retriever = pipeline("fashion-retrieval", model=str(model_folder))
    images = folder_images(shop)
    ranked = retriever("a tops number 3", images=images, top_k=None)
    assert sorted(item["index"] for item in ranked) == list(range(len(images)))
    scores = [item["score"] for item in ranked]
    assert scores == sorted(scores, reverse=True)
    return ranked


def test_mvlt_pretrains_on_an_imagefolder_and_its_pipeline_ranks_the_folder(tmp_path):
    shop = write_image_folder(tmp_path / "shop")
    run_script("pretrain_mvlt.py", ["--dataset_name", str(shop), "--output_dir", str(tmp_path / "mvlt"),
                                    "--image_size", "32", "--max_steps", "2", "--tokenizer_vocab_size", "120", *TINY_RUN])
    config = json.loads((tmp_path / "mvlt" / "config.json").read_text())
    assert list(config["id2label"].values()) == sorted(CATEGORIES)
    assert config["label2id"] == {name: index for index, name in enumerate(sorted(CATEGORIES))}
    assert_ranks_the_folder(tmp_path / "mvlt", shop)


def test_mvlt_category_heads_save_the_string_category_names(tmp_path):
    shop = write_image_folder(tmp_path / "shop")
    common = ["--dataset_name", str(shop), "--image_size", "32", "--max_steps", "1", *TINY_RUN]
    run_script("pretrain_mvlt.py", [*common, "--output_dir", str(tmp_path / "mvlt"), "--tokenizer_vocab_size", "120"])
    run_script("finetune_mvlt.py", [*common, "--model_name_or_path", str(tmp_path / "mvlt"), "--task", "recognition",
                                    "--output_dir", str(tmp_path / "category")])
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tmp_path / "category")
    assert config.id2label == dict(enumerate(sorted(CATEGORIES)))
    assert config.num_main_categories == 3
    assert config.sub_category_names == sorted(f"{name}-{half}" for name in CATEGORIES for half in (0, 1))


def test_an_imagefolder_saved_to_disk_pretrains_mvlt_through_the_former_disk_flags(tmp_path):
    """The two failures the issue measured: `int('TOPS')` on string categories, then a caption pool without
    `product_id` (an imagefolder has none)."""
    from datasets import load_dataset

    shop = write_image_folder(tmp_path / "shop")
    load_dataset("imagefolder", data_dir=str(shop)).save_to_disk(str(tmp_path / "saved"))
    run_script("pretrain_mvlt.py", ["--data_format", "disk", "--data_path", str(tmp_path / "saved"),
                                    "--output_dir", str(tmp_path / "mvlt"), "--image_size", "32", "--max_steps", "1",
                                    "--tokenizer_vocab_size", "120", *TINY_RUN])
    assert (tmp_path / "mvlt" / "model.safetensors").is_file()


def test_mvlt_data_without_categories_trains_in_one_category(tmp_path):
    shop = tmp_path / "plain"
    shop.mkdir()
    with open(shop / "metadata.jsonl", "w") as handle:
        for number in range(8):
            Image.new("RGB", (32, 32), (number * 30, 0, 0)).save(shop / f"{number}.png")
            handle.write(json.dumps({"file_name": f"{number}.png", "text": f"red shade {number}"}) + "\n")
    run_script("pretrain_mvlt.py", ["--dataset_name", str(shop), "--caption_column", "text", "--output_dir",
                                    str(tmp_path / "mvlt"), "--image_size", "32", "--max_steps", "1",
                                    "--tokenizer_vocab_size", "100", *TINY_RUN])
    config = json.loads((tmp_path / "mvlt" / "config.json").read_text())
    assert config["id2label"] == {"0": "all"}


def test_mfsr_trains_on_an_imagefolder_and_its_pipeline_ranks_the_folder(tmp_path):
    shop = write_image_folder(tmp_path / "shop")
    run_script("train_mfsr.py", ["--dataset_name", str(shop), "--output_dir", str(tmp_path / "mfsr"), "--image_size", "32",
                                 "--min_count", "1", "--num_train_epochs", "1", *TINY_RUN])
    saved = json.loads((tmp_path / "mfsr" / "eval_results.json").read_text())
    assert saved["num_eval_images"] == 2  # 15% of 12 products held out
    assert set(saved["metrics"]) >= {"i2t", "t2i", "rsum"}
    assert_ranks_the_folder(tmp_path / "mfsr", shop)


def test_mfsr_groups_the_rows_of_one_image_and_evaluates_the_same_number_of_captions_per_image(tmp_path):
    from fashionvl.recipes.mfsr import MFSRDataArguments, load_retrieval_splits

    folder = tmp_path / "captions"
    folder.mkdir()
    rows = []
    for number in range(6):
        Image.new("RGB", (32, 32), (number * 40, 0, 0)).save(folder / f"{number}.png")
        rows += [{"file_name": f"{number}.png", "caption": f"shade {number} view {view}"} for view in range(1 + number % 3)]
    (folder / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    splits = load_retrieval_splits(MFSRDataArguments(dataset_name=str(folder), validation_split_percentage=50),
                                   splits=("train", "test"))
    assert len(splits["train"]) + len(splits["test"]) == 6  # images, not rows
    def shade(captions):
        return int(captions[0].split()[1])

    for captions in splits["train"].captions:  # training keeps every caption of the image, in row order
        assert captions == [f"shade {shade(captions)} view {view}" for view in range(1 + shade(captions) % 3)]
    fewest = min(1 + shade(captions) % 3 for captions in splits["test"].captions)
    for captions in splits["test"].captions:  # evaluation: the first k of each image, k = the fewest any image has
        assert captions == [f"shade {shade(captions)} view {view}" for view in range(fewest)]


def test_mfsr_former_karpathy_flags_are_aliases():
    from fashionvl.recipes._common import parse_script_arguments
    from fashionvl.recipes.mfsr import MFSRDataArguments

    (data_args,) = parse_script_arguments((MFSRDataArguments,), ["--data", "coco.json", "--image_root", "/data/coco"])
    assert (data_args.dataset_name, data_args.train_file, data_args.data_dir) == ("karpathy", "coco.json", "/data/coco")


def test_the_model_card_metrics_of_a_metrics_file_leave_out_chance_levels_and_protocol(tmp_path):
    from fashionvl.recipes._common import METRICS_FILE, metrics_file_in, read_metrics_file

    report = {"tir": {"R@1": 0.5}, "chance": {"tir": {"R@1": 0.01}}, "protocol": {"num_queries": 1000}, "figures": {}}
    (tmp_path / METRICS_FILE).write_text(json.dumps(report))
    assert METRICS_FILE == "eval_results.json"
    assert read_metrics_file(metrics_file_in(str(tmp_path))) == {"tir": {"R@1": 0.5}}


def test_m2fashion_trains_on_an_imagefolder_with_attributes_and_saves_the_category_names(tmp_path):
    shop = write_image_folder(tmp_path / "shop", with_attributes=True)
    run_script("train_m2fashion.py", ["--dataset_name", str(shop), "--output_dir", str(tmp_path / "m2fashion"),
                                      "--image_size", "32", "--max_steps", "2", "--known_fractions", "0", *TINY_RUN])
    config = json.loads((tmp_path / "m2fashion" / "config.json").read_text())
    assert list(config["id2label"].values()) == sorted(CATEGORIES)
    assert (tmp_path / "m2fashion" / "eval_results.json").is_file()
    retriever = pipeline("fashion-retrieval", model=str(tmp_path / "m2fashion"))
    images = folder_images(shop)
    ranked = retriever(images[0], images=images, attributes=["red"], top_k=None)
    assert sorted(item["index"] for item in ranked) == list(range(len(images)))


def test_m2fashion_former_format_flags_are_aliases():
    from fashionvl.recipes._common import parse_script_arguments
    from fashionvl.recipes.m2fashion import M2FashionDataArguments

    (data_args,) = parse_script_arguments((M2FashionDataArguments,), ["--data_format", "darn", "--data_root", "/data/darn"])
    assert (data_args.dataset_name, data_args.named_dataset, data_args.data_dir) == ("darn", "darn", "/data/darn")
