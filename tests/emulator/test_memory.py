"""Memory stays bounded: object tables are capped by --max-objects, oldest evicted first."""

import requests

from emu_helpers import SECRET_KEY, Emulator


def test_tables_are_capped():
    emu = Emulator("--max-objects", "50")
    try:
        session = requests.Session()
        session.auth = (SECRET_KEY, "")
        ids = []
        for i in range(200):
            resp = session.post(emu.api + "/v1/payment_intents", timeout=5, headers={"Idempotency-Key": f"k{i}"},
                                data={"amount": "1000", "currency": "usd", "confirm": "true",
                                      "payment_method": "pm_card_visa"})
            ids.append(resp.json()["id"])
        stats = emu.ctl("GET", "/_emulator/stats")
        for kind in ("payment_intents", "charges", "payment_methods", "events"):
            assert stats[kind]["live"] <= 50
        assert stats["payment_intents"]["created"] == 200 and stats["payment_intents"]["evicted"] == 150
        assert stats["idempotency_keys"] <= 1000
        assert session.get(f"{emu.api}/v1/payment_intents/{ids[0]}", timeout=5).status_code == 404
        assert session.get(f"{emu.api}/v1/payment_intents/{ids[-1]}", timeout=5).status_code == 200
        listed = session.get(emu.api + "/v1/payment_intents", params={"limit": 100}, timeout=5).json()
        assert len(listed["data"]) == 50 and listed["has_more"] is False
    finally:
        assert emu.stop() == 0
