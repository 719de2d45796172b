"""Every model family runs in bfloat16 (weights loaded with dtype=torch.bfloat16 take the processors' float32 inputs)."""

import torch

import fashionvl


def test_mvlt_runs_in_bfloat16():
    config = fashionvl.MVLTConfig.from_preset("tiny", vocab_size=50, itc_loss_weight=1.0)
    model = fashionvl.MVLTForImageTextRetrieval(config).to(torch.bfloat16).eval()
    input_ids, mask = torch.tensor([[1, 7, 9, 2], [1, 8, 2, 0]]), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    with torch.no_grad():
        output = model(input_ids=input_ids, attention_mask=mask, pixel_values=torch.randn(2, 3, 64, 64),
                       return_itc_scores=True)
    assert torch.isfinite(output.fused_scores).all()


def test_mfsr_runs_in_bfloat16():
    model = fashionvl.MFSRForRetrieval(fashionvl.MFSRConfig.from_preset("tiny", vocab_size=30)).to(torch.bfloat16).eval()
    with torch.no_grad():
        image = model.get_image_features(torch.randn(2, 3, 64, 64))
        text = model.get_text_features(torch.tensor([[1, 5, 6, 2]] * 2), torch.ones(2, 4, dtype=torch.long))
    assert image.dtype == text.dtype == torch.bfloat16 and torch.isfinite(image.float() @ text.float().T).all()


def test_m2fashion_runs_in_bfloat16():
    model = fashionvl.M2FashionModel(fashionvl.M2FashionConfig.from_preset("tiny")).to(torch.bfloat16).eval()
    with torch.no_grad():
        output = model(torch.randn(2, 3, 64, 64), torch.zeros(2, model.config.num_attributes))
    assert output.attribute_aware_embeds.dtype == torch.bfloat16
    assert torch.isfinite(output.attribute_aware_embeds.float()).all()
