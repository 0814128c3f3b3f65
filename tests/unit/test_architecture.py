"""Imports point down the layers (docs/ARCHITECTURE.md): cli → runtime/app → handlers → services →
storage and the base modules; and no module imports one that imports it back, however far round.

Read from the source with `ast` (imports inside functions count too): a feature that reaches up
into the command line or the runtime to register itself fails here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "storage")

# Layer of a module: the longest matching prefix wins; a bot.* module not listed is a service.
LAYERS: dict[str, int] = {
    # the command line and the tools that run the whole product
    "bot.cli": 5,
    "bot.commands": 5,
    "bot.sandbox.run": 5,
    "bot.sandbox.terminal": 5,
    "bot.sandbox.web": 5,
    # assembly: the running bot, its Application, its HTTP server
    "bot.runtime": 4,
    "bot.app": 4,
    "bot.http": 4,
    "bot.updates": 4,
    # Telegram handlers
    "handlers": 3,
    # services (the default for bot.*)
    "bot": 2,
    # storage, and the base every layer may use
    "storage": 1,
    "bot.settings": 1,
    "bot.clock": 1,
    "bot.logs": 1,
    "bot.texts": 1,
    "bot.mail": 1,
    "bot.telegram_http": 1,
    "bot.addresses": 1,  # pure functions on typed addresses (the mailer writes them too)
    "bot.sandbox": 1,  # the stand-ins (Telegram, Stripe, SMTP) know nothing of the bot
}
NAMES = {5: "cli", 4: "runtime/app", 3: "handlers", 2: "services", 1: "storage/base"}


def layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, source: str, known: set[str]) -> set[str]:
    """The project modules `source` (module `name`) imports; `from pkg import sub` counts as
    importing `pkg.sub` when that is a module, else `pkg`."""
    is_package = name in known and any(k.startswith(name + ".") for k in known)
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module
            subs = [f"{module}.{alias.name}" for alias in node.names]
            targets = [s for s in subs if s in known] or [module]
            if len(targets) < len(subs):
                targets.append(module)
        else:
            continue
        found |= {t for t in targets if t.split(".")[0] in PACKAGES}
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: imports_of(name, path.read_text(encoding="utf-8"), set(known))
        for name, path in known.items()
    }


def upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} ({NAMES[layer(a)]}) imports {b} ({NAMES[layer(b)]})"
        for a, targets in edges.items()
        for b in targets
        if layer(b) > layer(a)
    )


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def package_parents(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges without a package's own `__init__` re-exporting its submodules (Python imports
    the parent first anyway; what matters is that a submodule never imports its parent back)."""
    return {a: {b for b in targets if not b.startswith(a + ".")} for a, targets in edges.items()}


def test_imports_point_down_the_layers():
    assert upward(graph()) == []


# `ofbot sandbox` is one tool in three modules (the runner starts the page and the terminal chat,
# which read the runner's sample people): their references to each other are not layers.
SANDBOX_TOOLS = ("bot.sandbox.run", "bot.sandbox.web", "bot.sandbox.terminal")


def test_no_import_cycles():
    edges = package_parents(graph())
    for tool in SANDBOX_TOOLS:
        edges[tool] = {t for t in edges.get(tool, ()) if not t.startswith(SANDBOX_TOOLS)}
    assert cycles(edges) == []


def test_services_never_register_themselves_with_the_cli_or_runtime():
    edges = graph()
    for name, targets in edges.items():
        if layer(name) <= 2:
            assert not {
                t for t in targets if t.split(".")[:2] in (["bot", "cli"], ["bot", "runtime"])
            }


def test_the_check_catches_an_upward_import_and_a_cycle():
    known = {"bot.cli", "bot.payments", "bot.escalations", "storage.db"}
    edges = {
        "bot.payments": imports_of("bot.payments", "def f():\n    from bot.cli import x\n", known),
        "bot.escalations": imports_of("bot.escalations", "from bot import payments\n", known),
        "storage.db": imports_of("storage.db", "import bot.escalations\n", known),
        "bot.cli": set(),
    }
    assert upward(edges) == [
        "bot.payments (services) imports bot.cli (cli)",
        "storage.db (storage/base) imports bot.escalations (services)",
    ]
    edges["bot.payments"] |= imports_of("bot.payments", "from bot.escalations import y\n", known)
    assert cycles(edges) == [["bot.escalations", "bot.payments"]]
