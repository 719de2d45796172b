"""The fashion-retrieval pipeline on tiny MVLT, mFSR and M2Fashion checkpoints saved to disk.

Every ranking is checked against a direct computation with the model and its processor.
"""

import pytest
import torch
from PIL import Image, ImageDraw
from transformers import pipeline

import fashionvl
from fashionvl import FashionGalleryIndex
from fashionvl.hub import save_model_without_remote_code


CAPTIONS = ["red floral dress", "black leather jacket", "blue denim jeans", "white cotton shirt", "green wool coat"]
IMAGE_SIZE = 64


def make_images(count=6):
    """Distinct small product-like pictures: coloured shapes on white."""
    images = []
    for index in range(count):
        image = Image.new("RGB", (72, 80), "white")
        draw = ImageDraw.Draw(image)
        colour = ((53 * index) % 256, (97 * index + 40) % 256, (191 * index + 80) % 256)
        draw.rectangle([8 + 3 * index, 10, 60 - 2 * index, 70], fill=colour)
        draw.ellipse([20, 20 + 4 * index, 40, 40 + 4 * index], fill=(255 - colour[0], 30, colour[2]))
        images.append(image)
    return images


def build_mfsr_checkpoint(folder):
    from fashionvl.processing.image_processing_mvlt import MVLTImageProcessor
    from fashionvl.processing.processing_mfsr import MFSRProcessor, build_mfsr_tokenizer

    tokenizer = build_mfsr_tokenizer(CAPTIONS, min_count=1)
    processor = MFSRProcessor(MVLTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}), tokenizer)
    model = fashionvl.MFSRForRetrieval(fashionvl.MFSRConfig.from_preset("tiny", vocab_size=len(tokenizer))).eval()
    save_model_without_remote_code(model, folder)
    processor.save_pretrained(folder)
    return model, processor


def build_m2fashion_checkpoint(folder):
    from fashionvl.processing.image_processing_mvlt import MVLTImageProcessor
    from fashionvl.processing.processing_m2fashion import M2FashionProcessor

    config = fashionvl.M2FashionConfig.from_preset("tiny")
    names = [f"attribute_{index}" for index in range(config.num_attributes)]
    processor = M2FashionProcessor(MVLTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}), attribute_names=names)
    model = fashionvl.M2FashionModel(config).eval()
    save_model_without_remote_code(model, folder)
    processor.save_pretrained(folder)
    return model, processor


def build_mvlt_checkpoint(folder, **config_overrides):
    from fashionvl.processing.processing_mvlt import MVLTProcessor

    processor = MVLTProcessor.from_captions(CAPTIONS * 4, vocab_size=120, image_size=IMAGE_SIZE, model_max_length=16)
    config = fashionvl.MVLTConfig.from_preset(
        "tiny", vocab_size=len(processor.tokenizer), image_size=IMAGE_SIZE, **config_overrides
    )
    model = fashionvl.MVLTForImageTextRetrieval(config).eval()
    save_model_without_remote_code(model, folder)
    processor.save_pretrained(folder)
    return model, processor


@pytest.fixture(scope="module")
def images():
    return make_images()


@pytest.fixture(scope="module")
def image_paths(images, tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for index, image in enumerate(images):
        path = folder / f"product_{index}.png"
        image.save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def mfsr(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mfsr")
    model, processor = build_mfsr_checkpoint(folder)
    return model, processor, pipeline("fashion-retrieval", model=str(folder))


@pytest.fixture(scope="module")
def m2fashion(tmp_path_factory):
    folder = tmp_path_factory.mktemp("m2fashion")
    model, processor = build_m2fashion_checkpoint(folder)
    return model, processor, pipeline("fashion-retrieval", model=str(folder))


@pytest.fixture(scope="module")
def mvlt(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mvlt")
    model, processor = build_mvlt_checkpoint(folder)
    return model, processor, pipeline("fashion-retrieval", model=str(folder))


def _scores(results):
    return [result["score"] for result in results]


def _assert_same_ranking(results, expected):
    """Same candidates in the same order, scores equal up to float rounding of batched matmuls."""
    assert [r["index"] for r in results] == [r["index"] for r in expected]
    assert torch.allclose(torch.tensor(_scores(results)), torch.tensor(_scores(expected)), atol=1e-5)


def _assert_sorted(results):
    scores = _scores(results)
    assert scores == sorted(scores, reverse=True)


# ------------------------------------------------------------------------------------------------ mFSR


@torch.no_grad()
def _mfsr_direct_similarity(model, processor, query_text, images):
    image_embeds = model.get_image_features(processor(images=images, return_tensors="pt")["pixel_values"])
    encoded = processor(text=[query_text], return_tensors="pt")
    text_embeds = model.get_text_features(encoded["input_ids"], encoded["attention_mask"])
    return torch.nn.functional.normalize(text_embeds, dim=-1) @ torch.nn.functional.normalize(image_embeds, dim=-1).T


def test_pipeline_loads_an_mfsr_folder_with_its_processor_as_the_saved_class(mfsr):
    _, _, retriever = mfsr
    assert isinstance(retriever.model, fashionvl.MFSRForRetrieval)  # no head weights dropped
    assert type(retriever.processor).__name__ == "MFSRProcessor"


def test_pipeline_loads_a_base_m2fashion_checkpoint_as_the_base_model(m2fashion):
    assert type(m2fashion[2].model) is fashionvl.M2FashionModel


def test_mfsr_text_to_image_ranking_equals_direct_cosine_similarity(mfsr, images):
    model, processor, retriever = mfsr
    results = retriever("black leather jacket", images=images, top_k=4)
    expected = _mfsr_direct_similarity(model, processor, "black leather jacket", images)[0]
    expected_scores, expected_order = expected.sort(descending=True)
    assert [result["index"] for result in results] == expected_order[:4].tolist()
    assert torch.allclose(torch.tensor(_scores(results)), expected_scores[:4], atol=1e-5)
    assert all(result["candidate"] is images[result["index"]] for result in results)


def test_mfsr_image_to_text_results_are_sorted_and_hold_the_texts(mfsr, images):
    _, _, retriever = mfsr
    results = retriever(images[0], texts=CAPTIONS, top_k=None)
    assert len(results) == len(CAPTIONS)
    _assert_sorted(results)
    assert sorted(result["candidate"] for result in results) == sorted(CAPTIONS)


def test_mfsr_batch_size_does_not_change_scores(mfsr, images):
    _, _, retriever = mfsr
    in_pairs = retriever("red floral dress", images=images, top_k=None, batch_size=2)
    all_at_once = retriever("red floral dress", images=images, top_k=None, batch_size=len(images))
    _assert_same_ranking(in_pairs, all_at_once)


def test_a_list_of_queries_gives_one_result_list_per_query(mfsr, images):
    _, _, retriever = mfsr
    results = retriever(["red floral dress", "blue denim jeans"], images=images, top_k=2)
    assert len(results) == 2 and all(len(per_query) == 2 for per_query in results)
    _assert_same_ranking(results[1], retriever("blue denim jeans", images=images, top_k=2))


def test_image_paths_rank_like_the_same_pil_images(mfsr, images, image_paths):
    _, _, retriever = mfsr
    from_paths = retriever("white cotton shirt", images=image_paths, top_k=3)
    from_images = retriever("white cotton shirt", images=images, top_k=3)
    assert [r["index"] for r in from_paths] == [r["index"] for r in from_images]
    assert from_paths[0]["candidate"] == image_paths[from_paths[0]["index"]]


def test_pipeline_over_an_index_matches_the_candidate_list(mfsr, image_paths, tmp_path):
    _, _, retriever = mfsr
    index = FashionGalleryIndex.from_pipeline(retriever, images=image_paths, ids=[f"sku-{i}" for i in range(6)])
    index.save(tmp_path / "gallery")
    loaded = FashionGalleryIndex.load(tmp_path / "gallery")
    from_index = retriever("green wool coat", index=loaded, top_k=3)
    direct = retriever("green wool coat", images=image_paths, top_k=3)
    _assert_same_ranking(from_index, direct)
    assert [r["id"] for r in from_index] == [f"sku-{r['index']}" for r in direct]


def test_pipeline_save_pretrained_keeps_the_processor(mfsr, images, tmp_path):
    _, _, retriever = mfsr
    retriever.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "processor_config.json").exists()
    reloaded = pipeline("fashion-retrieval", model=str(tmp_path / "saved"))
    _assert_same_ranking(reloaded("blue denim jeans", images=images), retriever("blue denim jeans", images=images))


def test_pipeline_runs_on_the_requested_device(mfsr, images):
    model, processor, _ = mfsr
    retriever = pipeline("fashion-retrieval", model=model, processor=processor, device="cpu")
    assert retriever.device.type == "cpu"
    assert len(retriever("red floral dress", images=images, top_k=1)) == 1


def test_call_options_given_to_pipeline_become_defaults(mfsr, images):
    model, processor, _ = mfsr
    retriever = pipeline("fashion-retrieval", model=model, processor=processor, top_k=2)
    assert len(retriever("red floral dress", images=images)) == 2
    assert len(retriever("red floral dress", images=images, top_k=3)) == 3


# ------------------------------------------------------------------------------------------------ bad input


def test_empty_candidate_list_is_rejected(mfsr):
    with pytest.raises(ValueError, match="images is empty"):
        mfsr[2]("red dress", images=[])


def test_mixed_candidate_types_name_the_offending_item(mfsr, images, image_paths):
    with pytest.raises(ValueError, match=r"images\[1\] is a path/URL but images\[0\] is a PIL image"):
        mfsr[2]("red dress", images=[images[0], image_paths[1]])
    with pytest.raises(ValueError, match=r"texts\[2\] is a int"):
        mfsr[2](images[0], texts=["a", "b", 3])


def test_unreadable_image_path_names_the_item(mfsr, image_paths, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"images\[1\] \('.*missing\.jpg'\) could not be read.*no such file"):
        mfsr[2]("red dress", images=[image_paths[0], str(tmp_path / "missing.jpg")])
    with pytest.raises(ValueError, match=r"images\[1\] \('.*broken\.jpg'\) could not be read"):
        mfsr[2]("red dress", images=[image_paths[0], str(broken)])


def test_candidates_must_be_given(mfsr, images):
    with pytest.raises(ValueError, match="needs candidates"):
        mfsr[2]("red dress")
    with pytest.raises(ValueError, match="not both"):
        mfsr[2]("red dress", images=images, texts=CAPTIONS)


# ------------------------------------------------------------------------------------------------ M2Fashion


@torch.no_grad()
def _m2fashion_direct_similarity(model, processor, query_image, images, attributes):
    base = getattr(model, "m2fashion", model)

    def embed(batch):
        inputs = processor(images=batch, attributes=[attributes] * len(batch), return_tensors="pt")
        outputs = base(**inputs)
        embeds = outputs.attribute_aware_embeds  # Z (eq. 9), or W_t V_s, the space the triplet loss trains
        if model.config.triplet_embedding == "spatial":
            spatial_embeds = base.spatial_attribute_embedding(outputs.attribute_states)
            embeds = base.triplet_projection(base.spatial_attention(outputs.feature_map, spatial_embeds)[0])
        return torch.nn.functional.normalize(embeds, dim=-1)

    return (embed([query_image]) @ embed(images).T)[0]


def test_m2fashion_attribute_specific_ranking_equals_direct_computation(m2fashion, images):
    model, processor, retriever = m2fashion
    attributes = ["attribute_3", "attribute_7"]
    results = retriever(images[2], images=images, attributes=attributes, top_k=None)
    expected_scores, expected_order = _m2fashion_direct_similarity(model, processor, images[2], images, attributes).sort(
        descending=True
    )
    assert [r["index"] for r in results] == expected_order.tolist()
    assert torch.allclose(torch.tensor(_scores(results)), expected_scores, atol=1e-5)
    assert results[0]["index"] == 2  # the query image itself


def test_m2fashion_scores_depend_on_the_query_attributes(m2fashion, images):
    retriever = m2fashion[2]
    first = retriever(images[0], images=images, attributes=["attribute_1"], top_k=None)
    second = retriever(images[0], images=images, attributes=["attribute_20"], top_k=None)
    assert _scores(first) != _scores(second)


def test_m2fashion_index_must_be_built_for_the_query_attributes(m2fashion, images):
    retriever = m2fashion[2]
    index = FashionGalleryIndex.from_pipeline(retriever, images=images, attributes=["attribute_1"])
    assert retriever(images[0], index=index, attributes=["attribute_1"], top_k=2)[0]["index"] == 0
    with pytest.raises(ValueError, match="built for"):
        retriever(images[0], index=index, attributes=["attribute_2"])


def test_m2fashion_rejects_text_candidates_and_unknown_attributes(m2fashion, images):
    retriever = m2fashion[2]
    with pytest.raises(ValueError, match="cannot rank texts"):
        retriever(images[0], texts=CAPTIONS)
    with pytest.raises(ValueError, match="no_such_attribute"):
        retriever(images[0], images=images, attributes=["no_such_attribute"])


# ------------------------------------------------------------------------------------------------ MVLT


@torch.no_grad()
def _mvlt_direct_scores(model, processor, query_text, images):
    inputs = processor(text=[query_text] * len(images), images=images, padding=True, return_tensors="pt")
    names = ("input_ids", "attention_mask", "token_type_ids", "pixel_values")
    return model(**{name: inputs[name] for name in names if name in inputs}).scores


def test_mvlt_text_to_image_ranking_equals_direct_itm_scores(mvlt, images):
    model, processor, retriever = mvlt
    results = retriever("red floral dress", images=images, top_k=None, batch_size=4)
    expected_scores, expected_order = _mvlt_direct_scores(model, processor, "red floral dress", images).sort(descending=True)
    assert [r["index"] for r in results] == expected_order.tolist()
    assert torch.allclose(torch.tensor(_scores(results)), expected_scores, atol=1e-5)


def test_mvlt_image_to_text_batching_does_not_change_scores(mvlt, images):
    retriever = mvlt[2]
    in_pairs = retriever(images[1], texts=CAPTIONS, top_k=None, batch_size=2)  # captions padded to other lengths
    all_at_once = retriever(images[1], texts=CAPTIONS, top_k=None, batch_size=8)
    _assert_same_ranking(in_pairs, all_at_once)


def test_mvlt_two_stage_search_reranks_the_dual_encoder_candidates(mvlt, mfsr, images):
    model, processor, retriever = mvlt
    index = FashionGalleryIndex.from_pipeline(mfsr[2], images=images)
    query = "black leather jacket"
    first_stage = {r["index"] for r in mfsr[2](query, index=index, top_k=3)}
    results = retriever(query, index=index, first_stage_k=3, top_k=3)
    assert {r["index"] for r in results} == first_stage
    _assert_sorted(results)
    direct = _mvlt_direct_scores(model, processor, query, [images[r["index"]] for r in results])
    assert torch.allclose(torch.tensor(_scores(results)), direct, atol=1e-5)


def test_mvlt_needs_an_index_with_a_dual_encoder(mvlt, images):
    index = FashionGalleryIndex(torch.randn(len(images), 8), items=images)
    with pytest.raises(ValueError, match="dual encoder"):
        mvlt[2]("red dress", index=index)


# ------------------------------------------------------------------------------------------------ MVLT with ITC


@pytest.fixture(scope="module")
def mvlt_itc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mvlt_itc")
    model, processor = build_mvlt_checkpoint(folder, itc_loss_weight=1.0, itm_fusion_weight=0.5)
    return model, processor, pipeline("fashion-retrieval", model=str(folder))


@torch.no_grad()
def _mvlt_direct_parts(model, processor, query_text, images):
    """(cosine of the ITC embeddings, ITM logits) of the query caption against each image, computed directly."""
    pixel_values = processor(images=images, return_tensors="pt")["pixel_values"]
    text = processor(text=[query_text], return_tensors="pt")
    text_features = model.get_text_features(text["input_ids"], text["attention_mask"], text.get("token_type_ids"))
    cosine = (model.get_image_features(pixel_values) @ text_features.T).squeeze(1)
    pairs = processor(text=[query_text] * len(images), images=images, padding=True, return_tensors="pt")
    logits = model.get_itm_logits(pairs["input_ids"], pairs["pixel_values"], pairs["attention_mask"], pairs.get("token_type_ids"))
    return cosine, logits


def _fused(model, cosine, logits):
    scale = model.mvlt.logit_scale.exp().item()
    return scale * cosine + model.config.itm_fusion_weight * (logits[:, 1] - logits[:, 0])


def test_mvlt_itc_ranking_equals_the_cosine_of_its_own_embeddings(mvlt_itc, images):
    model, processor, retriever = mvlt_itc
    results = retriever("red floral dress", images=images, top_k=None, score="itc")
    cosine, _ = _mvlt_direct_parts(model, processor, "red floral dress", images)
    expected_scores, expected_order = cosine.sort(descending=True)
    assert [r["index"] for r in results] == expected_order.tolist()
    assert torch.allclose(torch.tensor(_scores(results)), expected_scores, atol=1e-5)


def test_mvlt_default_score_with_itc_is_the_fused_score(mvlt_itc, images):
    model, processor, retriever = mvlt_itc
    results = retriever("red floral dress", images=images, top_k=None)
    expected_scores, expected_order = _fused(model, *_mvlt_direct_parts(model, processor, "red floral dress", images)).sort(descending=True)
    assert [r["index"] for r in results] == expected_order.tolist()
    assert torch.allclose(torch.tensor(_scores(results)), expected_scores, atol=1e-4)
    itm = retriever("red floral dress", images=images, top_k=None, score="itm")
    _, logits = _mvlt_direct_parts(model, processor, "red floral dress", images)
    assert torch.allclose(torch.tensor(sorted(_scores(itm), reverse=True)), logits.softmax(-1)[:, 1].sort(descending=True).values, atol=1e-5)


def test_mvlt_two_stage_search_is_itc_top_k_reranked_by_the_fused_score(mvlt_itc, images):
    model, processor, retriever = mvlt_itc
    index = FashionGalleryIndex.from_pipeline(retriever, images=images)
    assert index.model_type == "mvlt"
    query = "black leather jacket"
    cosine, logits = _mvlt_direct_parts(model, processor, query, images)
    first_stage = cosine.topk(3).indices
    fused = _fused(model, cosine[first_stage], logits[first_stage])
    expected_scores, order = fused.sort(descending=True)
    results = retriever(query, index=index, first_stage_k=3, top_k=3)
    assert [r["index"] for r in results] == first_stage[order].tolist()
    assert torch.allclose(torch.tensor(_scores(results)), expected_scores, atol=1e-4)
    # score="itc" over the index is the first stage alone
    itc_only = retriever(query, index=index, top_k=3, score="itc")
    assert [r["index"] for r in itc_only] == first_stage.tolist()


def test_mvlt_over_an_mfsr_index_reranks_with_itm_and_refuses_fused(mvlt_itc, mfsr, images):
    index = FashionGalleryIndex.from_pipeline(mfsr[2], images=images)
    results = mvlt_itc[2]("black leather jacket", index=index, first_stage_k=3, top_k=3)
    assert len(results) == 3 and all(0.0 <= r["score"] <= 1.0 for r in results)  # ITM probabilities
    with pytest.raises(ValueError, match="another model"):
        mvlt_itc[2]("black leather jacket", index=index, score="fused")


def test_mvlt_without_itc_refuses_itc_scores_and_embeddings(mvlt, images):
    with pytest.raises(ValueError, match="itc_loss_weight=0"):
        mvlt[2]("red dress", images=images, score="itc")
    with pytest.raises(ValueError, match="itc_loss_weight=0"):
        mvlt[2].embed(images=images)
    with pytest.raises(ValueError, match="score must be one of"):
        mvlt[2]("red dress", images=images, score="cosine")


def test_mvlt_captions_are_cut_to_the_models_max_position_embeddings(tmp_path, images):
    from fashionvl.processing.processing_mvlt import MVLTProcessor

    processor = MVLTProcessor.from_captions(CAPTIONS * 4, vocab_size=120, image_size=IMAGE_SIZE, model_max_length=128)
    config = fashionvl.MVLTConfig.from_preset("tiny", vocab_size=len(processor.tokenizer), image_size=IMAGE_SIZE,
                                              max_position_embeddings=12)
    model = fashionvl.MVLTForImageTextRetrieval(config).eval()
    save_model_without_remote_code(model, tmp_path)
    processor.save_pretrained(tmp_path)
    long_caption = " ".join(CAPTIONS * 3)  # ~45 tokens, more than the model's 12 positions
    results = pipeline("fashion-retrieval", model=str(tmp_path))(long_caption, images=images[:2], top_k=None)
    cut = processor(text=[long_caption] * 2, images=images[:2], truncation=True, max_length=12, return_tensors="pt")
    with torch.no_grad():
        expected = model(**{name: cut[name] for name in ("input_ids", "attention_mask", "token_type_ids", "pixel_values")
                            if name in cut}).scores
    assert sorted(r["score"] for r in results) == pytest.approx(sorted(expected.tolist()), abs=1e-5)


def test_processor_from_captions_takes_the_caption_length_from_the_config():
    from fashionvl.processing.processing_mvlt import MVLTProcessor

    config = fashionvl.MVLTConfig.from_preset("tiny", vocab_size=100, max_position_embeddings=24)
    processor = MVLTProcessor.from_captions(CAPTIONS * 4, vocab_size=120, config=config)
    assert processor.tokenizer.model_max_length == 24
    assert processor.image_processor.size["height"] == config.image_size
