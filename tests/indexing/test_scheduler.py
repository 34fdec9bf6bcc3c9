"""The coalescing background runner behind the git follower and the webhooks."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from indexer.indexing.scheduler import CoalescingRunner


def test_requests_during_a_run_coalesce_into_one_more_run() -> None:
    started, release = threading.Event(), threading.Event()

    def job() -> None:
        started.set()
        release.wait(5)

    runner = CoalescingRunner(job, interval=None, name="test")
    runner.start(run_now=True)
    try:
        assert started.wait(5)
        queued = [runner.request() for _ in range(50)]
        assert queued.count(True) == 1  # the other 49 joined the pending run
        release.set()
        assert runner.wait_idle(5)
        assert runner.runs == 2
    finally:
        runner.stop()


def test_a_burst_within_the_settle_time_shares_one_run() -> None:
    runner = CoalescingRunner(lambda: None, interval=None, name="test", settle=0.3)
    runner.start(run_now=False)
    try:
        for _ in range(20):
            runner.request()
            time.sleep(0.005)
        assert runner.wait_idle(5)
        assert runner.runs == 1
    finally:
        runner.stop()


def test_the_timer_runs_the_job_without_requests() -> None:
    runner = CoalescingRunner(lambda: None, interval=0.05, name="test")
    runner.start(run_now=False)
    try:
        deadline = time.monotonic() + 5
        while runner.runs < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runner.runs >= 3
    finally:
        runner.stop()


def test_a_failing_job_is_logged_and_the_runner_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def job() -> None:
        raise RuntimeError("remote unreachable")

    runner = CoalescingRunner(job, interval=None, name="flaky")
    with caplog.at_level(logging.ERROR, logger="pml.scheduler"):
        runner.start(run_now=True)
        assert runner.wait_idle(5)
        runner.request()
        assert runner.wait_idle(5)
    runner.stop()
    assert runner.runs == 2
    assert "flaky failed" in caplog.text
    assert "remote unreachable" in caplog.text


def test_stop_interrupts_the_settle_wait() -> None:
    runner = CoalescingRunner(lambda: None, interval=None, name="settling", settle=3600)
    runner.start(run_now=False)
    runner.request()
    runner.stop(timeout=60)  # an hour's settle that was not interrupted would outlast this
    assert "settling" not in {thread.name for thread in threading.enumerate()}
    assert runner.runs == 0
