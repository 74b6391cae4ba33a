"""``python -m voiceai_sim``: the simulator in a separate process, driven over stdin."""

from __future__ import annotations

import json
import subprocess
import sys

from sim.peer import Peer, PeerCall


async def app(call: PeerCall) -> None:
    await call.standard_start()
    await call.execute("answer")
    await call.execute("playback", "say:Olá")
    await call.send("sendmsg", [("call-command", "hangup")])
    await call.finish()


def test_separate_process_places_calls_and_reports():
    with Peer(app) as peer:
        proc = subprocess.Popen(
            [sys.executable, "-m", "voiceai_sim", "--scale", "0.02"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdin is not None
            hello = json.loads(proc.stdout.readline())
            assert hello["inbound"][1] > 0
            request = {"op": "place_calls", "server": list(peer.address), "count": 20, "vary_caller": True}
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            summary = json.loads(proc.stdout.readline())
            assert summary["calls"] == 20 and summary["ok"] == 20 and summary["failed"] == 0, summary
            assert summary["legs_left_up"] == 0
            proc.stdin.write(json.dumps({"op": "bogus"}) + "\n")
            proc.stdin.flush()
            assert "unknown op" in json.loads(proc.stdout.readline())["error"]
            proc.stdin.close()
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
