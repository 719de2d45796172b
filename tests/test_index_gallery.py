"""FashionGalleryIndex: exact search, FAISS, save/load, two-stage re-ranking, bad input."""

import json

import pytest
import torch

from fashionvl import FashionGalleryIndex
from fashionvl.pipelines.gallery_index import is_faiss_available


def _gallery(num_items=50, dim=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(num_items, dim, generator=generator)


def test_exact_search_equals_brute_force_cosine_ranking():
    embeddings, queries = _gallery(), _gallery(num_items=7, seed=1)
    index = FashionGalleryIndex(embeddings)
    scores, indices = index.search(queries, top_k=10, chunk_size=3)  # several chunks
    cosine = torch.nn.functional.normalize(queries, dim=-1) @ torch.nn.functional.normalize(embeddings, dim=-1).T
    expected_scores, expected_indices = cosine.sort(dim=1, descending=True)
    assert torch.equal(indices, expected_indices[:, :10])
    assert torch.allclose(scores, expected_scores[:, :10], atol=1e-6)


def test_search_of_one_query_vector_and_top_k_larger_than_the_gallery():
    index = FashionGalleryIndex(_gallery(num_items=4))
    scores, indices = index.search(_gallery(num_items=1)[0], top_k=10)
    assert scores.shape == (1, 4) and sorted(indices[0].tolist()) == [0, 1, 2, 3]


def test_search_keeps_the_lower_gallery_position_first_among_equal_scores():
    index = FashionGalleryIndex(torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
    _, indices = index.search(torch.tensor([[1.0, 0.0]]), top_k=3)
    assert indices.tolist() == [[1, 2, 3]]


def test_save_load_round_trip_keeps_embeddings_ids_items_and_metadata(tmp_path):
    index = FashionGalleryIndex(
        _gallery(num_items=5), ids=["a", "b", "c", "d", "e"], items=[f"img{i}.jpg" for i in range(5)],
        modality="image", attributes=["floral"], model_type="m2fashion", metadata={"split": "test"},
    )
    index.save(tmp_path / "gallery")
    assert json.loads((tmp_path / "gallery" / "index.json").read_text())["num_items"] == 5
    loaded = FashionGalleryIndex.load(tmp_path / "gallery")
    assert torch.equal(loaded.embeddings, index.embeddings)
    assert (loaded.ids, loaded.items, loaded.attributes, loaded.model_type, loaded.metadata) == (
        index.ids, index.items, ["floral"], "m2fashion", {"split": "test"}
    )
    queries = _gallery(num_items=3, seed=2)
    assert torch.equal(loaded.search(queries)[1], index.search(queries)[1])


def test_load_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="index.json"):
        FashionGalleryIndex.load(tmp_path)


@pytest.mark.skipif(not is_faiss_available(), reason="faiss is not installed (optional extra: pip install 'fashionvl[faiss]')")
def test_faiss_search_equals_exact_search():
    index = FashionGalleryIndex(_gallery(num_items=300, dim=16))
    queries = _gallery(num_items=20, dim=16, seed=3)
    exact_scores, exact_indices = index.search(queries, top_k=15)
    faiss_scores, faiss_indices = index.search(queries, top_k=15, backend="faiss")
    assert torch.equal(faiss_indices, exact_indices)
    assert torch.allclose(faiss_scores, exact_scores, atol=1e-5)


def test_faiss_backend_without_faiss_raises_a_clear_error(monkeypatch):
    monkeypatch.setattr("fashionvl.pipelines.gallery_index.is_faiss_available", lambda: False)
    with pytest.raises(ImportError, match=r"fashionvl\[faiss\]"):
        FashionGalleryIndex(_gallery()).search(_gallery(num_items=1), backend="faiss")


def test_two_stage_search_rescores_only_the_first_stage_candidates():
    index = FashionGalleryIndex(_gallery(num_items=40))
    queries = _gallery(num_items=2, seed=4)
    _, first_stage = index.search(queries, top_k=6)
    seen = {}

    def rerank(query_position, candidate_indices):
        seen[query_position] = candidate_indices.tolist()
        return candidate_indices.float()  # re-ranking prefers the highest gallery position

    scores, indices = index.search_two_stage(queries, rerank, first_stage_k=6, top_k=3)
    for query_position in range(2):
        assert seen[query_position] == first_stage[query_position].tolist()
        assert indices[query_position].tolist() == sorted(first_stage[query_position].tolist(), reverse=True)[:3]
    assert torch.equal(scores, indices.float())


def test_add_appends_items_and_rebuilds_search():
    index = FashionGalleryIndex(_gallery(num_items=3), items=["a", "b", "c"])
    new = torch.tensor([[5.0] + [0.0] * 7])
    index.add(new, items=["d"])
    assert len(index) == 4 and index.ids[-1] == 3
    assert index.search(new, top_k=1)[1].item() == 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"embeddings": torch.zeros(0, 4)}, "at least one item"),
        ({"embeddings": torch.ones(2, 4), "ids": [1]}, "got 1 ids for 2 embeddings"),
        ({"embeddings": torch.ones(2, 4), "ids": [1, 1]}, "unique"),
        ({"embeddings": torch.tensor([[1.0, float("nan")]])}, "item 0 is not finite"),
        ({"embeddings": torch.ones(2, 4), "modality": "video"}, "modality"),
    ],
)
def test_invalid_index_construction_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FashionGalleryIndex(**kwargs)


def test_query_of_the_wrong_dimension_is_rejected():
    with pytest.raises(ValueError, match=r"\(num_queries, 8\)"):
        FashionGalleryIndex(_gallery()).search(torch.ones(1, 5))
