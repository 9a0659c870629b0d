# Paths and registry look-ups shared by the rules. Data flows one way:
# resources/datasets -> results/models -> results/evals -> results/{tables,figures} -> results/report


def code(script, *extra):
    """The library files a job's script and the `extra` modules import, directly or not (advrepro.codedeps),
    declared as inputs so that a change to any of them reruns the job."""
    return codedeps.closure(script, *extra)


def artifact_code(script):
    """An artifact script's code, with the paper's module and the shared builders it imports by name."""
    return lambda wildcards: code(script, f"{papers.__name__}.{wildcards.paper}", papers.SHARED)


def evaluation_code(wildcards):
    """The evaluate script's code, and the module of the evaluation's kind when the script imports it by name
    (the paper's own, or a generic module beside advrepro.evaluate such as advrepro.strong_attacks)."""
    kind = entry(wildcards.paper, "evaluations", wildcards.evaluation)["kind"]
    return code("scripts/evaluate.py", *catalog.kind_modules(kind))


def dataset_file(name):
    return f"resources/datasets/{name}.pt"


def entry(paper, group, name):
    """The registry entry `name` of a paper's `group` (models, evaluations, tables, ...); an unknown name
    (e.g. a mistyped target file) stops the run listing the known ones."""
    known = PAPERS[paper].get(group, {})
    if name not in known:
        raise WorkflowError(
            f"{paper} has no {group.removesuffix('s').replace('_', ' ')} {name!r} "
            f"(config/papers/{paper}.yaml); known: {', '.join(sorted(known))}"
        )
    return known[name]


def model_entry(wildcards):
    return entry(wildcards.paper, "models", wildcards.model)


def weights_file(paper, model, stage="final"):
    """A trained model's weights: the final ones, or a two-stage model's after its first stage. A model named
    <paper>/<model> (another paper's, read by a cross-paper registry) is that paper's: never retrained."""
    folder = f"results/models/{'/'.join(registry.model_owner(paper, model))}"
    return f"{folder}/model.pt" if stage == "final" else f"{folder}/first_stage/model.pt"


def first_stage_of(wildcards):
    """A two-stage model's second stage starts from its first stage (Lyu et al. 2015, IV-A); an
    early_stopping_retrain model's reads only the first stage's record (Goodfellow et al. 2014, 6)."""
    kind = model_entry(wildcards)["training"].get("protocol", {}).get("kind")
    if kind not in ("two_stage", "early_stopping_retrain"):
        return {}
    weights = weights_file(wildcards.paper, wildcards.model, "first_stage")
    record = {"first_stage_record": weights.replace("model.pt", "provenance.json")}
    return {"first_stage": weights, **record} if kind == "two_stage" else record


def attack_source(wildcards):
    """The weights an evaluation's attack is crafted on, when it names a `source` model (transfer)."""
    spec = entry(wildcards.paper, "evaluations", wildcards.evaluation)
    return {"source": weights_file(wildcards.paper, spec["source"])} if "source" in spec else {}


def evaluated_weights(wildcards):
    spec = entry(wildcards.paper, "evaluations", wildcards.evaluation)
    return weights_file(wildcards.paper, wildcards.model, spec.get("weights", "final"))


def artifact_models(group):
    """Registry entries of the models a table or figure names (their labels, objectives)."""

    def entries(wildcards):
        artifact = entry(wildcards.paper, group, getattr(wildcards, group[:-1]))
        return {m: PAPERS[wildcards.paper]["models"][m] for m in artifact.get("models", [])}

    return entries


def eval_files(paper, artifact):
    """Evaluation results an artifact reads: every (model, evaluation) pair it names."""
    return [
        f"results/evals/{paper}/{m}/{e}.json"
        for m in artifact.get("models", [])
        for e in artifact.get("evaluations", [])
    ]


def table_files(paper, table):
    return expand("results/tables/{paper}/{table}.{ext}", paper=paper, table=table, ext=["csv", "tex", "html", "json"])


def figure_files(paper, figure):
    return expand("results/figures/{paper}/{figure}.{ext}", paper=paper, figure=figure, ext=["pdf", "png", "json"])


def paper_artifacts(paper):
    """Every table and figure file of one paper."""
    reg = PAPERS[paper]
    return [f for t in reg["tables"] for f in table_files(paper, t)] + [
        f for g in reg["figures"] for f in figure_files(paper, g)
    ]


def scorecard_files():
    """The scorecard of every paper of the run (rule paper_scorecard)."""
    return expand("results/scorecard/{paper}/scorecard.json", paper=PAPERS)


def report_outputs():
    outputs = ["results/report/index.html", "results/report/report.tex"]
    if config["report_pdf"] is True or (config["report_pdf"] == "auto" and shutil.which("latexmk")):
        outputs.append("results/report/report.pdf")
    return outputs


DATASET_VARIANTS = registry.read_yaml(f"{workflow.basedir}/config/datasets.yaml")


def raw_files(wildcards):
    """What prepare_dataset reads, as the sha256 of each raw file under torchvision_root: a rerun follows a
    change of the data, not of the path's spelling ("download" when it downloads; the synthetic stand-in)."""
    if wildcards.dataset == "cifar10" and config.get("synthetic_cifar10"):
        return checksums.SYNTHETIC
    root = config["torchvision_root"]
    return "download" if root is None else checksums.raw_digest(wildcards.dataset, root)


def figure_dataset(w):
    figure = entry(w.paper, "figures", w.figure)
    return {"dataset": dataset_file(figure["dataset"])} if "dataset" in figure else {}


def benchmark_files():
    """The benchmarks of the papers in this run (each paper's registry names its own)."""
    return [
        f"results/benchmarks/{paper}/{name}.json" for paper in PAPERS for name in PAPERS[paper].get("benchmarks", {})
    ]


def benchmark_entry(wildcards):
    return registry.benchmark_spec(config, PAPERS[wildcards.paper], wildcards.benchmark)


def benchmark_inputs(wildcards):
    """The benchmark's script and its code, and the weights and dataset of the trained models it reads."""
    spec = benchmark_entry(wildcards)
    inputs = {"command": spec["script"], "code": code(spec["script"])}
    if spec.get("trained"):
        inputs["weights"] = [weights_file(wildcards.paper, m) for m in spec["models"]]
    if spec.get("trained") or "dataset" in spec:
        inputs["dataset"] = dataset_file(
            spec.get("dataset") or entry(wildcards.paper, "models", spec["models"][0])["dataset"]
        )
    return inputs


def benchmark_args(wildcards, input):
    """The benchmark script's command line: its models' registry entries, their weights and dataset, the
    registry blocks it names, and its options (--name value; lists as several values)."""
    spec, paper = benchmark_entry(wildcards), PAPERS[wildcards.paper]
    args = {"title": spec["title"]}
    if spec.get("models"):
        args["models"] = json.dumps({m: registry.model_spec(config, paper, m) for m in spec["models"]})
    args.update({key: input[key] for key in ("weights", "dataset") if key in input.keys()})
    args.update({block: json.dumps(paper[block]) for block in spec.get("blocks", [])})
    args.update(spec.get("options", {}))
    return " ".join(
        f"--{key.replace('_', '-')} "
        + (" ".join(map(shlex.quote, map(str, value))) if isinstance(value, list) else shlex.quote(str(value)))
        for key, value in args.items()
    )


def adversarial_set_files(paper, name, results="results"):
    """A fixed adversarial set's tensors and its JSON summary (rule adversarial_set; a probe's under results/cost)."""
    stem = f"{results}/adversarial_sets/{paper}/{name}"
    return {"adversarial_set": f"{stem}.pt", "adversarial_set_summary": f"{stem}.json"}


def evaluation_set(wildcards, results="results"):
    """The fixed adversarial set an evaluation with split adversarial_set reads (Shaham et al. 2015)."""
    spec = entry(wildcards.paper, "evaluations", wildcards.evaluation)
    return adversarial_set_files(wildcards.paper, spec["set"], results) if spec["split"] == "adversarial_set" else {}


def adversarial_set_entry(wildcards):
    return entry(wildcards.paper, "adversarial_sets", wildcards.set)


def figure_records(wildcards):
    """Training records (provenance.json, with per-epoch history) of a figure's models, for figures
    with training_records: true (e.g. Shaham et al. 2015 Fig. 5, test accuracy per epoch)."""
    figure = entry(wildcards.paper, "figures", wildcards.figure)
    if not figure.get("training_records"):
        return {}
    return {"records": [f"results/models/{wildcards.paper}/{m}/provenance.json" for m in figure["models"]]}


def svm_pairs(paper, pairs=None):
    """Digit pairs "AvB" of a paper's SVM paths: `pairs` as an artifact names them, or the registry's."""
    pairs = PAPERS[paper]["svm"]["pairs"] if pairs in (None, "all") else pairs
    return [f"{a}v{b}" for a in range(10) for b in range(a + 1, 10)] if pairs == "all" else pairs


def svm_files(paper, artifact):
    """The lambda-path results an artifact reads (tanay2016's `pairs`)."""
    if "pairs" not in artifact:
        return []
    return [f"results/svm/{paper}/{pair}.json" for pair in svm_pairs(paper, artifact["pairs"])]


def gpu_jobs():
    """How many model jobs share one GPU: the gpu_slots this run grants (`snakemake --resources gpu_slots=4`, README
    "Paper scale on one GPU workstation"), 1 without. Each model job takes one slot and caps its CUDA memory at
    1/gpu_jobs of the GPU (advrepro.runtime.model_job); a resource, so it reruns nothing."""
    slots = workflow.global_resources.get("gpu_slots")
    value = getattr(slots, "value", slots)
    return int(value) if value else 1


def probe_weights(paper, model, stage="final"):
    """A probed model's weights after its few steps (the probe of another paper's model is that paper's)."""
    folder = f"results/cost/{'/'.join(registry.model_owner(paper, model))}/train"
    return f"{folder}/model.pt" if stage == "final" else f"{folder}/first_stage/model.pt"


def probe_files():
    """What the probe runs: every training job of the paper scale, an evaluation of each kind, the SVM paths."""
    trained = {
        f"{p}/{m}/{s}": f"results/cost/{p}/{m}/train/" + ("" if s == "final" else "first_stage/") + "provenance.json"
        for p, m, s in cost.training_jobs(PAPERS)
    }
    evaluated = {
        k: f"results/cost/{p}/{m}/evaluate/{e}.json" for k, (p, m, e) in cost.evaluation_probes(PAPERS).items()
    }
    svm = [f for p in PAPERS for g in ("tables", "figures") for a in PAPERS[p][g].values() for f in svm_files(p, a)]
    sets = {
        f"{p}/{name}": f"results/cost/adversarial_sets/{p}/{name}.json"
        for p in PAPERS
        for name in PAPERS[p].get("adversarial_sets", {})
    }
    return {"trained": trained, "evaluated": evaluated, "svm": sorted(set(svm)), "sets": sets}
