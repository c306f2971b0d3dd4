"""The server's housekeeping: expired values' rows are purged now and then (`[server]
purge_expired_seconds`). The values were invisible from the instant they expired; the purge only
keeps the read model from growing with them, and records what it removed (`values_expired`).
The tenants' retention policies are applied every `[server] retain_seconds` (`Engine.retain`)."""

from __future__ import annotations

import logging

import anyio

from session_engine.engine import Engine
from session_engine.engine.retention import RetentionPolicy

log = logging.getLogger("session_engine.retention")


async def purge_expired_forever(engine: Engine, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        try:
            while purged := await engine.values.purge_expired():
                log.info("purged expired values", extra={"values": purged})
        except Exception:  # a database hiccup must not stop the server; the next round retries
            log.exception("purging expired values failed")


async def retain_forever(engine: Engine, policies: list[RetentionPolicy], interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        try:
            for report in await engine.retain(policies):
                if report.recorded_at is not None:
                    log.info("retention run", extra=report.as_json())
        except Exception:  # a database hiccup must not stop the server; the next round retries
            log.exception("applying retention failed")
