"""The one module that wires the apps together (DESIGN.md "Dependencies between apps").

A lower app declares a hook (pandorakart_wa/core/hooks.py) where something above it must act;
here each hook gets the higher apps' functions, as real imports that mypy and
scripts/import_graph.py see. `connect()` runs once per process, from the core app's ready();
the system check `wiring.E001` refuses to start a process in which a hook that must be filled is
empty (an export that would silently leave out an app's personal data, an erasure that would
leave it behind).
"""

from __future__ import annotations

from typing import Any

from django.core import checks

from complaints.selectors import complaints_export
from complaints.services.erasure import complaints_erase
from complaints.signals_intake import record_failure
from consent import hooks as consent_hooks
from consent.selectors import consent_export
from messaging import hooks as messaging_hooks
from messaging.campaigns import policy_change_notify
from messaging.privacy import messages_erase, messages_export
from pandorakart_wa.core.hooks import Hooks
from pandorakart_wa.webhooks import drain  # noqa: F401 (registers the apply_deferred_webhooks task)
from pandorakart_wa.webhooks.receive import process_payload
from pandorakart_wa.webhooks.services import webhooks_erase, webhooks_export
from pandorakart_wa.whatsapp.backends import sandbox
from profile import hooks as profile_hooks


def connect() -> None:
    """Connect every hook (idempotent: each function is keyed, connecting again replaces it)."""
    exporters = consent_hooks.privacy_exporters
    exporters.connect(consent_export, key="consent")
    exporters.connect(messages_export, key="messages")
    exporters.connect(complaints_export, key="complaints")
    exporters.connect(webhooks_export, key="webhooks")
    for eraser in (messages_erase, complaints_erase, webhooks_erase):
        consent_hooks.privacy_erasers.connect(eraser)
    profile_hooks.policy_change_notifiers.connect(policy_change_notify)
    messaging_hooks.failure_listeners.connect(record_failure)
    sandbox.status_sink.connect(process_payload)


# Hooks a process must not run without, and what is lost when one is empty.
REQUIRED: list[tuple[Hooks[Any], str]] = [
    (consent_hooks.privacy_exporters, "a customer's export would leave out other apps' data"),
    (consent_hooks.privacy_erasers, "an erasure would leave other apps' personal data behind"),
    (profile_hooks.policy_change_notifiers, "customers would not be told of a significant policy change"),
    (messaging_hooks.failure_listeners, "failed sends would raise no block or report signals"),
    (sandbox.status_sink, "the sandbox's statuses would reach no one"),
]


@checks.register()
def check_wiring(**_: Any) -> list[checks.CheckMessage]:
    return [
        checks.Error(f"Nothing is connected to the {hook.name}: {lost}.", hint="pandorakart_wa.wiring.connect() "
                     "runs in the core app's ready(); is pandorakart_wa.apps.CoreConfig installed?", id="wiring.E001")
        for hook, lost in REQUIRED
        if not len(hook)
    ]
