"""The cost of the paper scale, projected from a probe (config/scales/probe.yaml) before it is paid for.

A probe runs every paper-scale training job at full size for a few optimizer steps and one evaluation of each kind
on a few examples (README, "Paper scale on one GPU workstation"). This module (pure Python: no torch, so the workflow
imports it when it builds the DAG) turns those measurements and the registries' epoch budgets into hours per job
and per paper: on the device the probe ran on, and on a GPU not present from FLOPs and the throughput that
config.yaml's `cost.assumed_gpu` states (an assumption, named so). Totals: serial, on N GPUs along the job graph
(list scheduling, longest job first, never below the critical path), and on one GPU with k jobs packed.
"""

from __future__ import annotations

import heapq
import math
import statistics

SECOND_STAGES = ("two_stage", "early_stopping_retrain")
CAP_SOURCE = "the registry's epoch cap (no epoch count published): an upper bound"


def median_after_warmup(seconds: list[float], warmup: int = 1) -> float:
    """The median step time after the first `warmup` steps (all of them when there are no more)."""
    timed = seconds[warmup:] or seconds
    return statistics.median(timed)


def raw_dataset(dataset: str) -> str:
    """The raw dataset of a (preprocessed) dataset name: mnist_standardize_pad32 -> mnist."""
    return dataset.partition("_")[0]


def steps_per_epoch(record: dict, model: dict, paper_sizes: dict) -> int:
    """Optimizer steps of one epoch at the paper's dataset size: the probe's examples per epoch (its stage's share
    of the examples loaded), scaled from the offline copy's training split to the paper's (60k MNIST, 50k CIFAR-10)
    unless the registry fixes `train_examples`."""
    probe = record["probe"]
    examples = record["examples_per_epoch"]
    if model.get("train_examples") is None:
        examples *= paper_sizes[raw_dataset(model["dataset"])] / probe["train_split_examples"]
    return math.ceil(examples / model["training"]["batch_size"])


def epoch_budget(training: dict, stage: str, expected: dict | None = None) -> dict:
    """Epochs of one training job: {"min", "expected", "max", "source"}. Fixed: the registry's epochs. Early
    stopping (a first stage): patience + 1 to the cap. The second stage of two_stage: 1 to continue_max_epochs; of
    early_stopping_retrain: the first stage's best epoch, 1 to epochs - patience. `expected` ({"epochs", "source"},
    from config cost.expected_epochs) sets the expected value; otherwise it is the upper bound (CAP_SOURCE)."""
    protocol = training.get("protocol", {"kind": "fixed"})
    kind, epochs = protocol["kind"], training["epochs"]
    if kind == "fixed":
        return {"min": epochs, "expected": epochs, "max": epochs, "source": "the registry (fixed epochs)"}
    if stage == "first_stage" or kind == "early_stopping":
        low, high = min(protocol["patience"] + 1, epochs), epochs
    elif kind == "two_stage":
        low, high = 1, protocol["continue_max_epochs"]
    else:
        low, high = 1, max(epochs - protocol["patience"], 1)
    if expected:
        return {"min": low, "expected": expected["epochs"], "max": high, "source": expected["source"]}
    return {"min": low, "expected": high, "max": high, "source": CAP_SOURCE}


def gpu_step_seconds(flops: float, operators: int, gpu: dict) -> float:
    """A step's time on the assumed GPU: its FLOPs at the stated sustained rate, but never less than its operators'
    launch and dispatch overhead (small nets are bound by it)."""
    rate = gpu["tflops"] * 1e12 * gpu["efficiency"]
    return max(flops / rate, operators * gpu["operator_overhead_us"] * 1e-6)


def validation_seconds(record: dict, model: dict, step_s: float, paper_sizes: dict) -> float:
    """The per-epoch validation of an early-stopping stage: forward passes over the held-out tail (three times a
    forward for an adversarial validation, FGSM's forward and backward), at the probe's step rate."""
    protocol = model["training"].get("protocol", {})
    if "validation_fraction" not in protocol:
        return 0.0
    probe = record["probe"]
    held_out = paper_sizes[raw_dataset(model["dataset"])] * protocol["validation_fraction"]
    passes = 3 if protocol.get("validation_attack") else 1
    per_example = step_s / probe["batch_size"] * probe["forward_flops_per_example"] / probe["flops_per_example"]
    return held_out * per_example * passes


def training_job(record: dict, model: dict, stage: str, cost: dict, expected: dict | None = None) -> dict:
    """One training job's projection from its probe record (the `training` block of its provenance.json, with the
    `probe` block): seconds per step, steps per epoch, epochs, and seconds (min, expected, max) on the probe's device
    and on the assumed GPU; its memory, parameters and FLOPs per example."""
    probe, sizes = record["probe"], cost["paper_train_examples"]
    step_s = median_after_warmup(record["step_seconds"], cost.get("warmup_steps", 1))
    steps = steps_per_epoch(record, model, sizes)
    budget = epoch_budget(model["training"], stage, expected)
    has_validation = stage == "first_stage" or model["training"].get("protocol", {}).get("kind") == "early_stopping"
    val_s = validation_seconds(record, model, step_s, sizes) if has_validation else 0.0
    gpu_step = gpu_step_seconds(probe["flops_per_example"] * probe["batch_size"], probe["operators_per_step"],
                                cost["assumed_gpu"])
    epoch_s, gpu_epoch_s = steps * step_s + val_s, (steps * step_s + val_s) * gpu_step / step_s
    return {"stage": stage, "median_step_s": step_s, "steps_per_epoch": steps, "epochs": budget,
            "seconds": {k: budget[k] * epoch_s for k in ("min", "expected", "max")},
            "gpu_seconds": {k: budget[k] * gpu_epoch_s for k in ("min", "expected", "max")},
            "memory_bytes": probe.get("cuda_max_allocated_bytes", probe["peak_rss_bytes"]),
            **{k: probe[k] for k in ("batch_size", "parameters", "flops_per_example", "forward_flops_per_example")}}


def evaluation_work(spec: dict) -> float:
    """How much an evaluation does per example relative to others of its kind: the product of its draws and of the
    lengths of its list options (noise levels, epsilons, threats, sigmas)."""
    work = float(spec.get("draws", 1))
    for value in spec.values():
        if isinstance(value, list):
            work *= max(len(value), 1)
        elif isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
            work *= max(len(v) for v in value.values())  # threats per dataset: the longest list
    return work


def evaluation_seconds(probe: dict, spec: dict, examples: int, model_ratio: float) -> float:
    """An evaluation job's seconds from the probe of its kind (`probe`: seconds, examples, work of the probed
    evaluation): seconds per example x examples x work ratio x `model_ratio`, the evaluated model's training-step
    time per example over the probed model's (an attack costs about as many passes per example on any model)."""
    per_example = probe["seconds"] / max(probe["examples"], 1)
    return per_example * examples * evaluation_work(spec) / probe["work"] * model_ratio


# --- the job graph and its schedules --------------------------------------------------------------------------


def critical_path(jobs: dict[str, dict]) -> tuple[float, list[str]]:
    """The longest chain of dependent jobs ({name: {"seconds", "deps"}}): its seconds and its jobs in order."""
    finish, best_dep = {}, {}

    def visit(name: str, trail: tuple = ()) -> float:
        if name in trail:
            raise ValueError(f"the job graph has a cycle through {name}")
        if name not in finish:
            deps = jobs[name]["deps"]
            ends = {dep: visit(dep, trail + (name,)) for dep in deps}
            best_dep[name] = max(ends, key=ends.get) if ends else None
            finish[name] = jobs[name]["seconds"] + (ends[best_dep[name]] if ends else 0.0)
        return finish[name]

    for name in jobs:
        visit(name)
    end = max(finish, key=finish.get) if finish else None
    path = []
    while end is not None:
        path.append(end)
        end = best_dep[end]
    return (finish[path[0]] if path else 0.0), path[::-1]


def schedule(jobs: dict[str, dict], slots: int) -> float:
    """The makespan of list scheduling the job graph on `slots` identical workers: whenever a worker is free it
    takes the longest ready job (a job is ready when its dependencies have finished)."""
    waiting = {name: set(job["deps"]) for name, job in jobs.items()}
    users = {name: set() for name in jobs}
    for name, job in jobs.items():
        for dep in job["deps"]:
            users[dep].add(name)
    ready = [(-jobs[n]["seconds"], n) for n, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    running, now, done = [], 0.0, 0
    while ready or running:
        while ready and len(running) < slots:
            length, name = heapq.heappop(ready)
            heapq.heappush(running, (now - length, name))
        now, name = heapq.heappop(running)
        done += 1
        for user in users[name]:
            waiting[user].discard(name)
            if not waiting[user]:
                heapq.heappush(ready, (-jobs[user]["seconds"], user))
    if done != len(jobs):
        raise ValueError("the job graph has a cycle or a dependency outside it")
    return now


def packing_slots(memory: list[float], gpu_memory: float, slots: int) -> int:
    """How many jobs fit on one GPU at once: at most `slots`, and as many of the largest job as its memory holds
    (each job capped at gpu_memory / k by torch.cuda.set_per_process_memory_fraction)."""
    largest = max(memory, default=0.0)
    return max(1, min(slots, int(gpu_memory // largest) if largest else slots))


def packed(jobs: dict[str, dict], slots: int, flop_seconds: float) -> float:
    """One GPU running `slots` jobs at once: the schedule on `slots` workers at each job's own speed, but never
    faster than all the FLOPs at the GPU's sustained rate (`flop_seconds`): packing fills the GPU the small jobs
    leave idle, it does not add compute."""
    return max(schedule(jobs, slots), flop_seconds)


# --- the paper scale's model jobs, from the registries ------------------------------------------------------


def _owner(paper: str, model: str) -> tuple[str, str]:
    owner, slash, name = model.partition("/")  # <paper>/<model>: another paper's model (registry.model_owner)
    return (owner, name) if slash else (paper, model)


def training_jobs(papers: dict) -> list[tuple[str, str, str]]:
    """(paper, model, stage) of every training job of the paper scale: each model a registry owns (not one it names
    as <paper>/<model>) is trained ("final"), after its "first_stage" where its protocol has two."""
    jobs = []
    for paper, registry in papers.items():
        for model, entry in registry["models"].items():
            if "/" in model:
                continue
            if entry["training"].get("protocol", {}).get("kind") in SECOND_STAGES:
                jobs.append((paper, model, "first_stage"))
            jobs.append((paper, model, "final"))
    return jobs


def evaluation_jobs(papers: dict) -> list[tuple[str, str, str]]:
    """(paper, model, evaluation) of every evaluation job of the paper scale: each table's and figure's models by
    its evaluations, once."""
    jobs = {}
    for paper, registry in papers.items():
        for group in ("tables", "figures"):
            for artifact in registry.get(group, {}).values():
                for model in artifact.get("models", []):
                    for evaluation in artifact.get("evaluations", []):
                        jobs[(paper, model, evaluation)] = None
    return list(jobs)


def evaluation_probes(papers: dict) -> dict[str, tuple[str, str, str]]:
    """The evaluation job that probes each kind: of the jobs of that kind of the final weights with no attack source
    (it runs on the probe's own weights alone), the first (registry order) on the test split, else on the training
    examples, else on a fixed adversarial set (the probe's, built on its few test points); a kind whose every job
    attacks another model is left out."""
    probes = {}
    for splits in (("test",), ("train", "validation"), ("adversarial_set",)):
        for paper, model, evaluation in evaluation_jobs(papers):
            spec = papers[paper]["evaluations"][evaluation]
            alone = "source" not in spec and spec.get("weights", "final") == "final"
            if alone and spec["split"] in splits and spec["kind"] not in probes:
                probes[spec["kind"]] = (paper, model, evaluation)
    return probes


def unprobed_kinds(papers: dict) -> list[str]:
    """The evaluation kinds of the paper scale no probe runs (evaluation_probes leaves them out)."""
    kinds = {papers[p]["evaluations"][e]["kind"] for p, _, e in evaluation_jobs(papers)}
    return sorted(kinds - set(evaluation_probes(papers)))


def job_graph(papers: dict) -> dict[str, dict]:
    """Every model job of the paper scale and the jobs it waits for ({name: {"deps": [...], ...}}): a second stage
    its first, an evaluation the training of its model (and of its attack's source, or the fixed adversarial set it
    reads), an adversarial set its model. Tables, figures and the report take seconds on a CPU: left out."""
    graph = {f"train {p}/{m}" + ("" if s == "final" else " (first stage)"): {
        "kind": "train", "paper": p, "model": m, "stage": s,
        "deps": [f"train {p}/{m} (first stage)"] if s == "final" and (p, m, "first_stage") in
        training_jobs({p: papers[p]}) else []} for p, m, s in training_jobs(papers)}
    for paper, registry in papers.items():
        for name, entry in registry.get("adversarial_sets", {}).items():
            graph[f"adversarial_set {paper}/{name}"] = {"kind": "adversarial_set", "paper": paper,
                                                       "set": f"{paper}/{name}",
                                                       "deps": [_train_name(paper, entry["model"])]}
    for paper, model, evaluation in evaluation_jobs(papers):
        spec = papers[paper]["evaluations"][evaluation]
        deps = [_train_name(paper, model, spec.get("weights", "final"))]
        deps += [_train_name(paper, spec["source"])] if "source" in spec else []
        deps += [f"adversarial_set {paper}/{spec['set']}"] if spec["split"] == "adversarial_set" else []
        graph[f"evaluate {paper}/{model}/{evaluation}"] = {"kind": "evaluate", "paper": paper, "model": model,
                                                           "evaluation": evaluation, "deps": list(dict.fromkeys(deps))}
    return graph


def _train_name(paper: str, model: str, stage: str = "final") -> str:
    owner, name = _owner(paper, model)
    return f"train {owner}/{name}" + ("" if stage == "final" else " (first stage)")


# --- the projection -------------------------------------------------------------------------------------------


def evaluation_examples(spec: dict, model: dict, cost: dict) -> int:
    """The examples an evaluation sees at paper scale: the test split (a fixed adversarial set: at most that), the
    model's training examples or their held-out tail, capped by its `n` option."""
    raw = raw_dataset(model["dataset"])
    train = model.get("train_examples") or cost["paper_train_examples"][raw]
    examples = {"train": train, "validation": train * model["training"].get("protocol", {}).get(
        "validation_fraction", 1.0)}.get(spec["split"], cost["paper_test_examples"][raw])
    return int(min(examples, spec.get("n") or math.inf))


def _owned_model(papers: dict, paper: str, model: str) -> tuple[tuple, dict]:
    owner, name = _owner(paper, model)
    return (owner, name), papers[owner]["models"][name]


def project(papers: dict, trained: dict, evaluated: dict, cost: dict, sets: dict | None = None) -> dict[str, dict]:
    """The job graph with each job's projected seconds on the probe's device ("seconds", expected epochs) and on
    the assumed GPU ("gpu_seconds"). `trained`: {(paper, model, stage): its probe's training record}; `evaluated`:
    {kind: {"seconds", "examples", "work", "paper", "model"}} of each kind's probe; `sets`: {"<paper>/<set>": {"seconds",
    "examples"}} of each fixed adversarial set the probe built, scaled to the test split. Evaluations of a kind no
    probe ran (and sets without a probe) take cost["other_job_seconds"] (an assumption)."""
    graph, jobs = job_graph(papers), {}
    for name, job in graph.items():
        if job["kind"] == "train":
            key = (job["paper"], job["model"], job["stage"])
            model = papers[job["paper"]]["models"][job["model"]]
            expected = cost.get("expected_epochs", {}).get(f"{key[0]}/{key[1]}", {}).get(job["stage"])
            projected = training_job(trained[key], model, job["stage"], cost, expected)
            job.update(projected, seconds=projected["seconds"]["expected"],
                       gpu_seconds=projected["gpu_seconds"]["expected"])
        elif job["kind"] == "evaluate" and papers[job["paper"]]["evaluations"][job["evaluation"]]["kind"] in evaluated:
            job.update(_evaluation_projection(papers, job, trained, evaluated, cost))
        elif job["kind"] == "adversarial_set" and job["set"] in (sets or {}):
            job.update(_set_projection(papers, job, trained, sets[job["set"]], cost))
        else:
            job.update(seconds=cost["other_job_seconds"], gpu_seconds=cost["other_job_seconds"], assumed=True)
        jobs[name] = job
    return jobs


def _evaluation_projection(papers: dict, job: dict, trained: dict, evaluated: dict, cost: dict) -> dict:
    """An evaluation job's seconds from its kind's probe (evaluation_seconds, scaled by the models' training-step
    times per example), on the probe's device and, at the ratio of the model's step there and on the assumed GPU,
    on that GPU."""
    spec = papers[job["paper"]]["evaluations"][job["evaluation"]]
    probe = evaluated[spec["kind"]]
    key, model = _owned_model(papers, job["paper"], job["model"])
    probed_key, _ = _owned_model(papers, probe["paper"], probe["model"])
    record, probed = trained[(*key, "final")], trained[(*probed_key, "final")]
    step_s = median_after_warmup(record["step_seconds"], cost.get("warmup_steps", 1))
    probed_s = median_after_warmup(probed["step_seconds"], cost.get("warmup_steps", 1))
    ratio = (step_s / record["probe"]["batch_size"]) / (probed_s / probed["probe"]["batch_size"])
    seconds = evaluation_seconds(probe, spec, evaluation_examples(spec, model, cost), ratio)
    gpu_step = gpu_step_seconds(record["probe"]["flops_per_example"] * record["probe"]["batch_size"],
                                record["probe"]["operators_per_step"], cost["assumed_gpu"])
    return {"seconds": seconds, "gpu_seconds": seconds * gpu_step / step_s,
            "examples": evaluation_examples(spec, model, cost), "probed_on": f"{probe['paper']}/{probe['model']}"}


def _set_projection(papers: dict, job: dict, trained: dict, probe: dict, cost: dict) -> dict:
    """A fixed adversarial set's seconds: the probe's, built on its few test points, scaled to the whole test split;
    on the assumed GPU at the ratio of its model's training step there and on the probe's device."""
    paper, name = job["set"].split("/")
    model = papers[paper]["adversarial_sets"][name]["model"]
    record = trained[(paper, model, "final")]
    examples = cost["paper_test_examples"][raw_dataset(papers[paper]["models"][model]["dataset"])]
    seconds = probe["seconds"] * examples / max(probe["examples"], 1)
    step_s = median_after_warmup(record["step_seconds"], cost.get("warmup_steps", 1))
    gpu_step = gpu_step_seconds(record["probe"]["flops_per_example"] * record["probe"]["batch_size"],
                                record["probe"]["operators_per_step"], cost["assumed_gpu"])
    return {"seconds": seconds, "gpu_seconds": seconds * gpu_step / step_s, "examples": examples}


def totals(jobs: dict[str, dict], cost: dict, key: str = "seconds", cpu_seconds: float = 0.0) -> dict:
    """Hours of the whole graph by `key` ("seconds": the probe's device; "gpu_seconds": the assumed GPU): serial; on
    each N of cost["gpus"] along the graph; its critical path; and one GPU packed (packing_slots jobs at once, never
    faster than all FLOPs at the GPU's sustained rate). CPU jobs (`cpu_seconds`: the SVM paths) run beside them on
    cost["cpu_cores"] cores."""
    graph = {name: {"seconds": job[key], "deps": job["deps"]} for name, job in jobs.items()}
    cpu = cpu_seconds / cost.get("cpu_cores", 1)
    path_s, path = critical_path(graph)
    memory = [job["memory_bytes"] for job in jobs.values() if "memory_bytes" in job]
    slots = packing_slots(memory, cost["assumed_gpu"]["memory_gib"] * 2**30, cost["gpu_slots"])
    gpu = cost["assumed_gpu"]
    flops = sum(job["epochs"]["expected"] * job["steps_per_epoch"] * job["batch_size"] * job["flops_per_example"]
                for job in jobs.values() if job["kind"] == "train")
    flop_s = flops / (gpu["tflops"] * 1e12 * gpu["efficiency"]) if key == "gpu_seconds" else 0.0
    hours = lambda s: max(s, cpu) / 3600  # noqa: E731
    return {"serial_h": (sum(g["seconds"] for g in graph.values()) + cpu_seconds) / 3600,
            "gpus_h": {n: hours(schedule(graph, n)) for n in cost["gpus"]},
            "critical_path_h": path_s / 3600, "critical_path": path,
            "packed_slots": slots, "packed_h": hours(packed(graph, slots, flop_s))}


def summary(jobs: dict[str, dict], cost: dict, svm_seconds: list[float], device: str) -> dict:
    """The projection as the report shows it: per paper and in total, on the probe's `device` and on the assumed GPU;
    the five most expensive jobs (on the assumed GPU)."""
    papers = sorted({job["paper"] for job in jobs.values()})
    per_paper = {paper: {hours_key: sum(j[key] for j in jobs.values() if j["paper"] == paper) / 3600
                         for key, hours_key in (("seconds", "device_h"), ("gpu_seconds", "gpu_h"))} for paper in papers}
    top = sorted(jobs, key=lambda name: jobs[name]["gpu_seconds"], reverse=True)[:5]
    return {"device": device, "assumed_gpu": cost["assumed_gpu"], "per_paper_h": per_paper,
            "svm_paths": {"jobs": len(svm_seconds), "cpu_seconds": sum(svm_seconds)},
            "probe_device": totals(jobs, cost, "seconds", sum(svm_seconds)),
            "assumed": totals(jobs, cost, "gpu_seconds", sum(svm_seconds)),
            "most_expensive": [{"job": name, "gpu_h": jobs[name]["gpu_seconds"] / 3600,
                                "device_h": jobs[name]["seconds"] / 3600} for name in top]}
