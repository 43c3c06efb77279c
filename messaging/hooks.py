"""What messaging asks of the apps above it, connected by pandorakart_wa/wiring.py: each failed send
is told to every `listener(message=, code=, wamid=)` (complaints: block and report signals)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pandorakart_wa.core.hooks import Hooks

failure_listeners: Hooks[Callable[..., Any]] = Hooks("failed-send listeners")
