"""In a real browser: an officer's change appears in the audit screen, found by actor and
correlation id; a Support agent cannot open the audit screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from pandorakart_wa.core.api.keys import api_key_create
from pandorakart_wa.core.roles import COMPLIANCE_OFFICER, SUPPORT_AGENT
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_officer_finds_own_change_in_the_audit_screen_by_actor_and_correlation_id(page, staff_user, screenshot):
    # given a Compliance officer signed in, and a storefront API key
    officer = staff_user(COMPLIANCE_OFFICER)
    api_key, _ = api_key_create(name="storefront-old-name")
    sign_in(page, officer)
    # when they rename the key in the admin
    page.goto(f"/admin/core/storefrontapikey/{api_key.pk}/change/")
    page.fill("#id_name", "storefront-renamed")
    with page.expect_response(lambda r: r.request.method == "POST" and "/change/" in r.url) as saved:
        page.click("input[name=_save]")
    cid = saved.value.headers["x-correlation-id"]
    expect(page.locator("ul.messagelist")).to_contain_text("storefront-renamed")
    # and open the audit screen, pick themselves as actor and type the correlation id
    page.goto("/admin/audit/")
    expect(page.locator("h1")).to_contain_text("log entry")
    page.locator("#changelist-filter details[data-filter-title='actor'] a", has_text=officer.username).click()
    page.fill("#filter-cid", cid)
    page.locator("form.audit-input-filter:has(#filter-cid) input[type=submit]").click()
    # then exactly their change is listed, readable, with their name and the correlation id
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(officer.username)
    expect(rows.first).to_contain_text("Name: storefront-old-name → storefront-renamed")
    expect(rows.first.locator("a.audit-cid")).to_have_attribute("title", cid)  # shown as its first 8 characters
    assert f"cid={cid}" in page.url and "actor=" in page.url
    screenshot(page, "audit-screen")
    # and the key's page links to its audit trail
    page.goto(f"/admin/core/storefrontapikey/{api_key.pk}/change/")
    page.click("a.auditlink")
    expect(page.locator("#content")).to_contain_text("storefront-renamed")


def test_support_agent_cannot_open_the_audit_screen(page, staff_user, screenshot):
    # given a Support agent signed in with 2FA
    agent = staff_user(SUPPORT_AGENT)
    sign_in(page, agent)
    expect(page.locator("#user-tools")).to_contain_text(agent.username)
    # when they open the audit screen
    response = page.goto("/admin/audit/")
    # then it is refused, and the index offers no audit entry
    assert response is not None and response.status == 403
    screenshot(page, "support-agent-refused")
    page.goto("/admin/")
    expect(page.locator("#content-main")).not_to_contain_text("Audit trail")
