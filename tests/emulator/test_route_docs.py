"""docs/emulator.md's route table is the one generated from the server's route table, and what it says each
route accepts is what the running emulator accepts."""

import re
from pathlib import Path

import pytest
import requests

from emu_helpers import PUBLISHABLE_KEY, SECRET_KEY
from stripe_emulator.route_table import BEGIN, END, accepted_params, api_routes, markdown, replace_section

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"


def test_the_documented_route_table_is_the_generated_one():
    document = DOC.read_text()
    section = document[document.index(BEGIN) + len(BEGIN) + 1:document.index(END)]

    assert section == markdown(), "regenerate it: python -m stripe_emulator routes --write docs/emulator.md"


def test_regenerating_replaces_only_the_marked_section():
    document = f"before\n{BEGIN}\nold table\n{END}\nafter\n"

    assert replace_section(document, "new table\n") == f"before\n{BEGIN}\nnew table\n{END}\nafter\n"
    with pytest.raises(ValueError, match="no generated section"):
        replace_section("no markers here", "table")


@pytest.mark.parametrize("method,path,handler", api_routes(), ids=lambda v: v if isinstance(v, str) else "")
def test_each_route_refuses_exactly_what_the_table_says(emu, method, path, handler):
    key = PUBLISHABLE_KEY if path in ("/v1/confirmation_tokens", "/v1/three_d_secure/{id}/challenge") else SECRET_KEY
    url = emu.api + re.sub(r"\{[a-z_]+\}", "x_missing", path)
    field = "query" if method in ("GET", "DELETE") else "body"
    resp = requests.request(method, url, auth=(key, ""), timeout=5,
                            **{"params" if field == "query" else "data": {"zz_not_a_param": "1"}})
    error = resp.json().get("error", {})

    if accepted_params(handler) is None:
        assert error.get("code") != "parameter_unknown"
    else:
        assert (resp.status_code, error.get("code"), error.get("param")) == (400, "parameter_unknown",
                                                                            "zz_not_a_param")
