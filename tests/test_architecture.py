"""The import graph of ``voiceai_ivr`` and ``voiceai_sim`` keeps ARCHITECTURE.md's
shape: no import circle (top-level or inside functions; importing ``a.b.c`` counts
as importing the packages ``a`` and ``a.b`` too, whose ``__init__`` runs first),
arrows point down the layer table below, and every import inside a function says
why in one line (``# lazy: ...`` just above it or at its end).

What is not there yet is listed in ``KNOWN_*`` with the issue-20 item it waits
for: each list may only shrink. ``python tests/test_architecture.py`` prints the
figures (circles, upward arrows, function-level imports, ``Any`` at the seams).
"""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("voiceai_ivr", "voiceai_sim")

#: bottom to top; a module may import its own layer and any layer below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("voiceai_ivr", "voiceai_ivr.errors", "voiceai_ivr.config", "voiceai_ivr.fsvalues", "voiceai_ivr.logs",
              "voiceai_ivr.privatefs", "voiceai_ivr.metrics", "voiceai_ivr.ports")),
    ("wire protocol, PBX API", ("voiceai_ivr.esl", "voiceai_ivr.switch")),
    ("domain", ("voiceai_ivr.domain",)),
    ("channel, stores", ("voiceai_ivr.channel", "voiceai_ivr.stores")),
    ("integrations", ("voiceai_ivr.integrations",)),
    ("speech", ("voiceai_ivr.speech",)),
    ("flows", ("voiceai_ivr.flows",)),
    ("services", ("voiceai_ivr.availability", "voiceai_ivr.provision", "voiceai_ivr.exports")),
    ("processes", ("voiceai_ivr.dispatcher", "voiceai_ivr.server", "voiceai_ivr.api", "voiceai_ivr.console")),
    ("composition root", ("voiceai_ivr.app",)),
    ("entry points", ("voiceai_ivr.cli", "voiceai_ivr.modpython")),
    ("simulator", ("voiceai_sim",)),
]

#: import circles still there: (modules of the circle) -> the issue-20 item that removes it.
KNOWN_CIRCLES: dict[frozenset[str], str] = {}

#: upward arrows still there: (importer, imported) -> the issue-20 item that removes it.
KNOWN_UPWARD: dict[tuple[str, str], str] = {
}

#: function-level imports without a reason, per module: may only go down. Issue 20's
#: done-when: "function-level imports only where a lazy import is needed for start-up
#: time, each with a one-line reason". None is left: import at the top, or say why.
KNOWN_UNEXPLAINED: dict[str, int] = {}


#: packages whose function-level imports all have the same reason, said once here.
LAZY_PACKAGES: dict[str, str] = {
    # Measured 2026-12-06: importing voiceai_ivr.cli takes ~55 ms, voiceai_ivr.app
    # (what most commands need) ~335 ms; every command, --help included, pays only
    # for what it runs.
    "voiceai_ivr.cli": "a command loads what it needs when it runs (start-up time of every command)",
}

LAZY_REASON = re.compile(r"#\s*lazy\b")
SEAM_ANY = re.compile(r"\b(?:cur|db|switch|speech|conn|connection|client|esl|pbx)\s*:\s*(?:Optional\[)?Any\b")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    in_function: bool
    type_only: bool
    explained: bool


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _targets(name: str, node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        candidates = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = name.split(".") if known[name].name == "__init__.py" else name.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        candidates = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    for target in candidates:
        while target not in known and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in known and target != name:
            yield target
            # Importing a.b.c runs a/__init__ and a/b/__init__ first: an edge to each
            # package that is not one of the importer's own (those are already running).
            package = target
            while "." in package:
                package = package.rsplit(".", 1)[0]
                if package in known and package != name and not name.startswith(package + "."):
                    yield package


def _explained(lines: list[str], lineno: int) -> bool:
    """A ``# lazy: reason`` at the end of the import's line, or on the comment line
    just above it or above the group of imports it belongs to."""
    if LAZY_REASON.search(lines[lineno - 1]):
        return True
    index = lineno - 2
    while index >= 0:
        text = lines[index].strip()
        if text.startswith("#"):
            return bool(LAZY_REASON.search(text))
        if not (text.startswith(("from ", "import ", ")")) or text.endswith(",")):
            return False
        index -= 1
    return False


def edges() -> list[Edge]:
    known = modules()
    found: list[Edge] = []
    for name, path in known.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()

        def visit(node: ast.AST, in_function: bool, type_only: bool, name: str = name, lines: list[str] = lines
                  ) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    visit(child, in_function, True)
                    continue
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    explained = _explained(lines, child.lineno)
                    for target in _targets(name, child, known):
                        found.append(Edge(name, target, child.lineno, in_function, type_only, explained))
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)), type_only)

        visit(ast.parse(text), False, False)
    return found


def layer_of(module: str) -> int:
    best, rank = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    if rank < 0:
        raise AssertionError(f"{module}: in no layer of LAYERS")
    return rank


def circles(found: list[Edge]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (runtime imports only)."""
    graph: dict[str, set[str]] = {}
    for edge in found:
        if not edge.type_only:
            graph.setdefault(edge.source, set()).add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[frozenset[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(frozenset(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10000))
    try:
        for node in sorted(graph):
            if node not in index:
                connect(node)
    finally:
        sys.setrecursionlimit(limit)
    return result


#: the one sanctioned upward arrow: the demo/simulate commands load the simulator when they run.
SIMULATOR_COMMANDS = ("voiceai_ivr.cli.demo_cmd", "voiceai_ivr.cli.simulate_cmd")


def upward(found: list[Edge]) -> set[tuple[str, str]]:
    return {
        (e.source, e.target)
        for e in found
        if layer_of(e.target) > layer_of(e.source)
        and not (e.source in SIMULATOR_COMMANDS and e.target.startswith("voiceai_sim") and e.in_function)
    }


def _lazy_package(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in LAZY_PACKAGES)


def unexplained(found: list[Edge]) -> Counter[str]:
    return Counter(e.source for e in found if e.in_function and not e.explained and not _lazy_package(e.source))


def seam_any() -> Counter[str]:
    """Lines in flows/ and stores/ that type a database, cursor, switch or speech seam as ``Any``."""
    counts: Counter[str] = Counter()
    for name, path in modules().items():
        if name.startswith(("voiceai_ivr.flows", "voiceai_ivr.stores")):
            counts[name] = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if SEAM_ANY.search(line))
    return +counts


def any_lines() -> int:
    return sum(
        1
        for name, path in modules().items()
        if name.startswith("voiceai_ivr")
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"\bAny\b", line)
    )


# ---------------------------------------------------------------- tests


def test_every_module_has_a_layer() -> None:
    for name in modules():
        layer_of(name)


def test_no_import_circle_beyond_the_known_ones() -> None:
    found = set(circles(edges()))
    new = [sorted(c) for c in found if c not in KNOWN_CIRCLES]
    assert not new, f"import circles: {new}"
    gone = [sorted(c) for c in KNOWN_CIRCLES if c not in found]
    assert not gone, f"circles gone: remove them from KNOWN_CIRCLES: {gone}"


def test_arrows_point_down() -> None:
    found = upward(edges())
    new = sorted(found - set(KNOWN_UPWARD))
    assert not new, "imports pointing up the layer table: " + ", ".join(f"{a} -> {b}" for a, b in new)
    gone = sorted(set(KNOWN_UPWARD) - found)
    assert not gone, f"fixed: remove from KNOWN_UPWARD: {gone}"


def test_function_level_imports_say_why() -> None:
    counts = unexplained(edges())
    grown = {m: n for m, n in counts.items() if n > KNOWN_UNEXPLAINED.get(m, 0)}
    assert not grown, (
        "function-level imports without a '# lazy: <reason>' line (import at the top, or say why): "
        + ", ".join(f"{m} ({n}, allowed {KNOWN_UNEXPLAINED.get(m, 0)})" for m, n in sorted(grown.items()))
    )
    shrunk = {m: counts.get(m, 0) for m, n in KNOWN_UNEXPLAINED.items() if counts.get(m, 0) < n}
    assert not shrunk, f"fewer unexplained imports now: lower KNOWN_UNEXPLAINED to {shrunk}"


def test_the_product_never_imports_the_simulator_at_module_level() -> None:
    for edge in edges():
        if edge.source.startswith("voiceai_ivr") and edge.target.startswith("voiceai_sim"):
            assert edge.source in SIMULATOR_COMMANDS, edge
            assert edge.in_function and edge.explained, edge


def report() -> str:
    found = edges()
    lazy = [e for e in found if e.in_function]
    rows = [
        f"modules: {len(modules())}",
        f"import circles: {len(circles(found))}",
        *(f"  {sorted(c)}" for c in circles(found)),
        f"upward arrows: {len(upward(found))}",
        *(f"  {a} -> {b}" for a, b in sorted(upward(found))),
        f"function-level imports of our own modules: {len(lazy)} ({sum(not e.explained for e in lazy)} without a"
        f" reason of their own, {sum(1 for e in lazy if not e.explained and _lazy_package(e.source))} of them in"
        f" {', '.join(LAZY_PACKAGES)} (one reason for the package), {sum(unexplained(found).values())} unexplained)",
        f"lines typing a seam as Any in flows/ and stores/: {sum(seam_any().values())}",
        f"lines using Any in voiceai_ivr: {any_lines()}",
        f"dispatcher.py lines: {len((ROOT / 'voiceai_ivr' / 'dispatcher.py').read_text().splitlines())}",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    print(report())
