"""FAISS indexes for `FashionGalleryIndex` (optional extra ``pip install fashionvl[faiss]``): building and searching
the exact ``IndexFlatIP`` and the approximate IVF-Flat / HNSW indexes over unit vectors (inner product = cosine).

Measured recall against exact search and speed at 1M items: ``benchmarks/bench_gallery_scale.py`` (BENCHMARKS.md).
"""

from __future__ import annotations

import torch


FAISS_INDEX_TYPES = ("flat", "ivf", "hnsw")
HNSW_LINKS = 32  # M: links per node (memory ~2 x M x 4 bytes per item)
HNSW_EF_CONSTRUCTION = 80
HNSW_DEFAULT_EF_SEARCH = 128
IVF_TRAINING_POINTS_PER_CELL = 64
IVF_MIN_POINTS_PER_CELL = 39  # FAISS's k-means warns below this


def is_faiss_available() -> bool:
    """True when the optional ``faiss`` package (``faiss-cpu`` / ``faiss-gpu``) can be imported."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def check_index_type(index_type: str) -> None:
    if index_type not in FAISS_INDEX_TYPES:
        raise ValueError(f"index_type must be one of {FAISS_INDEX_TYPES}, got {index_type!r}.")


def build_faiss_index(embeddings: torch.Tensor, index_type: str, nlist: int | None = None):
    """A FAISS index of ``index_type`` over ``embeddings`` ((num_items, dim) float32 unit vectors).

    IVF: ``nlist`` cells (default sqrt(N), at most N / 39), k-means trained on up to 64 x nlist items drawn with a
    fixed seed, ``nprobe`` = nlist / 16 until a search sets it.
    """
    import faiss

    check_index_type(index_type)
    vectors = embeddings.numpy()
    num_items, dim = vectors.shape
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        # sqrt(N) cells (1,000 at 1M: k-means and assignment stay cheap); more cells search faster at a longer build
        nlist = nlist or max(1, min(int(num_items**0.5), num_items // IVF_MIN_POINTS_PER_CELL))
        if not 1 <= nlist <= num_items:
            raise ValueError(f"nlist must be in [1, {num_items}] (the gallery size), got {nlist}.")
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = torch.randperm(num_items, generator=torch.Generator().manual_seed(0))[: IVF_TRAINING_POINTS_PER_CELL * nlist]
        index.train(vectors[torch.sort(sample).values.numpy()])
        index.nprobe = max(1, nlist // 16)
    index.add(vectors)
    return index


def search_faiss_index(index, queries: torch.Tensor, top_k: int, index_type: str, nprobe: int | None = None,
                       ef_search: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scores, indices)`` (num_queries, top_k) of ``queries`` in a FAISS ``index`` of ``index_type``; positions an
    approximate index could not fill are -1 with score ``-inf``."""
    if nprobe is not None:
        if index_type != "ivf":
            raise ValueError(f"nprobe applies to index_type='ivf', not {index_type!r}.")
        if not 1 <= nprobe <= index.nlist:
            raise ValueError(f"nprobe must be in [1, {index.nlist}] (the number of IVF cells), got {nprobe}.")
        index.nprobe = nprobe
    if ef_search is not None:
        if index_type != "hnsw":
            raise ValueError(f"ef_search applies to index_type='hnsw', not {index_type!r}.")
        if ef_search < 1:
            raise ValueError(f"ef_search must be >= 1, got {ef_search}.")
    if index_type == "hnsw":
        index.hnsw.efSearch = max(top_k, ef_search or HNSW_DEFAULT_EF_SEARCH)
    scores, indices = index.search(queries.numpy(), top_k)
    scores, indices = torch.from_numpy(scores), torch.from_numpy(indices).long()
    return scores.masked_fill(indices < 0, float("-inf")), indices


__all__ = ["FAISS_INDEX_TYPES", "build_faiss_index", "check_index_type", "is_faiss_available", "search_faiss_index"]
