"""fashionvl.modeling.input_checks: forward-input checks that name the argument, the value and what was expected."""

from pathlib import Path

import pytest
import torch

from fashionvl.hub import collect_remote_code_files
from fashionvl.modeling import input_checks
from fashionvl.modeling.input_checks import (
    check_bool_masked_pos,
    check_class_labels,
    check_pixel_values,
    check_token_ids,
)


def test_the_checks_travel_as_remote_code_without_fashionvl():
    files = collect_remote_code_files(Path(input_checks.__file__))
    assert list(files) == ["input_checks.py"]


def test_valid_inputs_pass():
    check_pixel_values(torch.zeros(2, 3, 64, 64), stride=32, image_size=64)
    check_token_ids(torch.tensor([[2, 5, 3]]), 10, "input_ids", batch_size=1)
    check_bool_masked_pos(torch.zeros(2, 16, dtype=torch.bool), batch_size=2, num_units=16)
    check_class_labels(torch.tensor([0, 4, -100]), 5)


def test_value_checks_are_skipped_for_accelerator_tensors_unless_asked():
    meta = torch.empty(1, 3, 32, 32, device="meta")
    check_pixel_values(meta)  # no reduction (no device synchronisation) on a non-CPU tensor
    with pytest.raises(ValueError, match="NaN"):
        check_pixel_values(torch.full((1, 3, 32, 32), float("nan")), check_values=True)


@pytest.mark.parametrize("call, error, match", [
    (lambda: check_pixel_values(torch.zeros(1, 3, 64, 64, dtype=torch.uint8)), TypeError, "dtype torch.uint8 .*image processor"),
    (lambda: check_pixel_values(torch.zeros(1, 3, 70, 64), stride=32), ValueError, "70x64.*multiples .*stride 32"),
    (lambda: check_pixel_values(torch.zeros(1, 1, 64, 64)), ValueError, "1 channels"),
    (lambda: check_pixel_values(torch.zeros(3, 64, 64)), ValueError, r"got shape \(3, 64, 64\)"),
    (lambda: check_pixel_values(torch.zeros(1, 3, 32, 32), image_size=64), ValueError, "32x32.*64x64"),
    (lambda: check_pixel_values(torch.tensor([[[[float("inf")]]]]).expand(1, 3, 4, 4)), ValueError, "NaN or infinite"),
    (lambda: check_pixel_values([[0.0]]), TypeError, "must be a torch.Tensor"),
    (lambda: check_token_ids(torch.tensor([[1, 12]]), 10, "input_ids"), ValueError, "input_ids.*id 12.*\\[0, 9\\]"),
    (lambda: check_token_ids(torch.tensor([[-1]]), 2, "token_type_ids"), ValueError, "token_type_ids.*id -1"),
    (lambda: check_token_ids(torch.tensor([[1.0]]), 10, "input_ids"), TypeError, "integer tensor"),
    (lambda: check_token_ids(torch.tensor([1, 2]), 10, "input_ids"), ValueError, "sequence_length"),
    (lambda: check_bool_masked_pos(torch.rand(2, 16), 2, 16), TypeError, "bool tensor.*float32"),
    (lambda: check_bool_masked_pos(torch.zeros(2, 8, dtype=torch.bool), 2, 16), ValueError, r"\(2, 16\)"),
    (lambda: check_bool_masked_pos(torch.full((1, 4), 2), 1, 4), ValueError, "0/1"),
    (lambda: check_class_labels(torch.tensor([0, 7]), 5), ValueError, "holds 7.*\\[0, 4\\] or -100"),
    (lambda: check_class_labels(torch.tensor([0.0]), 5), TypeError, "class ids"),
])
def test_bad_inputs_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
