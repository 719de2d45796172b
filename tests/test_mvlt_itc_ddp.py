"""ITC under 2-process CPU DDP (torchrun, gloo): negatives gathered from all ranks give one process's loss.

Run by the test below as `python -m torch.distributed.run --standalone --nproc_per_node 2 <this file> <dir>`;
each rank takes half of a fixed batch, computes `mvlt_itc_loss` with gathered negatives and saves the loss and the
gradient of its own embeddings.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fashionvl.modeling.losses import mvlt_itc_loss


def fixed_batch():
    generator = torch.Generator().manual_seed(0)
    image = F.normalize(torch.randn(8, 16, generator=generator), dim=-1)
    text = F.normalize(torch.randn(8, 16, generator=generator), dim=-1)
    product_ids = torch.tensor([0, 1, 2, 3, 3, 5, 6, 0])  # rows 0 and 7 (one per rank) share a product
    return image, text, product_ids, torch.tensor(2.0)


def run_rank(output_dir: Path) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    image, text, product_ids, logit_scale = fixed_batch()
    rows = slice(rank * 4, (rank + 1) * 4)
    local_image = image[rows].clone().requires_grad_(True)
    local_text = text[rows].clone().requires_grad_(True)
    loss = mvlt_itc_loss(local_image, local_text, logit_scale, product_ids[rows])
    loss.backward()
    torch.save(
        {"loss": loss.detach(), "image_grad": local_image.grad / world_size, "text_grad": local_text.grad / world_size},
        output_dir / f"itc_{rank}.pt",
    )
    dist.destroy_process_group()


@pytest.mark.slow
def test_gathered_itc_negatives_give_the_loss_and_gradients_of_one_process_with_the_whole_batch(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(Path(__file__).resolve()), str(tmp_path),
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    image, text, product_ids, logit_scale = fixed_batch()
    image.requires_grad_(True)
    text.requires_grad_(True)
    loss = mvlt_itc_loss(image, text, logit_scale, product_ids)
    loss.backward()
    for rank in (0, 1):
        result = torch.load(tmp_path / f"itc_{rank}.pt")
        rows = slice(rank * 4, (rank + 1) * 4)
        assert float(result["loss"]) == pytest.approx(loss.item(), rel=1e-6)
        # DDP averages parameter gradients over ranks: each rank's share (grad / world size) is one process's.
        torch.testing.assert_close(result["image_grad"], image.grad[rows], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(result["text_grad"], text.grad[rows], rtol=1e-5, atol=1e-7)


if __name__ == "__main__":
    run_rank(Path(sys.argv[1]))
