"""GET /metrics: Prometheus metrics for what should page someone (README, "Monitoring").

Two sources, one page in Prometheus's text format:
- django-prometheus's request metrics (latency, status codes, per view) from its middleware, in
  every web process (gunicorn.conf.py turns on prometheus-client's multiprocess mode, so a scrape
  of any worker reports them all);
- the service's own state, read from the database at scrape time by ServiceCollector: the outbox,
  sends and failures by Meta's error code, the webhook intake, opt-out honour time, the consent
  ledger, profile drift, complaints past their clock, the stop-all switch. Every query is a
  count or a min over an index, so a scrape costs a few milliseconds however large the tables.

Not public: a scrape must send `Authorization: Bearer <METRICS_TOKEN>`; without METRICS_TOKEN set
the page does not exist (404). Compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
import os
from collections.abc import Callable, Iterator

import prometheus_client
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from complaints import selectors as complaint_selectors
from consent import reporting as consent_reporting
from consent import selectors as consent_selectors
from consent.models import Source
from messaging import selectors as messaging_selectors
from pandorakart_wa.webhooks import selectors as webhook_selectors
from profile import selectors as profile_selectors

RECENT = dt.timedelta(minutes=5)  # the window of the send and failure figures
HONOUR_WINDOW = dt.timedelta(hours=1)  # the window of the opt-out honour time quantiles
HONOUR_QUANTILES = (0.5, 0.95, 1.0)
# Imports replay old history: their delay is not ours (as on the dashboard).
HONOUR_EXCLUDED_SOURCES = (Source.IMPORT,)


def _seconds(delta: dt.timedelta) -> float:
    return max(delta.total_seconds(), 0.0)


def _gauge(name: str, documentation: str, value: float | None = None, *,
           labels: dict[str, list[tuple[str, float]]] | None = None) -> GaugeMetricFamily:
    """A gauge with one value, or with one value per label value ({"label": [(value, n), ...]})."""
    if labels is None:
        return GaugeMetricFamily(name, documentation, value=float(value or 0))
    ((label, samples),) = labels.items()
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for label_value, sample in samples:
        family.add_metric([label_value], float(sample))
    return family


class ServiceCollector(Collector):
    """The service's state as gauges, read at scrape time (see the module docstring)."""

    def __init__(self, now: Callable[[], dt.datetime] = timezone.now) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        now = self.now()
        yield from self._outbox(now)
        yield from self._sends(now)
        yield from self._webhooks(now)
        yield from self._opt_outs(now)
        yield from self._ledger(now)
        yield from self._profile(now)
        yield from self._complaints(now)

    # --- messaging -----------------------------------------------------------------------

    def _outbox(self, now: dt.datetime) -> Iterator[Metric]:
        outbox = messaging_selectors.outbox_figures(now=now)
        yield _gauge("pandorakart_outbox_depth", "Messages queued to send: due now, or deferred (quiet hours, retry).",
                     labels={"due": [("now", outbox.due), ("deferred", outbox.deferred)]})
        oldest = outbox.oldest_due_since
        yield _gauge("pandorakart_outbox_oldest_due_age_seconds",
                     "How long the oldest message due now has waited to be sent (0 when none waits).",
                     _seconds(now - oldest) if oldest else 0)
        sending = messaging_selectors.messages_sending_figures()
        yield _gauge("pandorakart_messages_sending", "Messages claimed by a worker, Meta's answer not yet recorded.",
                     sending.count)
        yield _gauge("pandorakart_messages_sending_oldest_age_seconds",
                     "How long the oldest message has been sending (a lost answer waits for reconciliation).",
                     _seconds(now - sending.oldest_claimed_at) if sending.oldest_claimed_at else 0)
        policy = messaging_selectors.sending_policy_get()
        yield _gauge("pandorakart_sending_stopped", "1 while the stop-all switch holds every send.",
                     int(bool(policy and policy.stop_all)))

    def _sends(self, now: dt.datetime) -> Iterator[Metric]:
        outcomes = messaging_selectors.send_outcomes(since=now - RECENT)
        yield _gauge("pandorakart_messages_sent_5m", "Messages Meta accepted in the last 5 minutes.", outcomes.sent)
        yield _gauge(
            "pandorakart_messages_failed_5m",
            "Messages that failed in the last 5 minutes, by Meta's error code (none: refused before Meta).",
            labels={"error_code": [(str(code or "none"), n) for code, n in outcomes.failed_by_error_code]},
        )

    # --- webhooks ------------------------------------------------------------------------

    def _webhooks(self, now: dt.datetime) -> Iterator[Metric]:
        backlog = webhook_selectors.webhook_item_backlog()
        yield _gauge("pandorakart_webhook_items", "Webhook items not applied yet (pending, failed and retrying; "
                     "opted_out: in force, confirmation to follow) or dead-lettered (staff must replay them).",
                     labels={"state": [(s, backlog.by_state.get(s, 0)) for s in ("pending", "failed", "opted_out", "dead")]})
        oldest = backlog.oldest_waiting_received_at
        yield _gauge("pandorakart_webhook_intake_lag_seconds",
                     "Age of the oldest webhook item received and not applied yet (0 when none waits).",
                     _seconds(now - oldest) if oldest else 0)
        unread = webhook_selectors.webhook_events_unread()
        yield _gauge("pandorakart_webhook_events_unread", "Webhook bodies stored and not yet read into items.",
                     unread.count)
        yield _gauge("pandorakart_webhook_events_unread_oldest_age_seconds",
                     "Age of the oldest webhook body stored and not yet read (0 when none).",
                     _seconds(now - unread.oldest_received_at) if unread.oldest_received_at else 0)

    # --- consent -------------------------------------------------------------------------

    def _opt_outs(self, now: dt.datetime) -> Iterator[Metric]:
        delays = consent_reporting.opt_out_honour_seconds(recorded_since=now - HONOUR_WINDOW,
                                                          excluded_sources=HONOUR_EXCLUDED_SOURCES)
        yield _gauge("pandorakart_opt_outs_1h", "Opt-outs recorded in the last hour.", len(delays))
        if delays:
            yield _gauge(
                "pandorakart_opt_out_honour_seconds",
                "From the customer's opt-out until it was in force, over the last hour's opt-outs "
                "(quantile 1 is the worst).",
                labels={"quantile": [(str(q), delays[max(math.ceil(q * len(delays)) - 1, 0)])  # nearest rank
                                     for q in HONOUR_QUANTILES]},
            )

    def _ledger(self, now: dt.datetime) -> Iterator[Metric]:
        last = consent_selectors.ledger_last_verification()
        if last is not None:
            yield _gauge("pandorakart_ledger_verification_ok", "1 if the last ledger verification found it intact.",
                         int(last.ok))
            yield _gauge("pandorakart_ledger_verification_age_seconds", "Since the last ledger verification ended.",
                         _seconds(now - last.finished_at))
        age = ledger_checkpoint_age(now)
        if age is not None:
            yield _gauge("pandorakart_ledger_checkpoint_age_seconds",
                         "Since the latest signed checkpoint of the consent ledger.", age)

    # --- profile, complaints -------------------------------------------------------------

    def _profile(self, now: dt.datetime) -> Iterator[Metric]:
        yield _gauge("pandorakart_profile_drift_open", "Business-profile fields WhatsApp holds differently, unresolved.",
                     profile_selectors.profile_drift_open_count())
        synced = profile_selectors.profile_last_completed_sync_at()
        if synced is not None:
            yield _gauge("pandorakart_profile_last_sync_age_seconds", "Since the last profile sync with Meta that "
                         "completed.", _seconds(now - synced))
        yield _gauge("pandorakart_compliance_alerts_open", "Compliance alerts not acknowledged.",
                     profile_selectors.alerts_open_count())

    def _complaints(self, now: dt.datetime) -> Iterator[Metric]:
        clocks = complaint_selectors.complaint_clock_counts(now=now)
        yield _gauge("pandorakart_complaints_open", "Complaints not resolved or closed.", clocks.open)
        yield _gauge("pandorakart_complaints_overdue", "Open complaints past a clock: the first response, the "
                     "resolution (not counting time awaiting the customer), the statutory outer limit.",
                     labels={"clock": [("first_response", clocks.first_response), ("resolution", clocks.resolution),
                                       ("outer_limit", clocks.outer_limit)]})


def ledger_checkpoint_age(now: dt.datetime) -> float | None:
    """Seconds since the latest signed checkpoint of the consent ledger; None (no metric)
    before the first one."""
    checkpoint = consent_selectors.ledger_checkpoint_latest()
    if checkpoint is None:
        return None
    return _seconds(now - checkpoint.signed_at)


SERVICE_REGISTRY = CollectorRegistry(auto_describe=False)
SERVICE_REGISTRY.register(ServiceCollector())


def _request_metrics() -> bytes:
    """django-prometheus's metrics: every process's, in multiprocess mode (gunicorn.conf.py)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return prometheus_client.generate_latest(registry)
    return prometheus_client.generate_latest(prometheus_client.REGISTRY)


def _authorised(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode())


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        return HttpResponse(status=404)
    if not _authorised(request):
        response = HttpResponse("A bearer token is required (METRICS_TOKEN).\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = _request_metrics() + prometheus_client.generate_latest(SERVICE_REGISTRY)
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
