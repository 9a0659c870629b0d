"""Device choice: the GPU only when CUDA really works; otherwise the CPU, saying so when a GPU was expected."""

import pytest
import torch

from advrepro import runtime


@pytest.fixture
def no_cuda(monkeypatch):
    """A machine where torch sees no usable CUDA (as on a node whose GPU is only a SLURM placeholder)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


@pytest.fixture
def broken_cuda(monkeypatch):
    """torch reports CUDA, but the first computation on it fails (driver mismatch, no kernel image, ...)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real_ones = torch.ones

    def ones(*args, device=None, **kwargs):
        if device is not None and torch.device(device).type == "cuda":
            raise RuntimeError("CUDA error: no kernel image is available for execution on the device")
        return real_ones(*args, device=device, **kwargs)

    monkeypatch.setattr(torch, "ones", ones)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_cpu_is_taken_without_looking_at_cuda(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: pytest.fail("CUDA was probed for device 'cpu'"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert runtime.select_device("cpu") == torch.device("cpu")
    assert capsys.readouterr().err == ""


def test_auto_without_a_gpu_falls_back_silently(no_cuda, capsys):
    assert runtime.select_device("auto") == torch.device("cpu")
    assert capsys.readouterr().err == ""


def test_auto_warns_when_slurm_gave_a_gpu_that_cuda_cannot_use(no_cuda, monkeypatch, capsys):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert runtime.select_device("auto") == torch.device("cpu")
    err = capsys.readouterr().err
    assert "CUDA_VISIBLE_DEVICES=0" in err and "using the CPU" in err


@pytest.mark.parametrize("hidden", ["", "-1"])
def test_hidden_gpus_are_not_an_expected_gpu(no_cuda, monkeypatch, capsys, hidden):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
    assert runtime.select_device("auto") == torch.device("cpu")
    assert capsys.readouterr().err == ""


def test_cuda_asked_for_but_unavailable_warns_and_uses_the_cpu(no_cuda, capsys):
    assert runtime.select_device("cuda") == torch.device("cpu")
    err = capsys.readouterr().err
    assert "device 'cuda' was asked for" in err and "using the CPU" in err


def test_cuda_that_is_reported_but_fails_a_computation_is_not_used(broken_cuda, monkeypatch, capsys):
    assert runtime.select_device("auto") == torch.device("cpu")  # no GPU was expected: silent
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert runtime.select_device("auto") == torch.device("cpu")
    err = capsys.readouterr().err
    assert "no kernel image" in err and "using the CPU" in err


def test_the_warning_lands_in_the_job_log(no_cuda, monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    log = tmp_path / "train.log"
    with runtime.log_to(str(log)):
        runtime.select_device("auto")
    assert "using the CPU" in log.read_text()


def test_unknown_preference_is_an_error():
    with pytest.raises(ValueError, match="allowed: auto, cpu, cuda"):
        runtime.select_device("gpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_a_working_gpu_is_taken(capsys):
    assert runtime.select_device("auto").type == "cuda"
    assert capsys.readouterr().err == ""


def test_a_failure_leaves_its_traceback_in_the_job_log(tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(NameError):
        with runtime.log_to(str(log)):
            undefined_name  # noqa: F821
    assert "NameError: name 'undefined_name' is not defined" in log.read_text()


def test_a_packed_job_caps_its_cuda_memory_at_its_share(monkeypatch):
    """snakemake --resources gpu_slots=4: each model job's CUDA memory is capped at a quarter (README, "Paper
    scale on one GPU workstation"); alone, or on the CPU, nothing is capped."""
    import torch

    from advrepro import runtime

    calls = []
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", lambda *args: calls.append(args))
    runtime.share_gpu(torch.device("cuda"), 4)
    runtime.share_gpu(torch.device("cuda"), 1)
    runtime.share_gpu(torch.device("cpu"), 4)
    assert calls == [(0.25, torch.device("cuda"))]
