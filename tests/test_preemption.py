"""Preemption: a training process killed (SIGKILL) or preempted (SIGTERM) and rerun ends with the
same weights as an uninterrupted one."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from advrepro.io import load_tensors

RUN = """
import sys, time, torch
from advrepro import io, models, training
checkpoint, out, slow = sys.argv[1], sys.argv[2], float(sys.argv[3])
gen = torch.Generator().manual_seed(0)
x, y = torch.rand(400, 1, 28, 28, generator=gen), torch.randint(0, 10, (400,), generator=gen)
torch.manual_seed(0)
model = models.build("maxout_mlp", "mnist", units=16, pieces=2)
model.register_forward_pre_hook(lambda module, inputs: time.sleep(slow))
spec = {"objective": {"name": "gradient_regularization", "p": 2, "sigma": 0.5}, "epochs": 8, "batch_size": 20,
        "lr": 0.1, "momentum": 0.5, "momentum_schedule": {"final": 0.7, "saturate_epoch": 4},
        "lr_schedule": {"kind": "exponential", "factor": 1.01, "min_lr": 1e-3}}
training.train(model, x, y, spec=spec, seed=3, checkpoint=checkpoint, checkpoint_every=2, name="preemptible")
io.save_tensors(out, model.state_dict())
"""


def _start(tmp_path: Path, name: str, slow: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RUN, str(tmp_path / f"{name}.ckpt"), str(tmp_path / f"{name}.pt"),
                             str(slow)], stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("reference")
    process = _start(tmp_path, "reference", 0.0)
    assert process.wait(timeout=300) == 0, process.stderr.read()
    return load_tensors(tmp_path / "reference.pt")


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_training_run_resumes_to_the_same_weights(tmp_path, uninterrupted, how):
    process = _start(tmp_path, "run", 0.01)
    _wait_for(tmp_path / "run.ckpt", process)  # the epoch-2 checkpoint: killed somewhere in epoch 3
    time.sleep(0.3)
    process.send_signal(how)
    code = process.wait(timeout=60)
    stderr = process.stderr.read()
    assert code != 0 and not (tmp_path / "run.pt").exists()
    if how == signal.SIGTERM:  # saved mid-epoch before stopping
        assert "Preempted" in stderr and "stopped by SIGTERM in epoch" in stderr
    resumed = _start(tmp_path, "run", 0.0)
    assert resumed.wait(timeout=300) == 0
    assert "resuming from" in resumed.stderr.read()
    _assert_same(uninterrupted, load_tensors(tmp_path / "run.pt"))
