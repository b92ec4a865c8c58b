"""worker.py's RQ worker against a real Redis: standalone heartbeats at most once a second, jobs unaffected."""
import time

from rq import Queue

from worker import HEARTBEAT_EVERY, ShopWorker


def test_standalone_heartbeats_are_throttled_and_pipelined_ones_are_not(redis):
    worker = ShopWorker(["events"], connection=redis)
    worker.register_birth()
    first = worker.last_heartbeat
    worker.heartbeat()
    assert worker.last_heartbeat == first  # skipped: the birth's heartbeat is less than a second old
    with redis.pipeline() as pipeline:
        worker.heartbeat(pipeline=pipeline)
        pipeline.execute()
    assert worker.last_heartbeat > first  # inside a pipeline: always sent
    sent = worker.last_heartbeat
    time.sleep(HEARTBEAT_EVERY + 0.1)
    worker.heartbeat()
    assert worker.last_heartbeat > sent
    assert redis.ttl(worker.key) > 60  # the worker key is kept alive


def test_a_throttled_worker_still_runs_every_job(redis):
    queue = Queue("events", connection=redis)
    jobs = [queue.enqueue("builtins.len", "x" * n) for n in range(30)]
    ShopWorker(["events"], connection=redis).work(burst=True)
    assert [job.return_value(refresh=True) for job in jobs] == list(range(30))
