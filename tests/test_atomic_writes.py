"""A kill -9 at any moment of a write leaves the old state or the new one, never a mix.

The index save and the Hub export are killed (SIGKILL, in a forked child) before each of their file-system
operations in turn, then loaded; a real (tiny) training run is killed while it writes a checkpoint, then resumed
with ``resume_from_checkpoint=True``. Also: load-time consistency checks of a gallery index, and the short last
batch of an epoch.
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import fashionvl
from fashionvl import FashionGalleryIndex
from fashionvl._safe_io import atomic_folder

TESTS = Path(__file__).parent


# ----------------------------------------------------------------------------------------------- kill harness


def _io_operations():
    """(owner, attribute) of every file-system step a save makes: the kill points."""
    import builtins

    from fashionvl import _safe_io
    from fashionvl.pipelines import gallery_index

    return [(builtins, "open"), (os, "rename"), (os, "replace"), (os, "fsync"), (os, "rmdir"), (shutil, "rmtree"),
            (_safe_io, "_exchange"), (gallery_index, "save_file"), (Path, "write_text")]


def _run_killed_at(operation_number: int, action) -> bool:
    """Fork; in the child run ``action`` and SIGKILL itself just before its ``operation_number``-th file-system
    operation. Returns True when the child was killed (False: it finished before reaching that operation)."""
    pid = os.fork()
    if pid == 0:  # child: never returns
        try:
            counter = [0]
            for owner, name in _io_operations():
                original = getattr(owner, name)

                def wrapped(*args, _original=original, **kwargs):
                    counter[0] += 1
                    if counter[0] == operation_number:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return _original(*args, **kwargs)

                setattr(owner, name, wrapped)
            action()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0
    return False


def _kill_at_every_operation(action, check, max_operations=400):
    """Kill ``action`` before operation 1, 2, ... until it runs through; ``check()`` after each. Returns the count."""
    for number in range(1, max_operations):
        killed = _run_killed_at(number, action)
        check(killed)
        if not killed:
            return number
    raise AssertionError(f"the save made more than {max_operations} operations")


# ----------------------------------------------------------------------------------------------- gallery index


def _index(seed):
    generator = torch.Generator().manual_seed(seed)
    return FashionGalleryIndex(torch.randn(6, 4, generator=generator), ids=[f"{seed}-{i}" for i in range(6)],
                               items=[f"v{seed}/img{i}.png" for i in range(6)])


def test_a_kill_during_index_save_leaves_the_old_index_or_the_new_one(tmp_path):
    old, new = _index(1), _index(2)
    folder = tmp_path / "gallery"
    seen = set()

    def check(killed):
        loaded = FashionGalleryIndex.load(folder)
        version = "old" if loaded.ids == old.ids else "new"
        expected = old if version == "old" else new
        assert torch.equal(loaded.embeddings, expected.embeddings) and loaded.items == expected.items
        seen.add(version)
        if not killed:
            assert version == "new"
        shutil.rmtree(folder)
        old.save(folder)

    old.save(folder)
    operations = _kill_at_every_operation(lambda: new.save(folder), check)
    assert operations > 3 and seen == {"old", "new"}


def test_a_kill_before_the_first_index_save_leaves_no_folder(tmp_path):
    folder = tmp_path / "gallery"
    assert _run_killed_at(3, lambda: _index(1).save(folder))
    assert not folder.exists()
    _index(2).save(folder)  # the abandoned temporary folder of the killed process is cleaned up
    assert [path.name for path in tmp_path.iterdir()] == ["gallery"]


def _write_index_parts(folder, embeddings, ids, items=None, **changes):
    """A valid index folder, then ``changes`` applied to its index.json."""
    FashionGalleryIndex(torch.randn(len(ids), 4), ids=ids, items=items).save(folder)
    changes = {key.rstrip("_"): value for key, value in changes.items()}
    from safetensors.torch import save_file

    save_file({"embeddings": embeddings}, str(folder / "embeddings.safetensors"))
    description = json.loads((folder / "index.json").read_text())
    description.update(changes)
    (folder / "index.json").write_text(json.dumps(description))


def test_index_load_refuses_embeddings_of_another_save(tmp_path):
    _write_index_parts(tmp_path, torch.nn.functional.normalize(torch.randn(3, 4), dim=-1), ids=[0, 1, 2])
    with pytest.raises(ValueError, match="embeddings_sha256.*different saves"):
        FashionGalleryIndex.load(tmp_path)


def test_index_load_refuses_embeddings_that_are_not_unit_norm(tmp_path):
    embeddings = 10 * torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    _write_index_parts(tmp_path, embeddings, ids=[0, 1, 2], embeddings_sha256=None)
    with pytest.raises(ValueError, match="item 0 has norm 10"):
        FashionGalleryIndex.load(tmp_path)


def test_index_load_refuses_ids_and_items_of_another_count(tmp_path):
    embeddings = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    _write_index_parts(tmp_path, embeddings, ids=[0, 1, 2], items=["a", "b", "c"], embeddings_sha256=None,
                       items_=["a", "b"])
    with pytest.raises(ValueError, match="lists 2 items for 3 embeddings"):
        FashionGalleryIndex.load(tmp_path)


def test_atomic_folder_leaves_the_old_folder_when_the_block_raises(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "out") as staging:
            (staging / "new.txt").write_text("new")
            raise RuntimeError("interrupted")
    assert [path.name for path in tmp_path.iterdir()] == ["out"]
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["old.txt"]


# ----------------------------------------------------------------------------------------------- export


def _mfsr(embed_dim):
    from test_pipeline_retrieval import CAPTIONS, IMAGE_SIZE

    from fashionvl.processing.image_processing_mvlt import MVLTImageProcessor
    from fashionvl.processing.processing_mfsr import MFSRProcessor, build_mfsr_tokenizer

    tokenizer = build_mfsr_tokenizer(CAPTIONS, min_count=1)
    processor = MFSRProcessor(MVLTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}), tokenizer)
    config = fashionvl.MFSRConfig.from_preset("tiny", vocab_size=len(tokenizer), embed_dim=embed_dim)
    return fashionvl.MFSRForRetrieval(config).eval(), processor


def test_a_kill_during_export_leaves_the_old_export_or_the_new_one(tmp_path):
    from fashionvl.hub import export_for_hub, load_checkpoint

    (old_model, processor), (new_model, _) = _mfsr(16), _mfsr(24)
    folder = tmp_path / "export"
    export_for_hub(old_model, processor, folder)
    (folder / "stale_module.py").write_text("raise RuntimeError('stale')\n")  # an earlier export's leftover
    seen = set()

    def check(killed):
        model, _ = load_checkpoint(folder)
        seen.add(model.config.embed_dim)
        reference = old_model if model.config.embed_dim == 16 else new_model
        for name, value in reference.state_dict().items():
            assert torch.equal(model.state_dict()[name], value), name
        if not killed:
            assert model.config.embed_dim == 24 and not (folder / "stale_module.py").exists()

    # every 3rd operation, plus the run-through: the swap itself is one operation among ~40
    for number in [*range(1, 200, 3), 10_000]:
        killed = _run_killed_at(number, lambda: export_for_hub(new_model, processor, folder))
        check(killed)
        if not killed:
            break
    assert seen == {16, 24}


def test_export_refuses_a_folder_with_other_content(tmp_path):
    from fashionvl.hub import export_for_hub

    model, processor = _mfsr(16)
    (tmp_path / "checkpoint-5").mkdir()
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="holds other content .*checkpoint-5"):
        export_for_hub(model, processor, tmp_path)
    assert (tmp_path / "checkpoint-5").is_dir()


def test_export_over_an_earlier_export_says_which_stale_files_it_removed(tmp_path, caplog):
    from fashionvl.hub import export_for_hub

    model, processor = _mfsr(16)
    export_for_hub(model, processor, tmp_path / "export")
    (tmp_path / "export" / "pytorch_model.bin").write_bytes(b"stale")
    with caplog.at_level(logging.WARNING, logger="fashionvl.hub"):
        export_for_hub(model, processor, tmp_path / "export")
    assert not (tmp_path / "export" / "pytorch_model.bin").exists()
    assert "pytorch_model.bin" in caplog.text


def test_a_kill_during_pipeline_save_to_a_new_folder_leaves_nothing_or_the_whole_checkpoint(tmp_path):
    from transformers import pipeline
    from test_pipeline_retrieval import build_mfsr_checkpoint

    build_mfsr_checkpoint(tmp_path / "source")
    retriever = pipeline("fashion-retrieval", model=str(tmp_path / "source"))
    folder = tmp_path / "saved"

    def check(killed):
        if folder.exists():
            reloaded = pipeline("fashion-retrieval", model=str(folder))
            assert all(torch.equal(reloaded.model.state_dict()[name], value)
                       for name, value in retriever.model.state_dict().items())
        else:
            assert killed

    for number in [*range(1, 120, 4), 10_000]:
        if not _run_killed_at(number, lambda: retriever.save_pretrained(folder)):
            break
        check(True)
        shutil.rmtree(folder, ignore_errors=True)  # every kill point starts from "no folder yet"
    check(False)
    assert folder.is_dir()


def test_save_model_into_an_existing_folder_moves_config_json_last(tmp_path, monkeypatch):
    from fashionvl import _safe_io
    from fashionvl.hub import save_model_without_remote_code

    moved = []
    original = _safe_io.replace_files_in_order
    monkeypatch.setattr("fashionvl.hub.replace_files_in_order",
                        lambda source, target: moved.extend(original(source, target)) or moved)
    (tmp_path / "other.txt").write_text("kept")
    save_model_without_remote_code(_mfsr(16)[0], tmp_path)
    assert moved[-1] == "config.json" and "model.safetensors" in moved
    assert (tmp_path / "other.txt").read_text() == "kept"
    assert [path.name for path in tmp_path.parent.iterdir() if path.name.startswith(f".{tmp_path.name}.")] == []


# ----------------------------------------------------------------------------------------------- checkpoints

_KILLED_TRAINING = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
import torch
torch.set_num_threads(1)
from test_trainer_losses import ToyMultiLossConfig, ToyMultiLossModel, make_args, make_toy_dataset
from fashionvl.training import FashionTrainer

KILL_STEP = int(sys.argv[3])
save_optimizer = FashionTrainer._save_optimizer_and_scheduler

def save_optimizer_then_die(self, output_dir):  # weights and optimizer written, RNG and trainer_state not yet
    save_optimizer(self, output_dir)
    if self.state.global_step == KILL_STEP:
        os.kill(os.getpid(), signal.SIGKILL)

FashionTrainer._save_optimizer_and_scheduler = save_optimizer_then_die
torch.manual_seed(0)
model = ToyMultiLossModel(ToyMultiLossConfig())
args = make_args(sys.argv[2], max_steps=6, save_strategy="steps", save_steps=2, optim="adamw_torch")
FashionTrainer(model=model, args=args, train_dataset=make_toy_dataset(16)).train()
"""


def test_resume_after_a_kill_during_checkpoint_writing_uses_the_last_complete_checkpoint(tmp_path, caplog):
    from test_trainer_losses import ToyMultiLossConfig, ToyMultiLossModel, make_args, make_toy_dataset
    from transformers.trainer_utils import get_last_checkpoint

    from fashionvl.training import FashionTrainer

    killed = subprocess.run([sys.executable, "-c", _KILLED_TRAINING, str(TESTS), str(tmp_path / "run"), "4"],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    partial = tmp_path / "run" / "checkpoint-4"
    assert partial.is_dir() and not (partial / "trainer_state.json").exists()
    assert get_last_checkpoint(str(tmp_path / "run")) == str(partial)  # what the stock Trainer would resume from

    def trainer(output_dir):
        torch.manual_seed(0)
        model = ToyMultiLossModel(ToyMultiLossConfig())
        args = make_args(output_dir, max_steps=6, save_strategy="steps", save_steps=2, optim="adamw_torch")
        return FashionTrainer(model=model, args=args, train_dataset=make_toy_dataset(16))

    from transformers import TrainerCallback

    class StepsRun(TrainerCallback):
        steps = []

        def on_step_end(self, args, state, control, **kwargs):
            self.steps.append(state.global_step)

    resumed = trainer(tmp_path / "run")
    resumed.add_callback(StepsRun())
    with caplog.at_level(logging.WARNING, logger="fashionvl.training.trainer"):
        resumed.train(resume_from_checkpoint=True)
    assert "checkpoint-4 is incomplete" in caplog.text
    assert StepsRun.steps == [3, 4, 5, 6]  # resumed from checkpoint-2

    uninterrupted = trainer(tmp_path / "reference")
    uninterrupted.train()
    for name, value in uninterrupted.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, rtol=1e-6, atol=1e-7)


def test_resume_with_no_complete_checkpoint_is_a_clear_error(tmp_path):
    from test_trainer_losses import ToyMultiLossConfig, ToyMultiLossModel, make_args, make_toy_dataset

    from fashionvl.training import FashionTrainer

    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text('{"global_step": 2')  # cut mid-write
    trainer = FashionTrainer(model=ToyMultiLossModel(ToyMultiLossConfig()), args=make_args(tmp_path),
                             train_dataset=make_toy_dataset(8))
    with pytest.raises(ValueError, match="No complete checkpoint"):
        trainer.train(resume_from_checkpoint=True)


# ----------------------------------------------------------------------------------------------- short last batch


class _BatchNormToy(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))

    def forward(self, features, targets=None, class_labels=None):
        return {"loss": nn.functional.mse_loss(self.layer(features).squeeze(-1), targets)}


def test_a_last_batch_of_one_is_dropped_for_a_batchnorm_model(tmp_path, caplog):
    from test_trainer_losses import make_args, make_toy_dataset

    from fashionvl.training import FashionTrainer

    args = make_args(tmp_path, max_steps=-1, num_train_epochs=1, per_device_train_batch_size=4)
    trainer = FashionTrainer(model=_BatchNormToy(), args=args, train_dataset=make_toy_dataset(17))
    with caplog.at_level(logging.WARNING, logger="fashionvl.training.trainer"):
        trainer.train()
    assert trainer.state.global_step == 4 and "a batch of 1" in caplog.text


def test_a_batch_size_of_one_for_a_batchnorm_model_is_a_clear_error(tmp_path):
    from test_trainer_losses import make_args, make_toy_dataset

    from fashionvl.training import FashionTrainer

    args = make_args(tmp_path, per_device_train_batch_size=1)
    trainer = FashionTrainer(model=_BatchNormToy(), args=args, train_dataset=make_toy_dataset(8))
    with pytest.raises(ValueError, match="at least 2 samples per training batch.*per_device_train_batch_size=1"):
        trainer.train()


def test_trainer_save_model_moves_config_json_last_and_keeps_checkpoints(tmp_path, monkeypatch):
    from test_trainer_losses import ToyMultiLossConfig, ToyMultiLossModel, make_args, make_toy_dataset

    from fashionvl.training import FashionTrainer
    from fashionvl.training import trainer as trainer_module

    moved = []
    original = trainer_module.replace_files_in_order
    monkeypatch.setattr(trainer_module, "replace_files_in_order",
                        lambda source, target: moved.append(original(source, target)) or moved[-1])
    args = make_args(tmp_path, max_steps=2, save_strategy="steps", save_steps=2)
    trainer = FashionTrainer(model=ToyMultiLossModel(ToyMultiLossConfig()), args=args, train_dataset=make_toy_dataset(8))
    trainer.train()
    trainer.save_model(str(tmp_path))
    assert all(names[-1] == "config.json" for names in moved) and len(moved) == 2  # checkpoint-2, then the final save
    assert (tmp_path / "checkpoint-2" / "trainer_state.json").is_file()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_atomic_write_text_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    from fashionvl import _safe_io

    target = tmp_path / "ablation.json"
    _safe_io.atomic_write_text(target, "old")
    def failing_replace(*args):
        raise OSError("disk full")
    monkeypatch.setattr(_safe_io.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        _safe_io.atomic_write_text(target, "new")
    assert target.read_text() == "old" and sorted(path.name for path in tmp_path.iterdir()) == ["ablation.json"]
    monkeypatch.undo()
    _safe_io.atomic_write_text(target, "new")
    assert target.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # the permissions open() gives, not mkstemp's 0600
