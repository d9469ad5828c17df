"""HTTP routes of the edge, one module per area."""

from __future__ import annotations

from edge.routes.analytics import routes as analytics_routes
from edge.routes.auth import routes as auth_routes
from edge.routes.data import routes as data_routes
from edge.routes.health import routes as health_routes
from edge.routes.logs import routes as logs_routes

__all__ = ["analytics_routes", "auth_routes", "data_routes", "health_routes", "logs_routes"]
