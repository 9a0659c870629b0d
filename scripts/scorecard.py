"""Set one paper's printed numbers against ours (config/fidelity.yaml) and check its claims over our numbers."""

from advrepro import jobs

sm = jobs.snakemake_object(globals(), "paper_scorecard")  # Snakemake's, or by hand: see advrepro.jobs
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

from advrepro import claims, scorecard, tablefiles

paper, rules, scale = sm.wildcards.paper, scorecard.read_rules(sm.input.rules), sm.params.scale
tables = {table.name: table for table in (tablefiles.read(csv, sm.params.model_datasets) for csv in sm.input.tables)}
numbers = scorecard.score(paper, tables, sm.params.artifacts,
                          {"rules": rules, "scale": scale, "labels": sm.params.model_labels})
verdicts = claims.evaluate_all(paper, sm.params.claims, tables, rules["data"])
summary = {
    "paper": paper, "scale": scale, "numbers": numbers, "claims": verdicts,
    "counts": scorecard.counts(numbers, scorecard.STATUSES),
    "claim_counts": scorecard.counts(verdicts, claims.VERDICTS),
}
scorecard.write(summary, numbers=sm.output.numbers, claims=sm.output.claims, json=sm.output.json)
