"""Resumption: the websocket's side of the engine's parked sessions (`engine.parking`).

A client that goes away without a server close leaves its session parked for
`resume_window_seconds` under the connection's resume id, a bearer secret (43 url-safe
characters, 32 random bytes) sent in the `Resume-Id` header. The parked session is in the database,
so a reconnection to any server process on it takes the session back; the engine records the
`disconnect` before the session is parked, so the claimer never waits for another process.
Here: what a connection's session is, and the in-process wait of a reconnection that arrives
while this process is still parking its session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import anyio

from session_engine.adapters.config import ServerConfig, Tenant
from session_engine.adapters.websocket.rate_limit import SlidingWindow
from session_engine.engine import Engine, Metadata
from session_engine.engine.parking import ParkedSession


@dataclass(eq=False)
class SocketSession:
    """What a connection's session is, whichever connection currently carries it."""

    session_id: str
    rate: SlidingWindow
    tenant: Tenant | None = None
    client_id: str | None = None
    failed_initializations: int = 0

    @property
    def initialized(self) -> bool:
        return self.tenant is not None


def new_process_tag() -> str:
    """Names this process in the rows it parks (a graceful stop ends those)."""
    return secrets.token_urlsafe(12)


class Resumption:
    """One server process's resumption: it parks the sessions its clients leave and takes back
    those a client asks for, its own or another process's."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.window = config.limits.resume_window_seconds
        self.grace = config.limits.resume_grace_seconds
        self.process = new_process_tag()
        self._parking: dict[str, anyio.Event] = {}

    @staticmethod
    def new_id() -> str:
        """A fresh resume id: 43 url-safe characters."""
        return secrets.token_urlsafe(32)

    async def park(self, engine: Engine, resume_id: str, state: SocketSession, metadata: Metadata) -> None:
        """Record the session's `disconnect`, then park it under `resume_id`. Raises when either
        fails (the caller ends the session). A reconnection to this process meanwhile waits."""
        assert state.tenant is not None
        self._parking[resume_id] = parked = anyio.Event()
        try:
            await engine.values.disconnect(state.tenant.namespace, state.session_id, metadata=metadata)
            await engine.parking.park(
                resume_id,
                namespace=state.tenant.namespace,
                session_id=state.session_id,
                client_id=state.client_id,
                tenant=state.tenant.name,
                recent_actions=state.rate.recent(),
                parked_by=self.process,
                seconds=self.window,
            )
        finally:
            del self._parking[resume_id]
            parked.set()

    async def parked(self) -> None:
        """Wait until every session this process is parking now is parked (or failed to be)."""
        for parking in list(self._parking.values()):
            await parking.wait()

    async def claim(self, engine: Engine, resume_id: str) -> ParkedSession | None:
        """The parked session `resume_id` names, taken for this connection (once, across processes);
        None when it is unknown, used or expired.

        An id not parked yet is looked for during `resume_grace_seconds`: the process the client
        left parks its session only once it has seen the drop and committed the `disconnect`, and
        a client that reconnects at once through another process gets there first. The looking
        is by reads; only a row that is there is claimed."""
        parking = self._parking.get(resume_id)
        if parking is not None:  # the client left this process a moment ago: its session is on its way
            await parking.wait()
        claimed = await engine.parking.claim(resume_id)
        deadline = anyio.current_time() + self.grace
        pause = 0.01
        while claimed is None and anyio.current_time() < deadline:
            await anyio.sleep(min(pause, max(0.0, deadline - anyio.current_time())))
            pause = min(pause * 2, 0.2)
            if await engine.parking.is_parked(resume_id):
                claimed = await engine.parking.claim(resume_id)
        return claimed

    def session_of(self, parked: ParkedSession) -> SocketSession | None:
        """The claimed session as a connection carries it; None when its tenant is not served here."""
        tenant = next((t for t in self.config.tenants if t.name == parked.tenant), None)
        if tenant is None or tenant.namespace != parked.namespace:
            return None
        limits = self.config.limits
        rate = SlidingWindow.resumed(
            limits.rate_limit_actions, limits.rate_limit_window_seconds, parked.recent_actions
        )
        return SocketSession(parked.session_id, rate, tenant=tenant, client_id=parked.client_id)
