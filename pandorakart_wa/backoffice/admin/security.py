"""Staff session limits: an idle timeout on top of SESSION_COOKIE_AGE's absolute limit."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

LAST_SEEN_KEY = "_staff_last_seen"
SIGNED_IN_KEY = "_staff_signed_in_at"
_WRITE_EVERY = 60  # seconds: refresh the last-seen stamp at most once a minute (fewer session writes)


class StaffSessionTimeoutMiddleware:
    """Sign a staff user out after STAFF_IDLE_TIMEOUT seconds without a request, and after
    SESSION_COOKIE_AGE seconds from sign-in whatever the activity (the session store's own
    expiry slides with every write, so the absolute limit is enforced here)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            now = int(time.time())
            session = request.session
            signed_in = int(session.get(SIGNED_IN_KEY, now))
            last_seen = int(session.get(LAST_SEEN_KEY, now))
            if now - last_seen > settings.STAFF_IDLE_TIMEOUT or now - signed_in > settings.SESSION_COOKIE_AGE:
                logout(request)
            else:
                if SIGNED_IN_KEY not in session:
                    session[SIGNED_IN_KEY] = now
                if LAST_SEEN_KEY not in session or now - last_seen >= _WRITE_EVERY:
                    session[LAST_SEEN_KEY] = now
        return self.get_response(request)
