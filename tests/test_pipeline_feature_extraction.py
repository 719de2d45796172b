"""transformers' image-feature-extraction pipeline returns each family's retrieval embedding.

The contract (docs/ARCHITECTURE.md): a pixel-only call of a base model (what ``AutoModel`` loads) has the
L2-normalised retrieval embedding, the same vector as ``get_image_features`` and as the fashion-retrieval gallery
embedding, as its first output and as ``pooler_output``, so the pipeline returns it with and without ``pool=True``.
"""

import pytest
import torch
from transformers import pipeline

from test_pipeline_retrieval import build_m2fashion_checkpoint, build_mfsr_checkpoint, build_mvlt_checkpoint, make_images


BUILDERS = {
    "mvlt": lambda folder: build_mvlt_checkpoint(folder, itc_loss_weight=1.0),
    "mfsr": build_mfsr_checkpoint,
    "m2fashion": build_m2fashion_checkpoint,
}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def checkpoint(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    model, processor = BUILDERS[request.param](folder)
    return request.param, folder, model, processor


def test_image_feature_extraction_returns_the_unit_norm_get_image_features_vector(checkpoint):
    family, folder, model, processor = checkpoint
    images = make_images(2)
    extractor = pipeline("image-feature-extraction", model=str(folder))
    pixel_values = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = model.eval().get_image_features(pixel_values).float()
    for pool in (False, True):
        features = torch.tensor([extractor(image, pool=pool) for image in images]).reshape(len(images), -1)
        assert features.shape == expected.shape, (family, pool)
        torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(features.norm(dim=-1), torch.ones(len(images)))


def test_image_feature_extraction_matches_the_fashion_retrieval_gallery_embedding(checkpoint):
    family, folder, _, _ = checkpoint
    images = make_images(3)
    extractor = pipeline("image-feature-extraction", model=str(folder))
    retriever = pipeline("fashion-retrieval", model=str(folder))
    features = torch.tensor([extractor(image, return_tensors=False) for image in images]).reshape(len(images), -1)
    torch.testing.assert_close(features, retriever.embed(images=images), atol=1e-5, rtol=1e-4)


def test_without_itc_the_pipeline_returns_the_normalised_mean_of_the_last_map_not_an_empty_list(tmp_path):
    model, processor = build_mvlt_checkpoint(tmp_path, itc_loss_weight=0.0)
    images = make_images(2)
    extractor = pipeline("image-feature-extraction", model=str(tmp_path))
    pixel_values = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        last_map = model.eval().mvlt(pixel_values=pixel_values, return_dict=True).vision_hidden_states[-1]
    expected = torch.nn.functional.normalize(last_map.flatten(2).mean(dim=2), dim=-1)
    for pool in (False, True):
        features = torch.tensor([extractor(image, pool=pool) for image in images]).reshape(len(images), -1)
        torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-4)
    with pytest.raises(Exception, match="ITC|itc"):
        model.get_image_features(pixel_values)  # the retrieval API still needs ITC
