"""Bus authentication: an HMAC-SHA256 challenge over a configured secret, mapped to a tenant.

The peer proves it knows a secret without sending it: the server sends a random nonce, the peer
answers `hex(HMAC-SHA256(secret, nonce))`. The secret it signed with picks the tenant: a tenant's own
`bus_secret`, or `[bus].secret` for `config.bus_tenant`. Every candidate is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from session_engine.adapters.config import ServerConfig, Tenant

NONCE_BYTES = 32


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


def sign(secret: str, nonce: str) -> str:
    """What a peer answers to a challenge (also used by the tests and the benchmark)."""
    return hmac.new(secret.encode(), nonce.encode(), hashlib.sha256).hexdigest()


def bus_secrets(config: ServerConfig) -> list[tuple[str, Tenant]]:
    pairs = [(config.bus.secret, config.bus_tenant)]
    pairs += [(tenant.bus_secret, tenant) for tenant in config.tenants if tenant.bus_secret is not None]
    return pairs


def authenticate(config: ServerConfig, nonce: str, signature: str) -> Tenant | None:
    """The tenant whose secret signed `nonce`, or None."""
    answer = signature.strip().lower().encode()
    found: Tenant | None = None
    for secret, tenant in bus_secrets(config):  # no early exit: the time does not tell which matched
        if hmac.compare_digest(sign(secret, nonce).encode(), answer) and found is None:
            found = tenant
    return found
