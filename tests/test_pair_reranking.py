"""Two-stage re-ranking that costs what the model costs (issue 15 §2): gallery pixels processed once per index,
queries tokenised once, the same scores as a direct forward."""

import pytest
import torch
from transformers import pipeline

from fashionvl import FashionGalleryIndex
from fashionvl.pipelines.pair_reranking import GalleryPixelCache

from test_pipeline_retrieval import CAPTIONS, build_mvlt_checkpoint, make_images


@pytest.fixture(scope="module")
def mvlt_itc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mvlt_rerank")
    model, processor = build_mvlt_checkpoint(folder, itc_loss_weight=1.0, itm_fusion_weight=0.0)
    return model, processor, pipeline("fashion-retrieval", model=str(folder))


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gallery_images")
    paths = []
    for number, image in enumerate(make_images()):
        image.save(folder / f"{number}.png")
        paths.append(str(folder / f"{number}.png"))
    return paths


def _itm_probabilities(model, processor, texts, images):
    inputs = processor(text=texts, images=images, padding=True, return_tensors="pt")
    names = ("input_ids", "attention_mask", "token_type_ids", "pixel_values")
    with torch.no_grad():
        return model(**{name: inputs[name] for name in names if name in inputs}).scores


def test_each_gallery_image_is_opened_once_across_queries(mvlt_itc, gallery, monkeypatch):
    _, _, retriever = mvlt_itc
    index = FashionGalleryIndex.from_pipeline(retriever, images=gallery)
    opened = []
    original = FashionGalleryIndex.open_item
    monkeypatch.setattr(FashionGalleryIndex, "open_item", lambda self, position, **kw: opened.append(position) or original(self, position, **kw))
    retriever(["black leather jacket", "red floral dress", "green wool coat"], index=index, first_stage_k=len(gallery), top_k=2)
    assert sorted(opened) == list(range(len(gallery)))  # three queries, every candidate decoded once


def test_cached_two_stage_scores_equal_a_direct_forward(mvlt_itc, gallery):
    model, processor, retriever = mvlt_itc
    index = FashionGalleryIndex.from_pipeline(retriever, images=gallery)
    query = "blue denim jeans"
    retriever(query, index=index, first_stage_k=len(gallery), top_k=None, score="itm")  # fills the cache
    results = retriever(query, index=index, first_stage_k=len(gallery), top_k=None, score="itm", batch_size=2)
    from PIL import Image

    expected = _itm_probabilities(model, processor, [query] * len(gallery), [Image.open(path) for path in gallery])
    for result in results:
        assert result["score"] == pytest.approx(float(expected[result["index"]]), abs=1e-5)


def test_image_query_over_a_caption_index_scores_each_caption_pair_directly(mvlt_itc, gallery):
    model, processor, retriever = mvlt_itc
    index = FashionGalleryIndex.from_pipeline(retriever, texts=CAPTIONS)
    from PIL import Image

    query = Image.open(gallery[2])
    results = retriever(query, index=index, first_stage_k=len(CAPTIONS), top_k=None, score="itm", batch_size=2)
    expected = _itm_probabilities(model, processor, CAPTIONS, [query] * len(CAPTIONS))
    for result in results:
        assert result["score"] == pytest.approx(float(expected[result["index"]]), abs=1e-5)


def test_pixel_cache_evicts_the_least_recently_used_beyond_its_budget():
    class Index:  # weak-referenceable stand-in for a gallery index
        pass

    index = Index()
    one_item_bytes = 3 * 4 * 4 * 4
    cache = GalleryPixelCache(max_bytes=2 * one_item_bytes)
    processed = []

    def process(missing):
        processed.extend(missing)
        return torch.stack([torch.full((3, 4, 4), float(position)) for position in missing])

    assert torch.equal(cache.get(index, [0, 1], process)[:, 0, 0, 0], torch.tensor([0.0, 1.0]))
    cache.get(index, [0], process)  # 0 is now the most recent
    cache.get(index, [2], process)  # evicts 1
    assert sorted(cache.cached_positions(index)) == [0, 2]
    cache.get(index, [1, 0], process)
    assert processed == [0, 1, 2, 1]


def test_pixel_cache_rejects_a_negative_budget():
    with pytest.raises(ValueError, match="max_bytes must be >= 0"):
        GalleryPixelCache(max_bytes=-1)
