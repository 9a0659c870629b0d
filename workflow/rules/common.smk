# Paths and registry look-ups shared by the rules. Data flows one way:
# resources/datasets -> results/models -> results/evals -> results/{tables,figures} -> results/report



def lib(*modules):
    """Library modules that a step imports, declared as inputs so that code changes rerun it."""
    return [f"src/advrepro/{m}.py" for m in modules]


def dataset_file(name):
    return f"resources/datasets/{name}.pt"


def model_entry(wildcards):
    return PAPERS[wildcards.paper]["models"][wildcards.model]


def weights_file(paper, model, stage="final"):
    """A trained model's weights: the final ones, or a two-stage model's after its first stage."""
    folder = f"results/models/{paper}/{model}"
    return f"{folder}/model.pt" if stage == "final" else f"{folder}/first_stage/model.pt"


def first_stage_of(wildcards):
    """A two-stage model's second stage starts from its first stage (Lyu et al. 2015, IV-A)."""
    if model_entry(wildcards)["training"].get("protocol", {}).get("kind") != "two_stage":
        return {}
    weights = weights_file(wildcards.paper, wildcards.model, "first_stage")
    return {"first_stage": weights, "first_stage_record": weights.replace("model.pt", "provenance.json")}


def evaluated_weights(wildcards):
    spec = PAPERS[wildcards.paper]["evaluations"][wildcards.evaluation]
    return weights_file(wildcards.paper, wildcards.model, spec.get("weights", "final"))


def artifact_models(group):
    """Registry entries of the models a table or figure names (their labels, objectives)."""

    def entries(wildcards):
        artifact = PAPERS[wildcards.paper][group][getattr(wildcards, group[:-1])]
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


def report_outputs():
    outputs = ["results/report/index.html", "results/report/report.tex"]
    if config["report_pdf"] is True or (config["report_pdf"] == "auto" and shutil.which("latexmk")):
        outputs.append("results/report/report.pdf")
    return outputs


DATASET_VARIANTS = yaml.safe_load(open(f"{workflow.basedir}/config/datasets.yaml"))


def figure_dataset(w):
    figure = PAPERS[w.paper]["figures"][w.figure]
    return {"dataset": dataset_file(figure["dataset"])} if "dataset" in figure else {}


def svm_pairs(paper, pairs=None):
    """Digit pairs "AvB" of a paper's SVM paths: `pairs` as an artifact names them, or the registry's."""
    pairs = PAPERS[paper]["svm"]["pairs"] if pairs in (None, "all") else pairs
    return [f"{a}v{b}" for a in range(10) for b in range(a + 1, 10)] if pairs == "all" else pairs


def svm_files(paper, artifact):
    """The lambda-path results an artifact reads (tanay2016's `pairs`)."""
    if "pairs" not in artifact:
        return []
    return [f"results/svm/{paper}/{pair}.json" for pair in svm_pairs(paper, artifact["pairs"])]


def record_files(paper, artifact):
    """Training records (provenance.json with the per-epoch history) of an artifact's models, if it reads them."""
    return [weights_file(paper, m).replace("model.pt", "provenance.json") for m in artifact.get("models", [])] \
        if artifact.get("records") else []
