"""export_for_hub: a flat remote-code folder that loads with trust_remote_code=True where fashionvl is absent."""

import json
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from test_pipeline_retrieval import (
    CAPTIONS,
    build_m2fashion_checkpoint,
    build_mfsr_checkpoint,
    build_mvlt_checkpoint,
    make_images,
)

from fashionvl.hub import collect_remote_code_files, export_for_hub, flatten_relative_imports


CONFIG_CLASSES = {"mfsr": "MFSRConfig", "m2fashion": "M2FashionConfig", "mvlt": "MVLTConfig"}

# Runs in a fresh interpreter in which `import fashionvl` fails, as on a machine without the package.
REMOTE_LOADER = textwrap.dedent(
    """
    import json, sys

    class BlockFashionvl:
        def find_spec(self, name, path=None, target=None):
            if name == "fashionvl" or name.startswith("fashionvl."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, BlockFashionvl())
    try:
        import fashionvl  # noqa: F401
        raise SystemExit("fashionvl must not be importable here")
    except ModuleNotFoundError:
        pass

    import torch
    from PIL import Image
    from transformers import AutoModel, AutoProcessor

    requests = json.loads(sys.argv[1])
    outputs = {}
    for request in requests:
        folder = request["folder"]
        model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
        images = [Image.open(path).convert("RGB") for path in request["images"]]
        with torch.no_grad():
            if request["kind"] == "mfsr":
                encoded = processor(images=images, text=request["texts"], return_tensors="pt")
                result = torch.cat([
                    model.get_image_features(encoded["pixel_values"]),
                    model.get_text_features(encoded["input_ids"], encoded["attention_mask"]),
                ])
            elif request["kind"] == "m2fashion":
                encoded = processor(images=images, attributes=[request["attributes"]] * len(images), return_tensors="pt")
                result = model(**encoded).attribute_aware_embeds
            else:
                encoded = processor(text=request["texts"], images=images, padding=True, return_tensors="pt")
                result = model(**encoded).scores
        outputs[folder] = {"class": type(model).__name__, "module": type(model).__module__, "values": result.tolist()}
    print("RESULT" + json.dumps(outputs))
    """
)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export_images")
    paths = []
    for index, image in enumerate(make_images(3)):
        paths.append(str(folder / f"item_{index}.png"))
        image.save(paths[-1])
    return paths


def _exports(tmp_path_factory, image_files):
    """(kind, exported folder, request for the remote loader, expected values computed here with fashionvl)."""
    from PIL import Image

    images = [Image.open(path).convert("RGB") for path in image_files]
    exports = []
    builders = {"mfsr": build_mfsr_checkpoint, "m2fashion": build_m2fashion_checkpoint, "mvlt": build_mvlt_checkpoint}
    for kind, builder in builders.items():
        source = tmp_path_factory.mktemp(f"{kind}_source")
        try:
            model, processor = builder(source)
        except pytest.skip.Exception:
            continue
        folder = tmp_path_factory.mktemp(f"{kind}_export") / f"{kind}-tiny"
        export_for_hub(model, processor, folder, metrics={"R@1": 0.25, "t2i": {"R@5": 40.0}}, dataset_name="synthetic")
        request = {"kind": kind, "folder": str(folder), "images": image_files, "texts": CAPTIONS[: len(images)]}
        with torch.no_grad():
            if kind == "mfsr":
                encoded = processor(images=images, text=request["texts"], return_tensors="pt")
                expected = torch.cat([
                    model.get_image_features(encoded["pixel_values"]),
                    model.get_text_features(encoded["input_ids"], encoded["attention_mask"]),
                ])
            elif kind == "m2fashion":
                request["attributes"] = ["attribute_2", "attribute_5"]
                encoded = processor(images=images, attributes=[request["attributes"]] * len(images), return_tensors="pt")
                expected = model(**encoded).attribute_aware_embeds
            else:
                encoded = processor(text=request["texts"], images=images, padding=True, return_tensors="pt")
                expected = model(**encoded).scores
        exports.append((kind, folder, request, expected))
    return exports


@pytest.fixture(scope="module")
def exported(tmp_path_factory, image_files):
    return _exports(tmp_path_factory, image_files)


def test_export_writes_weights_config_with_auto_map_processor_card_and_flat_code(exported):
    for kind, folder, _, _ in exported:
        names = {path.name for path in folder.iterdir()}
        assert {"config.json", "model.safetensors", "README.md", "processor_config.json"} <= names
        assert not any(name.endswith(".bin") for name in names)
        assert {f"configuration_{kind}.py", f"modeling_{kind}.py", "losses.py", "presets.py"} <= names
        auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
        assert auto_map["AutoConfig"] == f"configuration_{kind}.{CONFIG_CLASSES[kind]}"
        assert auto_map["AutoModel"].startswith(f"modeling_{kind}.")
        assert "AutoProcessor" in json.loads((folder / "processor_config.json").read_text())["auto_map"]
        for code in folder.glob("*.py"):
            source = code.read_text()
            assert "from .." not in source, code
            assert not re.search(r"^\s*(from|import)\s+fashionvl\b", source, flags=re.MULTILINE), code


def test_model_card_holds_model_index_metadata_with_the_metrics(exported):
    from huggingface_hub import ModelCard

    _, folder, _, _ = exported[0]
    card = ModelCard.load(folder / "README.md")
    results = card.data.eval_results
    assert {(result.metric_name, result.metric_value) for result in results} == {("R@1", 0.25), ("t2i/R@5", 40.0)}
    assert results[0].dataset_name == "synthetic"
    assert "## Intended use" in card.text and "trust_remote_code=True" in card.text


@pytest.mark.slow
def test_exported_folders_load_without_fashionvl_and_give_the_same_outputs(exported, tmp_path):
    requests = [request for _, _, request, _ in exported]
    completed = subprocess.run(
        [sys.executable, "-c", REMOTE_LOADER, json.dumps(requests)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"HF_HOME": str(tmp_path / "hf"), "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    outputs = json.loads(completed.stdout.split("RESULT", 1)[1])
    for kind, folder, _, expected in exported:
        output = outputs[str(folder)]
        assert output["module"].startswith("transformers_modules."), output["module"]  # the folder's code
        assert torch.allclose(torch.tensor(output["values"]), expected.float(), atol=1e-5), kind


def test_flatten_relative_imports_rewrites_package_paths_to_the_same_directory():
    source = "from ..configs.configuration_mvlt import MVLTConfig\nfrom .losses import a, b\n    from .masking import M\n"
    assert flatten_relative_imports(source) == (
        "from .configuration_mvlt import MVLTConfig\nfrom .losses import a, b\n    from .masking import M\n"
    )


def test_remote_code_collection_rejects_absolute_fashionvl_imports(tmp_path):
    module = tmp_path / "modeling_bad.py"
    module.write_text("import torch\nfrom fashionvl.evaluation import recall_at_k\n")
    with pytest.raises(ValueError, match="imports fashionvl absolutely"):
        collect_remote_code_files(module)


def test_export_rejects_models_that_are_not_fashionvl_models(tmp_path):
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8))
    with pytest.raises(ValueError, match="exports fashionvl models"):
        export_for_hub(model, None, tmp_path / "bert")


def test_load_checkpoint_uses_the_saved_architecture_or_the_requested_class(tmp_path):
    from fashionvl.hub import load_checkpoint

    build_mfsr_checkpoint(tmp_path)
    model, processor = load_checkpoint(tmp_path)
    assert type(model).__name__ == "MFSRForRetrieval" and not model.training
    assert type(processor).__name__ == "MFSRProcessor"
    assert type(load_checkpoint(tmp_path, model_class="MFSRModel")[0]).__name__ == "MFSRModel"
    with pytest.raises(ValueError, match="NoSuchModel"):
        load_checkpoint(tmp_path, model_class="NoSuchModel")


def test_export_requires_the_processor(tmp_path):
    model = build_m2fashion_checkpoint(tmp_path / "source")[0]
    with pytest.raises(ValueError, match="needs the model's processor"):
        export_for_hub(model, None, tmp_path / "export")
