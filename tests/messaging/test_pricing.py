"""What each message cost: Meta's `pricing` object from status webhooks recorded per message, the
dashboard's billable messages per category this month against the staff-editable rate card, and
the rate card's seeded India defaults (with their source)."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.apps import apps
from django.utils import timezone

from messaging.models import Message, MessageRate
from messaging.outbox import message_accept
from messaging.sending import messages_claim, messages_send_claimed
from tests.backoffice.helpers import make_staff, otp_force_login
from tests.messaging.sending_helpers import (
    customer,
    marketing_template,
    post_webhook,
    status_item,
    statuses_payload,
    utility_template,
    wamid_of,
)
from tests.webhooks.helpers import SAMPLES, post_raw

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_quiet_hours")]  # marketing is sent

DASHBOARD = "/admin/compliance/"
SHIPPED = {"template": "order_shipped", "language": "en", "variables": ["Ravi", "PK-10023", "27 Nov"]}
OFFER = {"template": "festive_offer", "language": "en", "variables": ["Priya", "40%"]}


def seeded_rates() -> None:
    """The migration's India defaults (a browser test's flush may have emptied the table)."""
    importlib.import_module("messaging.migrations.0012_seed_india_rate_card").seed_rates(apps, None)


def sent(n: int, what: dict[str, Any]) -> Message:
    customer(n)
    message = message_accept(to=f"+9198765{n:05d}", **what).message
    messages_send_claimed(messages_claim(ids=[message.id]))
    message.refresh_from_db()
    return message


def priced(wamid: str, status: str, *, category: str, billable: bool = True, type_: str = "regular") -> dict[str, Any]:
    item = status_item(wamid, status)
    item["pricing"] = {"billable": billable, "pricing_model": "PMP", "category": category, "type": type_}
    return item


def test_the_published_status_sample_records_its_pricing(client, outbox):
    # given a message Meta knows by the wamid of Meta's published status sample
    utility_template()
    message = sent(1, SHIPPED)
    raw = (SAMPLES / "metadocs__messageswebhook_1.json").read_bytes()
    wamid = json.loads(raw)["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
    Message.objects.filter(pk=message.pk).update(wamid=wamid)
    # when Meta posts the sample as published
    assert post_raw(client, raw).status_code == 200
    # then the message carries Meta's pricing
    message.refresh_from_db()
    assert (message.status, message.pricing_billable, message.pricing_category, message.pricing_model,
            message.pricing_type) == ("delivered", True, "service", "CBP", "")
    assert message.priced_at is not None


def test_pricing_follows_the_statuses_and_survives_one_without_it(client, outbox):
    # given a sent marketing message
    marketing_template()
    message = sent(1, OFFER)
    # when Meta reports it sent (priced), then read without a pricing object
    post_webhook(client, statuses_payload([priced(wamid_of(message), "sent", category="marketing")]))
    message.refresh_from_db()
    first = message.priced_at
    post_webhook(client, statuses_payload([status_item(wamid_of(message), "read")]))
    # then the pricing stays as Meta gave it, and when it was first priced
    message.refresh_from_db()
    assert (message.status, message.pricing_billable, message.pricing_category, message.pricing_type) == (
        "read", True, "marketing", "regular")
    assert message.priced_at == first
    # and a late `delivered` that moves nothing still updates what Meta says it costs
    post_webhook(client, statuses_payload([priced(wamid_of(message), "delivered", category="marketing", billable=False,
                                                  type_="free_entry_point")]))
    message.refresh_from_db()
    assert (message.status, message.pricing_billable, message.pricing_type) == ("read", False, "free_entry_point")
    assert message.priced_at == first


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section class="[^"]*" id="{section_id}"[^>]*>(.*?)</section>', html, re.S)
    assert match, f"no #{section_id} on the page"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1)))


def _row(html: str, row_id: str) -> list[str]:
    match = re.search(rf'<tr id="{row_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row {row_id}"
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", match.group(1), re.S)]


def test_dashboard_shows_this_months_billable_messages_at_the_rate_card(client, outbox):
    # given India's seeded rates, and this month two billable marketing messages, one billable
    # utility message, a free utility one inside the service window, and a marketing one priced last month
    seeded_rates()
    utility_template()
    marketing_template()
    offers = [sent(n, OFFER) for n in (1, 2)]
    shipped = [sent(n, SHIPPED) for n in (3, 4)]
    last_month = sent(5, OFFER)
    post_webhook(client, statuses_payload([
        *(priced(wamid_of(m), "sent", category="marketing") for m in offers),
        priced(wamid_of(shipped[0]), "sent", category="utility"),
        priced(wamid_of(shipped[1]), "sent", category="utility", billable=False, type_="free_customer_service"),
        priced(wamid_of(last_month), "sent", category="marketing"),
    ]))
    first_of_month = timezone.localdate().replace(day=1)
    Message.objects.filter(pk=last_month.pk).update(priced_at=timezone.now().replace(
        year=(first_of_month - dt.timedelta(days=1)).year, month=(first_of_month - dt.timedelta(days=1)).month, day=1))
    officer = otp_force_login(client, make_staff("officer-cost", "Compliance officer"))
    # when the officer opens the dashboard
    html = officer.get(DASHBOARD).content.decode()
    # then each category shows its billable and free counts, the rate in force and the estimate
    assert _row(html, "cost-marketing")[:3] == ["Marketing", "2", "0"]
    assert _row(html, "cost-marketing")[3].startswith("0.8631 INR since 1 Jan 2026")
    assert _row(html, "cost-marketing")[4] == "1.73 INR"  # 2 * 0.8631
    assert _row(html, "cost-utility")[:3] == ["Utility", "1", "1"]
    assert _row(html, "cost-utility")[4] == "0.12 INR"  # 1 * 0.1150
    assert _row(html, "cost-total")[1] == "3" and _row(html, "cost-total")[4] == "1.84 INR"
    assert "Marketing is 66.7 % of this month's billable messages" in _section(html, "cost")


def test_staff_edit_the_rate_card_in_the_admin_and_the_dashboard_follows(client, outbox):
    # given India's seeded rates and one billable marketing message this month
    seeded_rates()
    marketing_template()
    message = sent(1, OFFER)
    post_webhook(client, statuses_payload([priced(wamid_of(message), "sent", category="marketing")]))
    officer = make_staff("officer-rates", "Compliance officer")
    browser = otp_force_login(client, officer)
    # when the officer adds Meta's new marketing rate, in force from today, through the admin
    today = timezone.localdate()
    response = browser.post("/admin/messaging/messagerate/add/", {
        "market": "IN", "category": "marketing", "currency": "INR", "rate": "0.9500",
        "effective_from": today.isoformat(), "source_url": "https://developers.facebook.com/documentation/business-messaging/whatsapp/pricing",
        "checked_on": today.isoformat(), "note": "Meta's new rate",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    # then the dashboard prices this month's message at the new rate, the old line kept
    html = browser.get(DASHBOARD).content.decode()
    assert _row(html, "cost-marketing")[4] == "0.95 INR"
    assert MessageRate.objects.filter(market="IN", category="marketing").count() == 2
    # and the change is in the audit trail, naming the officer
    rate = MessageRate.objects.get(market="IN", category="marketing", effective_from=today)
    assert LogEntry.objects.get_for_object(rate).get().actor == officer
    # and no line can be deleted (past months were priced with it)
    assert browser.get(f"/admin/messaging/messagerate/{rate.pk}/delete/").status_code == 403


def test_marketing_reads_the_rate_card_but_cannot_change_it(client):
    seeded_rates()
    browser = otp_force_login(client, make_staff("marketer-rates", "Marketing"))
    rate = MessageRate.objects.filter(market="IN", category="marketing").first()
    assert rate is not None
    assert browser.get("/admin/messaging/messagerate/").status_code == 200
    response = browser.post(f"/admin/messaging/messagerate/{rate.pk}/change/", {
        "market": "IN", "category": "marketing", "currency": "INR", "rate": "0.0001",
        "effective_from": rate.effective_from.isoformat(), "source_url": rate.source_url,
        "checked_on": rate.checked_on.isoformat(), "note": "",
    })
    assert response.status_code == 403
    rate.refresh_from_db()
    assert rate.rate == Decimal("0.8631")


def test_the_seeded_india_rates_name_their_source_and_date():
    seeded_rates()
    rates = {r.category: r for r in MessageRate.objects.filter(market="IN", effective_from=dt.date(2026, 1, 1))}
    assert {c: r.rate for c, r in rates.items()} == {
        "marketing": Decimal("0.8631"), "utility": Decimal("0.1150"), "authentication": Decimal("0.1150"),
        "service": Decimal("0.0000"),
    }
    assert all(r.currency == "INR" and r.source_url.startswith("https://") and r.checked_on == dt.date(2026, 12, 1)
               for r in rates.values())
