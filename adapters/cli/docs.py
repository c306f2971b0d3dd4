"""`session-engine docs`: the reference documents installed with the package.

The wheel ships the specifications (`specs/` in the repository, `session_engine/specs` installed):
the server's configuration, each protocol's wire reference, the engine's decisions. The command
line's help points here, so a user of the installed package can read what it names.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

import click

SPECS: Traversable = files("session_engine").joinpath("specs")


def topics() -> dict[str, Traversable]:
    """Document name (file name without `.md`) -> the installed file."""
    return {item.name.removesuffix(".md"): item for item in SPECS.iterdir() if item.name.endswith(".md")}


@click.command()
@click.argument("topic", required=False)
def docs(topic: str | None) -> None:
    """List the reference documents, or print one: `session-engine docs server-config`."""
    found = topics()
    if topic is None:
        click.echo(f"Reference documents (in {SPECS}):")
        for name in sorted(found):
            click.echo(f"  {name}")
        click.echo("Print one with: session-engine docs NAME")
        return
    document = found.get(topic.removesuffix(".md"))
    if document is None:
        raise click.BadParameter(
            f"no document {topic!r}; one of: {', '.join(sorted(found))}", param_hint="TOPIC"
        )
    click.echo(document.read_text(encoding="utf-8"))
