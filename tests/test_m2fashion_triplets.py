"""Issue 12: attribute-conditioned (ASEN-style) triplets, single-attribute states, attention at initialisation."""

import pytest
import torch

from fashionvl import M2FashionConfig, M2FashionForAttributePrediction
from fashionvl.modeling.losses import m2fashion_sample_single_attribute_states
from fashionvl.processing.collators_m2fashion import (
    M2FashionDataCollator,
    M2FashionTripletBatchSampler,
    M2FashionTripletDataset,
)

NUM_LABELS, NUM_ATTRIBUTES = 4, 10


def tiny_model(**overrides) -> M2FashionForAttributePrediction:
    config = M2FashionConfig.from_preset("tiny", num_labels=NUM_LABELS, num_attributes=NUM_ATTRIBUTES, **overrides)
    return M2FashionForAttributePrediction(config)


def random_catalog(num_rows: int = 60, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (num_rows, NUM_ATTRIBUTES), generator=generator) * 2 - 1
    labels[torch.rand(num_rows, NUM_ATTRIBUTES, generator=generator) < 0.1] = 0  # some labels not annotated
    categories = torch.randint(0, NUM_LABELS, (num_rows,), generator=generator)
    product_ids = torch.arange(num_rows) // 2  # two views per product
    return labels, categories, product_ids


def test_every_sampled_triplet_satisfies_the_query_attribute_rule():
    labels, categories, product_ids = random_catalog()
    sampler = M2FashionTripletBatchSampler(labels, categories, product_ids, triplets_per_batch=4, seed=0)
    num_triplets = 0
    for _ in range(3):  # three epochs
        for batch in sampler:
            assert len(batch) == 12
            for start in range(0, len(batch), 3):
                (anchor, k, role_a), (positive, k_p, role_p), (negative, k_n, role_n) = batch[start : start + 3]
                assert (role_a, role_p, role_n) == (0, 1, 2) and k == k_p == k_n
                assert labels[anchor, k] == 1 and labels[positive, k] == 1 and labels[negative, k] == -1
                assert product_ids[positive] != product_ids[anchor]
                same_category = ((labels[:, k] == -1) & (categories == categories[anchor])).any()
                if same_category:
                    assert categories[negative] == categories[anchor]
                num_triplets += 1
    # no anchor is skipped: every batch is full and an epoch covers all but the last incomplete batch of anchors
    assert num_triplets == 3 * (len(sampler.anchors) // 4) * 4


def test_negative_comes_from_another_category_only_when_the_anchors_has_none():
    labels = torch.tensor([[1, -1], [1, -1], [-1, 1], [-1, 1]])
    categories = torch.tensor([0, 0, 1, 1])  # category 0 has no row without attribute 0
    sampler = M2FashionTripletBatchSampler(labels, categories, triplets_per_batch=1, seed=0)
    anchor, positive, negative, k = sampler.triplet(0)
    assert k == 0 and positive == 1 and negative in (2, 3)


def test_collator_turns_sampler_batches_into_triplets_and_one_hot_query_states():
    labels, categories, product_ids = random_catalog(30)
    rows = [{"pixel_values": torch.zeros(3, 8, 8), "category": int(c), "attributes": l.tolist()} for l, c in zip(labels, categories)]
    sampler = M2FashionTripletBatchSampler(labels, categories, product_ids, triplets_per_batch=3, seed=1)
    dataset = M2FashionTripletDataset(rows)
    indices = next(iter(sampler))
    batch = M2FashionDataCollator()([dataset[index] for index in indices])
    assert batch["triplet_indices"].tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    queries = [index[1] for index in indices[::3]]
    assert batch["triplet_attribute_states"].argmax(dim=1).tolist() == queries
    assert batch["triplet_attribute_states"].sum(dim=1).tolist() == [1.0, 1.0, 1.0]


def test_query_conditioned_triplet_loss_attends_all_three_images_under_the_query_attribute():
    torch.manual_seed(0)
    model = tiny_model(triplet_embedding="shared").eval()  # the triplet on Z, as eq. 13-14 print it
    pixel_values = torch.randn(6, 3, 64, 64)
    attribute_labels = torch.randint(0, 2, (6, NUM_ATTRIBUTES)) * 2 - 1
    triplets = torch.tensor([[0, 1, 2], [3, 4, 5]])
    query_states = torch.zeros(2, NUM_ATTRIBUTES)
    query_states[0, 3] = query_states[1, 7] = 1.0
    output = model(pixel_values, attribute_labels=attribute_labels, triplet_indices=triplets, triplet_attribute_states=query_states)
    with torch.no_grad():
        states = query_states.repeat_interleave(3, dim=0)
        embeds = model.m2fashion(pixel_values, attribute_states=states).attribute_aware_embeds.view(2, 3, -1)
    cosine = torch.nn.functional.cosine_similarity
    expected = (0.2 - cosine(embeds[:, 0], embeds[:, 1], dim=-1) + cosine(embeds[:, 0], embeds[:, 2], dim=-1)).clamp(min=0).mean()
    assert output.triplet_loss.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    own = model(pixel_values, attribute_labels=attribute_labels, triplet_indices=triplets)
    assert own.triplet_loss.item() != pytest.approx(output.triplet_loss.item(), abs=1e-6)


def test_single_attribute_states_know_exactly_one_positive_label():
    labels = torch.tensor([[1, -1, 1, 0], [-1, -1, 0, 0], [0, 1, -1, -1]])
    states = m2fashion_sample_single_attribute_states(labels, generator=torch.Generator().manual_seed(0))
    assert states.sum(dim=1).tolist() == [1.0, 0.0, 1.0]
    assert bool((labels[states == 1] == 1).all())


def test_label_mask_training_draws_single_attribute_query_states():
    model = tiny_model(single_attribute_state_probability=1.0)
    labels = torch.randint(0, 2, (16, NUM_ATTRIBUTES)) * 2 - 1
    labels[:, 0] = 1
    states = model.mask_attribute_labels(labels)
    assert (states.abs().sum(dim=1) == 1).all() and bool((labels[states == 1] == 1).all())


def test_spatial_counterfactual_states_reach_the_spatial_branch_as_if_that_attribute_were_queried():
    torch.manual_seed(0)
    model = tiny_model().eval()
    pixel_values = torch.randn(2, 3, 64, 64)
    states = torch.zeros(2, NUM_ATTRIBUTES)
    states[0, 1] = states[1, 2] = 1.0
    with torch.no_grad():
        true = model(pixel_values, attribute_states=states)
        swapped = model(pixel_values, attribute_states=states, spatial_attribute_states=states.flip(0))
    assert not torch.allclose(true.spatial_attention, swapped.spatial_attention)
    with torch.no_grad():
        alone = model(pixel_values[:1], attribute_states=states[1:])  # image 0 queried with image 1's attribute
    assert torch.allclose(swapped.spatial_attention[0], alone.spatial_attention[0], atol=1e-6)


def _pre_tanh_scores(model, pixel_values, states):
    with torch.no_grad():
        feature_map = model.m2fashion.backbone(pixel_values).feature_maps[-1]
        embeds = model.m2fashion.spatial_attribute_embedding(states)
        return model.m2fashion.spatial_attention.score_logits(feature_map, embeds)


def test_attention_at_initialisation_is_not_saturated_and_depends_on_the_attribute():
    torch.manual_seed(0)
    pixel_values = torch.randn(8, 3, 64, 64)
    states = torch.eye(NUM_ATTRIBUTES)[torch.arange(8) % NUM_ATTRIBUTES]
    model = tiny_model().eval()
    scores = _pre_tanh_scores(model, pixel_values, states)
    assert (scores.abs() > 2).float().mean() < 0.01  # tanh'(2) = 0.07: saturated
    assert scores.std() > 0.02  # and not dead: the scores vary over positions
    other = _pre_tanh_scores(model, pixel_values, states.roll(1, dims=0))
    assert (scores - other).abs().mean() > 0.01  # T1 moves the scores from the start
