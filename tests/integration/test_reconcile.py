"""`shop reconcile` against the emulator over HTTP: a sweep longer than its page cap goes on where it stopped."""
import requests

from app.models import Checkpoint, StripeEvent, db
from app.events.reconcile import CHECKPOINT, SWEEP, reconcile
from tests.support.emulator import EMULATOR_SECRET_KEY


def _create_intents(emulator, count):
    for n in range(count):
        response = requests.post(f"{emulator.api}/v1/payment_intents", timeout=10,
                                 headers={"Authorization": f"Bearer {EMULATOR_SECRET_KEY}"},
                                 data={"amount": 1200 + n, "currency": "usd", "payment_method_types[]": "card"})
        assert response.status_code == 200, response.text


def _stored(app):
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(StripeEvent))


def test_a_sweep_past_its_page_cap_goes_on_from_its_cursor_and_moves_the_checkpoint_at_the_end(stripe_app, emulator):
    _create_intents(emulator, 23)  # 23 payment_intent.created events, none delivered (no endpoint)
    with stripe_app.app_context():
        first = reconcile(max_pages=2, page_size=5)  # the 10 newest
        assert (first["stored"], first["finished"], first["checkpoint"]) == (10, False, None)
        assert db.session.get(Checkpoint, SWEEP) is not None
        second = reconcile(max_pages=2, page_size=5)  # the next 10, older
        assert (second["stored"], second["finished"]) == (10, False)
        third = reconcile(max_pages=2, page_size=5)  # the last 3: the sweep is done
        assert (third["stored"], third["finished"]) == (3, True)
        assert db.session.get(Checkpoint, SWEEP) is None
        newest = max(e.stripe_created for e in db.session.scalars(db.select(StripeEvent)))
        assert int(db.session.get(Checkpoint, CHECKPOINT).value) == newest == third["checkpoint"]
    assert _stored(stripe_app) == 23
    _create_intents(emulator, 2)
    with stripe_app.app_context():  # a new sweep re-reads 300 s before the checkpoint: only the new ones stored
        runs = [reconcile(max_pages=2, page_size=5) for _ in range(3)]
        assert [run["finished"] for run in runs] == [False, False, True]
        assert sum(run["stored"] for run in runs) == 2
    assert _stored(stripe_app) == 25
