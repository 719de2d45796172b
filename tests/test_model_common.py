"""One model contract, parametrised over every model class of the three families (issue 13 §5, first part).

Each class is built from its tiny preset and checked for what a transformers user relies on: exact save/load,
Auto resolution of base checkpoints, `return_dict=False` tuples, `main_input_name`, `_no_split_modules`, batch
invariance, meta-device construction and a bfloat16 round trip.
"""

import inspect
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
from transformers import AutoModel

import fashionvl


@dataclass
class ModelCase:
    model_class: type
    make_config: Callable
    make_inputs: Callable  # batch_size -> dict of inputs
    per_row_output: str  # an output field computed row by row (for batch invariance)

    @property
    def id(self) -> str:
        return self.model_class.__name__


def mvlt_inputs(batch_size):
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(5, 50, (batch_size, 6), generator=generator)
    input_ids[:, 0] = 1
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
            "pixel_values": torch.randn(batch_size, 3, 64, 64, generator=generator)}


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
    ModelCase(fashionvl.MVLTForPreTraining, mvlt_config, mvlt_inputs, "itm_logits"),
    ModelCase(fashionvl.MVLTForImageTextRetrieval, mvlt_config, mvlt_inputs, "logits"),
    ModelCase(fashionvl.MVLTForCategoryRecognition, mvlt_config, mvlt_inputs, "main_category_logits"),
    ModelCase(fashionvl.MFSRModel, lambda: fashionvl.MFSRConfig.from_preset("tiny", vocab_size=30), mfsr_inputs,
              "image_embeds"),
    ModelCase(fashionvl.MFSRForRetrieval, lambda: fashionvl.MFSRConfig.from_preset("tiny", vocab_size=30), mfsr_inputs,
              "image_embeds"),
    ModelCase(fashionvl.M2FashionModel, lambda: fashionvl.M2FashionConfig.from_preset("tiny"), m2fashion_inputs,
              "attribute_aware_embeds"),
    ModelCase(fashionvl.M2FashionForAttributePrediction, lambda: fashionvl.M2FashionConfig.from_preset("tiny"),
              m2fashion_inputs, "logits"),
]
BASE_CLASSES = {fashionvl.MVLTModel, fashionvl.MFSRModel, fashionvl.M2FashionModel}


def build(case: ModelCase):
    torch.manual_seed(0)
    return case.model_class(case.make_config()).eval()


@pytest.fixture(params=CASES, ids=lambda case: case.id)
def case(request):
    return request.param


def test_save_and_load_give_the_same_weights_and_outputs(case, tmp_path):
    model = build(case)
    model.save_pretrained(tmp_path)
    loaded = case.model_class.from_pretrained(tmp_path, dtype=torch.float32).eval()
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    inputs = case.make_inputs(2)
    with torch.no_grad():
        torch.testing.assert_close(getattr(loaded(**inputs), case.per_row_output),
                                   getattr(model(**inputs), case.per_row_output), rtol=0, atol=0)


def test_auto_model_resolves_a_base_checkpoint_to_its_class(case, tmp_path):
    if case.model_class not in BASE_CLASSES:
        pytest.skip("AutoModel maps a model type to its base class; heads load with their own from_pretrained")
    build(case).save_pretrained(tmp_path)
    assert type(AutoModel.from_pretrained(tmp_path)) is case.model_class


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


def test_no_split_modules_name_module_classes_of_the_model(case):
    """Every listed name is a module class of the family (some, like mFSR's GAN, only exist in the head classes),
    and at least one of them is in this model."""
    import sys

    model = build(case)
    present = {type(module).__name__ for module in model.modules()}
    family_module = sys.modules[case.model_class.__module__]
    known = present | {name for name, value in vars(family_module).items() if isinstance(value, type)}
    assert model._no_split_modules and set(model._no_split_modules) <= known
    assert set(model._no_split_modules) & present


def test_a_row_gives_the_same_output_alone_and_in_a_batch(case):
    model = build(case)
    inputs = case.make_inputs(3)
    with torch.no_grad():
        batched = getattr(model(**inputs), case.per_row_output)
        alone = getattr(model(**{name: value[1:2] for name, value in inputs.items()}), case.per_row_output)
    torch.testing.assert_close(alone, batched[1:2], rtol=1e-4, atol=1e-5)


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
