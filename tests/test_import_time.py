"""``import fashionvl`` is lazy (issue 14 §4) and still registers everything: checked in fresh interpreters.

No timing assertions here (the CPUs are shared): `benchmarks/bench_import.py` measures the time. These tests check
what the import loads (``sys.modules``) and that the Auto classes and the pipeline resolve a saved checkpoint in a
process that did nothing but ``import fashionvl``.
"""

import json
import subprocess
import sys

import pytest

import fashionvl
from fashionvl.hub import save_model_without_remote_code


HEAVY_MODULES = (
    "transformers.trainer",
    "transformers.pipelines",
    "transformers.modeling_utils",
    "fashionvl.modeling.modeling_mvlt",
    "fashionvl.modeling.modeling_mfsr",
    "fashionvl.modeling.modeling_m2fashion",
    "fashionvl.training.trainer",
)


def run_fresh(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def loaded_heavy_modules(statement: str) -> list[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_import_fashionvl_loads_neither_the_trainer_nor_the_modeling_stack():
    assert loaded_heavy_modules("import fashionvl") == []


def test_import_fashionvl_imports_neither_torch_nor_transformers():
    """Registration waits for transformers' Auto modules (fashionvl.families.register_all), so the bare import
    is the standard library only."""
    code = "import json, sys\nimport fashionvl\nprint(json.dumps([m for m in ('torch', 'transformers') if m in sys.modules]))"
    assert run_fresh(code) == []


def test_registration_after_a_bare_import_warns_nothing():
    """No hook may meet a half-imported Auto module (fashionvl warns when a registration fails)."""
    completed = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c",
         "import fashionvl\nfrom transformers import AutoModel, AutoProcessor, AutoImageProcessor, pipeline\n"
         "from transformers import AutoConfig\nassert type(AutoModel.from_config(AutoConfig.for_model('mvlt'))).__name__ == 'MVLTModel'"],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "could not register" not in completed.stderr


def test_registration_does_not_depend_on_the_import_order():
    """transformers' Auto modules imported before fashionvl: the families are registered at once."""
    result = run_fresh(
        "import json\n"
        "from transformers import AutoConfig, AutoModel\n"
        "import fashionvl\n"
        "model = AutoModel.from_config(AutoConfig.for_model('mfsr'))\n"
        "print(json.dumps(type(model).__name__))"
    )
    assert result == "MFSRModel"


@pytest.mark.parametrize("model_type", ["mvlt", "mfsr", "m2fashion"])
def test_a_configuration_module_imported_first_still_registers_its_family(model_type):
    """Importing configuration_<family> first imports transformers' configuration_auto mid-way through that module
    (its hooks then find no class yet): the family is registered once the module is done."""
    result = run_fresh(
        "import json\n"
        f"import fashionvl.configs.configuration_{model_type}\n"
        "from transformers import AutoConfig, AutoModel\n"
        f"config = AutoConfig.for_model({model_type!r})\n"
        "print(json.dumps([type(config).__name__, type(AutoModel.from_config(config)).__name__]))"
    )
    assert result[0].lower().startswith(model_type) and result[1].lower().startswith(model_type)


def test_import_fashionvl_evaluation_loads_neither_the_trainer_nor_the_modeling_stack():
    assert loaded_heavy_modules("import fashionvl.evaluation") == []


def test_first_access_to_a_model_class_imports_its_modeling_module_only():
    loaded = loaded_heavy_modules("import fashionvl; fashionvl.MVLTModel")
    assert "fashionvl.modeling.modeling_mvlt" in loaded
    assert "fashionvl.modeling.modeling_mfsr" not in loaded
    assert "transformers.trainer" not in loaded


def test_every_public_name_resolves():
    for name in fashionvl.__all__:
        assert getattr(fashionvl, name) is not None, name


@pytest.mark.slow
def test_auto_classes_and_the_pipeline_resolve_a_checkpoint_after_a_bare_import(tmp_path):
    from fashionvl.processing.processing_mvlt import MVLTProcessor

    captions = ["red floral dress", "black leather jacket", "blue denim jeans"]
    processor = MVLTProcessor.from_captions(captions * 4, vocab_size=120, image_size=64, model_max_length=16)
    config = fashionvl.MVLTConfig.from_preset("tiny", vocab_size=len(processor.tokenizer), image_size=64)
    save_model_without_remote_code(fashionvl.MVLTForImageTextRetrieval(config).eval(), tmp_path)
    processor.save_pretrained(tmp_path)

    result = run_fresh(
        f"""
import json, sys
import fashionvl
loaded_by_import = [m for m in {HEAVY_MODULES!r} if m in sys.modules]
from PIL import Image
from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoProcessor, pipeline
folder = {str(tmp_path)!r}
retriever = pipeline("fashion-retrieval", model=folder)
images = [Image.new("RGB", (64, 64), colour) for colour in ("red", "black")]
results = retriever("red floral dress", images=images)
print(json.dumps({{
    "loaded_by_import": loaded_by_import,
    "config": type(AutoConfig.from_pretrained(folder)).__name__,
    "model": type(AutoModel.from_pretrained(folder)).__name__,
    "processor": type(AutoProcessor.from_pretrained(folder)).__name__,
    "image_processor": type(AutoImageProcessor.from_pretrained(folder)).__name__,
    "pipeline": type(retriever).__name__,
    "pipeline_model": type(retriever.model).__name__,
    "num_results": len(results),
    "auto_model_holds": repr(AutoModel._model_mapping[fashionvl.MVLTConfig]),
}}))
"""
    )
    assert result == {
        "loaded_by_import": [],
        "config": "MVLTConfig",
        "model": "MVLTModel",
        "processor": "MVLTProcessor",
        "image_processor": "MVLTImageProcessor",
        "pipeline": "FashionRetrievalPipeline",
        "pipeline_model": "MVLTForImageTextRetrieval",
        "num_results": 2,
        # once the modeling module is imported, the Auto mapping holds the real class, not the stand-in
        "auto_model_holds": "<class 'fashionvl.modeling.modeling_mvlt.MVLTModel'>",
    }


def test_the_task_is_registered_when_the_pipeline_module_is_imported_first():
    """Importing fashion_retrieval.py imports transformers.pipelines mid-way: the task is registered once it is done."""
    completed = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c",
         "import fashionvl\n"
         "from fashionvl.pipelines.fashion_retrieval import FashionRetrievalPipeline\n"
         "from transformers.pipelines import PIPELINE_REGISTRY\n"
         "assert PIPELINE_REGISTRY.check_task('fashion-retrieval')[1]['impl'] is FashionRetrievalPipeline"],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
