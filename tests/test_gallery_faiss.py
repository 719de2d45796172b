"""FAISS backends of FashionGalleryIndex: exact flat search, approximate IVF / HNSW (issue 15 §2), bad arguments."""

import pytest
import torch

from fashionvl import FashionGalleryIndex
from fashionvl.pipelines.gallery_index import is_faiss_available


pytestmark = pytest.mark.skipif(
    not is_faiss_available(), reason="faiss is not installed (optional extra: pip install 'fashionvl[faiss]')"
)


def _clustered_unit_vectors(num_items: int, dim: int, num_clusters: int, seed: int) -> torch.Tensor:
    """Unit vectors around random centres, as embeddings of a catalog of product types are."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_clusters, dim, generator=generator)
    assignment = torch.randint(num_clusters, (num_items,), generator=generator)
    return torch.nn.functional.normalize(centres[assignment] + 0.5 * torch.randn(num_items, dim, generator=generator), dim=-1)


def _recall_at_k(approximate: torch.Tensor, exact: torch.Tensor) -> float:
    hits = [len(set(a.tolist()) & set(e.tolist())) for a, e in zip(approximate, exact)]
    return sum(hits) / exact.numel()


@pytest.fixture(scope="module")
def gallery():
    vectors = _clustered_unit_vectors(4000, 32, num_clusters=40, seed=0)
    queries = _clustered_unit_vectors(64, 32, num_clusters=40, seed=0)[:64] + 0.01
    return FashionGalleryIndex(vectors), queries


def test_flat_faiss_index_returns_the_exact_neighbours(gallery):
    index, queries = gallery
    exact_scores, exact_indices = index.search(queries, top_k=10)
    scores, indices = index.search(queries, top_k=10, backend="faiss", index_type="flat")
    assert torch.allclose(scores, exact_scores, atol=1e-5)
    # the same items, up to the order of near-ties (BLAS and FAISS round differently)
    assert _recall_at_k(indices, exact_indices) >= 0.99
    assert torch.equal(indices[:, 0], exact_indices[:, 0])


@pytest.mark.parametrize("index_type, kwargs", [("ivf", {"nprobe": 16}), ("hnsw", {"ef_search": 128})])
def test_approximate_index_finds_most_exact_neighbours_and_scores_them_exactly(gallery, index_type, kwargs):
    index, queries = gallery
    _, exact_indices = index.search(queries, top_k=10)
    scores, indices = index.search(queries, top_k=10, backend="faiss", index_type=index_type, **kwargs)
    assert _recall_at_k(indices, exact_indices) >= 0.95
    # the scores of what it returns are the true cosines of those items
    true_scores = (torch.nn.functional.normalize(queries, dim=-1)[:, None] * index.embeddings[indices]).sum(-1)
    assert torch.allclose(scores, true_scores, atol=1e-4)


def test_ivf_with_one_probe_misses_neighbours_that_all_probes_find(gallery):
    """nprobe is really applied: one cell is worse than visiting every cell, which is exact."""
    index, queries = gallery
    _, exact_indices = index.search(queries, top_k=10)
    nlist = index.faiss_index("ivf").nlist
    _, one_probe = index.search(queries, top_k=10, backend="faiss", index_type="ivf", nprobe=1)
    _, all_probes = index.search(queries, top_k=10, backend="faiss", index_type="ivf", nprobe=nlist)
    assert _recall_at_k(all_probes, exact_indices) >= 0.99  # exact up to near-ties at rank 10
    assert _recall_at_k(one_probe, exact_indices) < 0.95


def test_add_rebuilds_the_approximate_index(gallery):
    vectors, _ = gallery[0].embeddings[:500], None
    index = FashionGalleryIndex(vectors.clone())
    index.search(vectors[:2], top_k=1, backend="faiss", index_type="hnsw")
    new_item = torch.nn.functional.normalize(torch.ones(1, vectors.shape[1]), dim=-1)
    index.add(new_item)
    _, indices = index.search(new_item, top_k=1, backend="faiss", index_type="hnsw")
    assert indices.item() == len(index) - 1


def test_two_stage_search_passes_the_index_type_to_the_first_stage(gallery):
    index, queries = gallery
    seen = []

    def rerank(position, candidates):
        seen.append(len(candidates))
        return -candidates.float()  # lowest gallery position first

    scores, indices = index.search_two_stage(queries[:3], rerank, first_stage_k=20, top_k=5, backend="faiss",
                                             index_type="hnsw", ef_search=64)
    assert seen == [20, 20, 20]
    assert indices.shape == (3, 5)
    assert torch.all(indices[:, :-1] < indices[:, 1:])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"index_type": "pq"}, "index_type must be one of"),
        ({"index_type": "ivf", "nprobe": 0}, "nprobe must be in"),
        ({"index_type": "flat", "nprobe": 4}, "nprobe applies to index_type='ivf'"),
        ({"index_type": "ivf", "ef_search": 16}, "ef_search applies to index_type='hnsw'"),
        ({"index_type": "hnsw", "ef_search": 0}, "ef_search must be >= 1"),
    ],
)
def test_bad_faiss_arguments_name_the_value(gallery, kwargs, message):
    index, queries = gallery
    with pytest.raises(ValueError, match=message):
        index.search(queries[:1], top_k=5, backend="faiss", **kwargs)


def test_an_approximate_index_type_without_faiss_backend_is_refused(gallery):
    index, queries = gallery
    with pytest.raises(ValueError, match="needs backend='faiss'"):
        index.search(queries[:1], top_k=5, index_type="hnsw")
