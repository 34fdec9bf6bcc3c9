"""A background job that runs on request and on a timer, with requests coalesced.

A push webhook only says "something changed"; the job (a git sync) always
fetches the latest state. So however many requests arrive while a run is in
progress, one more run afterwards covers them all: at most one run is in
progress and one is pending. A requested run also waits `settle` seconds
before it starts, so the webhooks of a burst of pushes (a merge train, a
branch and its tag) share one fetch. Requesting never blocks, which lets a
webhook answer at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("pml.scheduler")


class CoalescingRunner:
    """Runs `job` in one daemon thread: when requested, and every `interval` seconds."""

    def __init__(
        self,
        job: Callable[[], object],
        *,
        interval: float | None,
        name: str,
        settle: float = 0.0,
    ) -> None:
        self._job = job
        self._interval = interval
        self._settle = settle
        self._name = name
        self._condition = threading.Condition()
        self._pending = False
        self._immediate = False  # the first run starts without settling
        self._running = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.runs = 0  # finished runs, for tests, benchmarks and the status page

    def start(self, *, run_now: bool = True) -> None:
        """Start the thread; with `run_now` the first run begins immediately."""
        with self._condition:
            self._pending = self._immediate = run_now
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def request(self) -> bool:
        """Ask for a run; False when one was already pending (this request joins it)."""
        with self._condition:
            joined = self._pending
            self._pending = True
            self._condition.notify_all()
        return not joined

    @property
    def busy(self) -> bool:
        with self._condition:
            return self._running or self._pending

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no run is in progress or pending; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._running or self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def stop(self, timeout: float = 30) -> None:
        """Stop after the run in progress, if any (the thread is a daemon past `timeout`)."""
        with self._condition:
            self._stopping = True
            self._pending = False
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _wait(self, seconds: float) -> None:
        """Sleep (holding the condition's lock only while waiting) unless stopping."""
        deadline = time.monotonic() + seconds
        while not self._stopping and (remaining := deadline - time.monotonic()) > 0:
            self._condition.wait(remaining)

    def _loop(self) -> None:
        while self._next():
            try:
                self._job()
            except Exception:  # the job records its own failures; this is the last resort
                log.exception("%s failed", self._name)
            finally:
                with self._condition:
                    self._running = False
                    self.runs += 1
                    self._condition.notify_all()

    def _next(self) -> bool:
        """Wait for a request (then let the burst settle) or the timer; False when stopping."""
        with self._condition:
            deadline = time.monotonic() + self._interval if self._interval else None
            while not self._pending and not self._stopping:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    self._pending = True
                    break
                self._condition.wait(remaining)
            else:
                if not self._immediate:
                    self._wait(self._settle)
            self._immediate = False
            if self._stopping:
                return False
            self._pending = False
            self._running = True
            return True
