"""The server's housekeeping: expired values' rows are purged now and then (`[server]
purge_expired_seconds`). The values were invisible from the instant they expired; the purge only
keeps the read model from growing with them, and records what it removed (`values_expired`)."""

from __future__ import annotations

import logging

import anyio

from session_engine.engine import Engine

log = logging.getLogger("session_engine.retention")


async def purge_expired_forever(engine: Engine, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        try:
            while purged := await engine.values.purge_expired():
                log.info("purged expired values", extra={"values": purged})
        except Exception:  # a database hiccup must not stop the server; the next round retries
            log.exception("purging expired values failed")
