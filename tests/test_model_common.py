"""One model contract, parametrised over every model class of the family table (issue 13 §5).

Each class is built from its tiny preset and checked for what a transformers user relies on: exact save/load in
safetensors (tied weights stay tied), Auto resolution as the family table says, `return_dict=False` tuples,
`main_input_name`, gradient checkpointing (the same gradients, or a clear refusal), `_no_split_modules`, batch
invariance, meta-device construction and a bfloat16 round trip. The families' own test files keep the behaviour
tests (the papers' equations); transformers' own common tests run in tests/test_modeling_common_hf.py.
"""

import inspect
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
import transformers

import fashionvl
from fashionvl.families import FAMILIES
from fashionvl.pipelines import AutoModelForFashionRetrieval


@dataclass
class ModelCase:
    model_class: type
    make_config: Callable
    make_inputs: Callable  # batch_size -> dict of inputs
    per_row_output: str  # an output field computed row by row (for batch invariance)
    loss_inputs: Callable | None = None  # batch_size -> extra inputs that make the class compute its loss

    @property
    def id(self) -> str:
        return self.model_class.__name__


def mvlt_inputs(batch_size):
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(5, 50, (batch_size, 6), generator=generator)
    input_ids[:, 0] = 1
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
            "pixel_values": torch.randn(batch_size, 3, 64, 64, generator=generator)}


def mvlt_pretraining_inputs(batch_size):
    inputs = mvlt_inputs(batch_size)
    bool_masked_pos = torch.zeros(batch_size, 16, dtype=torch.bool)
    bool_masked_pos[:, ::2] = True  # 64 px images, 16 px units: half of the 16 units masked
    return {**inputs, "bool_masked_pos": bool_masked_pos}


def mvlt_pretraining_labels(batch_size):
    mlm_labels = torch.full((batch_size, 6), -100)
    mlm_labels[:, 2] = 7
    return {"mlm_labels": mlm_labels, "itm_labels": torch.arange(batch_size) % 2}


def mfsr_inputs(batch_size):
    generator = torch.Generator().manual_seed(1)
    return {"pixel_values": torch.randn(batch_size, 3, 64, 64, generator=generator),
            "input_ids": torch.tensor([[1, 5, 6, 7, 2]] * batch_size),
            "attention_mask": torch.ones(batch_size, 5, dtype=torch.long)}


def m2fashion_inputs(batch_size):
    generator = torch.Generator().manual_seed(1)
    num_attributes = fashionvl.M2FashionConfig.from_preset("tiny").num_attributes
    return {"pixel_values": torch.randn(batch_size, 3, 64, 64, generator=generator),
            "attribute_states": torch.zeros(batch_size, num_attributes)}


def mvlt_config():
    return fashionvl.MVLTConfig.from_preset("tiny", vocab_size=50, num_main_categories=4, num_sub_categories=6,
                                            initializer_range=0.02, itc_loss_weight=1.0)


CASES = [
    ModelCase(fashionvl.MVLTModel, mvlt_config, mvlt_inputs, "last_hidden_state"),
    ModelCase(fashionvl.MVLTForPreTraining, mvlt_config, mvlt_pretraining_inputs, "itm_logits", mvlt_pretraining_labels),
    ModelCase(fashionvl.MVLTForImageTextRetrieval, mvlt_config, mvlt_inputs, "logits",
              lambda batch_size: {"labels": torch.arange(batch_size) % 2}),
    ModelCase(fashionvl.MVLTForCategoryRecognition, mvlt_config, mvlt_inputs, "main_category_logits",
              lambda batch_size: {"main_category_labels": torch.zeros(batch_size, dtype=torch.long),
                                  "sub_category_labels": torch.ones(batch_size, dtype=torch.long)}),
    ModelCase(fashionvl.MVLTForZeroShotImageClassification, mvlt_config, mvlt_inputs, "image_embeds"),
    ModelCase(fashionvl.MFSRModel, lambda: fashionvl.MFSRConfig.from_preset("tiny", vocab_size=30), mfsr_inputs,
              "image_embeds"),
    ModelCase(fashionvl.MFSRForZeroShotImageClassification, lambda: fashionvl.MFSRConfig.from_preset("tiny", vocab_size=30),
              mfsr_inputs, "image_embeds"),
    ModelCase(fashionvl.MFSRForRetrieval, lambda: fashionvl.MFSRConfig.from_preset("tiny", vocab_size=30), mfsr_inputs,
              "image_embeds"),
    ModelCase(fashionvl.M2FashionModel, lambda: fashionvl.M2FashionConfig.from_preset("tiny"), m2fashion_inputs,
              "attribute_aware_embeds"),
    ModelCase(fashionvl.M2FashionForAttributePrediction, lambda: fashionvl.M2FashionConfig.from_preset("tiny"),
              m2fashion_inputs, "logits"),
]


def family_of(model_class: type):
    return next(family for family in FAMILIES.values() if model_class.__name__ in family.model_classes)


def auto_class(name: str):
    return AutoModelForFashionRetrieval if name == "AutoModelForFashionRetrieval" else getattr(transformers, name)


def tensors(output) -> list[torch.Tensor]:
    return [value for value in output.to_tuple() if isinstance(value, torch.Tensor)]


def build(case: ModelCase):
    torch.manual_seed(0)
    return case.model_class(case.make_config()).eval()


@pytest.fixture(params=CASES, ids=lambda case: case.id)
def case(request):
    return request.param


def test_every_model_class_of_the_family_table_has_a_case():
    assert {case.id for case in CASES} == {name for family in FAMILIES.values() for name in family.model_classes}


def test_save_and_load_give_the_same_weights_and_outputs(case, tmp_path):
    model = build(case)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and not list(tmp_path.glob("*.bin"))
    loaded = case.model_class.from_pretrained(tmp_path, dtype=torch.float32).eval()
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    if getattr(model.config, "tie_word_embeddings", False) and model.get_output_embeddings() is not None:
        assert loaded.get_output_embeddings().weight is loaded.get_input_embeddings().weight
    inputs = case.make_inputs(2)
    with torch.no_grad():
        for mine, reloaded in zip(tensors(model(**inputs)), tensors(loaded(**inputs)), strict=True):
            assert torch.equal(reloaded, mine)


def test_auto_classes_resolve_a_saved_checkpoint_as_the_family_table_says(case, tmp_path):
    auto_names = [name for name, class_name in family_of(case.model_class).auto_models.items()
                  if class_name == case.model_class.__name__]
    if not auto_names:
        pytest.skip(f"no Auto class serves {case.id} (the family table says why); it loads with its own from_pretrained")
    build(case).save_pretrained(tmp_path)
    assert isinstance(transformers.AutoConfig.from_pretrained(tmp_path), case.model_class.config_class)
    for name in auto_names:
        assert type(auto_class(name).from_pretrained(tmp_path)) is case.model_class, name


def test_return_dict_false_gives_a_tuple_of_the_same_tensors(case):
    model = build(case)
    inputs = case.make_inputs(2)
    with torch.no_grad():
        as_dict = model(**inputs)
        as_tuple = model(**inputs, return_dict=False)
    assert isinstance(as_tuple, tuple)
    expected = [value for value in as_dict.to_tuple() if isinstance(value, torch.Tensor)]
    found = [value for value in as_tuple if isinstance(value, torch.Tensor)]
    assert len(found) == len(expected)
    for mine, other in zip(found, expected):
        torch.testing.assert_close(mine, other, rtol=0, atol=0)


def test_main_input_name_is_the_first_forward_argument(case):
    first = list(inspect.signature(case.model_class.forward).parameters)[1]
    assert case.model_class.main_input_name == first


def test_no_split_modules_name_module_classes_of_the_family(case):
    """Every listed name is a module class built by the family's models (some, like mFSR's GAN, only exist in the
    head classes), and at least one of them is in this model."""
    present = {type(module).__name__ for module in build(case).modules()}
    family = family_of(case.model_class)
    built = {type(module).__name__ for other in CASES if other.model_class.__name__ in family.model_classes
             for module in build(other).modules()}
    assert case.model_class._no_split_modules and set(case.model_class._no_split_modules) <= built
    assert set(case.model_class._no_split_modules) & present


def test_gradient_checkpointing_gives_the_same_gradients_or_is_refused(case):
    if not case.model_class.supports_gradient_checkpointing:
        with pytest.raises(ValueError, match="does not support activation checkpointing"):
            build(case).activation_checkpointing_enable()
        return
    inputs = {**case.make_inputs(2), **(case.loss_inputs(2) if case.loss_inputs else {})}

    def gradients(checkpointing: bool) -> dict[str, torch.Tensor]:
        model = build(case).train()
        if checkpointing:
            model.activation_checkpointing_enable()
            assert model.is_activation_checkpointing
        torch.manual_seed(1)
        output = model(**inputs)
        (output.loss if case.loss_inputs else getattr(output, case.per_row_output).sum()).backward()
        return {name: p.grad for name, p in model.named_parameters() if p.grad is not None}

    plain, checkpointed = gradients(False), gradients(True)
    assert plain.keys() == checkpointed.keys() and plain
    for name, gradient in plain.items():
        assert torch.allclose(checkpointed[name], gradient, atol=1e-6), name


def test_a_row_gives_the_same_output_alone_and_in_a_batch(case):
    model = build(case)
    inputs = case.make_inputs(3)
    with torch.no_grad():
        batched = model(**inputs)
        alone = model(**{name: value[1:2] for name, value in inputs.items()})
    # outputs computed row by row: one row per input row, the same shape alone (not e.g. a batch x batch similarity)
    per_row = [name for name, value in batched.items() if isinstance(value, torch.Tensor) and value.dim()
               and value.shape[0] == 3 and alone[name].shape == value[1:2].shape]
    assert case.per_row_output in per_row
    for name in per_row:
        assert torch.allclose(alone[name], batched[name][1:2], atol=1e-5), name


def test_the_model_can_be_built_on_the_meta_device(case):
    with torch.device("meta"):
        model = case.model_class(case.make_config())
    assert all(parameter.device.type == "meta" for parameter in model.parameters())


def test_bfloat16_weights_round_trip(case, tmp_path):
    model = build(case).to(torch.bfloat16)
    model.save_pretrained(tmp_path)
    loaded = case.model_class.from_pretrained(tmp_path, dtype=torch.bfloat16)
    assert all(parameter.dtype == torch.bfloat16 for parameter in loaded.parameters())
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
