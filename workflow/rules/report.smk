rule notebook:
    input:
        notebook="workflow/notebooks/{paper}.ipynb",
        artifacts=lambda w: paper_artifacts(w.paper),
    output:
        executed="results/notebooks/{paper}.ipynb",
        html="results/report/notebooks/{paper}.html",
    params:
        parameters=lambda w: {"paper": w.paper, "results": "results", "scale": config["scale"]},
    log:
        "results/logs/notebooks/{paper}.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/run_notebook.py"


rule benchmark_line_search:
    input:
        weights="results/models/lyu2015/softmax_wd1e-4/model.pt",
        dataset=dataset_file("mnist"),
        code=lib("evaluate", "attacks", "objectives", "models"),
        command="benchmarks/line_search.py",
    output:
        "results/benchmarks/line_search.json",
    params:
        python=sys.executable,  # the interpreter running Snakemake, with advrepro installed
        examples=config["limits"]["eval_examples"] or 10000,
        device=config["device"],
    log:
        "results/logs/benchmarks/line_search.log",
    conda:
        "../../environment.yml"
    shell:
        "{params.python} {input.command} --weights {input.weights} --dataset {input.dataset} "
        "--examples {params.examples} --device {params.device} --out {output} 2> {log}"


rule benchmark_train_step:
    input:
        code=lib("objectives", "training", "evaluate", "models", "perturbations"),
        command="benchmarks/train_step.py",
    output:
        "results/benchmarks/train_step.json",
    params:
        python=sys.executable,
        repeats=5 if config["scale"] == "smoke" else 20,
        device=config["device"],
    threads: config["model_threads"]
    log:
        "results/logs/benchmarks/train_step.log",
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} {params.python} {input.command} --repeats {params.repeats} "
        "--device {params.device} --out {output} 2> {log}"


rule report:
    input:
        artifacts=[f for p in PAPERS for f in paper_artifacts(p)],
        notebooks=expand("results/report/notebooks/{paper}.html", paper=PAPERS),
        benchmarks=(expand("results/benchmarks/{name}.json", name=["line_search", "train_step"]) if "lyu2015" in PAPERS else [])
        + (["results/benchmarks/svm_path.json"] if "tanay2016" in PAPERS else []),
        templates=["report/index.html.j2", "report/report.tex.j2", "report/style.css"],
        code=lib("report"),
    output:
        html="results/report/index.html",
        tex="results/report/report.tex",
    params:
        papers={k: v["paper"] for k, v in PAPERS.items()},
        artifacts={k: {"tables": list(v["tables"]), "figures": list(v["figures"])} for k, v in PAPERS.items()},
        scale=config["scale"],
        limits=config["limits"],
    log:
        "results/logs/report.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/make_report.py"


rule report_pdf:
    input:
        tex="results/report/report.tex",
        artifacts=[f for p in PAPERS for f in paper_artifacts(p)],
    output:
        "results/report/report.pdf",
    log:
        "results/logs/report_pdf.log",
    conda:
        "../../environment.yml"
    shell:
        "latexmk -cd -pdf -interaction=nonstopmode -halt-on-error {input.tex} > {log} 2>&1"
        " && latexmk -cd -c {input.tex} >> {log} 2>&1"
