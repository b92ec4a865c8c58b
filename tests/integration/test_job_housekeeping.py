"""RQ's registries stay true under faults: a reconcile that met a Stripe 503 leaves the failed list once a later
run catches up (so FailedJobs stops firing), and a job whose worker died does not stay "started"."""
from __future__ import annotations

import time

import pytest
from rq import Retry, SimpleWorker
from rq.executions import Execution
from rq.job import Job, JobStatus

from app.queues import MAINTENANCE, get_queue
from tests.support.emulator import EmulatorProcess


@pytest.fixture
def emulator():
    process = EmulatorProcess()
    yield process
    process.stop()


def _failed_gauge(client) -> str:
    return next(line for line in client.get("/metrics").get_data(as_text=True).splitlines()
                if line.startswith('shop_failed_jobs{queue="maintenance"}'))


def test_a_reconcile_that_failed_is_forgotten_once_a_later_run_catches_up(make_app, settings, emulator, redis):
    app = make_app(settings.with_overrides(stripe_api_base=emulator.api))
    emulator.ctl("POST", "/_emulator/faults", {"route": "GET /v1/events", "status": 503})
    with app.app_context():
        queue = get_queue(MAINTENANCE)
        failing = queue.enqueue("app.tasks.reconcile")
        SimpleWorker([queue], connection=redis).work(burst=True)
        assert queue.failed_job_registry.get_job_ids() == [failing.id]
        other = queue.enqueue("builtins.len", None)  # a different job's failure is not this run's to forget
        SimpleWorker([queue], connection=redis).work(burst=True)
    assert _failed_gauge(app.test_client()).endswith(" 2.0")
    emulator.ctl("DELETE", "/_emulator/faults")
    with app.app_context():
        caught_up = queue.enqueue("app.tasks.reconcile")
        SimpleWorker([queue], connection=redis).work(burst=True)
        assert caught_up.get_status() == JobStatus.FINISHED
        assert queue.failed_job_registry.get_job_ids() == [other.id]
    assert _failed_gauge(app.test_client()).endswith(" 1.0")


def test_a_job_whose_worker_died_is_retried_by_the_next_relay_instead_of_staying_started(app, redis):
    with app.app_context():
        queue = get_queue(MAINTENANCE)
        job = queue.enqueue("app.tasks.expire_carts", retry=Retry(max=2))
        assert queue.pop_job_id() == job.id  # a worker took it, started it with a one-second heartbeat...
        with redis.pipeline() as pipeline:
            Execution.create(job, ttl=1, pipeline=pipeline)
            job.set_status(JobStatus.STARTED, pipeline=pipeline)
            pipeline.execute()
        assert queue.started_job_registry.get_job_ids(cleanup=False) == [job.id]
        deadline = time.monotonic() + 10
        while not queue.started_job_registry.get_expired_job_ids():  # ...and was killed: no heartbeat since
            assert time.monotonic() < deadline
            time.sleep(0.05)
        from app.tasks import relay

        relay()
        assert Job.fetch(job.id, connection=redis).get_status() in (JobStatus.QUEUED, JobStatus.SCHEDULED)
        assert queue.started_job_registry.get_job_ids(cleanup=False) == []  # (reading with cleanup would clean)
        SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=True)
