"""In a real browser: a Compliance officer signs in with 2FA, reads the dashboard (its SVG charts
render with bars), opens a customer's evidence pack by phone number; a Support agent gets the
pack masked and no dashboard. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from pandorakart_wa.core.phones import mask_phone
from pandorakart_wa.core.roles import COMPLIANCE_OFFICER, SUPPORT_AGENT
from tests.backoffice.test_dashboard import seed_compliance_history
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_officer_reads_the_dashboard_and_a_customers_evidence_pack(page, staff_user, screenshot):
    # given a mixed history and a Compliance officer signed in with password + TOTP code
    history = seed_compliance_history()
    officer = staff_user(COMPLIANCE_OFFICER)
    sign_in(page, officer)
    # when they follow the admin index's link to the dashboard
    page.locator("#compliance-links a", has_text="Compliance dashboard").click()
    # then the dashboard renders its tiles and server-side SVG charts with bars
    expect(page.locator("h1")).to_have_text("Compliance dashboard")
    expect(page.locator("#tile-ledger")).to_contain_text("Intact")
    expect(page.locator("#tile-sending")).to_contain_text("Running")
    activity = page.locator("#activity svg.chart")
    expect(activity).to_be_visible()
    expect(activity.locator("rect.bar")).to_have_count(60)  # 30 days x (opt-ins, opt-outs)
    tallest = activity.locator("rect.bar").evaluate_all("bars => Math.max(...bars.map(b => b.getBBox().height))")
    assert tallest > 10
    expect(page.locator("#coverage svg rect.bar")).to_have_count(4)
    expect(page.locator("#messages svg rect.bar")).to_have_count(8)
    expect(activity.locator("title").first).to_contain_text("Opt-ins and opt-outs per day")
    expect(page.locator("#templates")).to_contain_text("delivery_delayed")
    screenshot(page, "dashboard")
    # when they open the evidence pack and type the customer's number
    page.locator(".cd-links a", has_text="Evidence pack").click()
    page.fill("#id_phone", history.alice_phone)
    page.locator("#evidence-lookup button[type=submit]").click()
    # then the pack lists the notice, every consent event verified in the chain, and the messages
    # with the consent in force, the one sent after STOP flagged; the number stays masked on the
    # page (its title lands in browser history), with the audited reveal offered to the officer
    expect(page.locator("#pack-title")).to_contain_text(history.alice.public_id)
    expect(page.locator("#content")).not_to_contain_text(history.alice_phone)
    expect(page.locator(".ep-actions button", has_text="Reveal number")).to_be_visible()
    assert history.alice_phone not in page.title()
    expect(page.locator("#events-table tr.ep-event")).to_have_count(4)
    expect(page.locator("#events-table .badge.ok", has_text="verified")).to_have_count(4)
    expect(page.locator("#pack-notices")).to_contain_text("digest matches")
    expect(page.locator("#messages-table tbody tr")).to_have_count(4)
    expect(page.locator("#messages-table")).to_contain_text("Sent without consent in force")
    screenshot(page, "evidence-pack")
    # and the printed pack drops the admin chrome
    page.emulate_media(media="print")
    expect(page.locator("#header")).to_be_hidden()
    expect(page.locator(".ep-actions")).to_be_hidden()
    screenshot(page, "evidence-pack-print")


def test_support_agent_gets_a_masked_pack_and_no_dashboard(page, staff_user, screenshot):
    # given a customer and a Support agent signed in with 2FA
    history = seed_compliance_history()
    agent = staff_user(SUPPORT_AGENT)
    sign_in(page, agent)
    # then the index offers the evidence pack but not the dashboard, which refuses them
    links = page.locator("#compliance-links")
    expect(links).to_contain_text("Customer evidence pack")
    expect(links).not_to_contain_text("Compliance dashboard")
    response = page.goto("/admin/compliance/")
    assert response is not None and response.status == 403
    # when they open the customer's pack
    page.goto("/admin/compliance/evidence/")
    page.fill("#id_phone", history.alice_phone)
    page.locator("#evidence-lookup button[type=submit]").click()
    # then the number is masked
    expect(page.locator(".ep-meta")).to_contain_text(mask_phone(history.alice_phone))
    expect(page.locator("#content")).not_to_contain_text(history.alice_phone)
    screenshot(page, "evidence-pack-masked")
