"""The family table (fashionvl/families.py) is what the package, the Auto classes and the pipeline serve."""

import pytest
import transformers
from transformers import AutoConfig

import fashionvl
from fashionvl.families import FAMILIES, find_model_class, get_family
from fashionvl.pipelines import CHECKPOINT_CLASSES_KEPT, RETRIEVAL_ADAPTERS, AutoModelForFashionRetrieval


@pytest.fixture(params=sorted(FAMILIES), ids=str)
def family(request):
    return FAMILIES[request.param]


def test_every_model_class_of_a_family_uses_its_config_class(family):
    for name in family.model_classes:
        assert family.model_class(name).config_class is family.config_class()


def test_the_package_root_exports_every_class_the_table_names(family):
    names = [family.config[1], *family.model_classes, family.processor[1], family.image_processor[1]]
    assert all(getattr(fashionvl, name).__name__ == name for name in names)


def test_auto_config_resolves_the_model_type_to_the_family_config(family):
    assert type(AutoConfig.for_model(family.model_type)) is family.config_class()


def test_each_auto_class_serves_the_class_the_table_names(family):
    config_class = family.config_class()
    for auto_name, class_name in family.auto_models.items():
        auto_class = AutoModelForFashionRetrieval if auto_name == "AutoModelForFashionRetrieval" else getattr(transformers, auto_name)
        assert auto_class._model_mapping[config_class].__name__ == class_name


def test_the_pipeline_reads_its_adapters_and_kept_classes_from_the_table():
    assert {model_type: adapter.__name__ for model_type, adapter in RETRIEVAL_ADAPTERS.items()} == {
        model_type: family.retrieval_adapter for model_type, family in FAMILIES.items()
    }
    assert set(CHECKPOINT_CLASSES_KEPT) == {name for family in FAMILIES.values() for name in family.checkpoint_classes_kept}


def test_a_model_class_is_found_by_name_and_an_unknown_name_is_none():
    assert find_model_class("MFSRForRetrieval") is fashionvl.MFSRForRetrieval
    assert find_model_class("FashionTrainer") is None


def test_an_unknown_model_type_names_the_known_ones():
    with pytest.raises(ValueError, match=r"'bert'.*\['m2fashion', 'mfsr', 'mvlt'\]"):
        get_family("bert")
