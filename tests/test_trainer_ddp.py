"""FashionTrainer under 2-process CPU DDP (torchrun, gloo): weights stay identical across ranks.

Run by the test below as `python -m torch.distributed.run --standalone --nproc_per_node 2 <this file> <dir>`;
each rank trains the toy multi-loss model and the toy GAN (with gradient accumulation) and saves its weights
and log history.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TESTS_DIR = Path(__file__).resolve().parent


def run_rank(output_dir: Path) -> None:
    sys.path.insert(0, str(TESTS_DIR))
    from test_trainer_gan import ToyGanConfig, ToyGanModel, make_gan_args, make_gan_dataset
    from test_trainer_losses import ToyMultiLossConfig, ToyMultiLossModel, make_args, make_toy_dataset

    from fashionvl.training import FashionTrainer

    rank = int(os.environ["RANK"])
    torch.manual_seed(rank)  # different initial weights per rank: DDP must start every rank from rank 0's
    multi_loss = ToyMultiLossModel(ToyMultiLossConfig())
    trainer = FashionTrainer(
        model=multi_loss,
        args=make_args(output_dir / "multi_loss", max_steps=3, ddp_backend="gloo"),
        train_dataset=make_toy_dataset(24),
    )
    trainer.train()
    torch.save(
        {"state": multi_loss.state_dict(), "logs": trainer.state.log_history}, output_dir / f"multi_loss_{rank}.pt"
    )

    gan = ToyGanModel(ToyGanConfig())
    trainer = FashionTrainer(
        model=gan,
        args=make_gan_args(
            output_dir / "gan", max_steps=3, per_device_train_batch_size=2, gradient_accumulation_steps=2, ddp_backend="gloo"
        ),
        train_dataset=make_gan_dataset(24),
    )
    trainer.train()
    torch.save({"state": gan.state_dict(), "logs": trainer.state.log_history}, output_dir / f"gan_{rank}.pt")


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(Path(__file__).resolve()), str(output_dir),
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    return {
        name: [torch.load(output_dir / f"{name}_{rank}.pt", weights_only=False) for rank in (0, 1)]
        for name in ("multi_loss", "gan")
    }


def assert_identical_and_trained(results, initial_model):
    rank0, rank1 = results
    for name, value in rank0["state"].items():
        torch.testing.assert_close(rank1["state"][name], value, rtol=0, atol=0, msg=f"{name} differs across ranks")
    changed = [not torch.equal(value, initial_model.state_dict()[name]) for name, value in rank0["state"].items()]
    assert any(changed)


@pytest.mark.slow
def test_two_process_ddp_keeps_weights_identical_across_ranks(ddp_results):
    from test_trainer_losses import ToyMultiLossConfig, ToyMultiLossModel

    torch.manual_seed(0)  # rank 0's initial weights
    assert_identical_and_trained(ddp_results["multi_loss"], ToyMultiLossModel(ToyMultiLossConfig()))
    # The component losses are reduced across ranks: both ranks log the same numbers.
    logs = [[entry for entry in result["logs"] if "loss" in entry] for result in ddp_results["multi_loss"]]
    assert len(logs[0]) == 3
    for entry0, entry1 in zip(*logs):
        assert entry0["regression_loss"] == pytest.approx(entry1["regression_loss"], rel=1e-6)
        assert entry0["classification_loss"] == pytest.approx(entry1["classification_loss"], rel=1e-6)


@pytest.mark.slow
def test_two_process_ddp_keeps_discriminator_weights_identical_across_ranks(ddp_results):
    from test_trainer_gan import ToyGanConfig, ToyGanModel

    torch.manual_seed(0)
    initial = ToyGanModel(ToyGanConfig())
    assert_identical_and_trained(ddp_results["gan"], initial)
    rank0_state = ddp_results["gan"][0]["state"]
    assert any(
        not torch.equal(rank0_state[name], value)
        for name, value in initial.state_dict().items()
        if name.startswith("discriminator.")
    ), "the discriminators were not trained"
    assert all("discriminator_loss" in entry for entry in ddp_results["gan"][0]["logs"] if "loss" in entry)


if __name__ == "__main__":
    run_rank(Path(sys.argv[1]))
