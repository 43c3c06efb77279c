"""Campaigns: audience gated chunk by chunk, sent, paused, cancelled; the policy-change notice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile

from messaging import campaigns
from messaging.models import Campaign, Message, MessageStatus, SendingPolicy
from messaging.tasks import dispatch_outbox
from pandorakart_wa.core.audit import system_user
from profile.models import PolicyVersion
from profile.services import publishing as profile_services
from profile.services.policy import policy_draft_create
from tests.messaging.sending_helpers import customer, marketing_template, opt_out, utility_template

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_quiet_hours():
    SendingPolicy.objects.update_or_create(pk=1, defaults={"quiet_hours_start": dt.time(0, 0),
                                                           "quiet_hours_end": dt.time(0, 0)})


def run(campaign: Campaign, committing) -> Campaign:
    committing(campaigns).campaign_start(campaign=campaign)
    campaign.refresh_from_db()
    return campaign


def test_opted_in_audience_is_gated_and_sent(committing, outbox):
    # given five customers: two opted out of marketing, one only consented to order updates
    template = marketing_template()
    contacts = [customer(i) for i in range(5)]
    opt_out(contacts[1], ["marketing"])
    opt_out(contacts[2], ["marketing"])
    customer(9, purposes=["order_updates"])
    campaign = campaigns.campaign_create(name="Diwali", template=template, audience=Campaign.Audience.OPTED_IN,
                                         variables=["there", "40%"])
    # when it runs
    campaign = run(campaign, committing)
    # then exactly the three who consent get it, once each
    assert sorted(m["to"] for m in outbox) == sorted(c.phone for c in (contacts[0], contacts[3], contacts[4]))
    assert campaign.status == Campaign.Status.COMPLETED
    assert campaign.queued_count == 3
    assert campaigns.campaign_progress(campaign)["sent"] == 3


def test_csv_audience_counts_skipped_recipients_per_reason(committing, outbox):
    template = utility_template()
    a, b = customer(1), customer(2)
    opt_out(b, ["order_updates"])
    csv = f"phone\n{a.phone}\n{a.phone}\nnot-a-number\n{b.phone}\n+919876599999\n".encode()
    campaign = campaigns.campaign_create(
        name="Delay notice", template=template, audience=Campaign.Audience.CSV,
        variables=["there", "PK-1", "28 Nov"], audience_file=ContentFile(csv, name="audience.csv"),
    )
    campaign = run(campaign, committing)
    assert [m["to"] for m in outbox] == [a.phone]
    assert campaign.skipped == {"duplicate": 1, "invalid_number": 1, "opted_out": 1, "consent_missing": 1}
    assert campaign.audience_size == 5


def test_cancel_stops_what_was_not_yet_sent(committing, outbox, monkeypatch):
    template = utility_template()
    for i in range(3):
        customer(i)
    campaign = campaigns.campaign_create(name="c", template=template, audience=Campaign.Audience.OPTED_IN,
                                         variables=["there", "PK-1", "28 Nov"])
    monkeypatch.setattr(campaigns, "_launch_senders", lambda campaign_id: None)  # prepared, not yet sending
    run(campaign, committing)
    campaigns.campaign_cancel(campaign=campaign)
    dispatch_outbox()
    assert outbox == []
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.CANCELLED}


def test_paused_campaign_sends_nothing_until_resumed(committing, outbox, monkeypatch):
    template = utility_template()
    customer(1)
    campaign = campaigns.campaign_create(name="c", template=template, audience=Campaign.Audience.OPTED_IN,
                                         variables=["there", "PK-1", "28 Nov"])
    monkeypatch.setattr(campaigns, "_launch_senders", lambda campaign_id: None)
    run(campaign, committing)
    campaign.refresh_from_db()
    campaigns.campaign_pause(campaign=campaign)
    dispatch_outbox()
    assert outbox == []
    monkeypatch.undo()
    committing(campaigns).campaign_resume(campaign=campaign)
    assert len(outbox) == 1


def test_a_template_that_cannot_be_sent_cannot_start_a_campaign():
    template = utility_template()
    template.meta_status = "PAUSED"
    template.save()
    with pytest.raises(campaigns.CampaignError):
        campaigns.campaign_create(name="c", template=template, audience=Campaign.Audience.OPTED_IN,
                                  variables=["there", "PK-1", "28 Nov"])


def test_significant_policy_change_notifies_only_contacts_with_consent(committing, outbox):
    # given the notice template (approved), customers with some consent, and one with none left
    utility_template("policy_update_notice")
    marketing_only = customer(1, purposes=["marketing"])
    orders_only = customer(2, purposes=["order_updates"])
    gone = customer(3, purposes=["marketing"])
    opt_out(gone)
    officer = system_user("test-officer")
    version = policy_draft_create(
        body="Updated policy text.", change_summary="We now keep consent records for 7 years.",
        significant_change=True, next_review_due=dt.date(2027, 6, 1), actor=officer,
    )
    # when a significant change is published (the notifier runs after commit)
    committing(profile_services).policy_publish(version_id=version.pk, actor=officer)
    # then the notice goes to the two with consent, not to the one who withdrew everything
    assert sorted(m["to"] for m in outbox) == sorted([marketing_only.phone, orders_only.phone])
    assert {m["name"] for m in outbox} == {"policy_update_notice"}
    version.refresh_from_db()
    assert outbox[0]["body_parameters"][:2] == ["there", str(version.number)]
    campaign = Campaign.objects.get()
    assert campaign.reason == f"policy-version:{version.pk}"
    assert campaign.audience_size == 2  # only contacts holding a consent are in the audience
    assert version.notification_status == PolicyVersion.Notification.NOTIFIED
