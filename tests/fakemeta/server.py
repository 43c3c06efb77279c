"""A fake Meta Graph API (WhatsApp Cloud API) over real HTTP on loopback, for tests and benchmarks.

Endpoints (any version `vNN.N`, any phone-number/WABA id; state is kept per id):
  POST /{v}/{phone-id}/messages                     send; Meta's response shape with a unique wamid
  GET|POST /{v}/{phone-id}/whatsapp_business_profile  stateful profile
  POST|GET /{v}/{waba-id}/message_templates          create (PENDING) / list (limit, after, name, status)
  GET /{v}/{template-id}                             one template
  POST /{v}/{template-id}                            edit (components replaced, back to PENDING; only
                                                     APPROVED/REJECTED/PAUSED, no category change once approved)
Every request needs `Authorization: Bearer <token>` (401, code 190 otherwise). Bodies are checked
against Meta's OpenAPI file (`schema.py`); a violation is answered 400 with a Meta-shaped error
(code 100) and recorded in `violations`.

Control API (no token), for benchmarks and multi-process tests (see `ControlClient`):
  GET    /__control/health
  POST   /__control/faults        one fault spec or a list (see `Fault`) -> {"faults": [...]}
  GET    /__control/faults        the active faults;  DELETE /__control/faults  removes them all
  GET    /__control/received      ?count_only=1 -> counts (by_recipient, accepted_by_recipient, ...)
                                  else {"count", "requests"}; filters: endpoint, recipient, since
  GET    /__control/violations    the schema violations seen
  POST   /__control/latency       {"latency_ms": N}  global added latency
  POST   /__control/templates/{id}  {"status", "quality_score", "rejected_reason", "category"}
  GET    /__control/state         profiles and templates
  POST   /__control/reset         forget requests, faults, violations, profiles, templates, webhooks
  POST   /__control/webhooks      status webhooks on (see `WebhookConfig`): Meta-shaped, signed
  GET    /__control/webhooks      the configuration and counters (pending, posted, failed...)
  DELETE /__control/webhooks      status webhooks off (pending ones are dropped)

Status webhooks: when configured, every send Meta acts on (also one whose answer is then
dropped) yields Meta's `messages` webhook statuses (`sent`, `delivered`, `read`: each with the
wamid, recipient_id, timestamp and the echoed biz_opaque_callback_data), batched as Meta does
and POSTed to the configured URL with `X-Hub-Signature-256` (HMAC-SHA256 with the app secret).

Run alone: `python -m tests.fakemeta.server --port 8765 --latency-ms 100` (prints its URL).
In pytest: the `fake_meta` fixture (tests/fakemeta/fixtures.py) runs it in a background thread.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import heapq
import hmac
import itertools
import json
import random
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakemeta import schema

DEFAULT_TOKEN = "test-access-token"  # tests/settings.py's WHATSAPP_ACCESS_TOKEN

# Meta's error titles (the `message` after "(#code) "), default HTTP status and details, per code.
# Sources: reference/whatsapp-cloud-api.md §5 and Meta's error-codes page.
ERROR_CATALOG: dict[int, tuple[int, str, str]] = {
    1: (500, "An unknown error occurred", "Unknown error"),
    2: (503, "Service temporarily unavailable", "Service temporarily unavailable"),
    4: (429, "Application request limit reached", "The app reached its API call rate limit"),
    100: (400, "Invalid parameter", "Invalid parameter"),
    190: (401, "Invalid OAuth access token - Cannot parse access token", "Invalid OAuth access token"),
    368: (403, "Temporarily blocked for policies violations", "The WhatsApp Business Account is restricted"),
    470: (400, "Message failed to send because more than 24 hours have passed since the customer last "
               "replied to this number", "Re-engagement message"),
    80007: (429, "Rate limit issues", "The WhatsApp Business Account has reached its rate limit"),
    130429: (429, "Rate limit hit", "Cloud API message throughput has been reached"),
    130472: (400, "User's number is part of an experiment", "Failed to send message because this user's "
                  "phone number is part of an experiment"),
    130497: (403, "Business account is restricted from messaging users in this country",
             "The business is not allowed to message users in this country"),
    131000: (500, "Something went wrong", "Message failed to send due to an unknown error"),
    131016: (503, "Service unavailable", "A service is temporarily unavailable"),
    131026: (400, "Message Undeliverable", "Unable to deliver message. Reasons can include: the recipient "
                  "phone number is not a WhatsApp phone number, the recipient has not accepted our new Terms "
                  "of Service and Privacy Policy, or the recipient is using an old WhatsApp version"),
    131030: (400, "Recipient phone number not in allowed list", "Add recipient phone number to recipient list"),
    131031: (403, "Account has been locked", "The business account was locked for a policy violation"),
    131042: (400, "Business eligibility payment issue", "There was an error related to your payment method"),
    131047: (400, "Re-engagement message", "Message failed to send because more than 24 hours have passed "
                  "since the customer last replied to this number"),
    131048: (400, "Spam rate limit hit", "Message failed to send because there are restrictions on how many "
                  "messages can be sent from this phone number"),
    131049: (400, "This message was not delivered to maintain healthy ecosystem engagement.",
             "In order to maintain a healthy ecosystem engagement, the message failed to be delivered"),
    131050: (400, "Unable to deliver the message. This recipient has chosen to stop receiving marketing "
                  "messages on WhatsApp from your business", "User stopped marketing messages"),
    131056: (400, "(Business Account, Consumer Account) pair rate limit hit",
             "Message failed to send because there were too many messages sent from this phone number to the "
             "same phone number in a short period of time"),
    131057: (503, "Account in maintenance mode", "Business Account is in maintenance mode"),
    131064: (400, "Template classification limit", "The account hit its messaging limit because of template "
                  "classification violations"),
    132000: (400, "Number of parameters does not match the expected number of params",
             "The number of variable parameter values does not match the number defined in the template"),
    132001: (404, "Template name does not exist in the translation",
             "The template does not exist in the specified language or has not been approved"),
    132005: (400, "Translated text too long", "Translated text is too long"),
    132007: (400, "Template Format Character Policy Violated", "Template content violates a WhatsApp policy"),
    132012: (400, "Parameter format does not match format in the created template",
             "Variable parameter values formatted incorrectly"),
    132015: (400, "Template is Paused", "Template is paused due to low quality"),
    132016: (400, "Template is Disabled", "Template has been paused too many times due to low quality"),
}
WHATSAPP_CODES_MIN = 130000  # Meta puts `error_data.messaging_product` on WhatsApp codes

ENDPOINTS = ("messages", "profile", "templates", "template", "*")
FAULT_KINDS = ("error", "http", "drop", "latency", "malformed")
_VERSION = re.compile(r"^v\d+\.\d+$")
_ROUTES = (
    (re.compile(r"^/(?P<version>[^/]+)/(?P<object_id>[^/]+)/messages/?$"), "messages"),
    (re.compile(r"^/(?P<version>[^/]+)/(?P<object_id>[^/]+)/whatsapp_business_profile/?$"), "profile"),
    (re.compile(r"^/(?P<version>[^/]+)/(?P<object_id>[^/]+)/message_templates/?$"), "templates"),
    (re.compile(r"^/(?P<version>[^/]+)/(?P<object_id>[0-9A-Za-z_.-]+)/?$"), "template"),
)
# Reference §2 "Edit": what an edit may carry, and the states Meta edits a template in.
EDITABLE_TEMPLATE_FIELDS = ("category", "components", "message_send_ttl_seconds")
EDITABLE_TEMPLATE_STATUSES = frozenset({"APPROVED", "REJECTED", "PAUSED"})
PROFILE_FIELDS = ("about", "address", "description", "email", "profile_picture_url", "websites", "vertical")


def digits(phone: str | None) -> str:
    """The wa_id form of a phone number: digits only (Meta accepts +, -, (), spaces)."""
    return re.sub(r"\D", "", phone or "")


@dataclass
class Fault:
    """One fault to inject. `kind`:
    - "error": a Meta error JSON (`code`, with the real title, status and details from
      ERROR_CATALOG unless `status`/`title`/`details` are given; `retry_after` adds the header);
    - "http": a bare HTTP `status` (default 500) with a non-JSON body (`body`);
    - "drop": read the request, record it, act on it (unless `process` is False: then it is
      dropped before Meta acts) and close the connection without answering;
    - "latency": add `latency_ms` to the answer (does not stop other faults);
    - "malformed": answer `status` (default 200) with `body` as is (default: a JSON without wamid).
    Applies to `endpoint` ("messages", "profile", "templates", "template" or "*"), optionally
    only `method` and only `recipient` (sends to that phone), for the next `count` matching
    requests (default 1; None: until cleared) and, with `probability`, to that share of them
    (then `count` defaults to None)."""

    kind: str
    endpoint: str = "messages"
    method: str | None = None
    count: int | None = 1
    probability: float | None = None
    recipient: str | None = None
    code: int | None = None
    error_subcode: int | None = None
    status: int | None = None
    title: str | None = None
    details: str | None = None
    retry_after: float | str | None = None
    latency_ms: float = 0
    body: str | None = None
    content_type: str | None = None
    process: bool = True
    id: int = 0
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}, got {self.endpoint!r}")
        if self.kind == "error" and self.code is None:
            raise ValueError("an 'error' fault needs a Meta `code`")
        if self.recipient is not None:
            self.recipient = digits(self.recipient)
        if self.method is not None:
            self.method = self.method.upper()

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Fault:
        allowed = {f.name for f in fields(cls)} - {"id", "hits"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        values = dict(spec)
        if values.get("probability") is not None and "count" not in values:
            values["count"] = None  # "a share of the requests", until cleared
        return cls(**values)

    def matches(self, endpoint: str | None, method: str, recipient: str | None) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        if self.endpoint != "*" and self.endpoint != endpoint:
            return False
        if self.method is not None and self.method != method:
            return False
        return not (self.recipient is not None and self.recipient != recipient)


STATUS_KINDS = ("sent", "delivered", "read")


@dataclass
class WebhookConfig:
    """Where and how the fake posts status webhooks, as Meta does for each accepted message.
    `statuses`: which ones, in order (each `step_ms` after the previous); `delay_ms`: from the
    send to the first status; `batch_size`: most statuses in one POST (Meta batches them);
    `linger_ms`: how long a partial batch waits for more; `concurrency`: POSTs in flight;
    `retries`: further tries of a POST that failed (Meta retries for days; here a few times)."""

    url: str
    app_secret: str
    statuses: tuple[str, ...] = ("sent", "delivered")
    delay_ms: float = 0
    step_ms: float = 0
    batch_size: int = 50
    linger_ms: float = 20
    concurrency: int = 4
    retries: int = 3
    timeout_s: float = 10.0
    waba_id: str = "102290129340398"
    display_phone_number: str = "15550783881"

    def __post_init__(self) -> None:
        self.statuses = tuple(self.statuses)
        unknown = set(self.statuses) - set(STATUS_KINDS)
        if unknown:
            raise ValueError(f"statuses must be among {STATUS_KINDS}, got {sorted(unknown)}")
        if self.batch_size < 1 or self.concurrency < 1:
            raise ValueError("batch_size and concurrency must be at least 1")

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> WebhookConfig:
        allowed = {f.name for f in fields(cls)}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown webhook fields: {sorted(unknown)}")
        return cls(**spec)


def sign_body(body: bytes, app_secret: str) -> str:
    """Meta's X-Hub-Signature-256 header value for `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def status_webhook(statuses: list[dict[str, Any]], *, phone_number_id: str, config: WebhookConfig) -> dict[str, Any]:
    """A Meta `messages` webhook carrying `statuses` of one phone number."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": config.waba_id,
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": config.display_phone_number,
                                 "phone_number_id": phone_number_id},
                    "statuses": statuses,
                },
            }],
        }],
    }


def meta_error(code: int, *, message: str | None = None, details: str | None = None,
               subcode: int | None = None, status: int | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of a Meta Graph error for `code`."""
    default_status, title, default_details = ERROR_CATALOG.get(code, (400, "Error", ""))
    error: dict[str, Any] = {
        "message": f"(#{code}) {message or title}",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": base64.urlsafe_b64encode(uuid.uuid4().bytes[:12]).decode().rstrip("="),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    error_data: dict[str, Any] = {"details": details if details is not None else default_details}
    if code >= WHATSAPP_CODES_MIN or code in (368, 470):
        error_data["messaging_product"] = "whatsapp"
    error["error_data"] = error_data
    return status or default_status, {"error": error}


class FakeMeta:
    """The server and its state. Thread-safe: tests mutate it while the loop thread serves."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, token: str = DEFAULT_TOKEN,
                 latency_ms: float = 0, validate: bool = True) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.latency_ms = float(latency_ms)
        self.validate = validate
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._requests: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._violations: list[dict[str, Any]] = []
        self.profiles: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self._webhook: WebhookConfig | None = None
        self._outgoing: list[tuple[float, int, str, dict[str, Any]]] = []  # heap: (due, seq, phone id, status)
        self._webhook_stats: Counter[str] = Counter()
        self._webhook_in_flight = 0
        self._pump: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        if validate:
            schema.spec()  # parse Meta's OpenAPI now, not on the first request

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The Graph base URL (no version): what settings.WHATSAPP_GRAPH_URL should be."""
        return f"http://{self.host}:{self.port}"

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start_async(self) -> None:
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=0.5,
                                     keepalive_timeout=75.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        self._pump = asyncio.get_running_loop().create_task(self._webhook_pump())

    async def stop_async(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump
            self._pump = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> FakeMeta:
        """Serve from a daemon thread with its own event loop (pytest)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="fake-meta", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("the fake Meta server did not start within 15 s")
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
            self._thread = None

    # --- what tests read and configure -------------------------------------------------------

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every request that reached the server, in arrival order: method, path, query, json
        (None if not JSON), raw (the body as text when not JSON), headers, endpoint, recipient
        (digits), and the answer: status and outcome ("accepted", "error:<code>", "http:<status>",
        "dropped", "malformed", "invalid", "unauthorized", "ok", "pending"); sends Meta acted on
        have `accepted: True` and their `wamid` (also when the answer was then dropped)."""
        with self._lock:
            return list(self._requests)

    @property
    def violations(self) -> list[dict[str, Any]]:
        """Schema violations: {"path", "endpoint", "errors": [..], "json"}."""
        with self._lock:
            return list(self._violations)

    def messages_to(self, phone: str) -> list[dict[str, Any]]:
        """Requests to /messages whose `to` is this phone (any formatting), in order."""
        wanted = digits(phone)
        return [r for r in self.received if r["endpoint"] == "messages" and r["recipient"] == wanted]

    def counts(self) -> dict[str, Any]:
        """Counters, as GET /__control/received?count_only=1 returns them."""
        with self._lock:
            requests = list(self._requests)
        messages = [r for r in requests if r["endpoint"] == "messages"]
        accepted = Counter(r["recipient"] for r in messages if r.get("accepted"))
        return {
            "count": len(requests),
            "messages": len(messages),
            "by_endpoint": dict(Counter(str(r["endpoint"]) for r in requests)),
            "by_outcome": dict(Counter(r["outcome"] for r in requests)),
            "by_recipient": dict(Counter(r["recipient"] for r in messages)),
            "accepted_by_recipient": dict(accepted),
            "duplicates": sorted(k for k, v in accepted.items() if v > 1),
            "violations": len(self._violations),
        }

    def inject(self, kind: str, **spec: Any) -> Fault:
        """Add a fault (see `Fault`); returns it (its `hits` counts how often it fired)."""
        fault = Fault.from_dict({"kind": kind, **spec})
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.count is None or f.count > 0]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_latency(self, latency_ms: float) -> None:
        self.latency_ms = float(latency_ms)

    def set_template_status(self, template_id: str, status: str, *, quality_score: str | None = None,
                            rejected_reason: str | None = None, category: str | None = None) -> dict[str, Any]:
        with self._lock:
            template = self.templates[str(template_id)]
            template["status"] = status
            if quality_score is not None:
                template["quality_score"] = {"score": quality_score}
            if rejected_reason is not None:
                template["rejected_reason"] = rejected_reason
            if category is not None:
                template["category"] = category
            return dict(template)

    def configure_webhooks(self, url: str, app_secret: str, **options: Any) -> WebhookConfig:
        """Post Meta's status webhooks for every accepted send from now on (see WebhookConfig)."""
        config = WebhookConfig.from_dict({"url": url, "app_secret": app_secret, **options})
        with self._lock:
            self._webhook = config
        return config

    def disable_webhooks(self) -> None:
        with self._lock:
            self._webhook = None
            self._outgoing.clear()

    def webhook_state(self) -> dict[str, Any]:
        """The configuration (None when off) and counters: `pending` statuses not yet posted
        (queued or in flight), `posts` and `statuses_posted` answered 2xx, `failed_posts` and
        `failed_statuses` given up, `responses` per HTTP status (or error class)."""
        with self._lock:
            config = asdict(self._webhook) if self._webhook is not None else None
            stats = dict(self._webhook_stats)
            pending = len(self._outgoing) + self._webhook_in_flight
        responses = {k.split(":", 1)[1]: v for k, v in stats.items() if k.startswith("response:")}
        return {
            "config": config,
            "pending": pending,
            "posts": stats.get("posts", 0),
            "statuses_posted": stats.get("statuses_posted", 0),
            "failed_posts": stats.get("failed_posts", 0),
            "failed_statuses": stats.get("failed_statuses", 0),
            "responses": responses,
        }

    def wait_webhooks_idle(self, timeout: float = 30.0) -> dict[str, Any]:
        """Block until every status due so far has been posted (or given up); the state."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.webhook_state()
            if state["pending"] == 0 or time.monotonic() > deadline:
                return state
            time.sleep(0.05)

    def reset(self) -> None:
        """Forget everything: requests, faults, violations, profiles, templates, the status
        webhook configuration and its queue; latency to 0."""
        with self._lock:
            self._webhook = None
            self._outgoing.clear()
            self._webhook_stats.clear()
            self._requests.clear()
            self._faults.clear()
            self._violations.clear()
            self.profiles.clear()
            self.templates.clear()
        self.latency_ms = 0.0

    # --- HTTP --------------------------------------------------------------------------------

    def _pick_faults(self, endpoint: str | None, method: str, recipient: str | None) -> tuple[float, Fault | None]:
        delay_ms = 0.0
        chosen: Fault | None = None
        with self._lock:
            for fault in self._faults:
                if not fault.matches(endpoint, method, recipient):
                    continue
                if fault.probability is not None and random.random() >= fault.probability:
                    continue
                if fault.kind == "latency":
                    delay_ms += fault.latency_ms
                elif chosen is None:
                    chosen = fault
                else:
                    continue
                fault.hits += 1
                if fault.count is not None:
                    fault.count -= 1
            self._faults = [f for f in self._faults if f.count is None or f.count > 0]
        return delay_ms, chosen

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/__control"):
            return await self._control(request)
        raw = await request.read()
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        endpoint, match = None, None
        for pattern, name in _ROUTES:
            match = pattern.match(request.path)
            if match:
                endpoint = name
                break
        recipient = digits(parsed.get("to")) if endpoint == "messages" and isinstance(parsed, dict) else None
        record: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "json": parsed,
            "raw": None if parsed is not None else raw.decode("utf-8", "replace"),
            "headers": dict(request.headers),
            "endpoint": endpoint,
            "recipient": recipient or None,
            "accepted": False,
            "status": None,
            "outcome": "pending",
            "at": time.time(),
        }
        with self._lock:
            self._requests.append(record)
        delay_ms, fault = self._pick_faults(endpoint, request.method, recipient)
        delay_ms += self.latency_ms
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        response = self._answer(request, record, endpoint, match, parsed, raw, fault)
        if response is None:  # drop: the request was read, the connection dies unanswered
            record["outcome"] = "dropped"
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError()
        record["status"] = response.status
        return response

    def _error(self, record: dict[str, Any], code: int, outcome: str | None = None, **kwargs: Any) -> web.Response:
        status, body = meta_error(code, **kwargs)
        record["outcome"] = outcome or f"error:{code}"
        return web.json_response(body, status=status)

    def _answer(self, request: web.Request, record: dict[str, Any], endpoint: str | None,
                match: re.Match[str] | None, parsed: Any, raw: bytes, fault: Fault | None) -> web.Response | None:
        if endpoint is None or match is None:
            status, body = meta_error(100, message=f"Unknown path components: {request.path}", subcode=33)
            record["outcome"] = "invalid"
            return web.json_response(body, status=status)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(record, 190, outcome="unauthorized")
        version, object_id = match["version"], match["object_id"]
        if not _VERSION.match(version):
            return self._error(record, 100, outcome="invalid", message=f"Unknown API version {version}", subcode=33)
        if request.method == "POST":
            if not isinstance(parsed, dict):
                return self._error(record, 100, outcome="invalid", details="The request body is not a JSON object")
            ref = {"messages": schema.MESSAGES, "profile": schema.PROFILE_UPDATE,
                   "templates": schema.TEMPLATE_CREATE, "template": schema.TEMPLATE_EDIT}.get(endpoint)
            if ref is not None and self.validate:
                errors = schema.validate(ref, parsed)
                if errors:
                    with self._lock:
                        self._violations.append(
                            {"path": request.path, "endpoint": endpoint, "errors": errors, "json": parsed}
                        )
                    return self._error(record, 100, outcome="invalid", details="; ".join(errors))
        if fault is not None and not (fault.kind == "drop" and fault.process):
            return self._fault_response(record, fault)
        handler = {
            ("POST", "messages"): self._send,
            ("GET", "profile"): self._get_profile,
            ("POST", "profile"): self._update_profile,
            ("POST", "templates"): self._create_template,
            ("GET", "templates"): self._list_templates,
            ("GET", "template"): self._get_template,
            ("POST", "template"): self._edit_template,
        }.get((request.method, endpoint))
        if handler is None:
            return self._error(record, 100, outcome="invalid",
                               message=f"Unsupported {request.method} request", subcode=33)
        response = handler(request, record, object_id, parsed)
        if fault is not None:  # a drop after Meta acted: the answer is lost on the way back
            return None
        return response

    def _fault_response(self, record: dict[str, Any], fault: Fault) -> web.Response | None:
        if fault.kind == "drop":
            return None
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        if fault.kind == "error":
            assert fault.code is not None
            status, body = meta_error(fault.code, message=fault.title, details=fault.details,
                                      subcode=fault.error_subcode, status=fault.status)
            record["outcome"] = f"error:{fault.code}"
            return web.json_response(body, status=status, headers=headers)
        if fault.kind == "http":
            status = fault.status or 500
            record["outcome"] = f"http:{status}"
            return web.Response(status=status, text=fault.body if fault.body is not None else
                                "<html><body><h1>Internal Server Error</h1></body></html>",
                                content_type=fault.content_type or "text/html", headers=headers)
        # malformed
        record["outcome"] = "malformed"
        text = fault.body if fault.body is not None else json.dumps(
            {"messaging_product": "whatsapp", "contacts": [{"input": "", "wa_id": ""}], "messages": []})
        return web.Response(status=fault.status or 200, text=text,
                            content_type=fault.content_type or "application/json", headers=headers)

    # --- the Graph API's behaviour ----------------------------------------------------------

    def _send(self, request: web.Request, record: dict[str, Any], object_id: str, body: dict[str, Any]) -> web.Response:
        wamid = "wamid.HBgM" + base64.urlsafe_b64encode(
            f"{next(self._ids):010d}".encode() + uuid.uuid4().bytes[:9]).decode().rstrip("=")
        to = str(body.get("to", ""))
        message: dict[str, Any] = {"id": wamid}
        if body.get("type") == "template":
            message["message_status"] = "accepted"
        record["outcome"] = "accepted"
        record["accepted"] = True
        record["wamid"] = wamid
        self._queue_statuses(object_id, wamid, body)
        return web.json_response({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": digits(to)}],
            "messages": [message],
        })

    def _get_profile(self, request: web.Request, record: dict[str, Any], object_id: str, body: Any) -> web.Response:
        wanted = [f for f in request.query.get("fields", "").split(",") if f] or list(PROFILE_FIELDS)
        with self._lock:
            profile = dict(self.profiles.get(object_id, {}))
        data = {k: v for k, v in profile.items() if k in wanted}
        data["messaging_product"] = "whatsapp"
        record["outcome"] = "ok"
        return web.json_response({"data": [data]})

    def _update_profile(self, request: web.Request, record: dict[str, Any], object_id: str,
                        body: dict[str, Any]) -> web.Response:
        update = {k: v for k, v in body.items() if k != "messaging_product"}
        handle = update.pop("profile_picture_handle", None)
        if handle:
            update["profile_picture_url"] = f"https://pps.whatsapp.net/v/fake/{uuid.uuid4().hex}.jpg"
        with self._lock:
            self.profiles.setdefault(object_id, {}).update(update)
        record["outcome"] = "ok"
        return web.json_response({"success": True})

    def _create_template(self, request: web.Request, record: dict[str, Any], object_id: str,
                         body: dict[str, Any]) -> web.Response:
        with self._lock:
            duplicate = any(t["waba_id"] == object_id and t["name"] == body["name"]
                            and t["language"] == body["language"] for t in self.templates.values())
            if not duplicate:
                template_id = str(1_000_000_000_000 + next(self._ids))
                self.templates[template_id] = {
                    "id": template_id,
                    "waba_id": object_id,
                    "name": body["name"],
                    "language": body["language"],
                    "category": body["category"],
                    "parameter_format": body.get("parameter_format", "POSITIONAL"),
                    "components": body["components"],
                    "status": "PENDING",
                    "quality_score": {"score": "UNKNOWN"},
                    "rejected_reason": "NONE",
                }
        if duplicate:
            return self._error(record, 100, message="Invalid parameter", subcode=2388024,
                               details="Content in this language already exists")
        record["outcome"] = "ok"
        return web.json_response({"id": template_id, "status": "PENDING", "category": body["category"]})

    @staticmethod
    def _public(template: Mapping[str, Any], wanted: Iterable[str] | None) -> dict[str, Any]:
        keys = set(wanted) | {"id"} if wanted else None
        return {k: v for k, v in template.items() if k != "waba_id" and (keys is None or k in keys)}

    def _list_templates(self, request: web.Request, record: dict[str, Any], object_id: str,
                        body: Any) -> web.Response:
        query = request.query
        try:
            limit = max(1, min(int(query.get("limit", "25")), 1000))
            start = int(base64.urlsafe_b64decode(query["after"].encode()).decode()) if "after" in query else 0
        except (ValueError, KeyError, UnicodeDecodeError):
            return self._error(record, 100, outcome="invalid", details="Invalid limit or after cursor")
        wanted = [f for f in query.get("fields", "").split(",") if f] or None
        name = query.get("name")
        status = {s.strip().upper() for s in query.get("status", "").split(",") if s.strip()}
        with self._lock:
            matching = [
                t for t in self.templates.values()
                if t["waba_id"] == object_id and (not name or name in t["name"]) and (not status or t["status"] in status)
            ]
        page = matching[start:start + limit]
        response: dict[str, Any] = {"data": [self._public(t, wanted) for t in page]}
        if page:
            cursors = {
                "before": base64.urlsafe_b64encode(str(start).encode()).decode(),
                "after": base64.urlsafe_b64encode(str(start + len(page)).encode()).decode(),
            }
            paging: dict[str, Any] = {"cursors": cursors}
            if start + len(page) < len(matching):
                params = {k: v for k, v in query.items() if k != "after"}
                params["after"] = cursors["after"]
                paging["next"] = f"{request.scheme}://{request.host}{request.path}?{urlencode(params)}"
            response["paging"] = paging
        record["outcome"] = "ok"
        return web.json_response(response)

    def _get_template(self, request: web.Request, record: dict[str, Any], object_id: str, body: Any) -> web.Response:
        with self._lock:
            template = self.templates.get(object_id)
        if template is None:
            return self._error(record, 100, outcome="invalid", subcode=33,
                               message=f"Unsupported get request. Object with ID '{object_id}' does not exist")
        wanted = [f for f in request.query.get("fields", "").split(",") if f] or None
        record["outcome"] = "ok"
        return web.json_response(self._public(template, wanted))

    def _edit_template(self, request: web.Request, record: dict[str, Any], object_id: str,
                       body: dict[str, Any]) -> web.Response:
        """Meta's template edit (reference §2 "Edit"): the components are replaced as a whole and
        the template goes back to review (PENDING)."""
        if not any(k in body for k in EDITABLE_TEMPLATE_FIELDS):
            return self._error(record, 100, outcome="invalid",
                               details=f"Nothing to edit: give one of {', '.join(EDITABLE_TEMPLATE_FIELDS)}")
        with self._lock:
            template = self.templates.get(object_id)
            if template is None:
                refusal: dict[str, Any] | None = {
                    "outcome": "invalid", "subcode": 33,
                    "message": f"Unsupported post request. Object with ID '{object_id}' does not exist"}
            elif template["status"] not in EDITABLE_TEMPLATE_STATUSES:
                refusal = {"details": f"Message template with status {template['status']} can't be edited: only "
                                      "templates that are APPROVED, REJECTED or PAUSED can be edited"}
            elif (template["status"] == "APPROVED" and "category" in body
                  and body["category"] != template["category"]):
                refusal = {"details": "The category of an approved message template can't be changed "
                                      f"(it is {template['category']})"}
            else:
                refusal = None
                if "components" in body:
                    template["components"] = body["components"]
                if "category" in body:
                    template["category"] = body["category"]
                if "message_send_ttl_seconds" in body:
                    template["message_send_ttl_seconds"] = body["message_send_ttl_seconds"]
                template["status"] = "PENDING"
                template["rejected_reason"] = "NONE"
        if refusal is not None:
            return self._error(record, 100, **refusal)
        record["outcome"] = "ok"
        return web.json_response({"success": True})

    # --- status webhooks ---------------------------------------------------------------------

    def _queue_statuses(self, phone_number_id: str, wamid: str, body: Mapping[str, Any]) -> None:
        with self._lock:
            config = self._webhook
            if config is None:
                return
            category = "utility"
            if body.get("type") == "template":
                name = (body.get("template") or {}).get("name")
                category = next((str(t["category"]).lower() for t in self.templates.values() if t["name"] == name),
                                "utility")
            callback = body.get("biz_opaque_callback_data")
            due = time.time() + config.delay_ms / 1000
            for kind in config.statuses:
                item: dict[str, Any] = {
                    "id": wamid,
                    "status": kind,
                    "timestamp": str(int(due)),
                    "recipient_id": digits(str(body.get("to", ""))),
                }
                if callback:
                    item["biz_opaque_callback_data"] = callback
                if kind in ("sent", "delivered"):
                    item["conversation"] = {"id": uuid.uuid4().hex, "origin": {"type": category}}
                    if kind == "sent":
                        item["conversation"]["expiration_timestamp"] = str(int(due) + 86400)
                    item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": category,
                                       "type": "regular"}
                heapq.heappush(self._outgoing, (due, next(self._ids), phone_number_id, item))
                due += config.step_ms / 1000

    def _take_batch(self, config: WebhookConfig) -> tuple[str, list[dict[str, Any]]] | None:
        """Due statuses of one phone number, at most a batch; None while a partial batch lingers."""
        now = time.time()
        with self._lock:
            if not self._outgoing or self._outgoing[0][0] > now:
                return None
            due = [item for item in self._outgoing[: config.batch_size * 4] if item[0] <= now]
            if len(due) < config.batch_size and now - self._outgoing[0][0] < config.linger_ms / 1000:
                return None
            phone = self._outgoing[0][2]
            batch: list[dict[str, Any]] = []
            keep: list[tuple[float, int, str, dict[str, Any]]] = []
            while self._outgoing and self._outgoing[0][0] <= now and len(batch) < config.batch_size:
                entry = heapq.heappop(self._outgoing)
                if entry[2] == phone:
                    batch.append(entry[3])
                else:
                    keep.append(entry)
            for entry in keep:
                heapq.heappush(self._outgoing, entry)
            self._webhook_in_flight += len(batch)
            return phone, batch

    async def _webhook_pump(self) -> None:
        import aiohttp

        session: aiohttp.ClientSession | None = None
        slots: asyncio.Semaphore | None = None
        concurrency = 0
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                config = self._webhook
                taken = self._take_batch(config) if config is not None else None
                if config is None or taken is None:
                    await asyncio.sleep(0.005)
                    continue
                if session is None:
                    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
                if slots is None or concurrency != config.concurrency:
                    slots, concurrency = asyncio.Semaphore(config.concurrency), config.concurrency
                await slots.acquire()
                task = asyncio.get_running_loop().create_task(self._post_statuses(session, slots, config, *taken))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()
            if session is not None:
                await session.close()

    async def _post_statuses(self, session: Any, slots: asyncio.Semaphore, config: WebhookConfig, phone: str,
                             statuses: list[dict[str, Any]]) -> None:
        import aiohttp

        body = json.dumps(status_webhook(statuses, phone_number_id=phone, config=config)).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign_body(body, config.app_secret),
                   "User-Agent": "facebookexternalua"}
        delivered = False
        try:
            for attempt in range(config.retries + 1):
                try:
                    async with session.post(config.url, data=body, headers=headers,
                                            timeout=aiohttp.ClientTimeout(total=config.timeout_s)) as response:
                        await response.read()
                        outcome = str(response.status)
                        delivered = 200 <= response.status < 300
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    outcome = type(exc).__name__
                with self._lock:
                    self._webhook_stats[f"response:{outcome}"] += 1
                if delivered:
                    break
                await asyncio.sleep(min(0.2 * 2 ** attempt, 5.0))
        finally:
            with self._lock:
                self._webhook_in_flight -= len(statuses)
                if delivered:
                    self._webhook_stats["posts"] += 1
                    self._webhook_stats["statuses_posted"] += len(statuses)
                else:
                    self._webhook_stats["failed_posts"] += 1
                    self._webhook_stats["failed_statuses"] += len(statuses)
            slots.release()

    # --- control API -------------------------------------------------------------------------

    async def _control(self, request: web.Request) -> web.Response:
        action = request.path[len("/__control"):].strip("/")
        method = request.method
        try:
            payload: Any = await request.json() if request.can_read_body else None
        except ValueError:
            return web.json_response({"detail": "body is not JSON"}, status=400)
        try:
            if action == "health":
                return web.json_response({"ok": True, "latency_ms": self.latency_ms})
            if action == "faults" and method == "POST":
                specs = payload if isinstance(payload, list) else [payload]
                added = [self.inject(**spec) for spec in specs]
                return web.json_response({"faults": [asdict(f) for f in added]})
            if action == "faults" and method == "GET":
                return web.json_response({"faults": [asdict(f) for f in self.faults]})
            if action == "faults" and method == "DELETE":
                self.clear_faults()
                return web.json_response({"faults": []})
            if action == "received" and method == "GET":
                return web.json_response(self._received_view(request.query))
            if action == "violations" and method == "GET":
                return web.json_response({"violations": self.violations})
            if action == "latency" and method == "POST":
                self.set_latency(float(payload["latency_ms"]))
                return web.json_response({"latency_ms": self.latency_ms})
            if action.startswith("templates/") and method == "POST":
                template_id = action.split("/", 1)[1]
                return web.json_response(self.set_template_status(template_id, **payload))
            if action == "state" and method == "GET":
                with self._lock:
                    state = {"profiles": dict(self.profiles), "templates": list(self.templates.values())}
                return web.json_response(state)
            if action == "webhooks" and method == "POST":
                config = self.configure_webhooks(**payload)
                return web.json_response({"config": asdict(config)})
            if action == "webhooks" and method == "GET":
                return web.json_response(self.webhook_state())
            if action == "webhooks" and method == "DELETE":
                self.disable_webhooks()
                return web.json_response({"config": None})
            if action == "reset" and method == "POST":
                self.reset()
                return web.json_response({"ok": True})
        except (KeyError, TypeError, ValueError) as exc:
            return web.json_response({"detail": f"{type(exc).__name__}: {exc}"}, status=400)
        return web.json_response({"detail": f"no control action {method} {action}"}, status=404)

    def _received_view(self, query: Mapping[str, str]) -> dict[str, Any]:
        if query.get("count_only") in ("1", "true", "yes"):
            return self.counts()
        requests = self.received
        since = int(query.get("since", "0"))
        requests = requests[since:]
        if "endpoint" in query:
            requests = [r for r in requests if r["endpoint"] == query["endpoint"]]
        if "recipient" in query:
            requests = [r for r in requests if r["recipient"] == digits(query["recipient"])]
        return {"count": len(requests), "requests": requests}


class ControlClient:
    """The control API from another process (benchmarks, multi-process tests)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        import requests

        self.url = url.rstrip("/")
        self._session = requests.Session()
        self._timeout = timeout

    def _call(self, method: str, action: str, **kwargs: Any) -> Any:
        response = self._session.request(method, f"{self.url}/__control/{action}", timeout=self._timeout, **kwargs)
        response.raise_for_status()
        return response.json()

    def inject(self, kind: str, **spec: Any) -> dict[str, Any]:
        return self._call("POST", "faults", json={"kind": kind, **spec})["faults"][0]  # type: ignore[no-any-return]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def counts(self) -> dict[str, Any]:
        return self._call("GET", "received", params={"count_only": "1"})  # type: ignore[no-any-return]

    def received(self, **filters: Any) -> list[dict[str, Any]]:
        return self._call("GET", "received", params=filters)["requests"]  # type: ignore[no-any-return]

    def messages_to(self, phone: str) -> list[dict[str, Any]]:
        return self.received(endpoint="messages", recipient=phone)

    def violations(self) -> list[dict[str, Any]]:
        return self._call("GET", "violations")["violations"]  # type: ignore[no-any-return]

    def set_latency(self, latency_ms: float) -> None:
        self._call("POST", "latency", json={"latency_ms": latency_ms})

    def set_template_status(self, template_id: str, status: str, **extra: Any) -> dict[str, Any]:
        return self._call("POST", f"templates/{template_id}", json={"status": status, **extra})  # type: ignore[no-any-return]

    def reset(self) -> None:
        self._call("POST", "reset")

    def configure_webhooks(self, url: str, app_secret: str, **options: Any) -> dict[str, Any]:
        """Status webhooks on (see `WebhookConfig` for the options)."""
        return self._call("POST", "webhooks", json={"url": url, "app_secret": app_secret, **options})["config"]  # type: ignore[no-any-return]

    def disable_webhooks(self) -> None:
        self._call("DELETE", "webhooks")

    def webhook_state(self) -> dict[str, Any]:
        return self._call("GET", "webhooks")  # type: ignore[no-any-return]

    def wait_webhooks_idle(self, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            state = self.webhook_state()
            if state["pending"] == 0 or time.monotonic() > deadline:
                return state
            time.sleep(0.05)

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("GET", "health")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakemeta.server", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the Bearer token it accepts")
    parser.add_argument("--no-validate", action="store_true", help="skip the OpenAPI body checks")
    args = parser.parse_args(argv)

    async def serve() -> None:
        server = FakeMeta(host=args.host, port=args.port, token=args.token, latency_ms=args.latency_ms,
                          validate=not args.no_validate)
        await server.start_async()
        print(f"fakemeta listening on {server.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop_async()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
