"""The paper scale's projected cost (advrepro.cost): the arithmetic on a toy registry, the critical path and the
schedules on a toy job graph, and the probe's step limit in the training loop."""

import math

import pytest
import torch
from torch import nn

from advrepro import cost, training

COST = {"paper_train_examples": {"mnist": 60000}, "paper_test_examples": {"mnist": 10000}, "warmup_steps": 1,
        "gpus": [1, 2], "gpu_slots": 4, "cpu_cores": 2, "other_job_seconds": 100.0,
        "assumed_gpu": {"name": "toy", "tflops": 1.0, "efficiency": 0.5, "operator_overhead_us": 10.0,
                        "memory_gib": 1.0, "source": "made up"}}
TRAINING = {"objective": {"name": "plain"}, "batch_size": 100, "lr": 0.1, "momentum": 0.5}
TOY = {"toy": {
    "models": {
        "fixed": {"dataset": "mnist", "training": {**TRAINING, "epochs": 10}},
        "staged": {"dataset": "mnist_standardize_pad32", "training": {
            **TRAINING, "epochs": 50, "protocol": {"kind": "two_stage", "validation_fraction": 0.25, "patience": 5,
                                                   "continue_max_epochs": 7}}},
    },
    "evaluations": {"clean": {"kind": "clean", "split": "test"},
                    "noise": {"kind": "gaussian_noise", "split": "test", "stds": [0, 0.1], "draws": 10},
                    "first": {"kind": "clean", "split": "test", "weights": "first_stage"}},
    "tables": {"t": {"models": ["fixed", "staged"], "evaluations": ["clean", "noise"]}},
    "figures": {"f": {"models": ["staged"], "evaluations": ["first"]}},
}}


def record(examples_per_epoch, steps=(9.0, 2.0, 4.0, 3.0)):
    """A probe's training record: a slow first step, then 2, 4, 3 s (median 3 s); 15,000 of the paper's 60,000
    images in the offline copy; 1e6 FLOPs per example in a step, 2.5e5 in a forward pass."""
    return {"step_seconds": list(steps), "examples_per_epoch": examples_per_epoch,
            "probe": {"batch_size": 100, "flops_per_example": 1e6, "forward_flops_per_example": 2.5e5,
                      "operators_per_step": 50, "parameters": 7, "peak_rss_bytes": 2**28, "train_split_examples": 15000}}


def test_the_median_step_leaves_out_the_warm_up():
    assert cost.median_after_warmup([9.0, 2.0, 4.0, 3.0]) == 3.0
    assert cost.median_after_warmup([5.0]) == 5.0  # one step: it is all there is


def test_epoch_budgets_follow_each_protocol():
    fixed = cost.epoch_budget(TOY["toy"]["models"]["fixed"]["training"], "final")
    assert (fixed["min"], fixed["expected"], fixed["max"]) == (10, 10, 10)
    staged = TOY["toy"]["models"]["staged"]["training"]
    first, second = cost.epoch_budget(staged, "first_stage"), cost.epoch_budget(staged, "final")
    assert (first["min"], first["max"], first["expected"]) == (6, 50, 50) and first["source"] == cost.CAP_SOURCE
    assert (second["min"], second["max"]) == (1, 7)
    guessed = cost.epoch_budget(staged, "first_stage", {"epochs": 20, "source": "a log"})
    assert (guessed["expected"], guessed["source"]) == (20, "a log")
    retrain = {**staged, "protocol": {"kind": "early_stopping_retrain", "validation_fraction": 0.25, "patience": 5}}
    assert cost.epoch_budget(retrain, "final")["max"] == 45


def test_a_training_job_is_steps_per_epoch_times_epochs_at_the_papers_size():
    fixed = cost.training_job(record(15000), TOY["toy"]["models"]["fixed"], "final", COST)
    assert fixed["steps_per_epoch"] == 600  # 15,000 offline images of 60,000: 60,000 / 100
    assert fixed["seconds"]["expected"] == 10 * 600 * 3.0
    # the assumed GPU: 1e8 FLOPs a step at 0.5 TFLOP/s take 2e-4 s, below the floor of 50 operators x 10 us
    assert fixed["gpu_seconds"]["expected"] == pytest.approx(10 * 600 * 5e-4)
    staged = cost.training_job(record(11250), TOY["toy"]["models"]["staged"], "first_stage", COST)
    validation = 60000 * 0.25 * 3.0 / 100 * 0.25  # the held-out quarter, forward passes at a quarter of a step
    assert staged["steps_per_epoch"] == 450 and staged["seconds"]["max"] == pytest.approx(50 * (450 * 3.0 + validation))


def test_a_fixed_train_examples_is_not_scaled():
    model = {**TOY["toy"]["models"]["fixed"], "train_examples": 2000}
    assert cost.steps_per_epoch(record(2000), model, COST["paper_train_examples"]) == 20


def test_the_job_graph_of_a_toy_registry():
    graph = cost.job_graph(TOY)
    assert sorted(graph) == ["evaluate toy/fixed/clean", "evaluate toy/fixed/noise", "evaluate toy/staged/clean",
                             "evaluate toy/staged/first", "evaluate toy/staged/noise", "train toy/fixed",
                             "train toy/staged", "train toy/staged (first stage)"]
    assert graph["train toy/staged"]["deps"] == ["train toy/staged (first stage)"]
    assert graph["evaluate toy/staged/first"]["deps"] == ["train toy/staged (first stage)"]
    assert graph["evaluate toy/fixed/noise"]["deps"] == ["train toy/fixed"]
    assert cost.evaluation_probes(TOY) == {"clean": ("toy", "fixed", "clean"), "gaussian_noise": ("toy", "fixed", "noise")}
    trained_on = {"toy": {**TOY["toy"], "evaluations": {**TOY["toy"]["evaluations"],
                                                        "noise": {**TOY["toy"]["evaluations"]["noise"], "split": "train"}}}}
    assert cost.evaluation_probes(trained_on)["gaussian_noise"] == ("toy", "fixed", "noise")  # no test-split job
    assert cost.unprobed_kinds(TOY) == []


def test_evaluations_scale_by_examples_work_and_the_models_step_times():
    probe = {"seconds": 2.0, "examples": 100, "work": 20.0}
    noise = TOY["toy"]["evaluations"]["noise"]
    assert cost.evaluation_work(noise) == 20.0  # 10 draws x 2 levels
    assert cost.evaluation_seconds(probe, noise, 10000, model_ratio=3.0) == pytest.approx(0.02 * 10000 * 3.0)
    assert cost.evaluation_examples({"split": "test", "n": 1000}, TOY["toy"]["models"]["fixed"], COST) == 1000


def test_projection_of_the_toy_registry():
    trained = {("toy", "fixed", "final"): record(15000), ("toy", "staged", "first_stage"): record(11250),
               ("toy", "staged", "final"): record(15000, steps=(9.0, 6.0))}
    evaluated = {"clean": {"paper": "toy", "model": "fixed", "seconds": 1.0, "examples": 100, "work": 1.0},
                 "gaussian_noise": {"paper": "toy", "model": "fixed", "seconds": 2.0, "examples": 100, "work": 20.0}}
    jobs = cost.project(TOY, trained, evaluated, COST)
    assert jobs["train toy/staged"]["seconds"] == 7 * 600 * 6.0  # the cap of the second stage, its own step time
    assert jobs["evaluate toy/fixed/clean"]["seconds"] == pytest.approx(10000 * 0.01)
    assert jobs["evaluate toy/staged/clean"]["seconds"] == pytest.approx(10000 * 0.01 * 2)  # its steps: 6 s, not 3
    result = cost.summary(jobs, COST, svm_seconds=[4.0, 6.0], device="toy cpu")
    serial = sum(job["seconds"] for job in jobs.values()) + 10.0
    assert result["probe_device"]["serial_h"] == pytest.approx(serial / 3600)
    assert result["probe_device"]["gpus_h"][1] == pytest.approx((serial - 10.0) / 3600)  # one worker: everything
    assert result["most_expensive"][0]["job"] == "train toy/staged (first stage)"
    assert result["per_paper_h"]["toy"] == pytest.approx({"device_h": (serial - 10.0) / 3600,
                                                         "gpu_h": sum(j["gpu_seconds"] for j in jobs.values()) / 3600})


def test_critical_path_of_a_toy_graph():
    jobs = {"a": {"seconds": 3, "deps": []}, "b": {"seconds": 1, "deps": []}, "c": {"seconds": 2, "deps": ["a"]},
            "d": {"seconds": 10, "deps": ["b"]}, "e": {"seconds": 1, "deps": ["c", "d"]}}
    assert cost.critical_path(jobs) == (12, ["b", "d", "e"])
    with pytest.raises(ValueError, match="cycle"):
        cost.critical_path({"x": {"seconds": 1, "deps": ["y"]}, "y": {"seconds": 1, "deps": ["x"]}})


def test_schedules_on_n_workers_and_packed():
    jobs = {"a": {"seconds": 3, "deps": []}, "b": {"seconds": 1, "deps": []}, "c": {"seconds": 2, "deps": ["a"]},
            "d": {"seconds": 10, "deps": ["b"]}, "e": {"seconds": 1, "deps": ["c", "d"]}}
    assert cost.schedule(jobs, 1) == 17  # serial
    assert cost.schedule(jobs, 2) == 12  # the critical path b, d, e; a and c beside it
    assert cost.schedule({f"j{i}": {"seconds": 1, "deps": []} for i in range(8)}, 3) == 3  # ceil(8 / 3)
    twice = {"a": {"seconds": 1, "deps": []}, "b": {"seconds": 2, "deps": ["a", "a"]}}  # an attack on its own model
    assert cost.schedule(twice, 2) == 3
    assert cost.packed(jobs, 4, flop_seconds=20) == 20  # never faster than all the FLOPs at the GPU's rate
    assert cost.packing_slots([2**29, 2**28], 2**30, slots=4) == 2  # the largest job fits twice
    assert cost.packing_slots([], 2**30, slots=4) == 4


def test_a_probe_stops_after_max_steps_and_times_each(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    images, labels = torch.rand(50, 1, 2, 2), torch.randint(0, 3, (50,))
    spec = {"objective": {"name": "plain"}, "epochs": 100, "batch_size": 10, "lr": 0.1, "momentum": 0.5,
            "optimizer": {"kind": "sgd"}, "max_steps": 7,
            "protocol": {"kind": "early_stopping", "validation_fraction": 0.2, "patience": 5}}
    result = training.train(model, images, labels, spec=spec, seed=1, checkpoint=tmp_path / "c.pt",
                            checkpoint_every=1000)
    assert result["stop"] == "max_steps" and result["steps"] == 7 and len(result["step_seconds"]) == 7
    assert result["examples_per_epoch"] == 40 and not (tmp_path / "c.pt").exists()  # no checkpoint, no validation
    assert [("valid_error" in h) for h in result["history"]] == [True, False]  # the stopped epoch is not validated
    assert all(math.isfinite(h["loss"]) for h in result["history"])


def test_no_host_synchronisation_in_the_training_step_loop():
    """Small nets are bound by launches, not FLOPs: the loop over minibatches never waits for the GPU (no .item(),
    .tolist(), .cpu() or float() of a tensor in it or in sgd_step); a probe's timing synchronises explicitly."""
    import ast
    import inspect

    loop = next(node for node in ast.walk(ast.parse(inspect.getsource(training._epoch))) if isinstance(node, ast.For))
    step = ast.parse(inspect.getsource(training.sgd_step))
    calls = [node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
             for tree in (loop, step) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert not {"item", "tolist", "cpu", "float", "numpy"} & set(calls), calls


def test_the_cost_page_names_the_assumption_and_the_most_expensive_jobs(tmp_path):
    import json

    from advrepro import report
    from conftest import REPO

    trained = {("toy", "fixed", "final"): record(15000), ("toy", "staged", "first_stage"): record(11250),
               ("toy", "staged", "final"): record(15000)}
    evaluated = {"clean": {"paper": "toy", "model": "fixed", "seconds": 1.0, "examples": 100, "work": 1.0},
                 "gaussian_noise": {"paper": "toy", "model": "fixed", "seconds": 2.0, "examples": 100, "work": 20.0}}
    jobs = cost.project(TOY, trained, evaluated, COST)
    projection = json.loads(json.dumps({"scale": "probe", **cost.summary(jobs, COST, [1.0], "toy cpu"),
                                        "unprobed_kinds": ["adversarial_samples"], "jobs": jobs}))
    html = tmp_path / "cost.html"
    report.render_cost({"cost": projection, "git_commit": "abc", "generated": "now"},
                       templates=str(REPO / "report"), html=str(html))
    text = html.read_text()
    assert "toy (h, assumed)" in text and "made up" in text and "train toy/staged (first stage)" in text
    assert "2 GPUs along the job graph" in text and "adversarial_samples" in text
    context = {"scale": "probe", "limits": {}, "papers": [], "benchmarks": [], "tolerances": [], "excluded_data": {},
               "git_commit": "abc", "generated": "now", "cost": projection}
    report.render(context, templates=str(REPO / "report"), html=str(tmp_path / "i.html"), tex=str(tmp_path / "r.tex"))
    assert 'id="cost"' in (tmp_path / "i.html").read_text()
    assert r"\section{Projected cost of the paper scale}" in (tmp_path / "r.tex").read_text()


def test_a_fixed_adversarial_set_is_probed_on_few_points_and_scaled_to_the_test_split():
    toy = {"toy": {**TOY["toy"], "adversarial_sets": {"a": {"model": "fixed"}},
                   "evaluations": {**TOY["toy"]["evaluations"],
                                   "on_a": {"kind": "samples", "split": "adversarial_set", "set": "a"}},
                   "tables": {"t": {"models": ["fixed", "staged"], "evaluations": ["clean", "on_a"]}}}}
    assert cost.evaluation_probes(toy)["samples"] == ("toy", "fixed", "on_a")  # on the probe's own set
    graph = cost.job_graph(toy)
    assert graph["evaluate toy/staged/on_a"]["deps"] == ["train toy/staged", "adversarial_set toy/a"]
    assert graph["adversarial_set toy/a"]["deps"] == ["train toy/fixed"]
    trained = {("toy", "fixed", "final"): record(15000), ("toy", "staged", "first_stage"): record(11250),
               ("toy", "staged", "final"): record(15000)}
    evaluated = {kind: {"paper": "toy", "model": "fixed", "seconds": 1.0, "examples": 100, "work": 1.0}
                 for kind in ("clean", "samples")}
    jobs = cost.project(toy, trained, evaluated, COST, sets={"toy/a": {"seconds": 6.4, "examples": 64}})
    assert jobs["adversarial_set toy/a"]["seconds"] == pytest.approx(6.4 / 64 * 10000)
    assert "assumed" not in jobs["adversarial_set toy/a"]
