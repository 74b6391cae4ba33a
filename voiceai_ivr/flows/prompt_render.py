"""Every static prompt of every secretary's language, for ``voiceai-ivr prompts render``.

A prompt is *static* when everything it reads is known ahead of a call:

* nothing at all (``goodbye``), or only the mode variable ``keyed`` (both
  wordings are rendered: speech and keys-only);
* the secretary's own ``company``, ``greeting`` and ``menu`` (rendered per
  secretary), a ``destination`` name (rendered per destination of the
  secretary's domain), the flags ``callback`` and ``voicemail`` (both values).

Anything else (a caller's number, a time window, a reason, the options of a
clarification...) is *dynamic*: synthesized on demand during the call, through
the same cache, within ``speech.synth_timeout``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from voiceai_ivr.flows.conversation import CallDirectory
from voiceai_ivr.flows.prompts import PromptBook, PromptError
from voiceai_ivr.ports import Database
from voiceai_ivr.speech.speaker import CACHE, FALLBACK, FREESWITCH_TTS, SYNTHESIZED, Speaker
from voiceai_ivr.stores import directory as store

#: Variables whose values are known ahead of a call.
PER_SECRETARY = frozenset({"company", "greeting", "menu"})
FINITE = PER_SECRETARY | frozenset({"keyed", "destination", "callback", "voicemail"})
_BOOL_VARIABLES = ("keyed", "callback", "voicemail")


@dataclass(frozen=True)
class SecretaryView:
    """What the static prompts of one secretary read."""

    language: str
    company: str
    greeting: str = ""
    menu: tuple[tuple[int, str], ...] = ()
    destinations: tuple[str, ...] = ()
    domain: str = ""

    def values(self) -> dict[str, Any]:
        return {"company": self.company, "greeting": self.greeting,
                "menu": [{"key": k, "name": n} for k, n in self.menu]}


@dataclass
class RenderReport:
    engines: dict[str, str] = field(default_factory=dict)
    rendered: int = 0  # synthesized now
    cached: int = 0  # already in the cache
    not_files: int = 0  # the language's engine is FreeSWITCH's own (nothing to render)
    failed: list[dict[str, str]] = field(default_factory=list)
    dynamic: dict[str, list[str]] = field(default_factory=dict)  # language -> keys
    skipped: list[dict[str, str]] = field(default_factory=list)  # per-secretary prompts, no secretary

    def to_json(self) -> dict[str, Any]:
        return {"engines": self.engines, "rendered": self.rendered, "cached": self.cached,
                "not_files": self.not_files, "failed": self.failed, "dynamic": self.dynamic,
                "skipped": self.skipped}


@dataclass(frozen=True)
class Job:
    language: str
    key: str
    text: str


def secretary_views(db: Database) -> list[SecretaryView]:
    """Every secretary of every domain in the database."""
    views = []
    for domain in store.list_domains(db):
        directory = store.load_directory(db, domain)
        if directory is None:
            continue
        names = tuple(sorted({d.name for d in directory.destinations if getattr(d, "enabled", True)}))
        for secretary in directory.secretaries:
            menu = CallDirectory.from_directory(directory, secretary).menu()
            views.append(SecretaryView(
                language=str(getattr(secretary, "language", "") or "pt-BR"),
                company=str(getattr(secretary, "name", "") or domain),
                greeting=str(getattr(secretary, "greeting", "") or ""),
                menu=tuple((int(i["key"]), str(i["name"])) for i in menu),
                destinations=names,
                domain=domain,
            ))
    return views


def _variants(needed: frozenset[str], view: Optional[SecretaryView]) -> Iterator[dict[str, Any]]:
    base = view.values() if view is not None else {}
    axes: list[tuple[str, list[Any]]] = [(name, [False, True]) for name in _BOOL_VARIABLES if name in needed]
    if "destination" in needed:
        axes.append(("destination", list(view.destinations) if view is not None else []))
    for combo in itertools.product(*(values for _, values in axes)):
        values = {k: v for k, v in base.items() if k in needed}
        values.update({name: value for (name, _), value in zip(axes, combo)})
        yield values


def static_jobs(prompts: PromptBook, languages: Iterable[str], views: list[SecretaryView],
                report: RenderReport) -> list[Job]:
    """The distinct texts to render, in order; dynamic and skipped prompts go to ``report``."""
    jobs: dict[tuple[str, str], Job] = {}
    for lang in languages:
        mine = [v for v in views if v.language == lang]
        for key in sorted(prompts.keys(lang)):
            needed = prompts.all_variables(lang, key)
            if not needed <= FINITE:
                report.dynamic.setdefault(lang, []).append(key)
                continue
            per_secretary = bool(needed & (PER_SECRETARY | {"destination"}))
            if per_secretary and not mine:
                report.skipped.append({"language": lang, "key": key,
                                       "reason": "needs a secretary in this language (none in the directory)"})
                continue
            for view in (mine if per_secretary else [None]):
                for values in _variants(needed, view):
                    try:
                        text = prompts.render(lang, key, **values)
                    except PromptError as exc:
                        report.failed.append({"language": lang, "key": key, "error": str(exc)})
                        continue
                    if text:
                        jobs.setdefault((lang, text), Job(lang, key, text))
    return list(jobs.values())


def render_job(speaker: Speaker, job: Job, timeout: float, report: RenderReport) -> None:
    spoken = speaker.speak(job.language, job.text, timeout=timeout, force=True)
    if spoken.how == SYNTHESIZED:
        report.rendered += 1
    elif spoken.how == CACHE:
        report.cached += 1
    elif spoken.how == FREESWITCH_TTS:
        report.not_files += 1
    elif spoken.how == FALLBACK:
        report.failed.append({"language": job.language, "key": job.key, "text": job.text[:80],
                              "error": spoken.error or "synthesis failed"})


def engines_of(speaker: Speaker, languages: Iterable[str]) -> Mapping[str, str]:
    return {lang: speaker.engine_name(lang) for lang in languages}


__all__ = ["FINITE", "Job", "RenderReport", "SecretaryView", "engines_of", "render_job", "secretary_views",
           "static_jobs"]
