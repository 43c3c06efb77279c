from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The project package as an app: API keys, staff roles, webhook events, project-wide commands
    and checks; its ready() wires the apps together (pandorakart_wa/wiring.py)."""

    name = "pandorakart_wa"
    label = "core"
    verbose_name = "Service"

    def ready(self) -> None:
        from pandorakart_wa import (
            checks,  # noqa: F401  (registers the system checks)
            wiring,
        )

        # the OpenAPI auth scheme; the API keys' cache invalidation, connected in every process (a
        # key revoked in one that never served the API must still reach the others)
        from pandorakart_wa.core.api import auth, schema  # noqa: F401

        wiring.connect()
