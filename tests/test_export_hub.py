"""export_for_hub: a flat remote-code folder that loads with trust_remote_code=True where fashionvl is absent."""

import ast
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


# The shipped fashion-retrieval pipeline (config.json custom_pipelines), in the same import-blocked interpreter.
REMOTE_PIPELINE = REMOTE_LOADER.split("\nimport torch\n", 1)[0] + textwrap.dedent(
    """
    from transformers import pipeline

    outputs = {}
    for request in json.loads(sys.argv[1]):
        retriever = pipeline("fashion-retrieval", model=request["folder"], trust_remote_code=True)
        if request["kind"] == "m2fashion":
            ranked = retriever(request["images"][0], images=request["images"], attributes=request["attributes"], top_k=None)
        else:
            ranked = retriever(request["texts"][0], images=request["images"], top_k=None)
        outputs[request["folder"]] = {"pipeline": type(retriever).__module__, "model": type(retriever.model).__name__,
                                      "ranked": [[entry["index"], entry["score"]] for entry in ranked]}
    print("RESULT" + json.dumps(outputs))
    """
)


def run_import_blocked(script: str, requests: list, tmp_path) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", script, json.dumps(requests)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"HF_HOME": str(tmp_path / "hf"), "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.split("RESULT", 1)[1].splitlines()[0])


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
            assert not re.search(r"^\s*from\s+\.\.", source, flags=re.MULTILINE), code
            imported = {alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import) for alias in node.names}
            imported |= {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom) and not node.level}
            assert not {name for name in imported if name.split(".")[0] == "fashionvl"}, code


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
    outputs = run_import_blocked(REMOTE_LOADER, [request for _, _, request, _ in exported], tmp_path)
    for kind, folder, _, expected in exported:
        output = outputs[str(folder)]
        assert output["module"].startswith("transformers_modules."), output["module"]  # the folder's code
        assert torch.allclose(torch.tensor(output["values"]), expected.float(), atol=1e-5), kind


@pytest.mark.slow
def test_the_shipped_fashion_retrieval_pipeline_ranks_as_the_installed_one_without_fashionvl(exported, tmp_path):
    from transformers import pipeline

    requests = [request for _, _, request, _ in exported]
    outputs = run_import_blocked(REMOTE_PIPELINE, requests, tmp_path)
    for kind, folder, request, _ in exported:
        config = json.loads((folder / "config.json").read_text())
        assert config["custom_pipelines"]["fashion-retrieval"]["impl"] == "fashion_retrieval.FashionRetrievalPipeline"
        output = outputs[str(folder)]
        assert output["pipeline"].startswith("transformers_modules.") and output["pipeline"].endswith(".fashion_retrieval")
        installed = pipeline("fashion-retrieval", model=str(folder), trust_remote_code=True)  # here fashionvl is importable
        if kind == "m2fashion":
            ranked = installed(request["images"][0], images=request["images"], attributes=request["attributes"], top_k=None)
        else:
            ranked = installed(request["texts"][0], images=request["images"], top_k=None)
        assert [index for index, _ in output["ranked"]] == [entry["index"] for entry in ranked], kind
        assert torch.allclose(torch.tensor([score for _, score in output["ranked"]]),
                              torch.tensor([entry["score"] for entry in ranked]), atol=1e-5), kind
        assert output["model"] == type(installed.model).__name__


def test_model_card_names_the_class_each_auto_class_returns(exported):
    for kind, folder, _, _ in exported:
        auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
        card = (folder / "README.md").read_text()
        base_class = auto_map["AutoModel"].split(".")[-1]
        assert re.search(rf"model = AutoModel\.from_pretrained\([^)]*\)\s+# {base_class}\b", card), kind
        assert 'pipeline("fashion-retrieval"' in card and "trust_remote_code=True" in card
    mfsr_card = next(folder for kind, folder, _, _ in exported if kind == "mfsr") / "README.md"
    # the exported MFSRForRetrieval is AutoModelForPreTraining's class; AutoModel gives the dual encoder
    assert "# MFSRModel\n" in mfsr_card.read_text()
    assert "AutoModelForPreTraining.from_pretrained" in mfsr_card.read_text()


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
