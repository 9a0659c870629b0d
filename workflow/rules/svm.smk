# Linear SVMs along a whole lambda path, one job per digit pair (Tanay & Griffin 2016); the jobs share
# one cluster group so that submission does not drown in small jobs.


rule svm_path:
    input:
        dataset=dataset_file("mnist"),
        code=lib("svm", "theory", "data", "io"),
    output:
        "results/svm/{paper}/{pair}.json",
    wildcard_constraints:
        pair=r"[0-9]v[0-9]",
    params:
        spec=lambda w: PAPERS[w.paper]["svm"],
        scale=config["scale"],
        device=config["device"],
    group:
        "svm_paths"
    threads: 1  # the path solver runs on one thread
    log:
        "results/logs/svm/{paper}/{pair}.log",
    benchmark:
        "results/benchmarks/rules/svm/{paper}/{pair}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../../scripts/svm_path.py"


rule benchmark_svm_path:
    input:
        dataset=dataset_file("mnist"),
        code=lib("svm", "data", "io"),
        command="benchmarks/svm_path.py",
    output:
        "results/benchmarks/svm_path.json",
    params:
        python=sys.executable,
        spec=lambda w: json.dumps(PAPERS["tanay2016"]["svm"]),
    threads: workflow.cores  # alone on the machine, so nothing disturbs the timings; each solver uses one thread
    log:
        "results/logs/benchmarks/svm_path.log",
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS=1 {params.python} {input.command} --dataset {input.dataset} --spec '{params.spec}' "
        "--out {output} 2> {log}"
