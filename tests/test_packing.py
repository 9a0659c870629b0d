"""One GPU workstation (issue 16): model jobs packed side by side (snakemake --resources gpu_slots=N) give the same
numbers as one at a time, and a second clone takes a trained model from the between-workflow output cache
(SNAKEMAKE_OUTPUT_CACHE, --cache) instead of training it again."""

import json
import os

import pytest

from conftest import smoke_args
from test_workflow import _copy_checkout, snakemake

pytestmark = pytest.mark.workflow
MODELS = ["softmax_wd1", "softmax_wd1e-2", "softmax_mean_wd1"]
TARGETS = [f"results/evals/lyu2015/{m}/noise.json" for m in MODELS]


def _numbers(workdir, model):
    """An evaluation's numbers (its provenance aside: times, host) and the trained weights' bytes."""
    result = json.loads((workdir / f"results/evals/lyu2015/{model}/noise.json").read_text())
    result.pop("provenance")
    return result, (workdir / f"results/models/lyu2015/{model}/model.pt").read_bytes()


def test_packed_model_jobs_give_the_numbers_of_one_at_a_time(tmp_path, offline_mnist):
    """Three trainings and their evaluations on 2 cores: three jobs packed at once against one after the other (the
    same seeds, the same threads per job): the same weights and the same numbers."""
    alone, packed = _copy_checkout(tmp_path / "alone"), _copy_checkout(tmp_path / "packed")
    args = [*smoke_args(offline_mnist), "papers=[lyu2015]"]
    snakemake(alone, *TARGETS, "--resources", "gpu_slots=1", *args)
    result = snakemake(packed, *TARGETS, "--cores", "3", "--resources", "gpu_slots=3", *args)
    assert "gpu_jobs=3" in result.stdout + result.stderr  # each job knew it shared the GPU (its memory cap)
    for model in MODELS:
        assert _numbers(alone, model) == _numbers(packed, model), model


def test_a_second_clone_takes_the_trained_model_from_the_output_cache(tmp_path, offline_mnist):
    first, second = _copy_checkout(tmp_path / "first"), _copy_checkout(tmp_path / "second")
    cache = tmp_path / "cache"
    cache.mkdir()
    os.environ["SNAKEMAKE_OUTPUT_CACHE"] = str(cache)
    try:
        target, args = "results/models/lyu2015/softmax_wd1/model.pt", [*smoke_args(offline_mnist), "papers=[lyu2015]"]
        snakemake(first, target, "--cache", *args)
        assert any(cache.iterdir())  # the first clone stored its model
        result = snakemake(second, target, "--cache", *args)
    finally:
        del os.environ["SNAKEMAKE_OUTPUT_CACHE"]
    assert "from cache" in result.stdout + result.stderr
    for name in ("model.pt", "provenance.json"):  # the provenance holds the training's time stamp and wall time
        path = second / f"results/models/lyu2015/softmax_wd1/{name}"
        assert path.is_symlink() and path.resolve().parent == cache.resolve()  # the cached file itself
        assert path.read_bytes() == (first / f"results/models/lyu2015/softmax_wd1/{name}").read_bytes()
