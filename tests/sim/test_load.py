"""One simulator process holds many simultaneous calls."""

from __future__ import annotations

import time

from sim.peer import Peer, PeerCall
from voiceai_sim import Simulator

CALLS = 200


async def trivial_app(call: PeerCall) -> None:
    await call.standard_start()
    await call.execute("answer")
    await call.execute("set", "voiceai_slot=menu")
    got = await call.execute("play_and_get_digits", "1 2 1 3000 # say:Digite '' menu \\d+ 2000", timeout=60)
    call.results = got.get("variable_menu")
    await call.execute("playback", "say:Obrigado")
    await call.send("sendmsg", [("call-command", "hangup"), ("hangup-cause", "NORMAL_CLEARING")])
    await call.finish(timeout=60)


def test_200_simultaneous_calls():
    scenarios = [{"caller": f"+55119{i:08d}", "caller_inputs": [{"dtmf": f"{i % 90 + 10}#"}]} for i in range(CALLS)]
    started = time.monotonic()
    with Simulator(scale=0.05) as sim, Peer(trivial_app) as peer:
        results = sim.place_calls(scenarios, peer.address, timeout=120)
        stats = sim.stats()
        deadline = time.monotonic() + 10
        while peer.done < CALLS and time.monotonic() < deadline:
            time.sleep(0.02)
    elapsed = time.monotonic() - started
    assert not peer.failures, peer.failures[:3]
    assert len(results) == CALLS
    assert all(r.socket_end == "exit" and r.legs_left_up == 0 and not r.errors for r in results)
    assert sorted(c.results for c in peer.calls) == sorted(f"{i % 90 + 10}" for i in range(CALLS))
    assert stats["peak_channels"] >= CALLS // 2  # they really overlapped
    assert stats["lost_events"] == 0
    assert elapsed < 60
