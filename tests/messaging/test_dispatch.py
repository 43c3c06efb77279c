"""The dispatcher: one drain for every outbound message, woken by commits through shared lanes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings as django_settings

from messaging import campaigns, dispatch, inflight
from messaging.models import Campaign, Message, MessageStatus
from messaging.outbox import message_accept
from messaging.sending import messages_claim
from tests.messaging.sending_helpers import customer, marketing_template, utility_template
from tests.needs import missing

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_quiet_hours")]  # marketing is sent

SHIPPED: dict[str, Any] = {"template": "order_shipped", "language": "en", "variables": ["Ravi", "PK-10023", "27 Nov"]}


def _redis_url() -> str:
    broker_url: str = django_settings.CELERY_BROKER_URL
    broker = urlsplit(broker_url)
    return urlunsplit((broker.scheme, broker.netloc, f"/{int(broker.path.strip('/') or 0) + 1}", "", ""))


@pytest.fixture
def shared_lanes(settings: Any) -> Iterator[inflight.InFlight]:
    """Lanes in Redis, as in production (one lane, so that a busy one means all are busy)."""
    if not django_settings.CELERY_BROKER_URL.startswith("redis://"):
        missing("needs Redis (CELERY_BROKER_URL)")
    settings.REDIS_URL = _redis_url()
    settings.MESSAGING_DISPATCHERS = 1
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    inflight._in_flight.cache_clear()
    yield inflight.in_flight()
    inflight._in_flight.cache_clear()


def test_a_commit_while_every_lane_is_busy_is_sent_by_that_lane_before_it_stops(shared_lanes, committing, outbox):
    # given the only lane busy (a dispatcher is draining)
    utility_template()
    customer(1)
    assert shared_lanes.lane_take(0)
    # when the storefront's message commits
    message = message_accept_committed(committing)
    # then no second dispatcher was started for it
    assert outbox == []
    assert Message.objects.get(pk=message.pk).status == MessageStatus.QUEUED
    # and the busy lane sends it when it looks again before stopping
    assert dispatch.outbox_dispatch(lane=0) == 1
    assert [m["to"] for m in outbox] == [customer_phone(1)]
    assert shared_lanes.lane_take(0)  # and the lane is free again


def message_accept_committed(committing: Any) -> Message:
    from messaging import outbox as outbox_module

    message: Message = committing(outbox_module).message_accept(to=customer_phone(1), **SHIPPED).message
    return message


def customer_phone(n: int) -> str:
    from tests.consent.factories import indian_mobile

    return str(indian_mobile(n))


def test_a_commit_with_a_free_lane_is_sent_at_once(shared_lanes, committing, outbox):
    utility_template()
    customer(1)
    message_accept_committed(committing)
    assert [m["to"] for m in outbox] == [customer_phone(1)]
    assert shared_lanes.lane_take(0)  # the lane it ran on was let go


def test_the_storefronts_messages_are_claimed_before_a_running_campaigns(monkeypatch):
    # given a running campaign with a message queued first, then a storefront message
    template = marketing_template()
    utility_template()
    customer(1)
    customer(2)
    monkeypatch.setattr(campaigns, "_launch_senders", lambda campaign_id: None)
    campaign = campaigns.campaign_create(name="c", template=template, audience=Campaign.Audience.OPTED_IN,
                                         variables=["there", "40%"])
    campaigns.campaign_start(campaign=campaign)
    campaigns.campaign_prepare(campaign_id=campaign.pk)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING
    later = message_accept(to=customer_phone(2), **SHIPPED).message
    # when the dispatcher claims one message, then it is the storefront's
    assert [m.id for m in messages_claim(limit=1)] == [later.id]
    assert {m.campaign_id for m in messages_claim(limit=10)} == {campaign.pk}


def test_a_paused_campaigns_messages_are_not_claimed(monkeypatch):
    template = utility_template()
    customer(1)
    monkeypatch.setattr(campaigns, "_launch_senders", lambda campaign_id: None)
    campaign = campaigns.campaign_create(name="c", template=template, audience=Campaign.Audience.OPTED_IN,
                                         variables=["there", "PK-1", "28 Nov"])
    campaigns.campaign_start(campaign=campaign)
    campaigns.campaign_prepare(campaign_id=campaign.pk)
    campaigns.campaign_pause(campaign=Campaign.objects.get(pk=campaign.pk))
    assert messages_claim(limit=10) == []
    assert Message.objects.get().status == MessageStatus.QUEUED


def test_chunks_are_smaller_when_the_rate_limit_would_reserve_slots_far_ahead(settings):
    settings.MESSAGING_SEND_CHUNK_SIZE = 500
    settings.MESSAGING_DISPATCHERS = 4
    settings.WHATSAPP_MAX_MPS = 80
    assert dispatch.dispatch_chunk_size() == 40  # 2 s of slots at 80/s, shared by 4 lanes
    settings.WHATSAPP_MAX_MPS = 100_000
    assert dispatch.dispatch_chunk_size() == 500


def test_lanes_lapse_and_are_taken_one_at_a_time(shared_lanes):
    assert shared_lanes.lane_take_free(2) == 0
    assert shared_lanes.lane_take_free(2) == 1
    assert shared_lanes.lane_take_free(2) is None
    shared_lanes.lane_free(0)
    assert shared_lanes.lane_take_free(2) == 0
    shared_lanes.lane_keep(1, ttl=0.05)
    import time

    time.sleep(0.1)
    assert shared_lanes.lane_take_free(2) == 1  # its holder stopped refreshing it: free again
