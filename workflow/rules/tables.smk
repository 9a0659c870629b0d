rule table:
    input:
        results=lambda w: eval_files(w.paper, entry(w.paper, "tables", w.table))
        + svm_files(w.paper, entry(w.paper, "tables", w.table)),
        code=artifact_code("scripts/make_table.py"),
    output:
        csv="results/tables/{paper}/{table}.csv",
        tex="results/tables/{paper}/{table}.tex",
        html=report(
            "results/tables/{paper}/{table}.html",
            category="{paper}",
            subcategory="tables",
            labels={"paper": "{paper}", "table": "{table}"},
        ),
        json="results/tables/{paper}/{table}.json",
    log:
        "results/logs/tables/{paper}/{table}.log",
    conda:
        "../../environment.yml"
    params:
        artifact=lambda w: entry(w.paper, "tables", w.table),
        models=artifact_models("tables"),
        scale=config["scale"],
    script:
        "../../scripts/make_table.py"


# A named target per table: `snakemake lyu2015_table8` reruns that table alone.
for _paper, _reg in PAPERS.items():
    for _table in _reg["tables"]:

        rule:
            name:
                f"{_paper}_{_table}"
            input:
                table_files(_paper, _table),
