"""Writer turns on a SQLite file: another process waits while one holds the turn and goes the moment it is let
go; PostgreSQL and in-memory SQLite take no turns."""
import multiprocessing
import threading
import time

from sqlalchemy import create_engine

from app.db.write_turns import write_turn


def _hold_turn(path, held, release):
    with write_turn(create_engine(f"sqlite:///{path}")):
        held.set()
        release.wait(10)


def _take_turn(path, taken):
    with write_turn(create_engine(f"sqlite:///{path}")):
        taken.value = time.monotonic()


def test_a_second_process_waits_for_the_turn_and_gets_it_once_it_is_let_go(tmp_path):
    context = multiprocessing.get_context("fork")
    path = tmp_path / "shop.sqlite3"
    held, release = context.Event(), context.Event()
    taken = context.Value("d", 0.0)
    holder = context.Process(target=_hold_turn, args=(path, held, release))
    holder.start()
    assert held.wait(10)
    taker = context.Process(target=_take_turn, args=(path, taken))
    taker.start()
    time.sleep(0.5)
    assert taken.value == 0.0  # still waiting
    released_at = time.monotonic()
    release.set()
    taker.join(10)
    holder.join(10)
    assert taken.value >= released_at
    assert taken.value - released_at < 0.5  # woken by the release, not by polling


def test_a_forked_child_takes_its_own_turn_not_its_parents(tmp_path):
    """An inherited open file shares its lock with the parent: a child must open the lock file itself."""
    context = multiprocessing.get_context("fork")
    path = tmp_path / "shop.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    taken = context.Value("d", 0.0)
    with write_turn(engine):  # the parent has opened the lock file and holds the turn
        child = context.Process(target=_take_turn, args=(path, taken))
        child.start()
        time.sleep(0.5)
        assert taken.value == 0.0
    child.join(10)
    assert taken.value > 0.0


def test_postgresql_and_memory_databases_take_no_turn():
    def nested_turns():
        for url in ("sqlite://", "postgresql+psycopg://nobody@127.0.0.1:1/none"):
            with write_turn(create_engine(url)):
                with write_turn(create_engine(url)):  # a taken turn would make this wait forever
                    pass

    thread = threading.Thread(target=nested_turns, daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
