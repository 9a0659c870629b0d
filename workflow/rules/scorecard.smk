# The scorecard (issue 15): every number a paper printed set against ours with the tolerance of its kind
# (config/fidelity.yaml; each table's `scorecard` block in the registry names the kinds), and the paper's
# claims (`claims:`) checked over our own numbers. `snakemake scorecard` builds it for every paper of the run.


rule paper_scorecard:
    input:
        tables=lambda w: expand("results/tables/{paper}/{table}.csv", paper=w.paper, table=PAPERS[w.paper]["tables"]),
        metadata=lambda w: expand("results/tables/{paper}/{table}.json", paper=w.paper, table=PAPERS[w.paper]["tables"]),
        rules=registry.FIDELITY,
        code=code("scripts/scorecard.py"),
    output:
        numbers="results/scorecard/{paper}/numbers.csv",
        claims="results/scorecard/{paper}/claims.csv",
        json="results/scorecard/{paper}/scorecard.json",
    log:
        "results/logs/scorecard/{paper}.log",
    conda:
        "../../environment.yml"
    params:
        artifacts=lambda w: PAPERS[w.paper]["tables"],
        claims=lambda w: PAPERS[w.paper].get("claims", {}),
        model_datasets=lambda w: {m: e["dataset"] for m, e in PAPERS[w.paper]["models"].items()},
        model_labels=lambda w: {m: e["label"] for m, e in PAPERS[w.paper]["models"].items()},
        scale=config["scale"],
    script:
        "../../scripts/scorecard.py"


rule scorecard:
    input:
        scorecard_files(),
