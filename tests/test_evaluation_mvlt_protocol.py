"""MVLT's evaluation protocols (evaluation/mvlt_protocol.py): chance levels, the Table 2 layout, ITM scores."""

import pytest
import torch

from fashionvl.configs.configuration_mvlt import MVLTConfig
from fashionvl.evaluation import mvlt_protocol as protocol
from fashionvl.modeling.modeling_mvlt import MVLTForImageTextRetrieval


def test_chance_levels_are_k_over_101_and_the_majority_class():
    chance = protocol.chance_levels(
        train_labels={"main_category": [0, 0, 0, 1], "sub_category": [2, 2, 3, 3, 3]},
        eval_labels={"main_category": [0, 1, 1, 1], "sub_category": [3, 2]},
    )
    assert chance["tir"]["R@1"] == pytest.approx(1 / 101)
    assert chance["itr"]["R@10"] == pytest.approx(10 / 101)
    assert chance["tir"]["SumR"] == pytest.approx(16 / 101 * 100)
    # always predicting training class 0: right once out of 4; F1 of class 0 = 2*1/(4+1), class 1 has F1 0
    assert chance["main_category"]["accuracy"] == pytest.approx(0.25)
    assert chance["main_category"]["macro_f1"] == pytest.approx((2 / 5 + 0) / 2)
    assert chance["sub_category"]["accuracy"] == pytest.approx(0.5)


def test_results_table_follows_the_paper_layout_with_chance():
    metrics = {
        "tir": {"R@1": 0.5, "R@5": 0.75, "R@10": 1.0, "SumR": 225.0},
        "main_category": {"accuracy": 0.9, "macro_f1": 0.8, "SumC": 170.0},
    }
    chance = protocol.chance_levels({"main_category": [0]}, {"main_category": [0, 1]})
    table = protocol.format_results_table(metrics, chance).splitlines()
    assert table[0] == "| Task | Metric | MVLT | Chance |"
    assert "| TIR | R@10 | 100.00% | 9.90% |" in table
    assert "| TIR | SumR | 225.00 | 15.84 |" in table
    assert "| M-CR | A | 90.00% | 50.00% |" in table
    assert "| M-CR | SumC | 170.00 | 83.33 |" in table
    assert not any(line.startswith("| ITR") or line.startswith("| S-CR") for line in table)


@pytest.mark.slow
def test_itm_scores_do_not_depend_on_caption_padding():
    config = MVLTConfig.from_preset("tiny", vocab_size=50, max_position_embeddings=12)
    model = MVLTForImageTextRetrieval(config).eval()
    generator = torch.Generator().manual_seed(0)
    attention_mask = torch.ones(3, 12, dtype=torch.long)
    attention_mask[0, 5:] = 0
    attention_mask[1, 8:] = 0
    encoded = protocol.EncodedImageTextSplit(
        pixel_values=torch.randn(3, 3, 64, 64, generator=generator),
        input_ids=torch.randint(5, 50, (3, 12), generator=generator) * attention_mask,
        attention_mask=attention_mask, token_type_ids=torch.zeros(3, 12, dtype=torch.long),
        category=torch.zeros(3, dtype=torch.long), subcategory=torch.zeros(3, dtype=torch.long),
        product_id=torch.arange(3), captions=["a", "b", "c"],
    )
    score = protocol.itm_score_function(model, encoded, "tir", pair_batch_size=2)
    scores = score(torch.tensor([0, 1]), torch.tensor([[0, 1, 2], [1, 2, 0]]))
    with torch.no_grad():
        expected = model(input_ids=encoded.input_ids[[0, 0, 0]][:, :5], attention_mask=attention_mask[[0, 0, 0]][:, :5],
                         pixel_values=encoded.pixel_values).scores
    torch.testing.assert_close(scores[0], expected, rtol=1e-4, atol=1e-5)
    assert scores.shape == (2, 3)
