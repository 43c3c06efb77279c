"""What consent asks of the apps above it, connected by pandorakart_wa/wiring.py: a customer's
export gathers every app's part (`exporter(contact=)` under its section name), an erasure erases
every app's part (`eraser(contact=)`, inside the erasure's transaction)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pandorakart_wa.core.hooks import Hooks

privacy_exporters: Hooks[Callable[..., Any]] = Hooks("privacy exporters")
privacy_erasers: Hooks[Callable[..., Any]] = Hooks("privacy erasers")
