"""``voiceai-ivr outbox status|flush|retry`` through click's CliRunner, real DB and helpdesk."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner
from doubles.helpdesk import HelpdeskServer

from voiceai_ivr.cli import cli
from voiceai_ivr.integrations.helpdesk_messages import confirmed_messages
from voiceai_ivr.stores.callbacks import CallbackRequest, save_confirmed_callback

T0 = datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc)


def _save(db, config, i):
    save_confirmed_callback(
        db,
        CallbackRequest(
            domain="a.example",
            number_e164=f"+55119876543{i:02d}",
            window_start=T0,
            window_end=T0 + timedelta(hours=2),
            reason="x",
        ),
        confirmed_messages(config),
    )


def test_status_flush_and_retry_dead(db, config, cli_env):
    runner = CliRunner()
    for i in range(3):
        _save(db, config, i)
    out = runner.invoke(cli, ["outbox", "status", "--json"], env=cli_env)
    assert out.exit_code == 0, out.output
    st = json.loads(out.output)
    assert st["pending"] == 3 and st["dead"] == 0 and not st["helpdesk_configured"]

    out = runner.invoke(cli, ["outbox", "flush"], env=cli_env)
    assert out.exit_code != 0 and "helpdesk.url" in out.output

    with HelpdeskServer() as hd:
        env = {**cli_env, "VOICEAI_HELPDESK_URL": hd.url, "VOICEAI_HELPDESK_TOKEN": hd.token}
        hd.fail_next(1, 400)  # one message is refused for good
        out = runner.invoke(cli, ["outbox", "flush"], env=env)
        assert out.exit_code == 1 and "dead 1" in out.output
        st = json.loads(runner.invoke(cli, ["outbox", "status", "--json"], env=env).output)
        assert (st["pending"], st["dead"], st["delivered"]) == (0, 1, 2)

        out = runner.invoke(cli, ["outbox", "retry"], env=env)
        assert out.exit_code == 2 and "--dead" in out.output
        out = runner.invoke(cli, ["outbox", "retry", "--dead"], env=env)
        assert out.exit_code == 0 and "revived 1" in out.output
        out = runner.invoke(cli, ["outbox", "flush"], env=env)
        assert out.exit_code == 0 and "delivered 1" in out.output
        assert len(hd.tickets) == 3 and all(len(k) == 1 for k in hd.tickets.values())
