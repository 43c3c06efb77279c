"""What profile asks of the apps above it, connected by pandorakart_wa/wiring.py: a significant
policy change is told to customers by each `notifier(policy_version_id=)` (idempotent per id)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pandorakart_wa.core.hooks import Hooks

policy_change_notifiers: Hooks[Callable[..., Any]] = Hooks("policy change notifiers")
