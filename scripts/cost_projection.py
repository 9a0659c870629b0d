"""Project the paper scale's cost from the probe's files (advrepro.cost): results/cost/projection.json (every job,
per paper, totals: serial, N GPUs, one GPU packed) and results/cost/jobs.csv (a row per job)."""

from advrepro import jobs

sm = jobs.snakemake_object(globals(), "cost_projection")  # Snakemake's, or by hand: see advrepro.jobs
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

import csv

from advrepro import cost, io

files, settings = sm.params.files, sm.params.cost
trained = {tuple(key.split("/", 2)): io.read_json(path)["training"] for key, path in files["trained"].items()}
evaluated = {}
for kind, path in files["evaluated"].items():
    result = io.read_json(path)
    evaluated[kind] = {"paper": result["paper"], "model": result["model"], "examples": result["n"],
                       "seconds": result["provenance"]["compute_s"], "work": cost.evaluation_work(result["spec"])}
ran_on = io.read_json(next(iter(files["trained"].values())))["provenance"]
device = f"{ran_on['device']} ({ran_on['device_name']}, {ran_on['host']})"  # the device the probe ran on
svm_seconds = [io.read_json(path)["provenance"]["wall_time_s"] for path in files["svm"]]
sets = {key: {"seconds": (summary := io.read_json(path))["provenance"]["wall_time_s"],
              "examples": summary["source_examples"]} for key, path in files["sets"].items()}
projected = cost.project(sm.params.papers, trained, evaluated, settings, sets)
io.write_json(sm.output.json, {"scale": sm.params.scale, **cost.summary(projected, settings, svm_seconds, device),
                               "unprobed_kinds": cost.unprobed_kinds(sm.params.papers), "jobs": projected})
columns = ["job", "kind", "paper", "seconds", "gpu_seconds", "median_step_s", "steps_per_epoch", "memory_bytes",
           "parameters", "flops_per_example"]
with open(sm.output.csv, "w", newline="") as handle:
    writer = csv.DictWriter(handle, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({"job": name, **job} for name, job in projected.items())
