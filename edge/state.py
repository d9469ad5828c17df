"""What one edge process holds while it runs: its connections and helpers, no domain state.

Built by the app's lifespan and reached from handlers as ``edge_state(request)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from actors.settings import Settings
from edge.auth.passwords import PasswordHasher
from edge.auth.ratelimit import SlidingWindowLimiter
from edge.auth.shared_limit import SharedLimiter
from edge.auth.tokens import TokenClaims, TokenIssuer, bearer_token
from edge.auth.users import UserStore
from edge.dependency import Dependency
from edge.history.service import HistoryService
from edge.metrics import EdgeMetrics
from edge.snapshots import SnapshotClient
from edge.sockets import SocketHub

__all__ = ["EdgeState", "edge_state", "require_auth"]


@dataclass(eq=False)
class EdgeState:
    settings: Settings
    metrics: EdgeMetrics
    nc: Any
    js: Any
    snapshots: SnapshotClient
    history: HistoryService
    users: UserStore
    passwords: PasswordHasher
    tokens: TokenIssuer
    login_limiter: SharedLimiter
    api_limiter: SharedLimiter | None
    log_limiter: SlidingWindowLimiter
    hub: SocketHub
    redis: Dependency | None = None
    mongo: Dependency | None = None


def edge_state(conn: HTTPConnection) -> EdgeState:
    state: EdgeState = conn.app.state.edge
    return state


def require_auth(conn: HTTPConnection) -> TokenClaims | None:
    """The caller's token claims; None when auth is off. Raises ``Unauthorized``."""
    st = edge_state(conn)
    if not st.settings.auth_required:
        return None
    return st.tokens.verify(bearer_token(conn.headers.get("authorization")))
