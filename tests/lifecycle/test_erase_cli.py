"""`session-engine erase`: JSON or one line of what was done; every refusal one line on stderr,
exit 2, nothing written (a namespace that does not encrypt, a session with no events, a database
that does not exist); a bad config file listed as `serve` lists it."""

from __future__ import annotations

from pathlib import Path

import anyio
import orjson

from session_engine.engine import Engine, NewEvent
from tests.test_cli import cli

CONFIG = """
[[tenants]]
name = "acme"
namespace = "acme"
app_name = "Acme"
app_version = "1"
encrypt = true
"""


def seed(url: str) -> None:
    async def main() -> None:
        async with Engine.open(url, encrypted_namespaces=["acme"]) as engine:
            await engine.append("acme", "s", [NewEvent("noted", {"text": "Qz5personal"})])
            await engine.append("plain", "s", [NewEvent("noted", {"text": "kept"})])
        async with Engine.open(url) as unconfigured:  # written in the clear: no key reaches it
            await unconfigured.append("acme", "early", [NewEvent("noted", {"text": "Qz5early"})])

    anyio.run(main)


def one_line_error(done: object, *words: str) -> None:
    assert done.returncode == 2 and done.stdout == ""  # type: ignore[attr-defined]
    line = done.stderr.strip()  # type: ignore[attr-defined]
    assert "\n" not in line and "Traceback" not in line, line
    for word in words:
        assert word in line, line


def test_erase_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    config = tmp_path / "server.toml"
    config.write_text(CONFIG)
    one_line_error(cli("erase", "s", "-n", "acme", "--config", str(config), url=url), "does not exist")
    seed(url)
    one_line_error(cli("erase", "s", "-n", "acme", url=url), "encrypt = true", "--config")
    one_line_error(cli("erase", "s", "-n", "plain", "--config", str(config), url=url), "'plain'")
    one_line_error(cli("erase", "nobody", "-n", "acme", "--config", str(config), url=url), "no events")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[tenants]]\nname = 1\n")
    invalid = cli("erase", "s", "-n", "acme", "--config", str(bad), url=url)
    # as `serve` does: every problem of the file listed, no traceback
    assert invalid.returncode == 2 and "invalid configuration" in invalid.stderr
    assert "Traceback" not in invalid.stderr

    done = cli(
        "erase", "s", "-n", "acme", "--config", str(config), "--reason", "request 7", "--json", url=url
    )
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout) == {
        "namespace": "acme",
        "session": "s",
        "version": 2,
        "keys_destroyed": 1,
        "rows_removed": 0,
        "unsealed_events": 0,
    }
    history = cli("history", "s", "-n", "acme", "--json", url=url)
    lines = [orjson.loads(line) for line in history.stdout.splitlines()]
    assert [(e["type"], e["data"]) for e in lines] == [
        ("noted", {"erased": True}),
        ("session_erased", {"reason": "request 7"}),
    ]
    plain = cli("history", "s", "-n", "plain", "--json", url=url)
    assert orjson.loads(plain.stdout.splitlines()[0])["data"] == {"text": "kept"}
    partial = cli("erase", "early", "-n", "acme", "--config", str(config), url=url)
    assert partial.returncode == 1 and partial.stdout.startswith("erased acme/early")
    assert "1 event(s) of acme/early were stored unencrypted" in partial.stderr
    again = cli("erase", "s", "-n", "acme", "--config", str(config), url=url)
    assert again.returncode == 0 and again.stdout.startswith("erased acme/s: 0 key(s) destroyed")
