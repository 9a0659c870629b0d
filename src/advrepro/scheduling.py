"""The end of a local run: Snakemake's scheduler starts a re-evaluation timer in each of its rounds (it waits the
`--max-jobs-per-timespan` timespan, then wakes the scheduler); every other wake-up, such as a job's end, adds
one more such chain of timers. With Snakemake's default 100/1s the rounds per second grow with the jobs done,
and each round re-examines every ready job: in the whole quick-scale DAG that kept the main process busy for
13-17% of a core (issue 18). The local profile therefore sets a long timespan, and the workflow cancels the
timers still pending when the run ends, which would otherwise keep the process alive for that timespan."""

from __future__ import annotations

import threading

REEVALUATION = "_schedule_reevalutation"
"""The name (sic) of the JobScheduler method that starts the timers (snakemake.scheduling.job_scheduler)."""


def cancel_pending_reevaluations() -> int:
    """Cancel the scheduler's pending re-evaluation timers; how many were pending."""
    pending = [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer)
               and REEVALUATION in getattr(thread.function, "__qualname__", "")]
    for timer in pending:
        timer.cancel()
    return len(pending)
