"""Meta's WhatsApp Cloud API over HTTPS (Graph API), with one pooled `requests.Session`.

Nothing here retries (the adapter has `max_retries=0`): every failure becomes one typed
`WhatsAppError` and the caller decides. What a failure means depends on whether the request
may have reached Meta:

- never sent (connection refused, DNS, connect timeout, TLS handshake): `TransientError`;
- sent, then no answer (read timeout, connection dropped, truncated body): `DeliveryUnknown`
  for sends and other non-idempotent writes (Meta has no idempotency key: re-sending could
  deliver twice), `TransientError` for reads and idempotent writes;
- an answer: Meta's error JSON goes through `errors.classify()`; 429/5xx without it are
  transient; a 2xx body without what we need (no wamid) is a `PermanentError`.
"""

from __future__ import annotations

import email.utils
import json as _json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from pandorakart_wa.whatsapp.backends.waves import SEND_ALIGN_SECONDS, Refusal, waves
from pandorakart_wa.whatsapp.base import (
    BaseBackend,
    Late,
    OutboundMessage,
    Release,
    SendResult,
    TemplateSubmission,
    Withheld,
)
from pandorakart_wa.whatsapp.errors import (
    DeliveryUnknown,
    PermanentError,
    TransientError,
    WhatsAppError,
    classify,
)

logger = logging.getLogger(__name__)

PROFILE_FIELDS = ("about", "address", "description", "email", "profile_picture_url", "websites", "vertical")
TEMPLATE_FIELDS = (
    "id", "name", "language", "status", "category", "quality_score", "components", "rejected_reason",
    "parameter_format",
)
TEMPLATE_PAGE_SIZE = 100
MAX_TEMPLATE_PAGES = 1000  # 100,000 templates: far above Meta's 6,000 per WABA; stops a paging loop
_META_PREFIX = re.compile(r"^\(#\d+\)\s*")
_TOKEN_IN_URL = re.compile(r"(access_token=)[^&\s'\"]+")
_DEFAULT_SEND_CONCURRENCY = 64


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent/garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def redact(text: str) -> str:
    """Meta's paging URLs may carry `access_token=`: never let it into messages or logs."""
    return _TOKEN_IN_URL.sub(r"\1***", text)


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the server (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError | requests.exceptions.InvalidURL):
        return True
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, NewConnectionError | NameResolutionError | ConnectTimeoutError):
            return True
        reason = getattr(node, "reason", None)
        if isinstance(reason, BaseException):
            node = reason
            continue
        args = getattr(node, "args", ())
        nested = next((a for a in args if isinstance(a, BaseException)), None)
        node = nested or node.__cause__ or node.__context__
    return False


def _gevent_active() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a runtime dependency
        return False
    return bool(monkey.is_module_patched("socket"))


class CloudBackend(BaseBackend):
    """The production transport. One instance per process (see `get_backend()`), thread-safe."""

    def __init__(self) -> None:
        self.base_url = f"{settings.WHATSAPP_GRAPH_URL.rstrip('/')}/{settings.WHATSAPP_API_VERSION}"
        self.phone_number_id: str = settings.WHATSAPP_PHONE_NUMBER_ID
        self.waba_id: str = settings.WHATSAPP_WABA_ID
        self.timeout = (float(settings.WHATSAPP_CONNECT_TIMEOUT), float(settings.WHATSAPP_READ_TIMEOUT))
        self.send_concurrency = int(getattr(settings, "WHATSAPP_SEND_CONCURRENCY", _DEFAULT_SEND_CONCURRENCY))
        # Never fewer connections than concurrent sends: urllib3 would open and discard extras.
        pool_size = max(int(settings.WHATSAPP_POOL_SIZE), self.send_concurrency)
        self.session = self._make_session(settings.WHATSAPP_ACCESS_TOKEN, pool_size)
        self._pool: ThreadPoolExecutor | None = None
        self._send_permits: threading.BoundedSemaphore | None = None
        self._adapters: dict[str, requests.adapters.BaseAdapter] = {}
        self._pool_lock = threading.Lock()

    @staticmethod
    def _make_session(token: str, pool_size: int) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": "pandorakart-wa/1.0",
            }
        )
        # The Graph API needs no cookies; never storing any keeps the shared Session read-only
        # across threads.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        session.trust_env = False  # no proxy or .netrc surprises: the URL in settings is the URL
        return session

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self.session.close()

    # --- HTTP --------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _phone_path(self, leaf: str) -> str:
        if not self.phone_number_id:
            raise PermanentError("WHATSAPP_PHONE_NUMBER_ID is not set: the cloud backend cannot call Meta")
        return self._url(f"{self.phone_number_id}/{leaf}")

    def _waba_path(self, leaf: str) -> str:
        if not self.waba_id:
            raise PermanentError("WHATSAPP_WABA_ID is not set: the cloud backend cannot call Meta")
        return self._url(f"{self.waba_id}/{leaf}")

    def _request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One HTTP exchange, no retries. Returns the 2xx JSON object or raises a WhatsAppError."""
        try:
            if method == "POST" and params is None and json is not None:
                response = self._post_json(url, json)
            else:
                response = self.session.request(
                    method, url, json=json, params=params, timeout=self.timeout, allow_redirects=False
                )
            body_bytes = response.content  # read fully here so a dropped body is caught below
        except requests.RequestException as exc:
            raise self._transport_error(exc, method=method, idempotent=idempotent) from exc
        status = response.status_code
        try:
            payload: Any = response.json() if body_bytes else None
        except ValueError:
            payload = None
        if not 200 <= status < 300:
            raise self._http_error(status, payload, response.headers.get("Retry-After"), body_bytes)
        if not isinstance(payload, dict):
            raise PermanentError(
                f"Meta answered HTTP {status} to {method} {urlsplit(url).path} with a body that is not a JSON "
                f"object: {body_bytes[:200]!r}",
                http_status=status,
                payload=body_bytes[:2000].decode("utf-8", "replace"),
            )
        return payload

    def _post_json(self, url: str, body: Mapping[str, Any]) -> requests.Response:
        """A JSON POST straight to the Session's adapter (same pool, same exceptions). The
        Session's per-request preparation (merging settings, a new cookie jar, parsing and
        re-encoding the URL) cost more CPU than the rest of a send: a campaign worker spends
        its core on it at 1,000 sends/s. Our requests need none of it: fixed headers, no
        cookies (see _make_session), no redirects, no proxies."""
        request = requests.PreparedRequest()
        request.method = "POST"
        request.url = url
        data = _json.dumps(body, allow_nan=False).encode()  # as requests' json= encodes it
        request.headers = CaseInsensitiveDict(self.session.headers)
        request.headers["Content-Type"] = "application/json"
        request.headers["Content-Length"] = str(len(data))
        request.body = data
        request.hooks = {"response": []}
        scheme = url.split(":", 1)[0]
        adapter = self._adapters.get(scheme)
        if adapter is None:
            adapter = self._adapters[scheme] = self.session.get_adapter(url)
        return adapter.send(request, stream=False, timeout=self.timeout, verify=True, cert=None, proxies={})

    @staticmethod
    def _transport_error(exc: requests.RequestException, *, method: str, idempotent: bool) -> WhatsAppError:
        detail = redact(f"{type(exc).__name__}: {exc}")
        if _never_sent(exc):
            return TransientError(f"Could not connect to Meta ({detail})")
        if idempotent:
            return TransientError(f"No answer from Meta to a {method} ({detail})")
        logger.warning("A %s reached Meta but no answer came back: outcome unknown (%s)", method, detail)
        return DeliveryUnknown(
            f"The {method} reached Meta but no answer came back ({detail}); it may have been accepted: "
            "reconcile from the status webhooks, do not re-send blindly."
        )

    @staticmethod
    def _http_error(status: int, payload: Any, retry_after_header: str | None, body: bytes) -> WhatsAppError:
        retry_after = parse_retry_after(retry_after_header)
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            raw_code = error.get("code")
            code = raw_code if isinstance(raw_code, int) else None
            title = _META_PREFIX.sub("", str(error.get("message") or error.get("error_user_title") or ""))
            error_data = error.get("error_data")
            details = ""
            if isinstance(error_data, dict):
                details = str(error_data.get("details") or "")
            elif isinstance(error_data, str):
                details = error_data
            return classify(
                http_status=status, code=code, title=title, details=details, retry_after=retry_after, payload=payload
            )
        snippet = body[:200].decode("utf-8", "replace")
        return classify(
            http_status=status,
            code=None,
            title=f"HTTP {status} without a Meta error body",
            details=snippet,
            retry_after=retry_after,
            payload=snippet,
        )

    # --- Messages ----------------------------------------------------------------------------

    @staticmethod
    def _recipient(to: str) -> str:
        """Meta wants `+` and the country code: without `+` it prefixes the business's own code."""
        to = to.strip()
        return to if to.startswith("+") else f"+{to}"

    def _send(self, body: dict[str, Any]) -> SendResult:
        payload = self._request("POST", self._phone_path("messages"), idempotent=False, json=body)
        messages = payload.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        wamid = first.get("id") if isinstance(first, dict) else None
        if not isinstance(wamid, str) or not wamid:
            raise PermanentError(
                f"Meta accepted the send (2xx) but the response has no messages[0].id (wamid): {payload!r}",
                payload=payload,
            )
        contacts = payload.get("contacts")
        contact = contacts[0] if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict) else {}
        wa_id = contact.get("wa_id")
        message_status = first.get("message_status") if isinstance(first, dict) else None
        return SendResult(
            wamid=wamid,
            wa_id=wa_id if isinstance(wa_id, str) else None,
            message_status=message_status if isinstance(message_status, str) else None,
        )

    def _base_body(self, to: str, kind: str, biz_opaque_callback_data: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": self._recipient(to),
            "type": kind,
        }
        if biz_opaque_callback_data:
            body["biz_opaque_callback_data"] = biz_opaque_callback_data
        return body

    def send_template(
        self,
        *,
        to: str,
        name: str,
        language: str,
        body_parameters: Sequence[str] = (),
        header_parameters: Sequence[str] = (),
        biz_opaque_callback_data: str | None = None,
        otp_code: str | None = None,
    ) -> SendResult:
        components: list[dict[str, Any]] = []
        if header_parameters:
            components.append(
                {"type": "header", "parameters": [{"type": "text", "text": str(p)} for p in header_parameters]}
            )
        if body_parameters:
            components.append(
                {"type": "body", "parameters": [{"type": "text", "text": str(p)} for p in body_parameters]}
            )
        if otp_code is not None:
            # Meta: an authentication template's copy-code / one-tap button carries the code too
            # (button component, sub_type "url", index 0).
            components.append(
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": otp_code}]}
            )
        template: dict[str, Any] = {
            "name": name,
            # `policy` is required by Meta's OpenAPI LanguageObject; `deterministic` is its only value.
            "language": {"policy": "deterministic", "code": language},
        }
        if components:
            template["components"] = components
        body = self._base_body(to, "template", biz_opaque_callback_data)
        body["template"] = template
        return self._send(body)

    def send_text(
        self,
        *,
        to: str,
        body: str,
        preview_url: bool = False,
        reply_to: str | None = None,
        biz_opaque_callback_data: str | None = None,
    ) -> SendResult:
        request = self._base_body(to, "text", biz_opaque_callback_data)
        request["text"] = {"body": body, "preview_url": bool(preview_url)}
        if reply_to:
            request["context"] = {"message_id": reply_to}
        return self._send(request)

    def send_batch(
        self, messages: Sequence[OutboundMessage], *, release: Release | None = None
    ) -> list[SendResult | Exception]:
        """Send concurrently over the shared Session's keep-alive connections; results in input
        order, each a SendResult, the WhatsAppError that send raised, or `Withheld`.

        The calling thread dispatches in waves: the messages whose rate-limit slot has opened,
        as many as there are free connections (at most WHATSAPP_SEND_CONCURRENCY in flight per
        process), go to `release` (the caller's last check, e.g. consent) and leave at once. So
        nothing waits between the last check and the request, whatever the rate limit. Sends
        run in a gevent Pool when gevent has patched sockets (gunicorn/celery gevent workers),
        else in a thread pool kept for the process's life."""
        if not messages:
            return []
        size = max(1, min(self.send_concurrency, len(messages)))
        if size == 1:
            return super().send_batch(messages, release=release)
        results: list[SendResult | Exception | None] = [None] * len(messages)
        permits = self._permits()

        def one(index: int) -> None:
            try:
                not_after = messages[index].not_after
                if not_after is not None and time.time() > not_after:
                    # the process stalled between dispatch and this moment (a loaded host):
                    # sent now, it would leave together with the sends of the next slots
                    results[index] = Late("missed its rate-limit slot before its request left")
                    return
                results[index] = self.send(messages[index])
            except Exception as exc:  # each message's outcome is reported, never lost
                results[index] = exc
            finally:
                permits.release()

        if _gevent_active():
            from gevent.pool import Pool

            pool = Pool(size)
            submit: Callable[[int], Any] = lambda index: pool.spawn(one, index)  # noqa: E731
            wait: Callable[[], None] = pool.join
        else:
            executor = self._executor()
            futures: list[Future[None]] = []
            submit = lambda index: futures.append(executor.submit(one, index))  # noqa: E731

            def wait() -> None:
                for future in futures:
                    future.result()

        try:
            for wave, paced in waves(messages, permits):
                handed = 0  # permits passed on to a send (released when it ends) or given back
                try:
                    allowed = self._release_wave(release, [messages[i] for i in wave])
                    slot = messages[wave[0]].not_before or 0.0
                    if paced and (delay := slot + SEND_ALIGN_SECONDS - time.time()) > 0:
                        time.sleep(delay)
                    now = time.time()
                    for index, ok in zip(wave, allowed, strict=True):
                        not_after = messages[index].not_after
                        if ok and (not_after is None or now <= not_after):
                            submit(index)
                        else:
                            if isinstance(allowed, Refusal):
                                results[index] = allowed.reason
                            elif ok:  # it missed its slot: sent now it would crowd the next ones
                                results[index] = Late("missed its rate-limit slot")
                            else:
                                results[index] = Withheld("held back by the caller before sending")
                            permits.release()
                        handed += 1
                finally:
                    for _ in range(len(wave) - handed):
                        permits.release()
        finally:
            wait()
        return [r if r is not None else Withheld("not dispatched") for r in results]

    @staticmethod
    def _release_wave(release: Release | None, wave: list[OutboundMessage]) -> Sequence[bool]:
        if release is None:
            return [True] * len(wave)
        try:
            allowed = list(release(wave))
            if len(allowed) != len(wave):
                raise ValueError(f"release answered {len(allowed)} times for {len(wave)} messages")
            return allowed
        except Exception as exc:  # nothing is known to be allowed: nothing leaves
            logger.exception("The release hook failed; %s messages held back", len(wave))
            return Refusal(len(wave), Withheld(f"the release check failed: {exc!r}"))

    def _permits(self) -> threading.BoundedSemaphore:
        """Connections in flight, per process (shared by concurrent send_batch calls)."""
        with self._pool_lock:
            if self._send_permits is None:
                self._send_permits = threading.BoundedSemaphore(self.send_concurrency)
            return self._send_permits

    def _executor(self) -> ThreadPoolExecutor:
        # One pool per backend, kept for the process's life: no threads started per chunk.
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.send_concurrency, thread_name_prefix="wa-send")
            return self._pool

    # --- Business profile --------------------------------------------------------------------

    def get_business_profile(self) -> dict[str, Any]:
        payload = self._request(
            "GET",
            self._phone_path("whatsapp_business_profile"),
            idempotent=True,
            params={"fields": ",".join(PROFILE_FIELDS)},
        )
        data = payload.get("data")
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise PermanentError(f"Meta's business profile response has no data[0]: {payload!r}", payload=payload)
        profile = data[0]
        nested = profile.get("business_profile")  # the shape of Meta's OpenAPI example
        if isinstance(nested, dict):
            profile = nested
        return {k: v for k, v in profile.items() if k != "messaging_product"}

    def update_business_profile(self, fields: Mapping[str, Any]) -> None:
        body = {**{k: v for k, v in fields.items() if k != "messaging_product"}, "messaging_product": "whatsapp"}
        payload = self._request(
            "POST", self._phone_path("whatsapp_business_profile"), idempotent=True, json=body
        )
        if payload.get("success") is not True:
            raise PermanentError(f"Meta did not confirm the business profile update: {payload!r}", payload=payload)

    # --- Message templates -------------------------------------------------------------------

    def create_message_template(
        self,
        *,
        name: str,
        language: str,
        category: str,
        components: Sequence[Mapping[str, Any]],
        parameter_format: str = "POSITIONAL",
    ) -> TemplateSubmission:
        body = {
            "name": name,
            "language": language,
            "category": category,
            "parameter_format": parameter_format,
            "components": [dict(c) for c in components],
        }
        # Not idempotent: a lost answer may have created it (a re-submit fails as a duplicate).
        payload = self._request("POST", self._waba_path("message_templates"), idempotent=False, json=body)
        template_id, status = payload.get("id"), payload.get("status")
        if not isinstance(template_id, str | int) or not template_id or not isinstance(status, str):
            raise PermanentError(f"Meta's template creation response has no id/status: {payload!r}", payload=payload)
        returned_category = payload.get("category")
        return TemplateSubmission(
            id=str(template_id),
            status=status,
            category=returned_category if isinstance(returned_category, str) else category,
        )

    def edit_message_template(
        self,
        *,
        template_id: str,
        components: Sequence[Mapping[str, Any]],
        category: str | None = None,
    ) -> None:
        """Replace the components of a template Meta holds (POST /{template-id}); Meta reviews it
        again (PENDING). Meta edits only APPROVED, REJECTED and PAUSED templates, never changes an
        approved template's category, and limits edits of an approved one (10 in 30 days, 1 in 24 h):
        its refusals come back as PermanentError."""
        if not template_id:
            raise PermanentError("edit_message_template needs Meta's template id")
        body: dict[str, Any] = {"components": [dict(c) for c in components]}
        if category is not None:
            body["category"] = category
        # Idempotent: the same edit twice leaves the template as one edit does.
        payload = self._request("POST", self._url(str(template_id)), idempotent=True, json=body)
        if payload.get("success") is not True:
            raise PermanentError(f"Meta did not confirm the template edit: {payload!r}", payload=payload)

    def list_message_templates(self, *, name: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] | None = {"fields": ",".join(TEMPLATE_FIELDS), "limit": TEMPLATE_PAGE_SIZE}
        if name is not None and params is not None:
            params["name"] = name
        url = self._waba_path("message_templates")
        base = urlsplit(self.base_url)
        templates: list[dict[str, Any]] = []
        for _ in range(MAX_TEMPLATE_PAGES):
            payload = self._request("GET", url, idempotent=True, params=params)
            data = payload.get("data")
            if not isinstance(data, list):
                raise PermanentError(f"Meta's template list has no data array: {payload!r}", payload=payload)
            templates.extend(t for t in data if isinstance(t, dict))
            paging = payload.get("paging")
            next_url = paging.get("next") if isinstance(paging, dict) else None
            if not isinstance(next_url, str) or not next_url or not data:
                break
            target = urlsplit(next_url)
            if (target.scheme, target.netloc) != (base.scheme, base.netloc):
                # The Bearer token goes only to the configured Graph host.
                raise PermanentError(f"Meta's paging.next points outside {base.netloc}: {redact(next_url)}")
            url, params = next_url, None  # `next` carries every query parameter
        else:
            raise PermanentError(f"The template list did not end after {MAX_TEMPLATE_PAGES} pages")
        if name is not None:  # Meta's `name` filter matches loosely; the interface means this name
            templates = [t for t in templates if t.get("name") == name]
        return templates

