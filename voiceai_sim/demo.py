"""``voiceai-ivr demo``: a short tour of the real call flows on a simulated FreeSWITCH.

Everything is the production code except the switch: PostgreSQL, its
migrations, the demo directory (``conf/demo-directory.yaml``, domain
``demo.voiceai.local``), the outbound call server on a free loopback port
running ``app.call_handler``, the inbound ESL client, and the callback
dispatcher. The Simulator plays FreeSWITCH, the callers, the agents and the
customer over real sockets.

The demo never touches the operator's data: it runs in a database of its own
(``stores.sandbox``: created on the configured server, the embedded PostgreSQL
by default, which is left running as ``voiceai-ivr db`` leaves it; migrated,
and dropped at the end), with a spool of its own and no helpdesk. After a demo
the operator's outbox, directory and callbacks are exactly as before.

The tour (each flow checked against what the application wrote to the database):

1. transfer accepted: the caller asks for Financeiro, the agent hears who is
   calling and accepts, caller and agent are bridged;
2. busy -> callback captured: Comercial is busy, the caller asks for a callback
   (caller id, "hoje à tarde", the reason, one confirmation);
3. out of hours: at 20:00 Financeiro is closed, nothing is dialled, the caller
   hears when it opens and declines the callback offer;
4. the dispatcher calls the customer back: the dispatcher's attempt for the
   callback of flow 2 (the same code ``dispatch-callbacks`` runs from cron):
   agent first, whisper, then the customer with the company's caller id, bridged.

The demo clock is the next business day at 10:30 in the demo domain's timezone
(today when today is one), so the tour does not depend on the wall clock. Each
run uses a fresh customer number. The dispatcher only ever touches the callback
this run captured (``Dispatcher.call_now``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any, Callable, Optional

import voiceai_ivr
from voiceai_ivr import yamlfile
from voiceai_ivr.cli.dispatch_cmd import build_dispatcher
from voiceai_ivr.config import Config
from voiceai_ivr.domain.destinations import parse_directory
from voiceai_ivr.domain.phone import normalize_phone
from voiceai_ivr.errors import VoiceAIError
from voiceai_ivr.stores.callbacks import CallbackFilter, get_callback_by_public_id, list_callbacks
from voiceai_ivr.stores.reports import callback_attempts
from voiceai_ivr.stores.sandbox import describe, sandbox
from voiceai_sim.record import CallRecord
from voiceai_sim.result import build_result, render_transcript
from voiceai_sim.scenario import parse_endpoints, parse_scenario
from voiceai_sim.stack import SimStack, db_enricher

log = logging.getLogger(__name__)

DEMO_DIRECTORY = Path(voiceai_ivr.__file__).resolve().parent / "conf" / "demo-directory.yaml"
DEFAULT_SCALE = 0.02  # real seconds per simulated second
COMPANY_NUMBER = "+551140040000"  # the caller id customers see (when none is configured)
CALL_TIMEOUT = 40.0  # real seconds one flow may take at most
DISPATCH_TIMEOUT = 40.0

Emit = Callable[["FlowReport"], None]


# --------------------------------------------------------------------------- reports


@dataclass
class FlowReport:
    """One flow of the tour: what it shows, whether it did what it should."""

    key: str
    title: str
    about: str
    ok: bool = False
    summary: str = ""
    problems: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)  # the ``simulate --json`` object
    transcript: str = ""  # ``render_transcript`` of the call
    seconds: float = 0.0  # real time the flow took

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "about": self.about,
            "ok": self.ok,
            "summary": self.summary,
            "problems": list(self.problems),
            "seconds": round(self.seconds, 3),
            "result": self.result,
        }


@dataclass
class DemoReport:
    ok: bool
    flows: list[FlowReport]
    seconds: float
    domain: str
    clock: str  # the demo clock (ISO-8601)
    scale: float
    database: str  # where the data went (embedded path, or "configured server")

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "domain": self.domain,
            "clock": self.clock,
            "scale": self.scale,
            "database": self.database,
            "error": "",
            "flows": [f.to_json() for f in self.flows],
        }


# --------------------------------------------------------------------------- helpers


def load_demo_directory(path: Path = DEMO_DIRECTORY) -> dict[str, Any]:
    data = yamlfile.load(path)
    if not isinstance(data, dict):
        raise VoiceAIError(f"{path}: the demo directory must be a mapping")
    return data


def demo_clock(hours: Any, today: date, *, at: dtime = dtime(10, 30), search_days: int = 14) -> datetime:
    """``at`` on ``today`` or the next day the business ``hours`` are open then."""
    for offset in range(search_days):
        day = today + timedelta(days=offset)
        moment = datetime.combine(day, at, tzinfo=hours.tz)
        if hours.is_open(moment):
            return moment
    raise VoiceAIError(f"the demo hours are not open at {at:%H:%M} in the next {search_days} days")


def fresh_mobile_number() -> str:
    """A valid São Paulo mobile number of this run (+55 11 98xxx-xxxx)."""
    for _ in range(20):
        candidate = "+551198" + "".join(str(secrets.randbelow(10)) for _ in range(7))
        try:
            return normalize_phone(candidate, "BR")
        except VoiceAIError:
            continue
    return "+5511987654321"


def demo_config(config: Config) -> Config:
    """The (sandbox) configuration with the parts the simulator replaces:
    dispatcher listening on a free loopback port, a company caller id when none
    is configured (``stack.SimStack`` turns the clock override on)."""
    callbacks = dataclasses.replace(
        config.callbacks,
        caller_id_number=config.callbacks.caller_id_number or COMPANY_NUMBER,
        caller_id_name=config.callbacks.caller_id_name or "VoiceAI Demo",
    )
    dispatcher = dataclasses.replace(
        config.dispatcher, listen_host="127.0.0.1", listen_port=0, agent_socket_address="", textfile_path=""
    )
    return dataclasses.replace(config, callbacks=callbacks, dispatcher=dispatcher)


# --------------------------------------------------------------------------- the tour


class Tour:
    """The running stack of one demo, and its four flows."""

    def __init__(self, config: Config, *, scale: float = DEFAULT_SCALE) -> None:
        self.config = demo_config(config)
        self.scale = scale
        self.document = load_demo_directory()
        self.domain = str(self.document["domain"])
        self.db: Any = None
        self.sim: Any = None
        self.stack: Any = None
        self.server: Any = None
        self.clock: Optional[datetime] = None
        self.customer = fresh_mobile_number()
        self.callback_public_id: Optional[str] = None
        self.callback_agent: Optional[str] = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Tour:
        """The demo's stack (``stack.SimStack``, what ``simulate`` runs too) with the
        demo directory imported."""
        directory = parse_directory(self.document)
        hours = directory.business_hours(directory.secretaries[0])
        self.clock = demo_clock(hours, datetime.now(hours.tz).date())
        self.stack = SimStack(self.config, domain=self.domain, scale=self.scale, document=self.document).start()
        self.config = self.stack.config
        self.db, self.sim, self.server = self.stack.db, self.stack.sim, self.stack.server
        return self

    def stop(self) -> None:
        """Stop everything the demo started except the database server."""
        if self.stack is not None:
            self.stack.stop()
            self.stack = None
        self.db = self.sim = self.server = None

    # ------------------------------------------------------------------ calls

    def _scenario(self, at: datetime, caller: str, inputs: list[dict[str, Any]], agents: Mapping[str, Any]) -> Any:
        return parse_scenario(
            {
                "domain": self.domain,
                "did": "8000",
                "caller": caller,
                "at": at.isoformat(),
                "caller_inputs": inputs,
                "agents": dict(agents),
            },
            name="demo",
        )

    def _call(self, scenario: Any) -> Any:
        result = self.sim.place_call(scenario, self.server.address, timeout=CALL_TIMEOUT)
        db_enricher(self.db, self.domain)(result)
        if result.callback:  # windows in the domain's time, as the caller heard them
            for key in ("window_start", "window_end"):
                result.callback[key] = self._local(result.callback[key])
        return result

    def _local(self, value: Any) -> str:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if self.clock is not None and moment.tzinfo is not None and self.clock.tzinfo is not None:
            moment = moment.astimezone(self.clock.tzinfo)
        return moment.isoformat()

    @staticmethod
    def _wire_problems(result: Any) -> list[str]:
        problems = [f"simulator: {e}" for e in result.errors]
        if result.legs_left_up:
            problems.append(f"{result.legs_left_up} call leg(s) left up after the call")
        return problems

    @staticmethod
    def _transfers(result: Any) -> list[tuple[Any, Any]]:
        return [(t.get("destination"), t.get("status")) for t in result.transfers]

    def transfer_accepted(self) -> FlowReport:
        report = FlowReport(
            "transfer_accepted",
            "Transfer accepted",
            "The caller asks for Financeiro; the agent hears who is calling and why, presses 1, and the "
            "two are bridged.",
        )
        assert self.clock is not None
        result = self._call(
            self._scenario(
                self.clock,
                "+5511998765432",
                [{"say": "quero falar com o financeiro sobre a segunda via do boleto"}],
                {"1001": {"behavior": "answer", "answer_after": 3, "accept": True, "talk_for": 6}},
            )
        )
        problems = self._wire_problems(result)
        if result.outcome != "transferred":
            problems.append(f"call outcome is {result.outcome!r}, expected 'transferred'")
        if self._transfers(result) != [("Financeiro", "accepted")]:
            problems.append(f"transfer attempts {self._transfers(result)}, expected Financeiro accepted")
        return self._finish(report, result, problems, "caller and Financeiro bridged")

    def busy_then_callback(self) -> FlowReport:
        report = FlowReport(
            "busy_callback",
            "Busy -> callback captured",
            "Comercial is on another call; the caller presses 1 for a callback, keeps the number they "
            "are calling from, asks for this afternoon and says why. The request and its helpdesk ticket "
            "are stored in one transaction before the caller hears 'confirmed'.",
        )
        assert self.clock is not None
        result = self._call(
            self._scenario(
                self.clock,
                self.customer,
                [
                    {"say": "comercial"},
                    {"dtmf": "1"},
                    {"say": "sim"},
                    {"say": "hoje à tarde"},
                    {"say": "quero um orçamento de instalação"},
                    {"say": "sim"},
                ],
                {"1003": {"behavior": "busy"}},
            )
        )
        problems = self._wire_problems(result)
        if result.outcome != "callback_created":
            problems.append(f"call outcome is {result.outcome!r}, expected 'callback_created'")
        if self._transfers(result) != [("Comercial", "busy")]:
            problems.append(f"transfer attempts {self._transfers(result)}, expected Comercial busy")
        with self.db.cursor() as cur:
            rows = list_callbacks(cur, CallbackFilter(domain=self.domain), limit=500)
        mine = [c for c in rows if c.call_uuid == result.call_uuid]
        if len(mine) != 1:
            problems.append(f"{len(mine)} callback rows for this call, expected 1")
        else:
            cb = mine[0]
            if (cb.status, cb.number_e164, cb.destination_name) != ("pending", self.customer, "Comercial"):
                problems.append(
                    f"callback is {cb.status}/{cb.number_e164}/{cb.destination_name},"
                    f" expected pending/{self.customer}/Comercial"
                )
            else:
                self.callback_public_id = cb.public_id
                self.callback_agent = cb.agent_extension
        summary = ""
        if result.callback:
            start = datetime.fromisoformat(result.callback["window_start"])
            end = datetime.fromisoformat(result.callback["window_end"])
            summary = f"callback for {result.callback['number']} stored, {start:%Y-%m-%d %H:%M}-{end:%H:%M}"
        return self._finish(report, result, problems, summary)

    def out_of_hours(self) -> FlowReport:
        report = FlowReport(
            "out_of_hours",
            "Out of hours",
            "At 20:00 Financeiro is closed: nothing is dialled; the caller hears when it opens, declines "
            "the callback offer and says goodbye.",
        )
        assert self.clock is not None
        evening = self.clock.replace(hour=20, minute=0)
        result = self._call(
            self._scenario(
                evening,
                "+5511912345678",
                [{"say": "financeiro"}, {"say": "não, obrigado"}, {"say": "tchau"}],
                {"1001": {"behavior": "answer", "accept": True}},
            )
        )
        problems = self._wire_problems(result)
        if result.outcome != "ended":
            problems.append(f"call outcome is {result.outcome!r}, expected 'ended'")
        if self._transfers(result) != [("Financeiro", "out_of_hours")]:
            problems.append(f"transfer attempts {self._transfers(result)}, expected Financeiro out_of_hours")
        dialled = [o for o in result.originates if o.get("kind") == "agent"]
        if dialled:
            problems.append(f"{len(dialled)} agent leg(s) dialled out of hours")
        if result.callback is not None:
            problems.append("a callback was stored although the caller declined")
        return self._finish(report, result, problems, "nothing dialled; opening time announced")

    def dispatcher_calls_back(self) -> FlowReport:
        report = FlowReport(
            "dispatcher_callback",
            "The dispatcher calls the customer back",
            "The dispatcher's attempt for the callback of the previous flow: it calls the agent first, "
            "whispers who the customer is and why, and on 1 calls the customer with the company's caller "
            "id and bridges them.",
        )
        started = time.monotonic()
        if self.callback_public_id is None:
            report.problems.append("no callback from the busy -> callback flow to dispatch")
            report.seconds = time.monotonic() - started
            return report
        record = self._dispatch_record()
        problems, state = self._dispatch(record)
        result = self._dispatch_result(record)
        problems.extend(self._wire_problems(result))
        problems.extend(self._dispatch_checks(result, record, state))
        report.result = result.to_json()
        report.transcript = render_transcript(result)
        report.problems = problems
        report.ok = not problems
        if report.ok:
            report.summary = f"{self.customer} called back and bridged with extension {self.callback_agent}"
        report.seconds = time.monotonic() - started
        return report

    # ------------------------------------------------------------------ dispatcher plumbing

    def _dispatch_record(self) -> Any:
        """A simulator call record the dispatcher's legs are attributed to (by target)."""
        agent = self.callback_agent or ""
        record = CallRecord(
            call_uuid=f"dispatch-{self.callback_public_id}",
            scale=self.sim.clock.scale,
            origin=self.clock,
            agents=parse_endpoints({agent: {"behavior": "answer", "answer_after": 2, "accept": True}}, "agents"),
            customers=parse_endpoints(
                {self.customer: {"behavior": "answer", "answer_after": 4, "talk_for": 6}}, "customers"
            ),
        )

        async def register() -> None:
            self.sim.switch.register_call(record)

        self.sim.call_soon(register(), 10.0)
        return record

    def _dispatch(self, record: Any) -> tuple[list[str], str]:
        """Run the dispatcher's attempt on the captured callback; wait (bounded) for it."""
        cfg = dataclasses.replace(self.config, esl=dataclasses.replace(self.config.esl))
        cfg.esl.host, cfg.esl.port = self.sim.inbound_address
        cfg.esl.password = self.sim.password
        dispatcher = build_dispatcher(cfg, self.db)
        problems: list[str] = []
        state = ""
        try:
            if dispatcher.switch is None:
                return ["the dispatcher could not reach the simulated PBX"], state
            assert self.callback_public_id is not None and self.callback_agent is not None
            state, _attempt = dispatcher.call_now(self.callback_public_id, self.domain, self.callback_agent)
            if state != "started":
                problems.append(f"dispatcher did not start the attempt: {state}")
        finally:
            closer = threading.Thread(target=dispatcher.close, name="demo-dispatcher-close", daemon=True)
            closer.start()
            closer.join(DISPATCH_TIMEOUT)
            if closer.is_alive():
                problems.append(f"the dispatcher's attempt did not finish within {DISPATCH_TIMEOUT:g}s")
            if dispatcher.esl_client is not None:
                dispatcher.esl_client.close()
        return problems, state

    def _dispatch_result(self, record: Any) -> Any:
        async def finish() -> list[dict[str, Any]]:
            loop_time = self.sim.loop.time
            deadline = loop_time() + 2.0
            for ch in self.sim.switch.live_legs(record):
                remaining = deadline - loop_time()
                if remaining <= 0:
                    break
                await ch.wait_gone(remaining)
            record.ended_mono = time.monotonic()
            self.sim.switch.finish_call(record)
            return [
                {"uuid": ch.uuid, "role": ch.role, "target": ch.target, "answered": ch.answered}
                for ch in self.sim.switch.live_legs(record)
            ]

        live = self.sim.call_soon(finish(), 10.0)
        customer_leg = next((o.leg_uuid for o in record.originates if o.kind == "customer" and o.leg_uuid), "")
        result = build_result(record, customer_leg or "", live)
        result.socket_end = "n/a"
        return result

    def _dispatch_checks(self, result: Any, record: Any, state: str) -> list[str]:
        problems: list[str] = []
        assert self.callback_public_id is not None
        with self.db.cursor() as cur:
            cb = get_callback_by_public_id(cur, self.callback_public_id, domain=self.domain)
            attempts = callback_attempts(cur, cb.id) if cb is not None else []
        if cb is None:
            return ["the callback disappeared"]
        result.outcome = cb.status
        result.source = "database"
        result.callback = {
            "number": cb.number_e164,
            "window_start": self._local(cb.window_start),
            "window_end": self._local(cb.window_end),
            "reason": cb.reason,
            "status": cb.status,
        }
        outcomes = [a.get("outcome") for a in attempts]
        result.extra["attempts"] = [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in a.items() if k != "details"}
            for a in attempts
        ]
        if state == "started" and cb.status != "completed":
            problems.append(f"callback is {cb.status!r} after the attempt (outcomes {outcomes}), expected 'completed'")
        if state == "started" and outcomes != ["completed"]:
            problems.append(f"attempt outcomes {outcomes}, expected ['completed']")
        kinds = [o.get("kind") for o in result.originates]
        if kinds[:2] != ["agent", "customer"]:
            problems.append(f"legs dialled {kinds}, expected the agent first, then the customer")
        company = self.config.callbacks.caller_id_number
        customer = [o for o in record.originates if o.kind == "customer"]
        if customer and f"origination_caller_id_number={company}" not in customer[0].command:
            problems.append(f"the customer leg does not show the company caller id {company}")
        if not any(o.get("bridged") for o in result.originates):
            problems.append("agent and customer were never bridged")
        return problems

    # ------------------------------------------------------------------ common

    @staticmethod
    def _finish(report: FlowReport, result: Any, problems: list[str], summary: str) -> FlowReport:
        report.result = result.to_json()
        report.transcript = render_transcript(result)
        report.problems = problems
        report.ok = not problems
        report.summary = summary if report.ok else ""
        return report


def run_demo(config: Config, *, scale: float = DEFAULT_SCALE, emit: Optional[Emit] = None) -> DemoReport:
    """Run the tour in a database of its own (``stores.sandbox``); ``emit`` is
    called with each flow's report as soon as it is done. Never raises for a
    flow that misbehaves (it is reported); raises ``VoiceAIError`` only when the
    stack cannot start."""
    started = time.monotonic()
    flows: list[FlowReport] = []
    with sandbox(config, "demo") as box:
        tour = Tour(box.config, scale=scale)
        try:
            try:
                tour.start()
            except (OSError, RuntimeError, concurrent.futures.TimeoutError) as exc:
                raise VoiceAIError(f"cannot start the simulated stack: {exc}") from exc
            for step in (
                tour.transfer_accepted,
                tour.busy_then_callback,
                tour.out_of_hours,
                tour.dispatcher_calls_back,
            ):
                t0 = time.monotonic()
                try:
                    report = step()
                except (VoiceAIError, OSError, RuntimeError, concurrent.futures.TimeoutError) as exc:
                    log.exception("demo flow %s failed", step.__name__)
                    report = FlowReport(
                        step.__name__, step.__name__.replace("_", " "), "", problems=[f"error: {exc}"]
                    )
                report.seconds = time.monotonic() - t0
                flows.append(report)
                if emit is not None:
                    emit(report)
        finally:
            tour.stop()
    return DemoReport(
        ok=bool(flows) and all(f.ok for f in flows),
        flows=flows,
        seconds=time.monotonic() - started,
        domain=tour.domain,
        clock=tour.clock.isoformat() if tour.clock else "",
        scale=scale,
        database=describe(box),
    )


__all__ = [
    "DEFAULT_SCALE",
    "DEMO_DIRECTORY",
    "DemoReport",
    "FlowReport",
    "Tour",
    "demo_clock",
    "load_demo_directory",
    "run_demo",
]
