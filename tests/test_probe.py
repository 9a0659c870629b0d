"""The probe scale as CI runs it (issue 16): every paper-scale training job at full size for two steps, an evaluation
of each kind, the SVM paths of one pair (all 45 planned), and the projected cost of the paper scale. A shape or
memory error at full size fails here. One thread per job, so that two jobs run at once on 2 CPU cores."""

import json

import pytest

from test_workflow import _copy_checkout, job_counts, snakemake

pytestmark = pytest.mark.workflow


def test_the_probe_runs_every_paper_scale_training_job_and_projects_the_cost(tmp_path, offline_mnist):
    checkout = _copy_checkout(tmp_path)
    paper = job_counts(snakemake(checkout, "-n"))
    probe = ["--configfile", "config/scales/probe.yaml", "--config", f"torchvision_root={offline_mnist}",
             "synthetic_cifar10=True", "limits={max_steps: 2}", "model_threads=1"]  # two jobs at once on 2 cores
    planned = job_counts(snakemake(checkout, "-n", *probe))
    assert planned["probe_train"] == paper["train"] and planned["probe_train_first_stage"] == paper["train_first_stage"]
    assert planned["svm_path"] == paper["svm_path"] and "report" not in planned
    # The run: every job as planned, but the SVM paths of one pair of the 45 (its three training-set sizes): the other
    # pairs run the same code on other digits, and each costs a job's start-up (42 fewer jobs).
    snakemake(checkout, *probe, "overrides={tanay2016: {svm: {pairs: [3v7]}}}")
    projection = json.loads((checkout / "results/cost/projection.json").read_text())
    trained = [job for job in projection["jobs"].values() if job["kind"] == "train"]
    assert len(trained) == paper["train"] + paper["train_first_stage"]
    assert all(job["steps_per_epoch"] > 0 and job["flops_per_example"] > 0 and job["memory_bytes"] > 0 for job in trained)
    assert len(projection["most_expensive"]) == 5 and projection["assumed"]["serial_h"] > 0
    record = json.loads((checkout / "results/cost/lyu2015/maxout/train/first_stage/provenance.json").read_text())
    assert len(record["training"]["step_seconds"]) == 2 and record["training"]["stop"] == "max_steps"
    assert "assumed" in (checkout / "results/cost/report.html").read_text()
