"""Install a secretary's dialplan into FusionPBX, and clear FusionPBX's dialplan cache.

FusionPBX serves the dialplan from its database through its Lua XML handler
(``app/xml_handler/.../dialplan/dialplan.lua``), which caches the XML of a
context under the key ``dialplan:<context>`` (``dialplan:<context>:<number>``
when the public context is in "single" mode). Its cache lives either in
memcache (FreeSWITCH's ``memcache`` api) or in files named after the key with
``:`` turned into ``.`` under the cache location (``/var/cache/fusionpbx`` by
default). After saving a dialplan, FusionPBX's PHP deletes that key
(``$cache->delete("dialplan:".$dialplan_context)``); ``clear_dialplan_cache``
does the same, for the method FusionPBX is configured with.
"""

from __future__ import annotations

import contextlib
import re
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

from voiceai_ivr.errors import CommandError, ValidationError
from voiceai_ivr.provision.dialplan import (
    DialplanSpec,
    dialplan_conditions,
    render_fusionpbx_extension,
    validate_spec,
)
from voiceai_ivr.stores import fusionpbx as store
from voiceai_ivr.stores.db import Database

CACHE_METHODS = ("file", "memcache", "none")
DEFAULT_CACHE_DIR = "/var/cache/fusionpbx"
PUBLIC_CONTEXT = "public"
# dialplan_uuid = uuid5(namespace, "<domain>/<did digits>"): stable, so a second
# install updates the same row, and a row with that uuid is always ours.
_NAMESPACE = uuidlib.uuid5(uuidlib.NAMESPACE_URL, "urn:voiceai-ivr:fusionpbx-dialplan")

ApiCall = Callable[[str], str]
# (event subclass, API-Command, API-Command-Argument): fires FreeSWITCH's CUSTOM event
# that FusionPBX's cache class sends so other nodes of a cluster drop the key too.
NotifyCall = Callable[[str, str, str], None]


def dialplan_uuid_for(spec: DialplanSpec) -> str:
    return str(uuidlib.uuid5(_NAMESPACE, f"{spec.domain}/{spec.did_digits}"))


def destination_uuid_for(spec: DialplanSpec) -> str:
    return str(uuidlib.uuid5(_NAMESPACE, f"destination:{spec.domain}/{spec.did_digits}"))


def is_public(context: str) -> bool:
    """FusionPBX's test for an inbound (public) context."""
    return context == PUBLIC_CONTEXT or context.startswith("public@") or context.endswith(".public")


def build_destination(spec: DialplanSpec, *, context: str = PUBLIC_CONTEXT) -> store.FusionDestination:
    spec = validate_spec(spec)
    label = spec.secretary_name or (f"secretary {spec.secretary_id}" if spec.secretary_id else "")
    return store.FusionDestination(
        destination_uuid=destination_uuid_for(spec),
        number=spec.did_digits,
        number_regex=spec.expression,
        context=context,
        description=f"{store.MANAGED_DESCRIPTION} {label}".strip(),
    )


def build_dialplan(spec: DialplanSpec, domain_uuid: str, *, context: str = PUBLIC_CONTEXT) -> store.FusionDialplan:
    """The rows FusionPBX needs for ``spec``: ``dialplan_xml`` as FusionPBX's own
    generator would produce it, plus the details the Dialplan Manager edits."""
    spec = validate_spec(spec)
    public = is_public(context)
    dialplan_uuid = dialplan_uuid_for(spec)
    xml = render_fusionpbx_extension(
        spec, dialplan_uuid=dialplan_uuid, domain_uuid=domain_uuid, public_context=public
    )
    # Details hold only our own conditions and actions, one group per condition: for
    # the public context FusionPBX adds call_direction/domain_uuid/domain_name itself
    # when it regenerates dialplan_xml from them.
    details: list[store.DialplanDetail] = []
    order = 5
    for group, cond in enumerate(dialplan_conditions(spec, set_domain_name=not public)):
        details.append(store.DialplanDetail(tag="condition", type=cond.field, data=cond.expression, order=order,
                                            group=group, break_=cond.brk))
        for app, data in cond.actions:
            order += 5
            details.append(store.DialplanDetail(tag="action", type=app, data=data, order=order, group=group))
        order += 5
    label = spec.secretary_name or (f"secretary {spec.secretary_id}" if spec.secretary_id else "")
    description = f"{store.MANAGED_DESCRIPTION} {label}".strip()
    return store.FusionDialplan(
        dialplan_uuid=dialplan_uuid,
        domain_uuid=domain_uuid,
        context=context,
        name=spec.extension_name,
        number=spec.did,
        xml=xml,
        description=description,
        details=tuple(details),
    )


def validate_context(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,128}", value or ""):
        raise ValidationError("context", f"not a valid dialplan context: {value!r}")
    return value


@dataclass(frozen=True)
class FusionInstallResult:
    dialplan_uuid: str
    domain_uuid: str
    context: str
    created: bool
    destination_uuid: Optional[str]  # the v_destinations row (public context only)
    cache_cleared: tuple[str, ...]  # what was removed ("file …", "memcache …")


def install_fusionpbx(
    db: Database,
    spec: Union[DialplanSpec, dict],
    *,
    context: str = PUBLIC_CONTEXT,
    cache_method: str = "file",
    cache_dir: Union[str, Path] = DEFAULT_CACHE_DIR,
    api: Optional[ApiCall] = None,
    notify: Optional[NotifyCall] = None,
) -> FusionInstallResult:
    """Insert or update the dialplan in FusionPBX's tables, then clear its cache."""
    s = validate_spec(spec)
    validate_context(context)
    if cache_method not in CACHE_METHODS:
        raise ValidationError("fusionpbx_cache", f"must be one of {', '.join(CACHE_METHODS)}: {cache_method!r}")
    domain_uuid = store.find_domain_uuid(db, s.domain)
    dp = build_dialplan(s, domain_uuid, context=context)
    numbers = sorted({s.did, s.did_digits, "+" + s.did_digits})
    destination = build_destination(s, context=context) if is_public(context) else None
    saved = store.save_dialplan(db, dp, numbers=numbers, destination=destination)
    cleared = clear_dialplan_cache(
        cache_keys(context, s), method=cache_method, cache_dir=cache_dir, api=api, notify=notify
    )
    return FusionInstallResult(
        dialplan_uuid=saved.dialplan_uuid,
        domain_uuid=domain_uuid,
        context=context,
        created=saved.created,
        destination_uuid=destination.destination_uuid if destination is not None else None,
        cache_cleared=tuple(cleared),
    )


def cache_keys(context: str, spec: DialplanSpec) -> list[str]:
    """FusionPBX's cache keys that may hold this DID's dialplan."""
    keys = [f"dialplan:{context}"]
    # "single" dialplan mode caches the public context per dialled number.
    keys += [f"dialplan:{context}:{spec.did_digits}", f"dialplan:{context}:+{spec.did_digits}"]
    return keys


def cache_file_name(key: str) -> str:
    """FusionPBX's file-cache name for a key (``:`` -> ``.``, ``/`` and ``\\`` -> ``_``)."""
    return key.replace(":", ".").replace("\\", "_").replace("/", "_")


def clear_dialplan_cache(
    keys: list[str],
    *,
    method: str,
    cache_dir: Union[str, Path] = DEFAULT_CACHE_DIR,
    api: Optional[ApiCall] = None,
    notify: Optional[NotifyCall] = None,
) -> list[str]:
    """Delete ``keys`` from FusionPBX's cache as FusionPBX's ``cache::delete`` does;
    returns what was done, one line each.

    ``file``: fire ``CUSTOM fusion::file`` (``cache delete <key with : as .>``) when
    ``notify`` is given, then remove ``<cache_dir>/<key with : as .>`` and its ``.tmp``.
    ``memcache``: fire ``CUSTOM fusion::memcache`` (``memcache delete <key>``) when
    ``notify`` is given, then ``api memcache delete <key>`` (FreeSWITCH answers
    ``-ERR NOT FOUND`` for a key that is not cached: that is fine).
    ``none``: nothing."""
    done: list[str] = []
    if method == "none":
        return done
    if method == "file":
        folder = Path(cache_dir)
        for key in keys:
            name = cache_file_name(key)
            if notify is not None:
                notify("fusion::file", "cache", f"delete {name}")
            for path in (folder / name, folder / f"{name}.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    done.append(f"file {path}")
        return done
    if method == "memcache":
        if api is None:
            raise ValidationError("fusionpbx_cache", "memcache needs an Event Socket connection (not --no-reload)")
        for key in keys:
            if notify is not None:
                notify("fusion::memcache", "memcache", f"delete {key}")
            reply = api(f"memcache delete {key}").strip()
            if reply.startswith("-ERR") and "NOT FOUND" not in reply.upper():
                raise CommandError(f"memcache delete {key}", reply)
            done.append(f"memcache {key}: {reply or '+OK'}")
        return done
    raise ValidationError("fusionpbx_cache", f"must be one of {', '.join(CACHE_METHODS)}: {method!r}")
