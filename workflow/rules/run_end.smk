# The end of a run, for every Snakefile run with this checkout's profiles (the workflow's, and tests/cluster's):
# profiles/default's long re-evaluation timespan, which Snakemake reads beside any other profile, leaves the
# scheduler's timers pending when the last job ends; cancel them, so that the run ends with its last job
# (advrepro.scheduling, issue 18).

from advrepro import scheduling


onsuccess:
    scheduling.cancel_pending_reevaluations()


onerror:
    scheduling.cancel_pending_reevaluations()
