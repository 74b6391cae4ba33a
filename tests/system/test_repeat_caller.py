"""One open request per number, spoken and shown as such (issue 12, point 3).

The same number asks for a callback twice: the second call is folded into the
open request, the caller hears that their existing request was updated (pt-BR
and en-US), ``simulate --json``'s ``callback`` is that request
(``request: updated``, the same ``id``), and the helpdesk is told with a
``callback.updated`` for the same ticket. Runs ``voiceai-ivr simulate``'s stack
(``sim.stack.simulate``) twice on one database, as two real calls would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voiceai_sim.scenario import parse_scenario
from voiceai_sim.stack import simulate

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

CASES = {
    "pt-BR": (
        "8000",
        [
            [{"say": "me liga depois por favor"}, {"say": "sim"}, {"say": "amanhã de manhã"},
             {"say": "segunda via do boleto"}, {"say": "sim"}],
            [{"say": "me liga depois"}, {"say": "sim"}, {"say": "amanhã à tarde"},
             {"say": "e também a nota fiscal"}, {"say": "sim"}],
        ],
        "Pronto, seu retorno está confirmado",
        "Você já tinha um pedido de retorno em aberto: atualizamos esse pedido",
    ),
    "en-US": (
        "8001",
        [
            [{"say": "please call me back later"}, {"say": "yes"}, {"say": "tomorrow morning"},
             {"say": "question about my invoice"}, {"say": "yes"}],
            [{"say": "call me back please"}, {"say": "yes"}, {"say": "tomorrow afternoon"},
             {"say": "and my contract too"}, {"say": "yes"}],
        ],
        "Done, your call back is confirmed",
        "You already had a call back request open: we have updated that request",
    ),
}


def _said(result: dict[str, Any]) -> str:
    return " ".join(e.get("text", "") for e in result["transcript"] if e.get("from") == "ivr")


@pytest.mark.parametrize("language", sorted(CASES))
def test_a_second_request_from_the_same_number_updates_the_first_and_says_so(db, config, language) -> None:
    did, (first_inputs, second_inputs), confirmed, updated = CASES[language]

    def call(inputs: list[dict]) -> dict[str, Any]:
        scenario = parse_scenario(
            {
                "domain": "demo.local",
                "did": did,
                "caller": "+5511998765432",
                "at": "2026-11-24T10:30:00-03:00",
                "directory": "directory.yaml",
                "caller_inputs": inputs,
                "asr_engines": ["unimrcp"],
            },
            name="repeat",
            source_dir=SCENARIOS,
        )
        return simulate(config, scenario, scale=0.05, timeout=60).to_json()

    first = call(first_inputs)
    assert first["outcome"] == "callback_created", first
    assert first["callback"]["request"] == "created"
    assert confirmed in _said(first) and updated not in _said(first)

    second = call(second_inputs)
    assert second["outcome"] == "callback_created", second
    assert updated in _said(second) and confirmed not in _said(second)
    # the result shows the request the call updated, not null
    assert second["callback"] is not None
    assert second["callback"]["request"] == "updated"
    assert second["callback"]["id"] == first["callback"]["id"]
    assert "\n---\n" in second["callback"]["reason"]  # both reasons, merged

    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM callbacks WHERE status = 'pending'")
        assert cur.fetchone()[0] == 1
        cur.execute(
            "SELECT kind, payload->>'callback_id', call_uuid FROM helpdesk_outbox"
            " WHERE kind LIKE 'callback.%%' ORDER BY id"
        )
        messages = cur.fetchall()
    assert [(k, cid) for k, cid, _ in messages] == [
        ("callback.created", first["callback"]["id"]),
        ("callback.updated", first["callback"]["id"]),
    ]
    assert [c for _, _, c in messages] == [first["call_uuid"], second["call_uuid"]]
