# The start and end of a run, for every Snakefile run with this checkout's profiles (the workflow's, and
# tests/cluster's).
#
# A local run starts a warm Python for its jobs' scripts (advrepro.worker: torch and the library imported
# once, not in each of ~330 jobs); cluster jobs, and the jobs Snakemake itself runs on a node, start their own.
#
# profiles/default's long re-evaluation timespan, which Snakemake reads beside any other profile, leaves the
# scheduler's timers pending when the last job ends; cancel them, so that the run ends with its last job
# (advrepro.scheduling, issue 18).

from advrepro import scheduling, worker

WARM_PYTHON = []


onstart:
    if workflow.local_exec and not (workflow.remote_exec or workflow.subprocess_exec):
        WARM_PYTHON.append(worker.start())


def end_of_run():
    scheduling.cancel_pending_reevaluations()
    for server in WARM_PYTHON:
        worker.stop(server)


onsuccess:
    end_of_run()


onerror:
    end_of_run()
