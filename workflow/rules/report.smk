rule notebook:
    input:
        notebook="workflow/notebooks/{paper}.ipynb",
        artifacts=lambda w: paper_artifacts(w.paper),
    output:
        executed="results/notebooks/{paper}.ipynb",
        html="results/report/notebooks/{paper}.html",
    log:
        "results/logs/notebooks/{paper}.log",
    conda:
        "../../environment.yml"
    params:
        parameters=lambda w: {"paper": w.paper, "results": "results", "scale": config["scale"]},
    script:
        "../../scripts/run_notebook.py"


rule report:
    input:
        artifacts=[f for p in PAPERS for f in paper_artifacts(p)],
        notebooks=expand("results/report/notebooks/{paper}.html", paper=PAPERS),
        benchmarks=benchmark_files(),
        scorecards=scorecard_files(),
        rules=registry.FIDELITY,
        templates=[
            "report/index.html.j2",
            "report/report.tex.j2",
            "report/style.css",
            "report/scorecard.html.j2",
            "report/claims.html.j2",
            "report/scorecard.tex.j2",
            "report/claims.tex.j2",
            "report/cost.html.j2",
            "report/cost.tex.j2",
        ],
        code=code("scripts/make_report.py"),
    output:
        html="results/report/index.html",
        tex="results/report/report.tex",
    log:
        "results/logs/report.log",
    conda:
        "../../environment.yml"
    params:
        papers={k: v["paper"] for k, v in PAPERS.items()},
        artifacts={k: {"tables": list(v["tables"]), "figures": list(v["figures"])} for k, v in PAPERS.items()},
        scale=config["scale"],
        limits=config["limits"],
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
