# Linear SVMs along a whole lambda path, one job per digit pair (Tanay & Griffin 2016); the jobs share
# one cluster group so that submission does not drown in small jobs. Each also reads the authors' curves
# of its pair (reference/<paper>/extras_XY.csv), written beside ours.


rule svm_path:
    input:
        dataset=dataset_file("mnist"),
        reference=lambda w: f"reference/{w.paper}/extras_{w.pair.replace('v', '')}.csv",
        code=code("scripts/svm_path.py"),
    output:
        "results/svm/{paper}/{pair}.json",
    log:
        "results/logs/svm/{paper}/{pair}.log",
    benchmark:
        "results/benchmarks/rules/svm/{paper}/{pair}.tsv"
    wildcard_constraints:
        pair=r"[0-9]v[0-9]",
    group:
        "svm_paths"
    conda:
        "../../environment.yml"
    threads: 1  # the path solver runs on one thread
    params:
        spec=lambda w: PAPERS[w.paper]["svm"],
        scale=config["scale"],
        device=config["device"],
    script:
        "../../scripts/svm_path.py"
