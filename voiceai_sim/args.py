"""How FreeSWITCH reads application arguments and dial strings, re-implemented.

``separate_string`` follows ``switch_separate_string`` in ``src/switch_utils.c``:
a leading ``^^X`` picks another delimiter; on a space the blank tokenizer runs
(runs of spaces are one separator, a single quote toggles grouping with no
look-ahead, a backslash steps over the next character); on any other delimiter
a quote only opens when another one follows. Each token is then cleaned like
``cleanup_separated_string``: quotes dropped, ``\\'`` ``\\"`` ``\\\\`` and
``\\<delim>`` unescaped, ``\\n \\r \\t \\s`` turned into their characters, any
other backslash kept (so ``\\d+`` reaches the application as ``\\d+``).

``parse_originate`` reads an ``originate`` command line the way
``mod_commands`` ``originate_function`` does: the line is split on blanks, the
first token is the dial string, the second the extension or ``&app(args)``.
A socket application whose arguments hold spaces must therefore be quoted
(``&socket('127.0.0.1:8084 async full')``); unquoted, FreeSWITCH passes only
``127.0.0.1:8084`` to ``socket`` and this module does the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

_ESCAPE = "\\"
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


def _cleanup(token: str, delim: Optional[str]) -> str:
    i = 0
    while i < len(token) and token[i] == " ":
        i += 1
    out: list[str] = []
    end = 0
    inside = False
    n = len(token)
    while i < n:
        ch = token[i]
        if ch == _ESCAPE and i + 1 < n:
            nxt = token[i + 1]
            if nxt in ("'", '"', _ESCAPE) or (delim is not None and nxt == delim) or nxt in _UNESCAPE:
                out.append(_UNESCAPE.get(nxt, nxt))
                end = len(out)
                i += 2
                continue
        if ch == "'" and (inside or "'" in token[i + 1 :]):
            inside = not inside
            if inside:
                end = len(out)
        else:
            out.append(ch)
            if ch != " " or inside:
                end = len(out)
        i += 1
    return "".join(out[:end])


def _blank_split(text: str, limit: int) -> list[str]:
    tokens: list[str] = []
    i = 0
    n = len(text)
    while i < n and len(tokens) < limit:
        while i < n and text[i] == " ":
            i += 1
        if i >= n:
            break
        if len(tokens) == limit - 1:
            tokens.append(text[i:])
            break
        start = i
        inside = False
        while i < n:
            ch = text[i]
            if ch == _ESCAPE:
                i += 2
                continue
            if ch == "'":
                inside = not inside
            elif ch == " " and not inside:
                break
            i += 1
        tokens.append(text[start : min(i, n)])
    return tokens


def _char_split(text: str, delim: str, limit: int) -> list[str]:
    tokens: list[str] = []
    i = 0
    n = len(text)
    start = 0
    inside = False
    if not text:
        return tokens
    while i < n:
        if len(tokens) == limit - 1:
            break
        ch = text[i]
        if ch == _ESCAPE:
            i += 2
            continue
        if ch == "'" and (inside or "'" in text[i + 1 :]):
            inside = not inside
        elif ch == delim and not inside:
            tokens.append(text[start:i])
            start = i + 1
        i += 1
    tokens.append(text[start:])
    return tokens


def separate_string(text: str, delim: str = " ", limit: int = 128) -> list[str]:
    """Split ``text`` as ``switch_separate_string`` does and clean each token."""
    if text.startswith("^^") and len(text) > 3:
        delim, text = text[2], text[3:]
    if delim == " ":
        return [_cleanup(t, None) for t in _blank_split(text, limit)]
    return [_cleanup(t, delim) for t in _char_split(text, delim, limit)]


# --------------------------------------------------------------------------- dial strings


@dataclass
class Endpoint:
    """One endpoint of a dial string, with its own ``[...]`` variables."""

    raw: str
    kind: str  # user | loopback | gateway | error | sofia | other
    target: str = ""  # extension, number or cause
    domain: str = ""  # user@DOMAIN, loopback context
    gateway: str = ""
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class Originate:
    """A parsed ``originate`` command."""

    dial_string: str
    variables: dict[str, str]
    endpoints: list[list[Endpoint]]  # ``|`` groups (sequential) of ``,`` members (simultaneous)
    app: str = ""  # "" when an extension is dialled
    app_arg: str = ""
    extension: str = ""
    dialplan: str = ""
    context: str = ""
    cid_name: str = ""
    cid_num: str = ""
    timeout: Optional[int] = None


class DialStringSyntaxError(ValueError):
    """The originate line cannot be read; ``cause`` is what FreeSWITCH answers."""

    def __init__(self, message: str, cause: str = "INVALID_NUMBER_FORMAT") -> None:
        super().__init__(message)
        self.cause = cause


def _find_close(text: str, start: int, open_ch: str, close_ch: str) -> int:
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == _ESCAPE:
            i += 2
            continue
        if ch == open_ch:
            depth += 1
        elif ch == close_ch:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def parse_var_block(body: str) -> dict[str, str]:
    """``a=1,b=x\\,y`` -> ``{"a": "1", "b": "x,y"}`` (``switch_event_create_brackets``)."""
    result: dict[str, str] = {}
    if not body:
        return result
    for item in separate_string(body, ",", 1024):
        if not item:
            continue
        # Each item is split on ``=`` by switch_separate_string again (at most two
        # parts), so its value is cleaned a second time.
        pair = separate_string(item, "=", 2)
        if len(pair) != 2:
            continue
        result[pair[0]] = pair[1]
    return result


def _leading_blocks(text: str) -> tuple[dict[str, str], dict[str, str], str]:
    """Strip leading ``<...>`` and ``{...}`` blocks; returns (global <>, {} vars, rest)."""
    global_vars: dict[str, str] = {}
    variables: dict[str, str] = {}
    rest = text
    while rest[:1] in ("{", "<"):
        open_ch = rest[0]
        close_ch = "}" if open_ch == "{" else ">"
        close = _find_close(rest, 0, open_ch, close_ch)
        if close == -1:
            raise DialStringSyntaxError(f"unterminated {open_ch}...{close_ch} block")
        block = parse_var_block(rest[1:close])
        (variables if open_ch == "{" else global_vars).update(block)
        rest = rest[close + 1 :]
    return global_vars, variables, rest


def parse_endpoint(raw: str) -> Endpoint:
    text = raw.strip()
    local: dict[str, str] = {}
    while text.startswith("["):
        close = _find_close(text, 0, "[", "]")
        if close == -1:
            raise DialStringSyntaxError("unterminated [...] block")
        local.update(parse_var_block(text[1:close]))
        text = text[close + 1 :].strip()
    if text.startswith("user/"):
        rest = text[5:]
        user, _, domain = rest.partition("@")
        return Endpoint(text, "user", user, domain, variables=local)
    if text.startswith("loopback/"):
        parts = text[9:].split("/")
        ext = parts[0]
        context = parts[1] if len(parts) > 1 else "default"
        return Endpoint(text, "loopback", ext, context, variables=local)
    if text.startswith("sofia/gateway/"):
        parts = text[len("sofia/gateway/") :].split("/", 1)
        gw = parts[0]
        number = parts[1] if len(parts) > 1 else ""
        return Endpoint(text, "gateway", number, gateway=gw, variables=local)
    if text.startswith("error/"):
        return Endpoint(text, "error", text[6:], variables=local)
    if text.startswith("sofia/"):
        parts = text.split("/", 2)
        target = parts[2] if len(parts) > 2 else ""
        user, _, host = target.partition("@")
        return Endpoint(text, "sofia", user, host, variables=local)
    return Endpoint(text, "other", text, variables=local)


def _split_members(text: str, delim: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == _ESCAPE and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch in "[{<":
            depth += 1
        elif ch in "]}>":
            depth -= 1
        if ch == delim and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def parse_dial_string(dial_string: str) -> tuple[dict[str, str], list[list[Endpoint]]]:
    global_vars, variables, rest = _leading_blocks(dial_string.strip())
    merged = {**global_vars, **variables}
    groups: list[list[Endpoint]] = []
    for seq in _split_members(rest, "|"):
        members = [parse_endpoint(m) for m in _split_members(seq, ",")]
        if members:
            groups.append(members)
    if not groups:
        raise DialStringSyntaxError("no endpoint in dial string", "DESTINATION_OUT_OF_ORDER")
    return merged, groups


def parse_originate(arg: str) -> Originate:
    """Parse the argument of ``originate`` (everything after the word)."""
    argv = separate_string(arg, " ", 10)
    if len(argv) < 2:
        raise DialStringSyntaxError("-USAGE: <call url> <exten>|&<application_name>(<app_args>)", "USAGE")
    dial = argv[0]
    variables, endpoints = parse_dial_string(dial)
    result = Originate(dial_string=dial, variables=variables, endpoints=endpoints)
    exten = argv[1]
    if exten.startswith("&") and len(exten) > 1:
        app = exten[1:]
        open_at = app.find("(")
        if open_at != -1:
            arg_text = app[open_at + 1 :]
            close_at = arg_text.find(")")
            if close_at != -1:
                arg_text = arg_text[:close_at]
            result.app = app[:open_at]
            result.app_arg = arg_text
        elif " " in app:
            result.app, _, result.app_arg = app.partition(" ")
        else:
            result.app = app
    else:
        result.extension = exten
    rest = argv[2:]
    names = ("dialplan", "context", "cid_name", "cid_num")
    for name, value in zip(names, rest):
        setattr(result, name, value)
    if len(rest) > 4 and rest[4].isdigit():
        result.timeout = int(rest[4])
    return result
