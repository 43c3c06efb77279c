"""Every admin page linked from each role's index answers, and so does every page those pages
link to: no 5xx, and no link to a page that refuses the reader (403). On the run command's demo
data plus a day's worth of activity (a STOP, a complaint handed over, a revision in review, a
locked-out sign-in), in Chromium at 1366 x 768."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from playwright.sync_api import Page

from pandorakart_wa.core.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT
from tests.e2e.conftest import sign_in
from tests.e2e.test_officers_day import drafted_revision, handed_off_complaint, stop_story

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX_PAGES = 400  # a bound, not a target: the demo data gives each role well under this
SKIP = ("/admin/logout/", "/delete/", "/password/")


def _links(page: Page) -> list[str]:
    hrefs = page.eval_on_selector_all("#content a[href], #content-main a[href]", "els => els.map(e => e.href)")
    return [h for h in hrefs if urlsplit(h).path.startswith("/admin")]


def _wanted(url: str, base: str) -> bool:
    parts = urlsplit(url)
    if parts.netloc != urlsplit(base).netloc or any(s in parts.path for s in SKIP):
        return False
    return not parts.fragment


def crawl(page: Page, base: str) -> tuple[dict[str, int], int]:
    """The index's links opened in the browser (rendered, scripts run), then every link found on
    those pages fetched once. Returns {url: status} of the failures and how many pages were seen."""
    page.goto("/admin/")
    first = list(dict.fromkeys(u for u in _links(page) if _wanted(u, base)))
    assert first, "the index links to nothing"
    failures: dict[str, int] = {}
    seen: set[str] = set()
    second: list[str] = []
    for url in first:
        response = page.goto(url)
        status = response.status if response is not None else 0
        seen.add(url)
        if status >= 500 or status in (0, 403, 404):
            failures[url] = status
            continue
        for link in _links(page):
            # a list's own sort, filter and page links are the same page again: one of each is enough
            key = urlsplit(link)._replace(query="").geturl() if "/?" in link or link.endswith("/") else link
            if _wanted(link, base) and key not in seen:
                seen.add(key)
                second.append(link)
    for url in second[:MAX_PAGES]:
        fetched = page.request.get(url, max_redirects=5)
        if fetched.status >= 500 or fetched.status in (403, 404):
            failures[url] = fetched.status
    return failures, len(first) + min(len(second), MAX_PAGES)


@pytest.mark.parametrize("role", [COMPLIANCE_OFFICER, SUPPORT_AGENT, AUDITOR, MARKETING])
def test_every_page_linked_from_the_role_s_index_answers(page, staff_user, live_server, role, screenshot):
    # given the demo data and a day of activity
    call_command("seed_demo", verbosity=0)
    marketer = staff_user(MARKETING, username="marketer-day")
    agent = staff_user(SUPPORT_AGENT, username="agent-day")
    drafted_revision(marketer, name="crawl_revision")
    stop_story(page, template_name="crawl_offer")
    handed_off_complaint(agent)
    AccessAttempt.objects.create(username="locked-out-user", ip_address="203.0.113.5", user_agent="test",
                                 failures_since_start=5, get_data="", post_data="", http_accept="", path_info="/admin/login/")
    user: Any = staff_user(role)
    sign_in(page, user)
    screenshot(page, "index")
    # when every linked page is opened
    failures, pages = crawl(page, live_server.url)
    # then none fails, and none of the links offered to the role refuses it
    assert not failures, failures
    assert pages > 10
