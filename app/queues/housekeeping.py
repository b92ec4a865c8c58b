"""Keeping RQ's registries true: a failure whose work a later run did is forgotten, and a job whose worker was
killed outright does not stay "started".

- A periodic job that failed (a reconcile that met a Stripe 503) and whose next run succeeded, or a job retried
  under the same id (a refund sent again) that then succeeded, leaves nothing to do: `forget_done_failures`
  removes those failures from the failed-job registry, so `FailedJobs` does not fire for work that is done.
- RQ notices a job whose worker died only at a worker's own maintenance, minutes apart; the relay calls
  `clean_started` every run, so an abandoned job is retried (or failed, visibly) once its heartbeat has run out.
"""
from __future__ import annotations

import logging

from rq import get_current_job
from rq.job import Job
from rq.registry import FailedJobRegistry, clean_registries

from app.queues import QUEUES, get_queue

__all__ = ["clean_started", "forget_done_failures"]

log = logging.getLogger(__name__)


def forget_done_failures() -> int:
    """Called by a job that has just done its work: drop from its queue's failed registry the failed runs of the
    same function with the same arguments, and its own earlier failure under the same id. Outside a worker: 0."""
    job = get_current_job()
    if job is None:
        return 0
    registry = FailedJobRegistry(job.origin, connection=job.connection)
    failed_ids = registry.get_job_ids()
    if not failed_ids:
        return 0
    done = [failed for failed in Job.fetch_many(failed_ids, connection=job.connection)
            if failed is not None and (failed.id == job.id or (failed.func_name, failed.args, failed.kwargs)
                                       == (job.func_name, job.args, job.kwargs))]
    for failed in done:
        registry.remove(failed, delete_job=failed.id != job.id)
    if done:
        log.info("failed jobs done since forgotten function=%s count=%d", job.func_name, len(done))
    return len(done)


def clean_started() -> None:
    """RQ's own cleanup of every queue's registries: jobs whose worker died are retried or failed."""
    for name in QUEUES:
        clean_registries(get_queue(name))
