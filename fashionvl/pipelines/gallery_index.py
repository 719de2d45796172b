"""``FashionGalleryIndex``: a gallery embedded once, saved to disk, searched exactly (torch) or with FAISS.

A gallery is a set of items of one modality (product images, or captions) embedded by a dual encoder
(mFSR semantic embeddings, or M2Fashion attribute-specific embeddings Z for one attribute query). Embeddings
are stored L2-normalised, so the inner product is the cosine similarity both models rank by.

- Exact search: ``query @ gallery.T`` in torch, in chunks of queries, then ``torch.topk``.
- FAISS search (optional extra ``pip install fashionvl[faiss]``), ``index_type=``:
  ``"flat"`` (``IndexFlatIP``, exact, no search memory), or approximate for large galleries (opt-in):
  ``"ivf"`` (``IndexIVFFlat``: k-means cells, ``nprobe`` cells visited per query) and ``"hnsw"``
  (``IndexHNSWFlat``: a proximity graph, ``ef_search`` candidates kept per query). Recall against exact search
  and speed at 1M items: ``benchmarks/bench_gallery_scale.py``.
  Why not ``datasets.Dataset.add_faiss_index``: it indexes a column of an Arrow dataset; a gallery here is a
  tensor file with a checksum and an ``index.json`` checked on load, and the torch backend needs no FAISS, so
  the index wraps FAISS directly (the same three FAISS classes that method builds from a factory string).
- Two-stage search: the dual encoder's top ``first_stage_k`` candidates are re-ranked by a more expensive
  scorer, e.g. MVLT's image-text matching (ITM) probability; only those candidates are re-scored.

On disk an index is a folder with ``embeddings.safetensors`` (one tensor ``embeddings``, (num_items, dim)
float32) and ``index.json`` (ids, optional items such as image paths, modality, the model that embedded it,
attribute names for M2Fashion, the SHA-256 of the embeddings file, free metadata). :meth:`FashionGalleryIndex.save`
writes the folder atomically (a temporary sibling swapped into place), so a process killed while saving leaves
the old index or the new one; :meth:`FashionGalleryIndex.load` checks that embeddings, ids and items agree
(count, checksum) and that the embeddings are unit-norm, as cosine search promises.

A saved index is data that may come from elsewhere: its image items are resolved relative to a ``root`` given at
load (default: the index folder); absolute paths, ``..`` leaving the root, and URLs (unless ``allow_remote=True``)
are refused when an item is opened (:meth:`FashionGalleryIndex.open_item`), with an error naming the item.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .._safe_io import atomic_folder, open_image
from .faiss_search import FAISS_INDEX_TYPES, build_faiss_index, check_index_type, is_faiss_available, search_faiss_index


INDEX_FORMAT_VERSION = 1
EMBEDDINGS_FILE = "embeddings.safetensors"
METADATA_FILE = "index.json"
MODALITIES = ("image", "text")
UNIT_NORM_TOLERANCE = 1e-3


RerankFunction = Callable[[int, torch.Tensor], torch.Tensor]
"""``rerank_fn(query_position, candidate_indices) -> scores``: ``candidate_indices`` (num_candidates,) long
gallery positions of one query's first-stage candidates; returns (num_candidates,) scores, higher is better."""


class FashionGalleryIndex:
    """Normalised gallery embeddings with ids, optional items, exact / FAISS / two-stage search.

    Args:
        embeddings: (num_items, dim) gallery embeddings (normalised here).
        ids: one id per item (int or str; default ``0 .. num_items - 1``).
        items: optional item per row (image path, caption, or an in-memory PIL image); needed to re-rank with
            a pair scorer such as MVLT. Only str items are written by :meth:`save`.
        modality: ``"image"`` or ``"text"``, what the gallery items are.
        attributes: for M2Fashion galleries, the attribute names the embeddings were conditioned on.
        model_type, model_name_or_path: the model that embedded the gallery (recorded in ``index.json``).
        metadata: free JSON-serialisable metadata.
        encoder: optional in-memory query encoder (a ``FashionRetrievalPipeline`` of the dual encoder that
            built the index); used by a pipeline of a pair scorer (MVLT) to run the first stage. Not saved.

    Example:

    ```python
    >>> from transformers import pipeline
    >>> import fashionvl
    >>> retriever = pipeline("fashion-retrieval", model="path/to/mfsr")
    >>> index = FashionGalleryIndex.from_pipeline(retriever, images=["a.jpg", "b.jpg"])
    >>> index.save("gallery")
    >>> retriever("a black leather jacket", index=FashionGalleryIndex.load("gallery"), top_k=1)
    ```
    """

    def __init__(
        self,
        embeddings: torch.Tensor,
        ids: Sequence | None = None,
        items: Sequence | None = None,
        modality: str = "image",
        attributes: Sequence[str] | None = None,
        model_type: str | None = None,
        model_name_or_path: str | None = None,
        metadata: dict[str, Any] | None = None,
        encoder: Any = None,
    ):
        embeddings = torch.as_tensor(embeddings)
        if embeddings.dim() != 2 or embeddings.shape[0] == 0:
            raise ValueError(f"embeddings must be (num_items, dim) with at least one item, got {tuple(embeddings.shape)}.")
        if not torch.isfinite(embeddings).all():
            row = int((~torch.isfinite(embeddings)).any(dim=1).nonzero()[0])
            raise ValueError(f"embedding of gallery item {row} is not finite.")
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}.")
        num_items = embeddings.shape[0]
        ids = list(range(num_items)) if ids is None else list(ids)
        if len(ids) != num_items:
            raise ValueError(f"got {len(ids)} ids for {num_items} embeddings.")
        if len(set(ids)) != len(ids):
            raise ValueError("ids must be unique.")
        if items is not None and len(items) != num_items:
            raise ValueError(f"got {len(items)} items for {num_items} embeddings.")
        self.embeddings = torch.nn.functional.normalize(embeddings.detach().float().cpu(), dim=-1).contiguous()
        self.ids = ids
        self.items = list(items) if items is not None else None
        self.modality = modality
        self.attributes = list(attributes) if attributes is not None else None
        self.model_type = model_type
        self.model_name_or_path = model_name_or_path
        self.metadata = dict(metadata or {})
        self.encoder = encoder
        self.root: str | None = None  # set by load(): saved items are untrusted and resolved under it
        self._faiss_index = None

    # ------------------------------------------------------------------------------------------------ building

    @classmethod
    def from_pipeline(
        cls,
        retriever,
        images: Sequence | None = None,
        texts: Sequence[str] | None = None,
        attributes: Sequence[str] | None = None,
        ids: Sequence | None = None,
        batch_size: int = 32,
        metadata: dict[str, Any] | None = None,
    ) -> "FashionGalleryIndex":
        """Embed a gallery with a ``fashion-retrieval`` pipeline of a dual encoder (mFSR, M2Fashion).

        Exactly one of ``images`` / ``texts``; M2Fashion galleries take the ``attributes`` the embeddings are
        conditioned on (a query must then use the same attributes). The pipeline is kept as the index's
        ``encoder`` for two-stage search.
        """
        if (images is None) == (texts is None):
            raise ValueError("pass exactly one of images=[...] or texts=[...] to build a gallery index.")
        modality, items = ("image", images) if images is not None else ("text", texts)
        embeddings = retriever.embed(images=images, texts=texts, attributes=attributes, batch_size=batch_size)
        config = retriever.model.config
        return cls(
            embeddings,
            ids=ids,
            items=items,
            modality=modality,
            attributes=attributes,
            model_type=config.model_type,
            model_name_or_path=getattr(config, "_name_or_path", None) or None,
            metadata=metadata,
            encoder=retriever,
        )

    def add(self, embeddings: torch.Tensor, ids: Sequence | None = None, items: Sequence | None = None) -> None:
        """Append items (ids default to continuing integers); invalidates the FAISS index."""
        embeddings = torch.as_tensor(embeddings)
        if embeddings.dim() != 2 or embeddings.shape[1] != self.dim:
            raise ValueError(f"new embeddings must be (n, {self.dim}), got {tuple(embeddings.shape)}.")
        new_ids = list(ids) if ids is not None else list(range(len(self), len(self) + len(embeddings)))
        if len(new_ids) != len(embeddings) or set(new_ids) & set(self.ids):
            raise ValueError("new ids must be one per new embedding and not already in the index.")
        if (self.items is None) != (items is None):
            raise ValueError("pass items for the new rows exactly when the index stores items.")
        self.embeddings = torch.cat([self.embeddings, torch.nn.functional.normalize(embeddings.float().cpu(), dim=-1)])
        self.ids.extend(new_ids)
        if items is not None:
            self.items.extend(items)
        self._faiss_index = None

    # ------------------------------------------------------------------------------------------------ properties

    def __len__(self) -> int:
        return self.embeddings.shape[0]

    @property
    def dim(self) -> int:
        return self.embeddings.shape[1]

    def __repr__(self) -> str:
        return (
            f"FashionGalleryIndex(num_items={len(self)}, dim={self.dim}, modality={self.modality!r}, "
            f"model_type={self.model_type!r}, attributes={self.attributes})"
        )

    # ------------------------------------------------------------------------------------------------ search

    def _check_queries(self, query_embeds: torch.Tensor) -> torch.Tensor:
        query_embeds = torch.as_tensor(query_embeds)
        if query_embeds.dim() == 1:
            query_embeds = query_embeds[None]
        if query_embeds.dim() != 2 or query_embeds.shape[1] != self.dim:
            raise ValueError(
                f"query embeddings must be (num_queries, {self.dim}) for this index, got {tuple(query_embeds.shape)}."
            )
        return torch.nn.functional.normalize(query_embeds.detach().float().cpu(), dim=-1)

    def search(
        self,
        query_embeds: torch.Tensor,
        top_k: int = 10,
        backend: str = "torch",
        chunk_size: int = 256,
        index_type: str = "flat",
        nprobe: int | None = None,
        ef_search: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` gallery items of each query by cosine similarity.

        Args:
            query_embeds: (num_queries, dim) or (dim,).
            top_k: number of results (at most the gallery size).
            backend: ``"torch"`` (exact, chunked matmul + topk) or ``"faiss"`` (needs faiss).
            chunk_size: queries per matmul in the torch backend (bounds memory at chunk_size x num_items).
            index_type: FAISS index (``backend="faiss"`` only): ``"flat"`` (exact), ``"ivf"`` or ``"hnsw"``
                (approximate; see :meth:`faiss_index`).
            nprobe: IVF cells visited per query (default: :meth:`faiss_index`'s choice); more is slower and closer
                to exact.
            ef_search: HNSW candidates kept per query (default 128, at least ``top_k``).

        Returns:
            ``(scores, indices)``, both (num_queries, k): cosine similarities, descending, and gallery positions
            (map them to ids with ``index.ids``). Equal scores keep the lower gallery position first (exact
            backends). An approximate index may return fewer than ``k`` real hits for a query; the missing
            positions are -1 with score ``-inf``.
        """
        queries = self._check_queries(query_embeds)
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}.")
        top_k = min(top_k, len(self))
        if backend == "torch":
            if index_type != "flat":
                raise ValueError(f"index_type={index_type!r} needs backend='faiss'; the torch backend is exact.")
            return self._search_torch(queries, top_k, chunk_size)
        if backend == "faiss":
            return self._search_faiss(queries, top_k, index_type, nprobe, ef_search)
        raise ValueError(f"backend must be 'torch' or 'faiss', got {backend!r}.")

    def _search_torch(self, queries: torch.Tensor, top_k: int, chunk_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        all_scores, all_indices = [], []
        for start in range(0, len(queries), chunk_size):
            similarity = queries[start : start + chunk_size] @ self.embeddings.T
            # stable descending sort on the top candidates: ties keep the lower gallery position first
            scores, indices = torch.topk(similarity, top_k, dim=1)
            order = torch.sort(indices, dim=1).indices
            scores, indices = scores.gather(1, order), indices.gather(1, order)
            order = torch.sort(scores, dim=1, descending=True, stable=True).indices
            all_scores.append(scores.gather(1, order))
            all_indices.append(indices.gather(1, order))
        return torch.cat(all_scores), torch.cat(all_indices)

    def faiss_index(self, index_type: str = "flat", nlist: int | None = None):
        """The FAISS index of ``index_type`` over the embeddings (built on first use, rebuilt after :meth:`add`;
        ``nlist`` applies when the IVF index is built).

        - ``"flat"``: ``IndexFlatIP``, exact inner product; memory = the embeddings (4 x dim bytes per item).
        - ``"ivf"``: ``IndexIVFFlat`` (inner product), ``nlist`` k-means cells (default sqrt(N), at most N / 39)
          trained on up to 64 x nlist items; memory = embeddings + an 8-byte id per item; ``nprobe`` (default
          max(1, nlist / 16)) cells are searched per query.
        - ``"hnsw"``: ``IndexHNSWFlat`` (inner product, M = 32 links, efConstruction 80); memory = embeddings
          + about 2 x M x 4 bytes of links per item; slow to build (minutes per million items on 2 cores).
        """
        check_index_type(index_type)
        if not is_faiss_available():
            raise ImportError("FAISS search needs the optional extra: pip install 'fashionvl[faiss]' (faiss-cpu).")
        if self._faiss_index is None:
            self._faiss_index = {}
        if index_type not in self._faiss_index:
            self._faiss_index[index_type] = build_faiss_index(self.embeddings, index_type, nlist)
        return self._faiss_index[index_type]

    def _search_faiss(self, queries: torch.Tensor, top_k: int, index_type: str = "flat", nprobe: int | None = None,
                      ef_search: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return search_faiss_index(self.faiss_index(index_type), queries, top_k, index_type, nprobe, ef_search)

    def search_two_stage(
        self,
        query_embeds: torch.Tensor,
        rerank_fn: RerankFunction,
        first_stage_k: int = 100,
        top_k: int = 10,
        backend: str = "torch",
        **search_kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Dual-encoder top-``first_stage_k`` candidates, re-ranked by ``rerank_fn`` (e.g. MVLT ITM); top ``top_k``.

        Only the first stage's candidates are re-scored, so the cost is num_queries x first_stage_k pair scores
        whatever the gallery size. ``search_kwargs`` go to the first stage's :meth:`search` (``index_type``,
        ``nprobe``, ``ef_search``, ``chunk_size``).

        Returns:
            ``(scores, indices)`` (num_queries, min(top_k, first_stage_k)): re-ranking scores, descending, and
            gallery positions.
        """
        _, candidates = self.search(query_embeds, top_k=first_stage_k, backend=backend, **search_kwargs)
        top_k = min(top_k, candidates.shape[1])
        all_scores, all_indices = [], []
        for position, candidate_indices in enumerate(candidates):
            candidate_indices = candidate_indices[candidate_indices >= 0]  # an approximate index may find fewer
            scores = torch.as_tensor(rerank_fn(position, candidate_indices)).detach().float().cpu().reshape(-1)
            if len(scores) != len(candidate_indices):
                raise ValueError(f"rerank_fn returned {len(scores)} scores for {len(candidate_indices)} candidates.")
            order = torch.sort(scores, descending=True, stable=True).indices[:top_k]
            missing = top_k - len(order)
            all_scores.append(torch.cat([scores[order], torch.full((missing,), float("-inf"))]))
            all_indices.append(torch.cat([candidate_indices[order], torch.full((missing,), -1, dtype=torch.long)]))
        return torch.stack(all_scores), torch.stack(all_indices)

    # ------------------------------------------------------------------------------------------------ items

    def open_item(self, position: int, allow_remote: bool = False, timeout: float | None = None,
                  max_image_bytes: int | None = None):
        """The image of gallery item ``position`` (PIL image, or opened from its path / URL).

        Items of an index read by :meth:`load` are untrusted: paths resolve under ``self.root`` (absolute paths and
        ``..`` leaving it are refused) and URLs need ``allow_remote=True``; items given in memory open as given.
        """
        if self.items is None:
            raise ValueError("this index stores no items; load it with items=[...] to open them.")
        return open_image(self.items[position], f"index.items[{position}]", root=self.root, allow_remote=allow_remote,
                          timeout=timeout, max_image_bytes=max_image_bytes)

    # ------------------------------------------------------------------------------------------------ disk

    def save(self, folder: str | os.PathLike, items_root: str | os.PathLike | None = None) -> Path:
        """Write ``embeddings.safetensors`` and ``index.json`` into ``folder``, atomically. Returns the folder.

        Items are saved when they are all strings (paths, URLs, captions); in-memory images are not saved
        (``items`` is then null, and two-stage re-ranking after :meth:`load` needs ``items=`` again).

        Args:
            folder: the index folder; an existing one is replaced as a whole (a temporary sibling folder is
                written and swapped into place, so a kill leaves the old index or the new one).
            items_root: for image paths: store them relative to this folder (every path must lie inside it);
                load the index with ``root=`` the same folder. Without it paths are stored as given, and
                :meth:`load` resolves them relative to the index folder.
        """
        folder = Path(folder)
        items = None
        if self.items is not None and all(isinstance(item, (str, os.PathLike)) for item in self.items):
            items = [os.fspath(item) for item in self.items]
            if items_root is not None:
                items = [self._relative_item(item, items_root, position) for position, item in enumerate(items)]
        description = {
            "format_version": INDEX_FORMAT_VERSION,
            "num_items": len(self),
            "dim": self.dim,
            "modality": self.modality,
            "model_type": self.model_type,
            "model_name_or_path": self.model_name_or_path,
            "attributes": self.attributes,
            "ids": self.ids,
            "items": items,
            "metadata": self.metadata,
        }
        try:
            json.dumps(description)
        except TypeError as error:
            raise TypeError(f"ids and metadata of a saved index must be JSON-serialisable (int / str): {error}") from error
        with atomic_folder(folder) as temporary:
            save_file({"embeddings": self.embeddings}, str(temporary / EMBEDDINGS_FILE), metadata={"format": "pt"})
            description["embeddings_sha256"] = _sha256(temporary / EMBEDDINGS_FILE)
            (temporary / METADATA_FILE).write_text(json.dumps(description, indent=1), encoding="utf-8")
        return folder

    @staticmethod
    def _relative_item(item: str, items_root, position: int) -> str:
        from .._safe_io import is_url

        if is_url(item) or item.startswith("data:"):
            return item
        root = os.path.abspath(os.fspath(items_root))
        path = os.path.abspath(item)  # items were opened as given when the gallery was embedded (relative to the cwd)
        if os.path.commonpath([root, path]) != root:
            raise ValueError(f"items[{position}] ({item!r}) is not inside items_root {root!r}.")
        return os.path.relpath(path, root)

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike,
        encoder: Any = None,
        items: Sequence | None = None,
        root: str | os.PathLike | None = None,
    ) -> "FashionGalleryIndex":
        """Read an index written by :meth:`save`, checking that its parts agree.

        Args:
            folder: the index folder.
            encoder: optional query encoder to attach (a pipeline of the model that built the index).
            items: items to use instead of the saved ones (e.g. in-memory images); these are trusted.
            root: folder the saved image items are relative to (default: the index folder). Saved items are
                untrusted: when opened, absolute paths and paths leaving ``root`` are refused, URLs need
                ``allow_remote=True`` (:meth:`open_item`).

        Raises:
            FileNotFoundError: a file of the index is missing.
            ValueError: naming the file, when the embeddings, ids and items disagree in count, the embeddings
                file does not match the checksum in ``index.json`` (a mix of two saves), or an embedding is not
                unit-norm.
        """
        folder = Path(folder)
        metadata_path, embeddings_path = folder / METADATA_FILE, folder / EMBEDDINGS_FILE
        for path in (metadata_path, embeddings_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path} not found: a gallery index folder holds {METADATA_FILE} and {EMBEDDINGS_FILE}.")
        try:
            description = json.loads(metadata_path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as error:
            raise ValueError(f"Malformed {metadata_path}, line {error.lineno} column {error.colno}: {error.msg}") from error
        if not isinstance(description, dict):
            raise ValueError(f"{metadata_path} must hold a JSON object, got {type(description).__name__}.")
        version = description.get("format_version")
        if version != INDEX_FORMAT_VERSION:
            raise ValueError(f"{metadata_path} has format_version {version!r}; this fashionvl reads {INDEX_FORMAT_VERSION}.")
        for key, kind in (("num_items", int), ("dim", int), ("ids", list), ("modality", str)):
            if not isinstance(description.get(key), kind) or isinstance(description.get(key), bool):
                raise ValueError(f"{metadata_path}: {key!r} must be a {kind.__name__}, got {description.get(key)!r:.80}.")
        saved_items = description.get("items")
        if saved_items is not None and (not isinstance(saved_items, list)
                                        or not all(isinstance(item, str) for item in saved_items)):
            raise ValueError(f"{metadata_path}: 'items' must be null or a list of strings.")
        checksum = description.get("embeddings_sha256")
        if checksum is not None and checksum != _sha256(embeddings_path):
            raise ValueError(
                f"{embeddings_path} does not match the embeddings_sha256 of {metadata_path}: the two files come from "
                "different saves (an interrupted copy or a hand edit); save the index again."
            )
        try:
            tensors = load_file(str(embeddings_path))
        except Exception as error:  # safetensors raises its own error types for truncated / malformed files
            raise ValueError(f"{embeddings_path} could not be read as safetensors: {error}") from error
        if "embeddings" not in tensors:
            raise ValueError(f"{embeddings_path} holds no tensor named 'embeddings' (found {sorted(tensors)}).")
        embeddings = tensors["embeddings"]
        if tuple(embeddings.shape) != (description["num_items"], description["dim"]):
            raise ValueError(
                f"{embeddings_path} holds {tuple(embeddings.shape)} embeddings, {metadata_path} says "
                f"({description['num_items']}, {description['dim']})."
            )
        for key, values in (("ids", description["ids"]), ("items", saved_items)):
            if values is not None and len(values) != description["num_items"]:
                raise ValueError(f"{metadata_path} lists {len(values)} {key} for {description['num_items']} embeddings.")
        embeddings = embeddings.float()
        if not torch.isfinite(embeddings).all():
            row = int((~torch.isfinite(embeddings)).any(dim=1).nonzero()[0])
            raise ValueError(f"{embeddings_path}: embedding of gallery item {row} is not finite.")
        norms = embeddings.norm(dim=-1)
        off = (norms - 1).abs() > UNIT_NORM_TOLERANCE
        if off.any():
            row = int(off.nonzero()[0])
            raise ValueError(
                f"{embeddings_path}: embedding of gallery item {row} has norm {float(norms[row]):.4g}; an index stores "
                "unit-norm embeddings (cosine scores), so this file was not written by FashionGalleryIndex.save."
            )
        index = cls(
            embeddings,
            ids=description["ids"],
            items=items if items is not None else saved_items,
            modality=description["modality"],
            attributes=description.get("attributes"),
            model_type=description.get("model_type"),
            model_name_or_path=description.get("model_name_or_path"),
            metadata=description.get("metadata"),
            encoder=encoder,
        )
        index.embeddings = embeddings.contiguous()  # saved normalised: keep the exact stored values
        if items is None and saved_items is not None:
            index.root = os.path.abspath(os.fspath(root if root is not None else folder))
        return index


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = ["FAISS_INDEX_TYPES", "FashionGalleryIndex", "RerankFunction", "is_faiss_available"]
