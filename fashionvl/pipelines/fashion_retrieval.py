"""The ``fashion-retrieval`` pipeline: rank candidates (or a gallery index) for text or image queries.

Registered on ``import fashionvl``::

    from transformers import pipeline
    import fashionvl

    retriever = pipeline("fashion-retrieval", model="path/to/mvlt-or-mfsr-or-m2fashion")
    retriever("black leather biker jacket", images=["a.jpg", "b.jpg", pil_image], top_k=2)   # text -> images
    retriever("a.jpg", texts=["red dress", "black jacket"], top_k=1)                         # image -> texts
    retriever(query_image, attributes=["floral"], images=gallery_images)                     # M2Fashion
    retriever("black jacket", index=gallery_index, top_k=10)                                  # over an index

A result is a list of ``{"score", "index", "candidate"}`` dicts sorted by decreasing score (``"id"`` instead of /
next to ``"candidate"`` for an index); a list of queries gives a list of such lists.

How each architecture scores (see ``model_adapters``): mFSR embeds both sides and ranks by cosine similarity;
M2Fashion embeds the query image and the candidate images conditioned on the query's attributes (attribute-specific
retrieval) and ranks by cosine similarity. MVLT takes ``score=``:

- ``"itm"`` (the paper): the ITM match probability of every (caption, image) pair, in batches of ``batch_size``;
- ``"itc"`` (ours, a model pre-trained with ITC): cosine similarity of MVLT's own ITC embeddings;
- ``"fused"`` (default when the model has ITC, BLIP's ranking): ``exp(logit_scale) * cos + itm_fusion_weight *
  ITM log-odds``. Over a candidate list every candidate gets the fused score; over an index the ITC embeddings
  rank the gallery and the top ``first_stage_k`` are re-ranked by the fused score (two-stage search).

Images: PIL images are used as given; paths are opened from disk; http(s) URLs are fetched only with
``allow_remote=True`` (at ``pipeline(...)`` or per call), within ``timeout`` seconds for the whole download
(default 10), at most ``max_image_bytes`` (default 20 MiB), and never through a redirect to another host. The
images reach the image processor as opened (EXIF orientation applied, mode untouched), which converts any mode
to RGB (transparency on white, 16-bit and float images by their range). The items of a loaded
``FashionGalleryIndex`` are untrusted: see ``FashionGalleryIndex.open_item``.

An index embedded by MVLT itself (``FashionGalleryIndex.from_pipeline`` with an MVLT pipeline) needs nothing else;
an index embedded by another dual encoder (mFSR) can still serve as MVLT's first stage (``score="itm"``).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from tqdm.auto import tqdm
from transformers import Pipeline

from ..families import FAMILIES
from .model_adapters import RETRIEVAL_ADAPTERS, get_retrieval_adapter
from .pair_reranking import GalleryPixelCache, rerank_logits
from .pipeline_inputs import _is_query_stream, check_candidates, check_image_loading_options, load_image


CALL_OPTIONS = ("images", "texts", "attributes", "index", "top_k", "first_stage_k", "backend", "score",
                "allow_remote", "timeout", "max_image_bytes")
SCORES = ("fused", "itc", "itm")
DEFAULT_BATCH_SIZE = 32


def _gallery_index_class() -> type:
    """``FashionGalleryIndex``, imported on use. The pipeline shipped with a Hub export (``custom_pipelines``: remote
    code, fashionvl absent) ranks candidate lists and leaves the gallery index out: transformers requires at load time
    every package that a shipped file imports, and the index's FAISS backend is optional."""
    try:
        return importlib.import_module(f"{__package__}.gallery_index").FashionGalleryIndex
    except ModuleNotFoundError as error:
        raise ValueError(
            "index= needs fashionvl's gallery index (pip install fashionvl); this pipeline was loaded from an exported "
            "folder without it: rank candidates with images=[...] / texts=[...]."
        ) from error


def load_processor_for(model):
    """The fashionvl processor saved next to ``model`` (``config._name_or_path``): its family's processor class."""
    model_type = model.config.model_type
    source = getattr(model.config, "_name_or_path", None)
    if model_type not in FAMILIES or not source:
        raise ValueError(
            f"fashion-retrieval needs a processor for this {model_type} model: pass processor=... to pipeline() "
            "(the model was not loaded from a folder that holds one)."
        )
    processor_class = FAMILIES[model_type].processor_class()
    try:
        return processor_class.from_pretrained(source)
    except (OSError, ValueError, TypeError) as error:
        raise ValueError(f"could not load the {model_type} processor from {source!r}: {error}") from error


def check_device(device: Any) -> None:
    """Refuse a CUDA device where there is none, with the error transformers' pipelines give for an unavailable XPU
    / HPU device (for CUDA they leave torch's bare ``AssertionError: Torch not compiled with CUDA enabled``)."""
    if device is None or isinstance(device, int):  # an int falls back to the CPU in transformers without a GPU
        return
    device = torch.device(device)
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f'{device} is not available, you should use device="cpu" instead')


def _pair_scorer_as_saved(model):
    """``model``, or the class it was saved as when that is a pair scorer and ``model`` lost its ITM head.

    pipeline() loads a folder with the task's Auto class: ``AutoModelForFashionRetrieval`` for the task fashionvl
    registers, the one named in ``custom_pipelines`` for the copy shipped with an export. For an exported
    ``MVLTForImageTextRetrieval`` that is ``AutoModel``, which gives the saved class through the folder's ``auto_map``
    but fashionvl's base ``MVLTModel`` where fashionvl is installed (its registered mapping comes first)."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    adapter = RETRIEVAL_ADAPTERS.get(model_type)
    saved = (getattr(model.config, "architectures", None) or [None])[0] if adapter is not None else None
    if adapter is None or not adapter.is_pair_scorer or getattr(model, "itm_head", None) is not None or saved is None:
        return model
    # the saved class lives next to the loaded one (fashionvl's modeling module, or the folder's copy of it)
    saved_class = getattr(sys.modules[type(model).__module__], saved, None)
    source = getattr(model.config, "_name_or_path", None)
    if not isinstance(saved_class, type) or not source or saved_class is type(model):
        return model
    return saved_class.from_pretrained(source, dtype=model.dtype)


class FashionRetrievalPipeline(Pipeline):
    """Cross-modal and attribute-specific retrieval with MVLT, mFSR and M2Fashion checkpoints.

    Call forms (``top_k`` default 5, ``None`` = all; ``batch_size`` = items or pairs per forward pass):

    - ``pipe(text_query, images=[...])``: text -> images (MVLT, mFSR).
    - ``pipe(image_query, texts=[...])``: image -> texts (MVLT, mFSR).
    - ``pipe(image_query, images=[...], attributes=[...])``: attribute-specific image -> images (M2Fashion).
    - ``pipe(query, index=FashionGalleryIndex)``: search a pre-embedded gallery (``first_stage_k`` and an index
      built by a dual encoder for MVLT re-ranking; ``backend="faiss"`` for the FAISS index).

    Images are PIL images, numpy arrays (HWC, uint8 or float in [0, 1]), torch tensors (CHW as torchvision's
    ``to_tensor``, float in [0, 1] or uint8), paths, or http(s) URLs with ``allow_remote=True`` (``timeout``,
    ``max_image_bytes``; given to ``pipeline(...)`` they apply to every call). Transparent images (RGBA, LA, palette)
    are composited on white by the image processor. A list of queries gives a list of results; a generator or a
    dataset (transformers' ``KeyDataset``) gives an iterator of results, ranked ``batch_size`` queries at a time.
    ``device="cuda"`` without a GPU is refused with transformers' error for an unavailable device.
    """

    # The processor is optional for pipeline(): when AutoProcessor cannot resolve it, __init__ loads the
    # architecture's processor class from the checkpoint folder itself.
    _load_processor = None
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False
    _load_video_processor = False

    def __init__(self, *args, **kwargs):
        check_device(kwargs.get("device"))
        if "model" in kwargs:
            kwargs["model"] = _pair_scorer_as_saved(kwargs["model"])
        super().__init__(*args, **kwargs)
        if self.processor is None:
            self.processor = load_processor_for(self.model)
            self.tokenizer = getattr(self.processor, "tokenizer", None)
            self.image_processor = getattr(self.processor, "image_processor", None)
        from ..checkpoint_checks import check_checkpoint_folder

        check_checkpoint_folder(self.model, self.processor)  # weights of another model, a missing tokenizer
        self.model.eval()
        self.adapter = get_retrieval_adapter(self.model, self.processor)
        self._image_loading = check_image_loading_options(self._postprocess_params)
        self._pixel_cache = GalleryPixelCache()  # processed gallery images for two-stage re-ranking

    # ------------------------------------------------------------------------------------------ Pipeline API

    def _sanitize_parameters(self, **kwargs):
        unknown = sorted(set(kwargs) - set(CALL_OPTIONS))
        if unknown:
            raise TypeError(f"fashion-retrieval got unexpected arguments {unknown}; it takes {list(CALL_OPTIONS)} and batch_size.")
        check_image_loading_options(kwargs)
        return {}, {}, kwargs

    @contextlib.contextmanager
    def _image_loading_for_call(self, options: dict):
        """Use this call's ``allow_remote`` / ``timeout`` / ``max_image_bytes`` (over the pipeline's) meanwhile."""
        saved = self._image_loading
        self._image_loading = {**saved, **check_image_loading_options(options)}
        try:
            yield
        finally:
            self._image_loading = saved

    def _load_image(self, item: Any, where: str) -> Image.Image:
        return load_image(item, where, **self._image_loading)

    def preprocess(self, inputs: dict) -> dict:
        """Model inputs for one batch: ``{"images": [...], "attributes": ...}``, ``{"texts": [...]}``, or both
        (pairs, MVLT)."""
        if "texts" in inputs and "images" in inputs:
            return self.adapter.prepare_pairs(inputs["texts"], inputs["images"])
        if "images" in inputs:
            return self.adapter.prepare_images(inputs["images"], inputs.get("attributes"))
        return self.adapter.prepare_texts(inputs["texts"])

    def _forward(self, model_inputs: dict) -> torch.Tensor:
        return self.adapter.run(model_inputs)

    def postprocess(self, model_outputs: dict) -> list[dict]:
        """Rank one query's ``scores`` (num_candidates,): the top ``top_k`` as result dicts, best first."""
        scores = model_outputs["scores"]
        top_k = model_outputs.get("top_k")
        top_k = len(scores) if top_k is None else min(top_k, len(scores))
        order = torch.sort(scores, descending=True, stable=True).indices[:top_k]
        positions = model_outputs.get("positions")
        results = []
        for rank_position in order.tolist():
            index = int(positions[rank_position]) if positions is not None else rank_position
            result = {"score": float(scores[rank_position]), "index": index}
            if model_outputs.get("ids") is not None:
                result["id"] = model_outputs["ids"][index]
            if model_outputs.get("candidates") is not None:
                result["candidate"] = model_outputs["candidates"][index]
            results.append(result)
        return results

    def __call__(self, inputs, **kwargs):
        """Rank candidates for one query, or for each query of a list. See the class docstring."""
        batch_size = kwargs.pop("batch_size", None) or self._batch_size or DEFAULT_BATCH_SIZE
        options = {**self._postprocess_params, **self._sanitize_parameters(**kwargs)[2]}
        top_k = options.get("top_k", 5)
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive int or None, got {top_k!r}.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        if _is_query_stream(inputs):  # a generator, a KeyDataset / Dataset: results as they are ranked
            return self._rank_stream(inputs, batch_size, kwargs)
        is_batch = isinstance(inputs, (list, tuple))
        queries = list(inputs) if is_batch else [inputs]
        if not queries:
            raise ValueError("got an empty list of queries.")
        with self._image_loading_for_call(options):
            if options.get("index") is not None:
                results = self._search_index(queries, options, top_k, batch_size)
            else:
                results = self._rank_candidates(queries, options, top_k, batch_size)
        return results if is_batch else results[0]

    def _rank_stream(self, queries, batch_size: int, options: dict):
        """Yield the result of each query of an iterable, ranking ``batch_size`` queries per call (the candidates are
        embedded once per chunk, not once per query)."""
        if isinstance(queries, torch.utils.data.Dataset) and hasattr(queries, "__len__"):
            dataset = queries
            queries = (dataset[position] for position in range(len(dataset)))
        chunk = []
        for query in queries:
            chunk.append(query)
            if len(chunk) == batch_size:
                yield from self(chunk, batch_size=batch_size, **options)
                chunk = []
        if chunk:
            yield from self(chunk, batch_size=batch_size, **options)

    # ------------------------------------------------------------------------------------------ building blocks

    def _run_batches(self, inputs: dict, batch_size: int, description: str, image_name: str = "images") -> torch.Tensor:
        """``forward`` over the ``"texts"`` / ``"images"`` lists of ``inputs`` (equal lengths for MVLT pairs) in
        batches; images are loaded per batch, errors name ``image_name[i]``. Returns the concatenated outputs."""
        num_items = len(inputs["images"] if "images" in inputs else inputs["texts"])
        outputs = []
        starts = range(0, num_items, batch_size)
        for start in tqdm(starts, desc=description, disable=len(starts) < 4, leave=False):
            batch = {key: value[start : start + batch_size] if key in ("texts", "images") else value for key, value in inputs.items()}
            if "images" in batch:
                batch["images"] = [self._load_image(item, f"{image_name}[{start + offset}]") for offset, item in enumerate(batch["images"])]
            outputs.append(self.forward(self.preprocess(batch)))
        return torch.cat(outputs)

    def embed(
        self,
        images: Sequence | None = None,
        texts: Sequence[str] | None = None,
        attributes: Sequence | None = None,
        batch_size: int | None = None,
    ) -> torch.Tensor:
        """L2-normalised embeddings (num_items, dim) of images or texts (mFSR, M2Fashion, MVLT trained with ITC)."""
        if not self.adapter.embeds:
            raise ValueError(
                f"{type(self.model).__name__} was trained without ITC (itc_loss_weight=0): it scores (text, image) "
                "pairs and has no standalone embeddings; pre-train it with ITC, or build a gallery index with a dual "
                "encoder (mFSR) and re-rank it with MVLT."
            )
        if (images is None) == (texts is None):
            raise ValueError("embed() takes exactly one of images=[...] or texts=[...].")
        batch_size = batch_size or self._batch_size or DEFAULT_BATCH_SIZE
        if images is not None:
            images = check_candidates(images, "images", "image")
            return self._run_batches({"images": images, "attributes": attributes}, batch_size, "embedding images")
        texts = check_candidates(texts, "texts", "text")
        return self._run_batches({"texts": texts}, batch_size, "embedding texts")

    def score_pairs(self, texts: Sequence[str], images: Sequence, batch_size: int | None = None) -> torch.Tensor:
        """MVLT ITM match probability of each (texts[i], images[i]) pair, (num_pairs,)."""
        return self._pair_logits(texts, images, batch_size).softmax(dim=-1)[:, 1]

    def _pair_logits(self, texts: Sequence[str], images: Sequence, batch_size: int | None = None,
                     image_name: str = "images") -> torch.Tensor:
        """MVLT ITM logits (num_pairs, 2) of each (texts[i], images[i]) pair."""
        if not self.adapter.is_pair_scorer:
            raise ValueError(f"{type(self.model).__name__} is a dual encoder; use embed() and cosine similarity.")
        if len(texts) != len(images):
            raise ValueError(f"score_pairs needs one image per text, got {len(texts)} texts and {len(images)} images.")
        batch_size = batch_size or self._batch_size or DEFAULT_BATCH_SIZE
        return self._run_batches({"texts": list(texts), "images": list(images)}, batch_size, "scoring pairs", image_name)

    def _score_kind(self, options: dict, foreign_first_stage: bool = False) -> str:
        """The MVLT score of this call: `score=` or the default (fused with ITC, else ITM); checks it can be used."""
        score = options.get("score")
        if not self.adapter.is_pair_scorer:
            if score not in (None, "itc"):
                raise ValueError(f"score={score!r} is for MVLT; {self.model.config.model_type} ranks by cosine similarity.")
            return "itc"
        if score is None:
            return "fused" if self.adapter.embeds and not foreign_first_stage else "itm"
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}.")
        if score != "itm" and not self.adapter.embeds:
            raise ValueError(f"score={score!r} needs ITC embeddings, but this MVLT was trained without ITC "
                             "(itc_loss_weight=0); use score='itm'.")
        if score != "itm" and foreign_first_stage:
            raise ValueError(f"score={score!r} needs MVLT's own ITC embeddings in the index; this index was embedded "
                             "by another model, so MVLT can only re-rank it with score='itm'.")
        return score

    def _fuse(self, cosine: torch.Tensor, itm_logits: torch.Tensor) -> torch.Tensor:
        # MVLT's own module (fashionvl's, or the copy in an exported folder): a pair scorer is an MVLT model
        fuse_retrieval_scores = sys.modules[type(self.model).__module__].fuse_retrieval_scores
        return fuse_retrieval_scores(
            cosine, itm_logits, self.model.mvlt.logit_scale.detach().cpu(), self.model.config.itm_fusion_weight
        )

    def _query_modality(self, candidate_modality: str) -> str:
        if not self.adapter.ranks_texts:  # image -> image (M2Fashion)
            return "image"
        return "text" if candidate_modality == "image" else "image"

    def _check_query(self, query: Any, modality: str, position: int | None) -> Any:
        where = "query" if position is None else f"queries[{position}]"
        if modality == "text":
            if not isinstance(query, str):
                raise ValueError(f"{where} must be a text (str) to rank images, got {type(query).__name__}.")
            return query
        return self._load_image(query, where)

    # ------------------------------------------------------------------------------------------ candidate lists

    def _rank_candidates(self, queries: list, options: dict, top_k: int | None, batch_size: int) -> list[list[dict]]:
        images, texts, attributes = options.get("images"), options.get("texts"), options.get("attributes")
        if images is not None and texts is not None:
            raise ValueError("pass candidates as images=[...] or texts=[...], not both.")
        if images is None and texts is None:
            raise ValueError("fashion-retrieval needs candidates: images=[...], texts=[...], or index=FashionGalleryIndex.")
        model_name = type(self.model).__name__
        if not self.adapter.ranks_texts and texts is not None:
            raise ValueError(f"{model_name} retrieves images for an image + attributes query; it cannot rank texts.")
        if attributes and not self.adapter.takes_attributes:
            raise ValueError(f"attributes=... is for attribute-specific retrieval (M2Fashion), not {model_name}.")
        candidate_modality = "image" if images is not None else "text"
        candidates = check_candidates(images if images is not None else texts, f"{candidate_modality}s", candidate_modality)
        query_modality = self._query_modality(candidate_modality)
        position = (lambda i: i) if len(queries) > 1 else (lambda i: None)
        checked = [self._check_query(query, query_modality, position(i)) for i, query in enumerate(queries)]

        score_kind = self._score_kind(options)
        if score_kind in ("itm", "fused"):
            cosine = self._embedding_similarity(checked, candidates, query_modality, candidate_modality, attributes,
                                                batch_size) if score_kind == "fused" else None
            results = []
            for position, query in enumerate(tqdm(checked, desc="queries", disable=len(checked) < 2, leave=False)):
                if query_modality == "text":
                    pair_texts, pair_images = [query] * len(candidates), candidates
                else:
                    pair_texts, pair_images = candidates, [query] * len(candidates)
                logits = self._pair_logits(pair_texts, pair_images, batch_size)
                scores = logits.softmax(dim=-1)[:, 1] if cosine is None else self._fuse(cosine[position], logits)
                results.append(self.postprocess({"scores": scores, "candidates": candidates, "top_k": top_k}))
            return results

        similarity = self._embedding_similarity(checked, candidates, query_modality, candidate_modality, attributes,
                                                batch_size)
        return [self.postprocess({"scores": row, "candidates": candidates, "top_k": top_k}) for row in similarity]

    def _embedding_similarity(self, queries, candidates, query_modality, candidate_modality, attributes, batch_size):
        """Cosine similarity (num_queries, num_candidates) of the query and candidate embeddings."""
        checked = queries
        candidate_embeds = (
            self.embed(images=candidates, attributes=attributes, batch_size=batch_size)
            if candidate_modality == "image"
            else self.embed(texts=candidates, batch_size=batch_size)
        )
        query_embeds = (
            self.embed(images=checked, attributes=attributes, batch_size=batch_size)
            if query_modality == "image"
            else self.embed(texts=checked, batch_size=batch_size)
        )
        return query_embeds @ candidate_embeds.T

    # ------------------------------------------------------------------------------------------ gallery index

    def _search_index(self, queries: list, options: dict, top_k: int | None, batch_size: int) -> list[list[dict]]:
        index = options["index"]
        if not isinstance(index, _gallery_index_class()):
            raise ValueError(f"index must be a FashionGalleryIndex, got {type(index).__name__}.")
        if options.get("images") is not None or options.get("texts") is not None:
            raise ValueError("pass either candidates (images= / texts=) or index=, not both.")
        top_k = len(index) if top_k is None else top_k
        backend = options.get("backend", "torch")
        query_modality = self._query_modality(index.modality)
        position = (lambda i: i) if len(queries) > 1 else (lambda i: None)
        checked = [self._check_query(query, query_modality, position(i)) for i, query in enumerate(queries)]
        candidates = index.items

        model_type = self.model.config.model_type
        own_index = index.model_type == model_type or (index.model_type is None and index.encoder is None)
        score_kind = self._score_kind(options, foreign_first_stage=self.adapter.is_pair_scorer and not own_index)
        if score_kind == "itc":
            if index.model_type is not None and index.model_type != model_type:
                raise ValueError(f"this index was embedded by a {index.model_type} model; the pipeline runs {model_type}.")
            attributes = options.get("attributes")
            if self.adapter.takes_attributes and list(attributes or []) != list(index.attributes or []):
                raise ValueError(
                    f"{type(self.model).__name__} embeddings depend on the attributes: this index was built for {index.attributes}, "
                    f"the query asks for {attributes}; build an index for these attributes."
                )
            query_embeds = self.embed(
                **({"images": checked, "attributes": attributes} if query_modality == "image" else {"texts": checked}),
                batch_size=batch_size,
            )
            scores, indices = index.search(query_embeds, top_k=top_k, backend=backend)
            return [
                self.postprocess({"scores": row_scores, "positions": row_indices, "ids": index.ids, "candidates": candidates, "top_k": top_k})
                for row_scores, row_indices in zip(scores, indices)
            ]

        # MVLT: two-stage search. The first stage is MVLT's own ITC embeddings (an index MVLT embedded) or the
        # index's dual encoder (e.g. mFSR); the top first_stage_k are re-ranked by the fused score or by ITM.
        if own_index and self.adapter.embeds:
            encoder = self
        elif index.encoder is not None and not own_index:
            encoder = index.encoder
        else:
            raise ValueError(
                "MVLT re-ranks a gallery index's first-stage candidates, which needs first-stage embeddings: an index "
                "embedded by this MVLT (trained with ITC), or the dual encoder that built the index: build it with "
                "FashionGalleryIndex.from_pipeline(...) or load it with FashionGalleryIndex.load(folder, encoder=...)."
            )
        if candidates is None:
            raise ValueError("MVLT re-ranking needs the gallery items (images / texts): load the index with items=[...].")
        query_embeds = encoder.embed(
            **({"images": checked} if query_modality == "image" else {"texts": checked}), batch_size=batch_size
        )

        if query_modality == "image":  # the query images, loaded once (errors name the query)
            checked = [self._load_image(query, f"queries[{i}]") for i, query in enumerate(checked)]

        def rerank(query_position: int, candidate_indices: torch.Tensor) -> torch.Tensor:
            # gallery pixels processed once per index (cached), the query tokenised once: see pair_reranking
            logits = rerank_logits(self, index, checked[query_position], query_modality, candidate_indices.tolist(),
                                   batch_size, self._pixel_cache)
            if score_kind == "itm":
                return logits.softmax(dim=-1)[:, 1]
            cosine = index.embeddings[candidate_indices] @ torch.nn.functional.normalize(query_embeds[query_position].float().cpu(), dim=-1)
            return self._fuse(cosine, logits)

        first_stage_k = options.get("first_stage_k", 100)
        scores, indices = index.search_two_stage(query_embeds, rerank, first_stage_k=first_stage_k, top_k=top_k, backend=backend)
        return [
            self.postprocess({"scores": row_scores, "positions": row_indices, "ids": index.ids, "candidates": candidates, "top_k": top_k})
            for row_scores, row_indices in zip(scores, indices)
        ]

    # ------------------------------------------------------------------------------------------ saving

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Save the model and the processor (transformers 5.23's ``Pipeline.save_pretrained`` skips
        ``self.processor``), without ``custom_pipelines`` in the config: the task is registered by
        ``import fashionvl``, so ``pipeline("fashion-retrieval", model=save_directory)`` reloads it."""
        from .._safe_io import atomic_folder
        from ..hub import _without_auto_class, save_model_without_remote_code

        if not os.path.isdir(save_directory) or not os.listdir(save_directory):
            # a new folder: written whole in a temporary sibling and renamed, so a kill leaves nothing half-written
            with atomic_folder(save_directory) as staging:
                with _without_auto_class(self.model, self.model.config):
                    self.model.save_pretrained(staging, **kwargs)
                self.processor.save_pretrained(staging)
            return
        # an existing folder (other content kept): weights first, config.json last
        save_model_without_remote_code(self.model, save_directory, **kwargs)
        self.processor.save_pretrained(save_directory)


__all__ = ["FashionRetrievalPipeline", "check_candidates", "check_image_loading_options", "load_image", "load_processor_for"]
