"""transformers' own common tests (`ModelTesterMixin`, `ConfigTester` of the installed version) on every family.

The tests are fetched from the transformers sdist at collection time (`transformers_test_suite`); without a
registry (offline) the module is skipped with the reason. Each family has a tester (a tiny config and its inputs);
a common test that does not apply to a family is skipped in its test class with a one-line reason.
"""

import unittest
import unittest.mock

import pytest
import torch

from transformers_test_suite import TransformersTestsUnavailable, load_transformers_tests


try:
    modeling_common, configuration_common = load_transformers_tests()
except TransformersTestsUnavailable as error:
    pytest.skip(f"transformers' common tests are not available: {error}", allow_module_level=True)

ModelTesterMixin = modeling_common.ModelTesterMixin
ConfigTester = configuration_common.ConfigTester
floats_tensor, ids_tensor = modeling_common.floats_tensor, modeling_common.ids_tensor

from fashionvl import (  # noqa: E402  (after the skip: nothing to import when the suite is unavailable)
    M2FashionConfig,
    M2FashionForAttributePrediction,
    M2FashionModel,
    MFSRConfig,
    MFSRForRetrieval,
    MFSRForZeroShotImageClassification,
    MFSRModel,
    MVLTConfig,
    MVLTForCategoryRecognition,
    MVLTForImageTextRetrieval,
    MVLTForPreTraining,
    MVLTForZeroShotImageClassification,
    MVLTModel,
)


def skip_common(reason: str, *names: str):
    """Class decorator: skip the common tests `names` (with their parameterised variants `name_0`, ...) for `reason`."""

    def test(self):
        self.skipTest(reason)

    def decorate(test_class):
        for name in dir(ModelTesterMixin):
            if any(name == stem or name.startswith(f"{stem}_") and name[len(stem) + 1:].isdigit() for stem in names):
                setattr(test_class, name, test)
        return test_class

    return decorate


# transformers 5 `get_*_features` return a BaseModelOutputWithPooling checked against config.vision_config /
# config.text_config; fashionvl's retrieval interface returns the embedding tensor (open_clip's `encode_image`) and
# its configs are single, not composite.
skip_features_outputs = skip_common(
    "fashionvl get_*_features return embedding tensors, not transformers 5 composite-model outputs",
    "test_get_image_features_output", "test_get_image_features_hidden_states", "test_get_image_features_attentions",
    "test_get_image_features_pooler_output", "test_get_text_features_output", "test_get_text_features_hidden_states",
    "test_get_text_features_attentions",
)


class FashionModelTest(ModelTesterMixin):
    """What every family's test class shares: its base model is known to the common tests as transformers' own base
    models are (through ``MODEL_MAPPING_NAMES``, for the duration of the class), so the training tests skip it (it has
    no loss) and the base-model-prefix test checks its heads."""

    base_model_class: type

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        patcher = unittest.mock.patch.dict(
            modeling_common.MODEL_MAPPING_NAMES, {cls.base_model_class.config_class.model_type: cls.base_model_class.__name__}
        )
        patcher.start()
        cls.addClassCleanup(patcher.stop)


class FashionModelTester:
    """What the common tests read of every tester: the batch and image size, the caption length, training on."""

    def __init__(self, parent, batch_size=3, text_length=7, image_size=32, is_training=True):
        self.parent = parent
        self.batch_size = batch_size
        self.seq_length = text_length
        self.image_size = image_size
        self.is_training = is_training


# ----------------------------------------------------------------------------------------------------------------------
# MVLT
# ----------------------------------------------------------------------------------------------------------------------


class MVLTModelTester(FashionModelTester):
    """A two-stage MVLT (widths 16, 32; one block each, as the common tests want at most 2 layers) on 32 px images
    and 7-token captions; paper losses (no ITC, whose projections no task head trains)."""

    def __init__(self, parent, text_length=7, image_size=32):
        super().__init__(parent, text_length=text_length, image_size=image_size)
        self.hidden_sizes = [16, 32]
        self.num_attention_heads_per_stage = [1, 2]
        self.sr_ratios = [2, 1]
        self.vocab_size = 99
        # What the common tests read, for the first block: its joint sequence is the text tokens then the stage-1
        # patches (stride 4); its keys are the text tokens then the patches reduced by sr_ratios[0].
        self.num_hidden_layers = 2
        self.expected_num_hidden_layers = 2  # one hidden state per block (no embedding output)
        self.hidden_size = self.hidden_sizes[0]
        self.num_attention_heads = self.num_attention_heads_per_stage[0]
        self.encoder_seq_length = text_length + (image_size // 4) ** 2
        self.key_length = text_length + (image_size // 4 // self.sr_ratios[0]) ** 2
        self.mask_length = (image_size // 16) ** 2  # bool_masked_pos: one entry per 16 px masking unit
        self.num_masks = self.mask_length // 2

    def get_config(self) -> MVLTConfig:
        return MVLTConfig(
            image_size=self.image_size, hidden_sizes=self.hidden_sizes, depths=[1, 1],
            num_attention_heads=self.num_attention_heads_per_stage, mlp_ratios=[2, 2], sr_ratios=self.sr_ratios,
            patch_sizes=[4, 2], drop_path_rate=0.0, vocab_size=self.vocab_size, text_hidden_size=32,
            max_position_embeddings=16, mask_unit_size=16, decoder_hidden_size=16, num_main_categories=3,
            num_sub_categories=5,
        )

    def prepare_config_and_inputs_for_common(self):
        input_ids = ids_tensor([self.batch_size, self.seq_length], self.vocab_size)
        input_ids[:, 0] = 1  # [CLS]
        inputs = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "pixel_values": floats_tensor([self.batch_size, 3, self.image_size, self.image_size]),
        }
        return self.get_config(), inputs


@skip_features_outputs
class MVLTModelTest(FashionModelTest, unittest.TestCase):
    base_model_class = MVLTModel
    all_model_classes = (MVLTModel, MVLTForPreTraining, MVLTForImageTextRetrieval, MVLTForCategoryRecognition)
    additional_model_inputs = ["pixel_values"]  # every MVLT forward takes the caption and the image
    test_resize_embeddings = False  # the MLM decoder is tied; resizing is covered, the vocabulary comes from the tokenizer

    def setUp(self):
        self.model_tester = MVLTModelTester(self)
        self.config_tester = ConfigTester(
            self, config_class=MVLTConfig, has_text_modality=False, common_properties=["hidden_sizes", "num_attention_heads"]
        )

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs_dict = super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)
        if return_labels:
            batch_size, text_length = inputs_dict["input_ids"].shape
            device = inputs_dict["input_ids"].device
            if model_class is MVLTForPreTraining:
                num_units = (self.model_tester.image_size // 16) ** 2
                inputs_dict["bool_masked_pos"] = torch.arange(num_units, device=device).repeat(batch_size, 1) % 2 == 0
                inputs_dict["mlm_labels"] = torch.full((batch_size, text_length), -100, device=device)
                inputs_dict["mlm_labels"][:, 1] = inputs_dict["input_ids"][:, 1]
                inputs_dict["itm_labels"] = torch.arange(batch_size, device=device) % 2
            elif model_class is MVLTForImageTextRetrieval:
                inputs_dict["labels"] = torch.arange(batch_size, device=device) % 2
            elif model_class is MVLTForCategoryRecognition:
                inputs_dict["main_category_labels"] = torch.zeros(batch_size, dtype=torch.long, device=device)
                inputs_dict["sub_category_labels"] = torch.ones(batch_size, dtype=torch.long, device=device)
        return inputs_dict

    def test_config(self):
        self.config_tester.run_common_tests()


class MVLTZeroShotModelTester(MVLTModelTester):
    """The MVLT tester's model trained with ITC (the zero-shot classifier compares ITC embeddings)."""

    def get_config(self) -> MVLTConfig:
        config = super().get_config()
        config.itc_loss_weight = 1.0
        return config


# The zero-shot classifiers are inference heads over the base model's retrieval embeddings (no loss: they are trained
# through the pre-training / retrieval classes), whose forward returns no hidden states or attentions.
skip_zero_shot_head = skip_common(
    "a zero-shot classifier has no loss and returns no hidden states or attentions (an inference head)",
    "test_training", "test_training_gradient_checkpointing", "test_training_gradient_checkpointing_use_reentrant",
    "test_training_gradient_checkpointing_use_reentrant_false", "test_training_gradient_checkpointing_use_reentrant_true",
    "test_hidden_states_output", "test_retain_grad_hidden_states_attentions", "test_attention_outputs",
)


@skip_features_outputs
@skip_zero_shot_head
class MVLTZeroShotModelTest(FashionModelTest, unittest.TestCase):
    base_model_class = MVLTModel
    all_model_classes = (MVLTForZeroShotImageClassification,)
    additional_model_inputs = ["pixel_values"]
    test_resize_embeddings = False

    def setUp(self):
        self.model_tester = MVLTZeroShotModelTester(self)


# ----------------------------------------------------------------------------------------------------------------------
# mFSR
# ----------------------------------------------------------------------------------------------------------------------


class MFSRModelTester(FashionModelTester):
    """The tiny mFSR preset (a 4-stage basic ResNet of widths 16..128, a 1-layer GRU) on 32 px images and 6-word
    captions."""

    def __init__(self, parent):
        super().__init__(parent, text_length=6)
        self.vocab_size = 30
        self.num_hidden_layers = 1

    def get_config(self) -> MFSRConfig:
        return MFSRConfig.from_preset("tiny", vocab_size=self.vocab_size)

    def prepare_config_and_inputs_for_common(self):
        input_ids = ids_tensor([self.batch_size, self.seq_length], self.vocab_size - 4) + 4  # no special tokens
        input_ids[:, 0], input_ids[:, -1] = 1, 2  # <start> ... <end>
        inputs = {
            "pixel_values": floats_tensor([self.batch_size, 3, self.image_size, self.image_size]),
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
        }
        return self.get_config(), inputs


@skip_features_outputs
@skip_common(
    "mFSR's encoders (a ResNet backbone, a GRU) return no per-layer hidden states",
    "test_hidden_states_output", "test_retain_grad_hidden_states_attentions",
)
class MFSRModelTest(FashionModelTest, unittest.TestCase):
    base_model_class = MFSRModel
    all_model_classes = (MFSRModel, MFSRForRetrieval)
    additional_model_inputs = ["input_ids"]  # the dual encoder embeds both sides
    has_attentions = False  # a ResNet and a GRU: no attention
    test_resize_embeddings = False

    def setUp(self):
        self.model_tester = MFSRModelTester(self)
        self.config_tester = ConfigTester(self, config_class=MFSRConfig, has_text_modality=False, common_properties=["hidden_size"])

    def test_config(self):
        self.config_tester.run_common_tests()


@skip_features_outputs
@skip_zero_shot_head
class MFSRZeroShotModelTest(FashionModelTest, unittest.TestCase):
    base_model_class = MFSRModel
    all_model_classes = (MFSRForZeroShotImageClassification,)
    additional_model_inputs = ["input_ids"]
    has_attentions = False
    test_resize_embeddings = False

    def setUp(self):
        self.model_tester = MFSRModelTester(self)


# ----------------------------------------------------------------------------------------------------------------------
# M2Fashion
# ----------------------------------------------------------------------------------------------------------------------


class M2FashionModelTester(FashionModelTester):
    """The tiny M2Fashion preset (a small ResNet, ASA / ACA over its last map) on 32 px images."""

    def __init__(self, parent):
        super().__init__(parent)
        self.num_hidden_layers = 1

    def get_config(self) -> M2FashionConfig:
        return M2FashionConfig.from_preset("tiny")

    def prepare_config_and_inputs_for_common(self):
        config = self.get_config()
        states = ids_tensor([self.batch_size, config.num_attributes], 3) - 1  # -1 / 0 / 1
        inputs = {
            "pixel_values": floats_tensor([self.batch_size, 3, self.image_size, self.image_size]),
            "attribute_states": states.float(),
        }
        return config, inputs


@skip_features_outputs
@skip_common(
    "M2Fashion's hidden states are the ResNet backbone's (batch, channels, height, width) maps, not token sequences",
    "test_hidden_states_output",
)
@skip_common("M2Fashion is an image model: no token embeddings to get or set", "test_model_get_set_embeddings")
class M2FashionModelTest(FashionModelTest, unittest.TestCase):
    base_model_class = M2FashionModel
    all_model_classes = (M2FashionModel, M2FashionForAttributePrediction)
    additional_model_inputs = ["attribute_states"]
    has_attentions = False  # ASA / ACA weights are outputs of their own, not transformer attentions
    test_resize_embeddings = False

    def setUp(self):
        self.model_tester = M2FashionModelTester(self)
        self.config_tester = ConfigTester(self, config_class=M2FashionConfig, has_text_modality=False, common_properties=[])

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs_dict = super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)
        if return_labels and model_class is M2FashionForAttributePrediction:
            batch_size, num_attributes = inputs_dict["attribute_states"].shape
            device = inputs_dict["pixel_values"].device
            inputs_dict["labels"] = torch.arange(batch_size, device=device) % 2  # category ids (eq. 10)
            inputs_dict["attribute_labels"] = (torch.arange(num_attributes, device=device) % 2).float().expand(batch_size, -1)
        return inputs_dict

    def test_config(self):
        self.config_tester.run_common_tests()
