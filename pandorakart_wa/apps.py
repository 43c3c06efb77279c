from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The project package as an app: API keys, staff roles, project-wide commands and checks."""

    name = "pandorakart_wa"
    label = "core"
    verbose_name = "Service"

    def ready(self) -> None:
        from pandorakart_wa import checks  # noqa: F401  (registers the system checks)
        from pandorakart_wa.api import schema  # noqa: F401  (registers the OpenAPI auth scheme)
