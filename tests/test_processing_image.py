"""MVLTImageProcessor: conversion of any input to RGB, crop, resize, normalisation, masks, save/load, errors."""

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor

from fashionvl import MVLTConfig, MVLTImageProcessor
from fashionvl.processing.image_processing_mvlt import crop_to_content, to_rgb_uint8

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def normalized(rgb):
    """Hand computation of the expected pixel value of an 8-bit colour: (c / 255 - mean) / std."""
    return (np.asarray(rgb, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD


def pixel_values(processor, images, **kwargs):
    return processor(images, return_tensors="pt", **kwargs)["pixel_values"]


ODD_INPUTS = {
    "grayscale_pil": lambda: Image.new("L", (40, 30), 77),
    "rgba_pil": lambda: Image.new("RGBA", (30, 40), (10, 20, 30, 128)),
    "la_pil": lambda: Image.new("LA", (30, 40), (10, 200)),
    "palette_pil": lambda: Image.new("RGB", (33, 21), "navy").convert("P"),
    "cmyk_pil": lambda: Image.new("CMYK", (25, 25), (0, 255, 255, 0)),
    "sixteen_bit_pil": lambda: Image.fromarray(np.full((20, 20), 40000, dtype=np.uint16)),
    "tiny_1x1": lambda: Image.new("RGB", (1, 1), "green"),
    "huge_3000x2000": lambda: Image.new("RGB", (3000, 2000), "white"),
    "non_square_wide": lambda: Image.new("RGB", (300, 17), "red"),
    "numpy_hwc_uint8": lambda: np.random.randint(0, 256, (50, 70, 3), dtype=np.uint8),
    "numpy_hwc_float": lambda: np.random.rand(50, 70, 3).astype(np.float32),
    "numpy_2d_gray": lambda: np.random.randint(0, 256, (19, 23), dtype=np.uint8),
    "numpy_rgba": lambda: np.random.randint(0, 256, (12, 12, 4), dtype=np.uint8),
    "torch_chw_float": lambda: torch.rand(3, 45, 20),
    "torch_hwc_uint8": lambda: torch.randint(0, 256, (45, 20, 3), dtype=torch.uint8),
}


@pytest.mark.parametrize("name", sorted(ODD_INPUTS))
def test_any_input_kind_gives_a_normalized_256_by_256_rgb_tensor(name):
    values = pixel_values(MVLTImageProcessor(), ODD_INPUTS[name]())
    assert values.shape == (1, 3, 256, 256) and values.dtype == torch.float32
    assert torch.isfinite(values).all()
    assert values.min() >= float(((0 - IMAGENET_MEAN) / IMAGENET_STD).min()) - 1e-4
    assert values.max() <= float(((1 - IMAGENET_MEAN) / IMAGENET_STD).max()) + 1e-4


def test_uniform_colour_is_rescaled_and_normalized_with_imagenet_statistics():
    values = pixel_values(MVLTImageProcessor(), Image.new("RGB", (80, 60), (200, 100, 50)))
    expected = torch.from_numpy(normalized((200, 100, 50)))[:, None, None].expand(3, 256, 256)
    torch.testing.assert_close(values[0], expected, atol=1e-5, rtol=0)


def test_transparent_pixels_are_composited_on_white():
    half_transparent = Image.new("RGBA", (8, 8), (0, 0, 0, 128))  # black at alpha 128/255 over white
    expected_gray = 255 * (1 - 128 / 255)
    assert np.abs(to_rgb_uint8(half_transparent).astype(float) - expected_gray).max() <= 1
    assert (to_rgb_uint8(Image.new("RGBA", (4, 4), (255, 0, 0, 0))) == 255).all()


def test_sixteen_bit_grayscale_maps_its_full_range_to_eight_bits():
    for mode_array in (np.full((3, 3), 65535, dtype=np.uint16), np.full((3, 3), 65535, dtype=np.int32)):
        assert (to_rgb_uint8(Image.fromarray(mode_array)) == 255).all()
    assert (to_rgb_uint8(Image.fromarray(np.full((3, 3), 32768, dtype=np.int32))) == 128).all()


def test_cmyk_and_grayscale_convert_to_rgb_triplets():
    assert tuple(to_rgb_uint8(Image.new("CMYK", (2, 2), (0, 255, 255, 0)))[0, 0]) == (255, 0, 0)
    assert tuple(to_rgb_uint8(Image.new("L", (2, 2), 77))[0, 0]) == (77, 77, 77)


def test_float_arrays_in_unit_range_match_their_uint8_version():
    image = np.random.randint(0, 256, (32, 32, 3), dtype=np.uint8)
    processor = MVLTImageProcessor(size={"height": 32, "width": 32})
    torch.testing.assert_close(pixel_values(processor, image.astype(np.float32) / 255), pixel_values(processor, image))


def test_channels_first_tensors_match_channels_last_arrays():
    image = np.random.randint(0, 256, (24, 40, 3), dtype=np.uint8)
    processor = MVLTImageProcessor(size={"height": 32, "width": 32})
    from_tensor = pixel_values(processor, torch.from_numpy(image).permute(2, 0, 1).contiguous())
    torch.testing.assert_close(from_tensor, pixel_values(processor, image))


def test_a_four_dimensional_array_is_a_batch():
    batch = np.random.randint(0, 256, (5, 20, 20, 3), dtype=np.uint8)
    assert pixel_values(MVLTImageProcessor(size={"height": 32, "width": 32}), batch).shape == (5, 3, 32, 32)


def test_crop_to_content_removes_the_white_background():
    image = np.full((100, 100, 3), 255, dtype=np.uint8)
    image[10:30, 60:90] = (0, 0, 0)
    assert crop_to_content(image).shape == (20, 30, 3)
    cropped = pixel_values(MVLTImageProcessor(do_crop_to_content=True, size={"height": 32, "width": 32}), image)
    torch.testing.assert_close(cropped, torch.from_numpy(normalized((0, 0, 0)))[None, :, None, None].expand(1, 3, 32, 32))
    uncropped = pixel_values(MVLTImageProcessor(size={"height": 32, "width": 32}), image)
    assert (uncropped[0, 0] > 2.0).float().mean() > 0.8  # mostly white without the crop


def test_crop_to_content_keeps_an_all_white_image_whole():
    white = np.full((7, 9, 3), 255, dtype=np.uint8)
    assert crop_to_content(white).shape == (7, 9, 3)


def test_bool_masked_pos_has_one_entry_per_unit_with_the_exact_masked_count():
    output = MVLTImageProcessor()(
        [Image.new("RGB", (50, 50))] * 3, return_bool_masked_pos=True, return_tensors="pt", generator=torch.Generator().manual_seed(0)
    )
    assert output["bool_masked_pos"].shape == (3, 256) and output["bool_masked_pos"].dtype == torch.bool
    assert (output["bool_masked_pos"].sum(dim=1) == 128).all()


def test_masks_follow_the_configured_size_unit_and_style_for_reuse_by_other_models():
    processor = MVLTImageProcessor(size={"height": 224, "width": 224}, mask_unit_size=32, mask_ratio=0.25, mask_style="center")
    output = processor(Image.new("RGB", (10, 10)), return_bool_masked_pos=True, return_tensors="pt")
    assert output["pixel_values"].shape == (1, 3, 224, 224)
    assert output["bool_masked_pos"].shape == (1, 49) and int(output["bool_masked_pos"].sum()) == 12


def test_seeded_masks_are_reproducible():
    processor = MVLTImageProcessor(size={"height": 64, "width": 64})
    first, second = (
        processor([Image.new("RGB", (8, 8))] * 4, return_bool_masked_pos=True, generator=torch.Generator().manual_seed(5))
        for _ in range(2)
    )
    np.testing.assert_array_equal(first["bool_masked_pos"], second["bool_masked_pos"])


def test_no_masks_unless_asked():
    assert "bool_masked_pos" not in MVLTImageProcessor()(Image.new("RGB", (8, 8)))


def test_save_and_load_round_trip_keeps_settings_and_outputs(tmp_path):
    processor = MVLTImageProcessor(size={"height": 48, "width": 48}, do_crop_to_content=True, mask_style="grid", mask_unit_size=8)
    processor.save_pretrained(tmp_path)
    loaded = MVLTImageProcessor.from_pretrained(tmp_path)
    assert (loaded.size.height, loaded.do_crop_to_content, loaded.mask_style, loaded.mask_unit_size) == (48, True, "grid", 8)
    image = np.random.randint(0, 256, (30, 40, 3), dtype=np.uint8)
    torch.testing.assert_close(pixel_values(loaded, image), pixel_values(processor, image))


def test_auto_image_processor_loads_it_next_to_an_mvlt_config(tmp_path):
    MVLTConfig.from_preset("tiny").save_pretrained(tmp_path)
    MVLTImageProcessor(size={"height": 64, "width": 64}).save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, MVLTImageProcessor) and loaded.size.height == 64


@pytest.mark.parametrize(
    "bad_input, message",
    [
        (None, "`images` is None"),
        ([], "empty list"),
        (np.zeros((2, 2, 2, 2, 2), dtype=np.uint8), r"shape \(2, 2, 2, 2, 2\)"),
        (np.zeros((10, 10, 2), dtype=np.uint8), r"1 \(gray\), 3 \(RGB\) or 4 \(RGBA\) channels.*\(10, 10, 2\)"),
        (np.zeros((10, 10, 5), dtype=np.uint8), r"channels.*\(10, 10, 5\)"),
        (torch.zeros(7, 10, 10), r"channels.*\(7, 10, 10\)"),
        ([Image.new("RGB", (4, 4)), 3], r"`images\[1\]`.*int 3"),
        ("photo.jpg", "str 'photo.jpg'"),
        (np.zeros((0, 10, 3), dtype=np.uint8), "empty image"),
    ],
)
def test_wrong_inputs_raise_errors_naming_the_bad_value(bad_input, message):
    with pytest.raises(ValueError, match=message):
        MVLTImageProcessor()(bad_input)


def test_bad_mask_settings_are_rejected_at_construction():
    with pytest.raises(ValueError, match="mask_style.*'zigzag'"):
        MVLTImageProcessor(mask_style="zigzag")


def test_center_crop_after_resize_for_imagenet_style_backbones():
    processor = MVLTImageProcessor(size={"height": 256, "width": 256}, do_center_crop=True, crop_size={"height": 224, "width": 224})
    image = np.zeros((256, 256, 3), dtype=np.uint8)
    image[16:240, 16:240] = 255  # white exactly where the 224 crop lands
    values = pixel_values(processor, image)
    assert values.shape == (1, 3, 224, 224)
    torch.testing.assert_close(values[0, :, 0, 0], torch.from_numpy(normalized((255, 255, 255))))


def test_integer_arrays_other_than_uint8_and_uint16_are_read_as_0_to_255():
    image = np.random.randint(0, 256, (9, 9, 3), dtype=np.uint8)
    for dtype in (np.int16, np.int32, np.int64, np.uint32):
        assert np.array_equal(to_rgb_uint8(image.astype(dtype)), image)
    with pytest.raises(ValueError, match=r"int32 are read as 0-255.*\[40000, 40000\].*uint16"):
        to_rgb_uint8(np.full((3, 3), 40000, dtype=np.int32))


def test_float_images_are_read_as_unit_range_and_other_ranges_are_refused():
    assert (to_rgb_uint8(np.full((2, 2, 3), 0.5, dtype=np.float32)) == 128).all()
    assert (to_rgb_uint8(Image.fromarray(np.full((2, 2), 0.5, dtype=np.float32))) == 128).all()  # float TIFF
    with pytest.raises(ValueError, match=r"\[0, 1\].*\[200, 200\].*uint8"):
        to_rgb_uint8(np.full((2, 2, 3), 200.0, dtype=np.float32))
    with pytest.raises(ValueError, match="already normalised"):
        to_rgb_uint8(np.full((2, 2, 3), -1.0, dtype=np.float32))


def test_exif_orientation_of_pil_input_is_applied():
    import io

    image = Image.new("RGB", (6, 2), "red")
    image.paste((0, 0, 255), (3, 0, 6, 2))  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 3  # rotate 180 degrees for display
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=exif)
    rgb = to_rgb_uint8(Image.open(io.BytesIO(buffer.getvalue())))
    assert tuple(rgb[0, 0]) == (0, 0, 255) and tuple(rgb[0, -1]) == (255, 0, 0)


def test_each_family_saves_the_image_processor_it_uses(tmp_path):
    import json

    from fashionvl.processing.processing_m2fashion import M2FashionProcessor
    from fashionvl.processing.processing_mvlt import MVLTProcessor

    M2FashionProcessor.from_attribute_list(["floral", "striped"]).image_processor.save_pretrained(tmp_path / "m2fashion")
    MVLTProcessor.from_captions(["a red dress"] * 5, vocab_size=60).image_processor.save_pretrained(tmp_path / "mvlt")
    saved = {name: json.loads((tmp_path / name / "preprocessor_config.json").read_text())["image_processor_type"]
             for name in ("m2fashion", "mvlt")}
    assert saved == {"m2fashion": "FashionImageProcessor", "mvlt": "MVLTImageProcessor"}


def test_an_image_processor_config_saved_as_mvlt_loads_with_auto_image_processor_for_any_family(tmp_path):
    from transformers import AutoImageProcessor

    from fashionvl import M2FashionConfig, MVLTImageProcessor

    MVLTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(tmp_path)
    M2FashionConfig.from_preset("tiny").save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is MVLTImageProcessor and loaded.size["height"] == 224
