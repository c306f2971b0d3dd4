"""The house's shape, held against the code (docs/architecture.md says why).

- Every domain has the same rooms, and its decisions end in an explicit handler table.
- `engine/` speaks no wire protocol: no web framework, no protocol vocabulary.
- Dependencies point one way: adapters -> engine, never back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "engine"
ADAPTERS = ROOT / "adapters"

ROOMS = (
    "__init__.py",
    "commands.py",
    "decide.py",
    "events.py",
    "tables.py",
    "projection.py",
    "queries.py",
    "service.py",
    "errors.py",
)
"""What every domain holds: commands, decisions (ending in `HANDLERS`), events, tables, the
projection (events -> rows), queries (pure reads), the service (the public calls) and errors."""

DOMAINS = [
    "values",
    "records",
    "objects/envelopes",
    "objects/threads",
    "objects/graphs",
    "objects/search",
]
NOT_YET: set[str] = set()
"""Domains still in their old shape (each leaves this set when it is reshaped)."""


def _module(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _commands(tree: ast.Module) -> set[str]:
    """Classes of commands.py that are commands (their bases name `Command` or another command)."""
    classes = _classes(tree)
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, node in classes.items():
            bases = {
                base.id if isinstance(base, ast.Name) else getattr(base, "attr", "") for base in node.bases
            }
            if name not in found and bases & ({"Command"} | found):
                found.add(name)
                changed = True
    return found


def _handler_table(tree: ast.Module) -> dict[str, str]:
    """decide.py's `HANDLERS = {Command: handler, ...}`: command name -> handler name."""
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "HANDLERS":
            value = node.value
            assert isinstance(value, ast.Dict), "HANDLERS must be a dict literal: the table itself"
            table = {}
            for key, handler in zip(value.keys, value.values, strict=True):
                assert isinstance(key, ast.Name | ast.Attribute) and isinstance(handler, ast.Name)
                table[key.id if isinstance(key, ast.Name) else key.attr] = handler.id
            return table
    raise AssertionError("decide.py has no HANDLERS table")


@pytest.mark.parametrize(
    "domain", [pytest.param(d, marks=pytest.mark.xfail(strict=True)) if d in NOT_YET else d for d in DOMAINS]
)
def test_every_domain_has_the_same_rooms(domain: str) -> None:
    folder = ENGINE / domain
    missing = [room for room in ROOMS if not (folder / room).is_file()]
    assert not missing, f"engine/{domain} lacks {missing}"
    decide = _module(folder / "decide.py")
    table = _handler_table(decide)
    functions = {node.name for node in decide.body if isinstance(node, ast.FunctionDef)}
    commands = _commands(_module(folder / "commands.py"))
    assert set(table) == commands, f"HANDLERS covers {sorted(table)}, commands.py has {sorted(commands)}"
    assert set(table.values()) <= functions, "every handler is a function of decide.py"
    # No registration by side effect: the domain is built from its tables, not from imports.
    init = (folder / "__init__.py").read_text()
    assert "noqa: F401" not in init, f"engine/{domain}/__init__.py imports for a side effect"


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_projection_is_a_table_of_event_to_rows(domain: str) -> None:
    """projection.py ends in `HANDLERS = {Event: handler}`, each handler a function of the module
    typed as the framework's "event -> rows" (`RowsHandler[B]`, B the projection's own batch), so no
    handler casts what it writes into (specs/engine-core.md, "Write folding is the framework's")."""
    path = ENGINE / domain / "projection.py"
    projection = _module(path)
    table = _handler_table(projection)
    functions = {node.name for node in projection.body if isinstance(node, ast.FunctionDef)}
    assert table and set(table.values()) <= functions, f"engine/{domain}/projection.py: {table}"
    annotations = [
        ast.unparse(node.annotation)
        for node in projection.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "HANDLERS"
    ]
    assert annotations and annotations[0].startswith("dict[type[DomainEvent], RowsHandler["), annotations
    assert "cast(" not in path.read_text(), f"engine/{domain}/projection.py casts"


WEB = ("starlette", "fastapi", "uvicorn", "websockets", "httpx", "click", "rich")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(_module(path)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_engine_imports_no_web_code_and_no_adapter() -> None:
    for path in ENGINE.rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in WEB, f"{path.relative_to(ROOT)} imports {name}"
            assert not name.startswith("session_engine.adapters"), f"{path.relative_to(ROOT)} imports {name}"


WIRE_WORDS = (
    "revision_id",  # BlobHub's addressing
    "upload_session_object",  # BlobHub command names
    "session_object_modified",  # BlobHub event names
    "storage:session",  # Makaio's bus namespace
    "session.clientAccount.changed",  # Makaio's bus event
    "getByAdapterSessionId",  # Makaio's subjects
    "alias_generator",  # camelCase wire models
    "status = 70",  # BlazeAuth statuses 700-702
)


WIRE_PARTS = ("values", "records", "objects")
"""The engine's parts held against `WIRE_WORDS` one by one; "" is everything else."""
WIRE_NOT_YET: set[str] = set()
"""Parts that still speak a protocol (issue #17, item 1); each leaves this set when it is cleaned."""


def _part_files(part: str) -> list[Path]:
    if part:
        return sorted((ENGINE / part).rglob("*.py"))
    return sorted(p for p in ENGINE.rglob("*.py") if p.relative_to(ENGINE).parts[0] not in WIRE_PARTS)


@pytest.mark.parametrize(
    "part",
    [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="protocol vocabulary still there"))
        if p in WIRE_NOT_YET
        else p
        for p in (*WIRE_PARTS, "")
    ],
)
def test_the_engine_speaks_no_wire_protocol(part: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}: {word}"
        for path in _part_files(part)
        for word in WIRE_WORDS
        if word in path.read_text()
    ]
    assert not found, "\n".join(found)


def test_the_architecture_document_maps_every_wire_name() -> None:
    """docs/architecture.md names every entry of every adapter's wire table (two hops to the code)."""
    from session_engine.adapters.blobhub.commands import COMMANDS
    from session_engine.adapters.rpc.bus.subjects import SUBJECTS
    from session_engine.adapters.websocket.objects import PACKETS as OBJECT_PACKETS
    from session_engine.adapters.websocket.session import PACKETS

    document = (ROOT / "docs" / "architecture.md").read_text()
    missing = [f"`{name}`" for name in [*COMMANDS, *SUBJECTS] if f"| `{name}` |" not in document]
    missing += [
        f"packet {int(kind)}"
        for kind in PACKETS
        if kind not in OBJECT_PACKETS and f"| {int(kind)} " not in document
    ]
    missing += [f"packet {int(kind)}" for kind in OBJECT_PACKETS if int(kind) < 110 or int(kind) > 135]
    assert missing == [], f"docs/architecture.md does not map: {missing}"


def _public_classes(folder: Path) -> dict[str, list[str]]:
    """Module-level public classes under `folder`: name -> the files defining one of that name."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in _module(path).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    return found


def test_names_mean_one_thing() -> None:
    """A class name in the engine names one class, and no adapter class takes a name the engine
    exports: a reader who meets `SessionState` knows which one it is without looking at imports.
    (Adapters may reuse a name among themselves where each names its own protocol's thing.)"""
    from session_engine import engine

    twice = {name: files for name, files in _public_classes(ENGINE).items() if len(files) > 1}
    assert twice == {}
    shadowing = {
        name: files for name, files in _public_classes(ADAPTERS).items() if name in set(engine.__all__)
    }
    assert shadowing == {}


MOST_LINES = 450
"""A module of the engine that grows past this holds more than one job: split it by concern."""
LONG_FOR_NOW = {
    "engine/engine.py": "the facade: its delegations keep every method's signature and docstring",
}
"""Modules over `MOST_LINES` today, with why; none other may join them."""


def test_no_engine_module_holds_more_than_one_job() -> None:
    long = {
        path.relative_to(ROOT).as_posix(): lines
        for path in sorted(ENGINE.rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MOST_LINES
    }
    assert set(long) <= set(LONG_FOR_NOW), f"over {MOST_LINES} lines: {long}"
