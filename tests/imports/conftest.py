"""The import tests reuse the gate service fixture (a real tornado server, registry and templates)."""

from ..egress.service_fixtures import gate_server  # noqa: F401
