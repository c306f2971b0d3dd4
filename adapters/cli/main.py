"""`session-engine`: run, migrate, inspect, replay, verify, export and import the event log.

Every failure is one line on standard error, saying what failed and what to do, and exit status 2
(`--debug` shows the traceback instead). Read-only commands never create a database.

This module holds the group and its dispatch only; the verbs live by concern: `log.py` (status,
history, export, import), `maintenance.py` (migrate, run, replay, verify, backup, restore),
`lifecycle.py` (erase, retain), `inspect.py` (state, diff, sessions), `serve.py`, `docs.py`,
`conformance.py`.
"""

from __future__ import annotations

import click

from session_engine.adapters.cli import lifecycle, log, maintenance
from session_engine.adapters.cli.conformance import conformance
from session_engine.adapters.cli.docs import docs
from session_engine.adapters.cli.inspect import COMMANDS as INSPECT_VERBS
from session_engine.adapters.cli.running import Cli, database_option
from session_engine.adapters.cli.serve import serve


@click.group(cls=Cli)
@click.version_option(package_name="session-engine", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, envvar="SESSION_ENGINE_DEBUG", help="Show tracebacks of failures.")
def main(debug: bool) -> None:
    """An event-sourced session object engine.

    Reference documents (configuration, protocols): `session-engine docs`.
    """


for _verb in (*log.COMMANDS, *maintenance.COMMANDS, *lifecycle.COMMANDS):
    main.add_command(_verb)
main.add_command(serve)
main.add_command(docs)
for _verb in INSPECT_VERBS:  # state, diff, sessions (adapters/cli/inspect.py)
    main.add_command(database_option(_verb))
main.add_command(conformance)

if __name__ == "__main__":
    main()
