"""Every YAML document the package reads goes through here: configuration,
directory imports, scenarios, prompts, simulator endpoints.

Bounds, checked before anything is built, so a hostile or mistaken file is
refused in a fraction of a second with one line naming it:

* size: ``DEFAULT_MAX_BYTES`` (5 MiB), raised with ``VOICEAI_YAML_MAX_BYTES``;
  a file is measured before it is read, standard input is read one byte past
  the limit at most;
* nesting: ``MAX_DEPTH`` (64) levels of mappings and lists; PyYAML's composer
  recurses once per level (a few hundred levels raise ``RecursionError``), so
  the depth is measured first on libyaml's event stream, which does not;
* aliases: ``MAX_ALIASES`` (``*name``); a few nested aliases can stand for
  billions of values to whoever walks the result.

``YamlFileError`` is a ``ValidationError``: ``field`` is what was read (a path,
``standard input``, an option), ``reason`` says why.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from voiceai_ivr.errors import ValidationError, not_utf8

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_BYTES_ENV = "VOICEAI_YAML_MAX_BYTES"
MAX_DEPTH = 64
MAX_ALIASES = 1000

# libyaml when PyYAML was built with it (5-6x faster on large files), else the pure-Python loader.
_SIZE_RE = re.compile(r"^(\d{1,15})\s*([KMG]?)(?:i?B)?$", re.IGNORECASE)
_SCALE = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class YamlFileError(ValidationError):
    """A YAML document was refused as a whole (too large, too deep, not YAML...)."""


def max_bytes(env: Optional[Mapping[str, str]] = None) -> int:
    """The size limit: ``VOICEAI_YAML_MAX_BYTES`` (bytes, or 20K / 20M / 1G) or 5 MiB."""
    env = os.environ if env is None else env
    raw = (env.get(MAX_BYTES_ENV) or "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    m = _SIZE_RE.match(raw)
    value = int(m.group(1)) * _SCALE[m.group(2).upper()] if m else 0
    if value < 1:
        raise YamlFileError(MAX_BYTES_ENV, f"must be a number of bytes (e.g. 20971520 or 20M): {raw!r}")
    return value


def _size(n: int) -> str:
    mib = n / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 and n % (1024 * 1024) == 0 else f"{n:,} bytes"


def _too_large(label: str, got: Union[int, str], limit: int) -> YamlFileError:
    got_text = f"{got:,} bytes" if isinstance(got, int) else got
    return YamlFileError(label, f"{got_text}, limit {_size(limit)} (set {MAX_BYTES_ENV} to raise it)")


def read_text(path: Union[str, Path], label: Optional[str] = None, *, limit: Optional[int] = None) -> str:
    """The UTF-8 text of ``path`` (``-``: standard input), refused past the size limit
    before it is read."""
    label = label or ("standard input" if str(path) == "-" else str(path))
    limit = max_bytes() if limit is None else limit
    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(limit + 1)
            if len(data) > limit:
                raise _too_large(label, f"more than {limit:,} bytes", limit)
        else:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > limit:
                    raise _too_large(label, size, limit)
                data = fh.read(limit + 1)  # a file growing while read
                if len(data) > limit:
                    raise _too_large(label, f"more than {limit:,} bytes", limit)
    except OSError as exc:
        raise YamlFileError(label, f"cannot read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(label, not_utf8(exc)) from None


def _where(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _check_shape(text: str, label: str) -> None:
    """Depth and alias count from the event stream (no composition, no recursion)."""
    depth = 0
    aliases = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlFileError(label, f"nested deeper than {MAX_DEPTH} levels{_where(event.start_mark)}")
        elif isinstance(event, _CLOSE):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise YamlFileError(label, f"more than {MAX_ALIASES} aliases (*name){_where(event.start_mark)}")


def parse(text: str, label: str, *, limit: Optional[int] = None) -> Any:
    """``yaml.safe_load(text)`` within the bounds; ``None`` for an empty document."""
    limit = max_bytes() if limit is None else limit
    size = len(text.encode("utf-8")) if len(text) * 4 > limit else len(text)
    if size > limit:
        raise _too_large(label, size, limit)
    try:
        _check_shape(text, label)
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (CSafeLoader/SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if "nesting depth" in str(getattr(exc, "problem", "")):  # libyaml's own bound, met while reading ahead
            raise YamlFileError(label, f"nested deeper than {MAX_DEPTH} levels{_where(mark)}") from None
        raise YamlFileError(label, f"not valid YAML{_where(mark)}") from None
    except RecursionError:  # belt and braces: _check_shape bounds the depth first
        raise YamlFileError(label, f"nested deeper than {MAX_DEPTH} levels") from None


def load(path: Union[str, Path], label: Optional[str] = None, *, limit: Optional[int] = None) -> Any:
    """Read and parse one YAML file (``-``: standard input) within the bounds."""
    label = label or ("standard input" if str(path) == "-" else str(path))
    return parse(read_text(path, label, limit=limit), label, limit=limit)


__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_ALIASES",
    "MAX_BYTES_ENV",
    "MAX_DEPTH",
    "YamlFileError",
    "load",
    "max_bytes",
    "parse",
    "read_text",
]
