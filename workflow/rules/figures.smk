rule figure:
    input:
        unpack(figure_dataset),
        unpack(figure_records),
        results=lambda w: eval_files(w.paper, entry(w.paper, "figures", w.figure))
        + svm_files(w.paper, entry(w.paper, "figures", w.figure)),
        code=artifact_code("scripts/make_figure.py"),
    output:
        pdf="results/figures/{paper}/{figure}.pdf",
        png=report(
            "results/figures/{paper}/{figure}.png",
            category="{paper}",
            subcategory="figures",
            labels={"paper": "{paper}", "figure": "{figure}"},
        ),
        json="results/figures/{paper}/{figure}.json",
    log:
        "results/logs/figures/{paper}/{figure}.log",
    conda:
        "../../environment.yml"
    params:
        artifact=lambda w: entry(w.paper, "figures", w.figure),
        models=artifact_models("figures"),
        scale=config["scale"],
    script:
        "../../scripts/make_figure.py"


# A named target per figure: `snakemake lyu2015_fig5`.
for _paper, _reg in PAPERS.items():
    for _figure in _reg["figures"]:

        rule:
            name:
                f"{_paper}_{_figure}"
            input:
                figure_files(_paper, _figure),
