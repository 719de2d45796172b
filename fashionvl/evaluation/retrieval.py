"""Retrieval metrics: R@K with pessimistic ties, the Fashion-Gen 101-candidate protocol, VSE++ recalls.

Protocols (SPEC §6):

- Fashion-Gen TIR / ITR (MVLT paper, Task 1 and 2): each query is ranked against 1 positive and 100
  negatives drawn from the positive's sub-category, scored by ITM. R@1/5/10 are averaged over 5 seeded
  draws of 1,000 queries; SumR = (R@1 + R@5 + R@10) * 100. A full-gallery mode ranks every query
  against all rows.
- COCO / Flickr30K (VSE++, used by mFSR): 5 captions per image; image-to-text rank is the best rank among
  the image's 5 captions; R@1/5/10 in percent, median and mean rank, rsum; COCO 1K = mean over 5 folds.

Ties are pessimistic everywhere: a candidate scoring the same as the positive ranks ahead of it, so a
model that outputs a constant score gets the worst possible rank, never R@1 = 100% by the accident of the
positive's position in the candidate list.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm


ScoreFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``score_fn(query_indices, candidate_indices) -> scores``: ``query_indices`` (batch,) long,
``candidate_indices`` (batch, num_candidates) long (row indices into the evaluated split), returns
scores (batch, num_candidates); higher means a better match (e.g. MVLT's ITM match probability)."""


def _check_scores_and_positives(scores: torch.Tensor, positives: torch.Tensor) -> None:
    if scores.dim() != 2:
        raise ValueError(f"scores must be 2-D (num_queries, num_candidates), got shape {tuple(scores.shape)}.")
    if positives.shape != scores.shape:
        raise ValueError(
            f"positives must have the shape of scores {tuple(scores.shape)}, got {tuple(positives.shape)}."
        )
    if positives.dtype != torch.bool:
        raise ValueError(f"positives must be a bool tensor, got dtype {positives.dtype}.")
    if torch.isnan(scores).any():
        row = int(torch.isnan(scores).any(dim=1).nonzero()[0])
        raise ValueError(f"scores contain NaN (first at query {row}); cannot rank.")
    missing = ~positives.any(dim=1)
    if missing.any():
        raise ValueError(
            f"every query needs at least one positive candidate; query {int(missing.nonzero()[0])} has none "
            f"({int(missing.sum())} queries in all)."
        )


def best_positive_ranks(scores: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """0-based rank of the best-ranked positive of each query, ties pessimistic.

    The rank of a positive is the number of negatives scoring greater than or equal to it (SPEC §6: with one
    positive this is "number of candidates with score >= the positive's, minus one"). Other positives never
    push a positive down: if one ranks ahead, that one is itself the hit. So the best positive's rank is the
    number of negatives scoring >= the highest positive score.

    Args:
        scores: (num_queries, num_candidates) float, higher is better.
        positives: (num_queries, num_candidates) bool, at least one True per row.

    Returns:
        (num_queries,) long ranks, 0 = top.
    """
    _check_scores_and_positives(scores, positives)
    scores = scores.float()
    best_positive_score = scores.masked_fill(~positives, float("-inf")).amax(dim=1, keepdim=True)
    return ((scores >= best_positive_score) & ~positives).sum(dim=1)


def recall_at_k(
    scores: torch.Tensor, positives: torch.Tensor, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Fraction of queries with at least one positive among the top ``k`` candidates.

    Args:
        scores: (num_queries, num_candidates), higher is better.
        positives: (num_queries, num_candidates) bool; a query may have several positives.
        ks: cut-offs.

    Returns:
        ``{"R@1": ..., "R@5": ..., "R@10": ...}`` as fractions in [0, 1].
    """
    ranks = best_positive_ranks(scores, positives)
    return recall_from_ranks(ranks, ks)


def recall_from_ranks(ranks: torch.Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``{"R@k": fraction of ranks < k}`` for 0-based ``ranks`` (num_queries,)."""
    if ranks.numel() == 0:
        raise ValueError("cannot compute recall over zero queries.")
    for k in ks:
        if int(k) < 1:
            raise ValueError(f"recall cut-offs must be >= 1, got {k}.")
    return {f"R@{k}": (ranks < k).float().mean().item() for k in ks}


def sum_r(recalls: Mapping[str, float]) -> float:
    """SumR = (R@1 + R@5 + R@10) * 100 (MVLT Table 2), from fractions as returned by :func:`recall_at_k`."""
    missing = [key for key in ("R@1", "R@5", "R@10") if key not in recalls]
    if missing:
        raise KeyError(f"sum_r needs R@1, R@5 and R@10; missing {missing} in {sorted(recalls)}.")
    return (recalls["R@1"] + recalls["R@5"] + recalls["R@10"]) * 100.0


# ----------------------------------------------------------------------------------------------------------
# Fashion-Gen 101-candidate protocol
# ----------------------------------------------------------------------------------------------------------


@dataclass
class CandidateSets:
    """Candidates of each query for the 101-candidate protocol.

    Attributes:
        query_indices: (num_queries,) long, row of each query (the positive is the same row of the other modality).
        candidate_indices: (num_queries, 1 + num_negatives) long rows; column 0 is the positive. Putting the
            positive first is safe because ties are pessimistic.
    """

    query_indices: torch.Tensor
    candidate_indices: torch.Tensor

    @property
    def positives(self) -> torch.Tensor:
        """(num_queries, 1 + num_negatives) bool, True in column 0."""
        mask = torch.zeros(self.candidate_indices.shape, dtype=torch.bool)
        mask[:, 0] = True
        return mask


def _as_numpy_ids(values, name: str) -> np.ndarray:
    array = values.cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one id per row), got shape {array.shape}.")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer ids, got dtype {array.dtype}.")
    return array


def sample_same_subcategory_candidates(
    subcategory_ids,
    product_ids,
    query_indices=None,
    num_queries: int = 1000,
    num_negatives: int = 100,
    seed: int = 0,
) -> CandidateSets:
    """Draw 1 positive + ``num_negatives`` negatives per query from the positive's sub-category (MVLT TIR/ITR).

    Negatives are rows of the same sub-category whose product differs from the query's product (rows of one
    product share its description, so they are never negatives), drawn without replacement. When a
    sub-category has fewer such rows than ``num_negatives`` the remainder is drawn from other sub-categories
    (still never the query's product) and a warning names the sub-category.

    Args:
        subcategory_ids: (num_rows,) int sub-category id of each row.
        product_ids: (num_rows,) int product id of each row.
        query_indices: rows to use as queries; by default ``num_queries`` rows drawn without replacement.
        num_queries: number of queries drawn when ``query_indices`` is None (all rows if there are fewer).
        num_negatives: negatives per query (100 in the paper).
        seed: seed of the draw (numpy ``default_rng``), so a draw is reproducible.

    Returns:
        :class:`CandidateSets` with the positive in column 0.
    """
    subcategories = _as_numpy_ids(subcategory_ids, "subcategory_ids")
    products = _as_numpy_ids(product_ids, "product_ids")
    if len(subcategories) != len(products):
        raise ValueError(
            f"subcategory_ids and product_ids must have one entry per row; got {len(subcategories)} and {len(products)}."
        )
    num_rows = len(products)
    rng = np.random.default_rng(seed)
    if query_indices is None:
        queries = np.sort(rng.choice(num_rows, size=min(num_queries, num_rows), replace=False))
    else:
        queries = _as_numpy_ids(query_indices, "query_indices")
        bad = queries[(queries < 0) | (queries >= num_rows)]
        if len(bad):
            raise ValueError(f"query index {int(bad[0])} out of range for {num_rows} rows.")

    rows_by_subcategory = {int(sub): np.flatnonzero(subcategories == sub) for sub in np.unique(subcategories)}
    all_rows = np.arange(num_rows)
    short_subcategories: dict[int, int] = {}
    candidates = np.empty((len(queries), 1 + num_negatives), dtype=np.int64)
    for position, query in enumerate(queries):
        product = products[query]
        same = rows_by_subcategory[int(subcategories[query])]
        pool = same[products[same] != product]
        if len(pool) >= num_negatives:
            negatives = rng.choice(pool, size=num_negatives, replace=False)
        else:
            short_subcategories[int(subcategories[query])] = len(pool)
            others = all_rows[(subcategories != subcategories[query]) & (products != product)]
            needed = num_negatives - len(pool)
            if len(others) < needed:
                raise ValueError(
                    f"only {len(pool) + len(others)} rows of other products exist for query row {int(query)}; "
                    f"cannot draw {num_negatives} negatives."
                )
            negatives = np.concatenate([pool, rng.choice(others, size=needed, replace=False)])
        candidates[position, 0] = query
        candidates[position, 1:] = negatives
    for subcategory, available in sorted(short_subcategories.items()):
        warnings.warn(
            f"sub-category {subcategory} has only {available} rows of other products (< {num_negatives} negatives); "
            "the remaining negatives were drawn from other sub-categories.",
            stacklevel=2,
        )
    return CandidateSets(torch.from_numpy(queries.astype(np.int64)), torch.from_numpy(candidates))


def score_candidate_sets(
    score_fn: ScoreFunction, candidate_sets: CandidateSets, query_batch_size: int = 8, progress: bool = True
) -> torch.Tensor:
    """Call ``score_fn`` over the queries in batches (tqdm over queries); returns (num_queries, num_candidates)."""
    num_queries = len(candidate_sets.query_indices)
    scores = torch.empty(candidate_sets.candidate_indices.shape, dtype=torch.float32)
    with tqdm(total=num_queries, desc="scoring queries", unit="query", disable=not progress) as bar:
        for start in range(0, num_queries, query_batch_size):
            stop = min(start + query_batch_size, num_queries)
            batch_scores = score_fn(candidate_sets.query_indices[start:stop], candidate_sets.candidate_indices[start:stop])
            batch_scores = torch.as_tensor(batch_scores).detach().float().cpu()
            expected = (stop - start, candidate_sets.candidate_indices.shape[1])
            if tuple(batch_scores.shape) != expected:
                raise ValueError(f"score_fn returned shape {tuple(batch_scores.shape)}, expected {expected}.")
            scores[start:stop] = batch_scores
            bar.update(stop - start)
    return scores


def evaluate_same_subcategory_retrieval(
    score_fn: ScoreFunction,
    subcategory_ids,
    product_ids,
    num_queries: int = 1000,
    num_draws: int = 5,
    num_negatives: int = 100,
    seed: int = 0,
    ks: Sequence[int] = (1, 5, 10),
    query_batch_size: int = 8,
    progress: bool = True,
) -> dict:
    """Fashion-Gen TIR/ITR: R@K over ``num_draws`` seeded draws of ``num_queries`` queries, 1 + 100 candidates.

    Draw ``d`` uses seed ``seed + d`` for both the queries and their negatives. The same function serves both
    directions: for TIR the callback scores query texts against candidate images, for ITR query images against
    candidate texts (rows index the split in both cases).

    Returns:
        ``{"R@1", "R@5", "R@10"}`` means over draws (fractions), ``"SumR"`` of the means (when ks include
        1, 5, 10), and ``"draws"``: the per-draw recall dicts.
    """
    draws = []
    for draw in range(num_draws):
        candidate_sets = sample_same_subcategory_candidates(
            subcategory_ids, product_ids, num_queries=num_queries, num_negatives=num_negatives, seed=seed + draw
        )
        scores = score_candidate_sets(score_fn, candidate_sets, query_batch_size=query_batch_size, progress=progress)
        draws.append(recall_at_k(scores, candidate_sets.positives, ks))
    result: dict = {key: float(np.mean([recalls[key] for recalls in draws])) for key in draws[0]}
    if all(f"R@{k}" in result for k in (1, 5, 10)):
        result["SumR"] = sum_r(result)
    result["draws"] = draws
    return result


def evaluate_full_gallery_retrieval(
    score_fn: ScoreFunction,
    product_ids,
    query_indices=None,
    ks: Sequence[int] = (1, 5, 10),
    query_batch_size: int = 1,
    progress: bool = True,
) -> dict:
    """Full-gallery mode: every query ranked against every row of the split.

    A candidate is positive when it shows the query's product (rows of one product share its description, the
    same rule that keeps them out of the 101-candidate negatives).

    Args:
        score_fn: scoring callback (see :data:`ScoreFunction`); receives all rows as candidates of each query.
        product_ids: (num_rows,) int.
        query_indices: rows used as queries (default: all rows).

    Returns:
        ``{"R@1", "R@5", "R@10", "SumR"}`` (fractions; SumR in percent points).
    """
    products = torch.from_numpy(_as_numpy_ids(product_ids, "product_ids").astype(np.int64))
    num_rows = len(products)
    queries = torch.arange(num_rows) if query_indices is None else torch.as_tensor(query_indices, dtype=torch.long)
    candidate_sets = CandidateSets(queries, torch.arange(num_rows).expand(len(queries), num_rows))
    scores = score_candidate_sets(score_fn, candidate_sets, query_batch_size=query_batch_size, progress=progress)
    positives = products[queries][:, None] == products[None, :]
    result: dict = recall_at_k(scores, positives, ks)
    if all(f"R@{k}" in result for k in (1, 5, 10)):
        result["SumR"] = sum_r(result)
    return result


# ----------------------------------------------------------------------------------------------------------
# VSE++ protocol (COCO / Flickr30K, mFSR)
# ----------------------------------------------------------------------------------------------------------


def _rank_summary(ranks: torch.Tensor, ks: Sequence[int]) -> dict[str, float]:
    """VSE++ summary of 0-based ranks: recalls in percent, medr = floor(median) + 1, meanr = mean + 1."""
    summary = {key: 100.0 * value for key, value in recall_from_ranks(ranks, ks).items()}
    numpy_ranks = ranks.cpu().numpy()
    summary["medr"] = float(np.floor(np.median(numpy_ranks)) + 1)
    summary["meanr"] = float(numpy_ranks.mean() + 1)
    return summary


def _similarity_ranks(
    query_embeds: torch.Tensor, candidate_embeds: torch.Tensor, positive_of: Callable, chunk_size: int
) -> torch.Tensor:
    """Best-positive ranks of every query under cosine similarity, computed in chunks of queries."""
    ranks = []
    for start in range(0, len(query_embeds), chunk_size):
        query_chunk = query_embeds[start : start + chunk_size]
        scores = query_chunk @ candidate_embeds.T
        rows = torch.arange(start, start + len(query_chunk))
        ranks.append(best_positive_ranks(scores, positive_of(rows, len(candidate_embeds))))
    return torch.cat(ranks)


def _vse_recall_single(
    image_embeds: torch.Tensor, text_embeds: torch.Tensor, captions_per_image: int, ks: Sequence[int], chunk_size: int
) -> dict:
    def captions_of_image(rows: torch.Tensor, num_texts: int) -> torch.Tensor:
        return (torch.arange(num_texts)[None, :] // captions_per_image) == rows[:, None]

    def image_of_caption(rows: torch.Tensor, num_images: int) -> torch.Tensor:
        return torch.arange(num_images)[None, :] == (rows[:, None] // captions_per_image)

    # i2t: the rank of an image is the best rank among its captions (VSE++ i2t).
    i2t = _rank_summary(_similarity_ranks(image_embeds, text_embeds, captions_of_image, chunk_size), ks)
    t2i = _rank_summary(_similarity_ranks(text_embeds, image_embeds, image_of_caption, chunk_size), ks)
    rsum = sum(i2t[f"R@{k}"] for k in ks) + sum(t2i[f"R@{k}"] for k in ks)
    return {"i2t": i2t, "t2i": t2i, "rsum": rsum}


def vse_recall(
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    captions_per_image: int = 5,
    fold5: bool = False,
    ks: Sequence[int] = (1, 5, 10),
    chunk_size: int = 1024,
) -> dict:
    """Image-to-text and text-to-image recall as in VSE++ (COCO / Flickr30K), cosine similarity.

    Args:
        image_embeds: (num_images, dim).
        text_embeds: (num_images * captions_per_image, dim); captions of image ``i`` are rows
            ``i * captions_per_image`` to ``i * captions_per_image + captions_per_image - 1``.
        captions_per_image: 5 for COCO / Flickr30K.
        fold5: mean over 5 folds of ``num_images / 5`` images each (COCO 1K); otherwise all images (COCO 5K).
        ks: recall cut-offs.
        chunk_size: queries scored at once (memory bound).

    Returns:
        ``{"i2t": {"R@1", "R@5", "R@10", "medr", "meanr"}, "t2i": {...}, "rsum"}``; recalls in percent,
        ranks 1-based; with ``fold5`` every number is the mean over the folds (as VSE++ reports).
    """
    if image_embeds.dim() != 2 or text_embeds.dim() != 2:
        raise ValueError(
            f"image_embeds and text_embeds must be 2-D, got {tuple(image_embeds.shape)} and {tuple(text_embeds.shape)}."
        )
    num_images = len(image_embeds)
    if len(text_embeds) != num_images * captions_per_image:
        raise ValueError(
            f"expected {captions_per_image} captions per image: {num_images} images need "
            f"{num_images * captions_per_image} text embeddings, got {len(text_embeds)}."
        )
    image_embeds = torch.nn.functional.normalize(image_embeds.float(), dim=-1)
    text_embeds = torch.nn.functional.normalize(text_embeds.float(), dim=-1)
    if not fold5:
        return _vse_recall_single(image_embeds, text_embeds, captions_per_image, ks, chunk_size)
    if num_images % 5:
        raise ValueError(f"fold5 needs the number of images to be divisible by 5, got {num_images}.")
    fold_size = num_images // 5
    folds = [
        _vse_recall_single(
            image_embeds[fold * fold_size : (fold + 1) * fold_size],
            text_embeds[fold * fold_size * captions_per_image : (fold + 1) * fold_size * captions_per_image],
            captions_per_image,
            ks,
            chunk_size,
        )
        for fold in range(5)
    ]
    return {
        "i2t": {key: float(np.mean([fold["i2t"][key] for fold in folds])) for key in folds[0]["i2t"]},
        "t2i": {key: float(np.mean([fold["t2i"][key] for fold in folds])) for key in folds[0]["t2i"]},
        "rsum": float(np.mean([fold["rsum"] for fold in folds])),
    }


__all__ = [
    "CandidateSets",
    "ScoreFunction",
    "best_positive_ranks",
    "evaluate_full_gallery_retrieval",
    "evaluate_same_subcategory_retrieval",
    "recall_at_k",
    "recall_from_ranks",
    "sample_same_subcategory_candidates",
    "score_candidate_sets",
    "sum_r",
    "vse_recall",
]
