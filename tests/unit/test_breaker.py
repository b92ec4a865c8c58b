"""The circuit breaker's rules, and that it never makes calls wait for each other."""
import threading
import time

import pytest

from app.payments.breaker import Breaker, BreakerOpen


class Transient(Exception):
    pass


def _breaker(fail_max=3, reset_timeout=0.3):
    return Breaker(fail_max=fail_max, reset_timeout=reset_timeout, counts=lambda e: isinstance(e, Transient))


def _fail(breaker, error):
    with pytest.raises(type(error)):
        with breaker.guard():
            raise error


def test_it_opens_after_fail_max_counted_failures_and_the_failure_itself_propagates():
    breaker = _breaker()
    for _ in range(2):
        _fail(breaker, Transient())
    assert breaker.state == "closed"
    _fail(breaker, Transient())  # the third: the caller still sees its own error, not the breaker's
    assert breaker.state == "open" and breaker.refusing()
    with pytest.raises(BreakerOpen):
        with breaker.guard():
            pytest.fail("an open breaker must not run the call")


def test_errors_it_does_not_count_never_open_it_and_a_success_resets_the_count():
    breaker = _breaker()
    for _ in range(5):
        _fail(breaker, ValueError("a card decline, say"))
    _fail(breaker, Transient())
    _fail(breaker, Transient())
    with breaker.guard():
        pass
    _fail(breaker, Transient())
    _fail(breaker, Transient())
    assert breaker.state == "closed"


def test_after_the_reset_timeout_one_trial_call_runs_and_its_success_closes_it():
    breaker = _breaker(fail_max=1)
    _fail(breaker, Transient())
    time.sleep(0.35)
    assert not breaker.refusing()
    inside, release = threading.Event(), threading.Event()

    def trial():
        with breaker.guard():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=trial)
    thread.start()
    assert inside.wait(5)
    with pytest.raises(BreakerOpen):  # a second caller during the trial is turned away
        with breaker.guard():
            pass
    release.set()
    thread.join()
    assert breaker.state == "closed"


def test_a_failed_trial_opens_it_again():
    breaker = _breaker(fail_max=1)
    _fail(breaker, Transient())
    time.sleep(0.35)
    _fail(breaker, Transient())
    assert breaker.state == "open" and breaker.refusing()


def test_calls_run_side_by_side_not_one_after_another():
    breaker = _breaker()

    def slow_call():
        with breaker.guard():
            time.sleep(0.5)

    threads = [threading.Thread(target=slow_call) for _ in range(6)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < 1.5  # one at a time would take 3 s
