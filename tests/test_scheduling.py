"""The run ends with its last job: the scheduler's pending re-evaluation timers are cancelled (issue 18)."""

import threading
import time

from advrepro import scheduling


class FakeScheduler:
    """Starts its timers as Snakemake's JobScheduler does (a lambda in a method of that name)."""

    def _schedule_reevalutation(self, delay: float) -> threading.Timer:
        timer = threading.Timer(delay, lambda: None)
        timer.start()
        return timer


def test_the_schedulers_pending_timers_are_cancelled_and_no_other_timer_is():
    timers = [FakeScheduler()._schedule_reevalutation(60) for _ in range(3)]
    other = threading.Timer(60, lambda: None)
    other.start()
    try:
        started = time.monotonic()
        assert scheduling.cancel_pending_reevaluations() == 3
        for timer in timers:
            timer.join(timeout=5)
        assert not any(timer.is_alive() for timer in timers) and time.monotonic() - started < 5
        assert other.is_alive()
    finally:
        other.cancel()
