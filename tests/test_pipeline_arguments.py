"""The fashion-retrieval pipeline takes its arguments as transformers' pipelines do (issue 14 §3): top_k=None,
timeout, lists / generators / KeyDataset as queries, numpy arrays and torch tensors as images, a clear error for
device="cuda" without a GPU, and transparent images composited on white by the image processor."""

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import pipeline
from transformers.pipelines.pt_utils import KeyDataset

from test_pipeline_retrieval import CAPTIONS, build_mfsr_checkpoint, make_images


@pytest.fixture(scope="module")
def retriever(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mfsr_arguments")
    build_mfsr_checkpoint(folder)
    return pipeline("fashion-retrieval", model=str(folder))


@pytest.fixture(scope="module")
def images():
    return make_images(4)


def test_top_k_none_returns_every_candidate_best_first(retriever, images):
    ranked = retriever(CAPTIONS[0], images=images, top_k=None)
    assert sorted(entry["index"] for entry in ranked) == list(range(len(images)))
    assert [entry["score"] for entry in ranked] == sorted((entry["score"] for entry in ranked), reverse=True)
    assert len(retriever(CAPTIONS[0], images=images)) == 4  # default top_k 5, capped at the candidates
    assert len(retriever(CAPTIONS[0], images=images, top_k=2)) == 2


def test_timeout_is_an_option_of_the_call_and_is_checked(retriever, images):
    assert retriever(CAPTIONS[0], images=images, timeout=3.5, top_k=1)  # local images: accepted, unused
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, got -1"):
        retriever(CAPTIONS[0], images=images, timeout=-1)


def assert_same_rankings(found, expected):
    """Results of several queries: the same order, and scores equal up to float rounding (batches differ)."""
    assert [[entry["index"] for entry in ranked] for ranked in found] == [[entry["index"] for entry in ranked] for ranked in expected]
    torch.testing.assert_close(torch.tensor([[entry["score"] for entry in ranked] for ranked in found]),
                               torch.tensor([[entry["score"] for entry in ranked] for ranked in expected]))


def test_a_list_a_generator_and_a_key_dataset_of_queries_give_the_same_results(retriever, images):
    from datasets import Dataset

    queries = CAPTIONS[:3]
    as_list = retriever(queries, images=images, top_k=None)
    as_generator = retriever((query for query in queries), images=images, top_k=None, batch_size=2)
    assert not isinstance(as_generator, list)
    assert_same_rankings(list(as_generator), as_list)
    dataset = KeyDataset(Dataset.from_dict({"caption": queries}), "caption")
    assert_same_rankings(list(retriever(dataset, images=images, top_k=None, batch_size=2)), as_list)
    assert_same_rankings(retriever(tuple(queries), images=images, top_k=None), as_list)


def test_numpy_arrays_and_tensors_rank_as_the_same_pil_images(retriever, images):
    expected = retriever(CAPTIONS[1], images=images, top_k=None)
    as_uint8 = [np.asarray(image) for image in images]  # (height, width, 3) uint8
    as_float = [array.astype(np.float32) / 255 for array in as_uint8]  # (height, width, 3) in [0, 1]
    as_tensors = [torch.from_numpy(array).permute(2, 0, 1) for array in as_float]  # (3, height, width), to_tensor
    for candidates in (as_uint8, as_float, as_tensors):
        ranked = retriever(CAPTIONS[1], images=candidates, top_k=None)
        assert [entry["index"] for entry in ranked] == [entry["index"] for entry in expected]
        torch.testing.assert_close(torch.tensor([entry["score"] for entry in ranked]),
                                   torch.tensor([entry["score"] for entry in expected]))
    image_query = retriever(as_tensors[0], texts=CAPTIONS, top_k=None)  # a tensor as the query
    assert_same_rankings([image_query], [retriever(images[0], texts=CAPTIONS, top_k=None)])


def test_image_arrays_of_an_unknown_layout_are_refused_with_the_shape(retriever, images):
    with pytest.raises(ValueError, match=r"images\[0\] is an array of shape \(5, 64, 64\)"):
        retriever(CAPTIONS[0], images=[np.zeros((5, 64, 64), dtype=np.uint8)])
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        retriever(CAPTIONS[0], images=[np.full((8, 8, 3), 3.0)])


def test_a_cuda_device_without_a_gpu_gives_transformers_unavailable_device_error(tmp_path, monkeypatch):
    build_mfsr_checkpoint(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match='cuda is not available, you should use device="cpu" instead'):
        pipeline("fashion-retrieval", model=str(tmp_path), device="cuda")


def cut_out_on_black(mode: str) -> Image.Image:
    """A red square on a transparent background whose colour is black (as cut-outs are usually saved)."""
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    rgba.paste((200, 30, 30, 255), (16, 16, 48, 48))
    if mode == "LA":
        return rgba.convert("LA")
    if mode == "P":  # palette: entry 0 black and transparent (the background), entry 1 the square's red
        palette = Image.new("P", (64, 64), 0)
        palette.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
        palette.paste(1, (16, 16, 48, 48))
        palette.info["transparency"] = 0
        return palette
    return rgba


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparent_images_are_composited_on_white_through_the_pipeline(retriever, mode):
    image = cut_out_on_black(mode)
    assert image.mode == mode and ("transparency" in image.info or mode != "P")
    pixel_values = retriever.adapter.prepare_images([retriever._load_image(image, "images[0]")])["pixel_values"]
    mean = torch.tensor(retriever.image_processor.image_mean)
    std = torch.tensor(retriever.image_processor.image_std)
    white = (1 - mean) / std  # +2.25, +2.43, +2.64 with ImageNet statistics
    torch.testing.assert_close(pixel_values[0, :, 0, 0], white, atol=0.02, rtol=0)  # not (0 - mean) / std = -2.1
    white_background = Image.new("RGB", image.size, "white")
    white_background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
    torch.testing.assert_close(retriever.embed(images=[image]), retriever.embed(images=[white_background]), atol=1e-5, rtol=0)
