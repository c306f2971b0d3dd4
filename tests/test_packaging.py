"""The wheel a user installs: one top-level name, and the documents its command line points to."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.test_cli import SCRIPT

ROOT = Path(__file__).resolve().parents[1]


def _help(*args: str) -> str:
    done = subprocess.run([SCRIPT, *args, "--help"], capture_output=True, text=True, timeout=60, check=True)
    return re.sub(r"-\s+", "-", " ".join(done.stdout.split()))  # unwrapped, also at hyphens


def _source_tree(into: Path) -> Path:
    """What the wheel is built from, copied: an in-tree build would leave `build/` in the repository
    and could pack modules deleted since an earlier build."""
    source = into / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("session_engine", "engine", "adapters", "migrations", "specs"):
        shutil.copytree(
            ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    return source


def test_the_wheel_installs_one_name_and_the_documents_its_help_names(tmp_path: Path) -> None:
    source = _source_tree(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", str(tmp_path)],
        capture_output=True,
        timeout=300,
        check=True,
    )
    [wheel] = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "session_engine",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    helps = " ".join(_help(*command) for command in ((), ("serve",), ("docs",)))
    assert "specs/" not in helps  # a path in the repository, which a wheel user does not have
    named = set(re.findall(r"session-engine docs ([a-z-]+)", helps))
    assert "server-config" in named
    for document in named:
        assert f"session_engine/specs/{document}.md" in names
    shipped = {name.removeprefix("session_engine/specs/") for name in names if "/specs/" in name}
    assert {path.name for path in (ROOT / "specs").glob("*.md")} <= shipped
    console = ROOT / "adapters" / "console" / "static"  # the console's page is served from the package
    assert {f"session_engine/adapters/console/static/{path.name}" for path in console.iterdir()} <= set(names)


def test_docs_prints_a_shipped_document() -> None:
    listed = subprocess.run([SCRIPT, "docs"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "server-config" in listed.split()
    printed = subprocess.run(
        [SCRIPT, "docs", "server-config"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert printed == (ROOT / "specs" / "server-config.md").read_text(encoding="utf-8") + "\n"
    unknown = subprocess.run(
        [SCRIPT, "docs", "nope"], capture_output=True, text=True, timeout=60, check=False
    )
    assert unknown.returncode == 2 and "server-config" in unknown.stderr
