"""The compliance dashboard: who may open it, what it shows from the other apps, the date range,
bounded queries, and the SVG chart helper."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from complaints.models import Category, Channel, Outcome
from complaints.services.clocks import complaints_check_clocks
from complaints.services.intake import complaint_create
from complaints.services.workflow import complaint_resolve
from consent.log import ledger_sequence
from consent.models import Contact, LedgerVerification, OptOutKeyword
from consent.seed import seed_notices
from consent.services.blocking import contact_block
from consent.services.erasure import consent_erase
from consent.services.inbound import consent_apply_inbound_text, keyword_match
from consent.services.notices import keyword_save
from consent.services.optin import consent_opt_in, consent_opt_out
from consent.services.verification import consent_ledger_verify
from consent.types import Actor
from messaging.models import HoldReason, Message, MessageKind, MessageStatus, SendingPolicy, TemplateQuality
from pandorakart_wa.backoffice import charts
from pandorakart_wa.backoffice.selectors import DateRange, consent_activity, opt_out_honour_times
from pandorakart_wa.core.audit import COMMAND, system_user
from profile.models import ProfileDrift, ProfileSyncRun
from profile.services.alerts import alert_raise
from tests.backoffice.helpers import make_staff
from tests.consent.factories import indian_mobile
from tests.messaging.factories import make_usable_template
from tests.messaging.sending_helpers import marketing_template

ACTOR = Actor.system("test")
DASHBOARD = "/admin/compliance/"


@dataclass
class History:
    alice: Contact  # opted in to both, then STOP by keyword; one marketing message went out after it
    bala: Contact  # opted in to marketing, opted out in the storefront 2 minutes after the fact
    chitra: Contact  # erased
    dev: Contact  # blocked
    alice_phone: str
    bala_phone: str
    chitra_phone: str


def _message(contact: Contact, template: Any, status: str, **fields: Any) -> Message:
    now = timezone.now()
    defaults: dict[str, Any] = {"sent_at": now if status in ("sent", "delivered", "read") else None}
    defaults.update(fields)
    return Message.objects.create(contact=contact, purpose=template.purpose, template=template,
                                  revision=template.approved_revision, language=template.language, status=status,
                                  **defaults)


def seed_compliance_history() -> History:
    """A small, mixed history through the real services (so the ledger's tree is real): opt-ins,
    a keyword STOP, a storefront opt-out, an erasure, a block, messages in every state, a held
    template, profile drift, an alert, and a ledger verification."""
    now = timezone.now()
    notice = {n.language: n for n in seed_notices()}["en"]
    phones = [indian_mobile(n) for n in (101, 102, 103, 104)]
    evidence = {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "page": "/checkout"}
    alice = consent_opt_in(phone=phones[0], purposes=["order_updates", "marketing"], notice=notice,
                           source="checkout", actor=ACTOR, evidence=evidence,
                           occurred_at=now - dt.timedelta(days=3)).contact
    bala = consent_opt_in(phone=phones[1], purposes=["marketing"], notice=notice, source="account_settings",
                          actor=ACTOR, occurred_at=now - dt.timedelta(days=2)).contact
    chitra = consent_opt_in(phone=phones[2], purposes=["order_updates"], notice=notice, source="checkout",
                            actor=ACTOR).contact
    dev = consent_opt_in(phone=phones[3], purposes=["order_updates"], notice=notice, source="checkout",
                         actor=ACTOR).contact
    utility = make_usable_template(name="order_shipped")
    marketing = marketing_template("festive_offer")
    held = make_usable_template(name="delivery_delayed")
    held.quality = TemplateQuality.RED
    held.hold_reason = HoldReason.QUALITY_RED
    held.save()
    if keyword_match("STOP") is None:  # a browser test's flush emptied the migration-seeded keywords
        keyword_save(keyword=OptOutKeyword(phrase="STOP", action="opt_out", scope="marketing", reply_text="Stopped."))
    _message(alice, utility, MessageStatus.DELIVERED)
    _message(alice, marketing, MessageStatus.READ)  # before the STOP: consent in force
    consent_apply_inbound_text(wa_id=phones[0].lstrip("+"), user_id=None, text="STOP", wamid="wamid.stop.1",
                               at=timezone.now())  # Meta's timestamp: after the two messages above
    _message(alice, marketing, MessageStatus.SENT)  # after the STOP: the pack must flag it
    _message(alice, marketing, MessageStatus.SUPPRESSED, reason="opted_out")
    _message(bala, marketing, MessageStatus.FAILED, error_code=131049, sent_at=None)
    consent_opt_out(phone=phones[1], purposes=["marketing"], source="account_settings", actor=ACTOR,
                    occurred_at=timezone.now() - dt.timedelta(minutes=2))
    _message(bala, marketing, MessageStatus.SUPPRESSED, reason="opted_out")
    _message(bala, utility, MessageStatus.QUEUED, kind=MessageKind.STANDARD)
    consent_erase(phone=phones[2], actor=ACTOR)
    contact_block(contact=dev, reason="abusive replies", actor=ACTOR)
    run = ProfileSyncRun.objects.create(trigger=ProfileSyncRun.Trigger.BEAT, result=ProfileSyncRun.Result.DRIFT,
                                        finished_at=timezone.now(), drift_fields=["about"])
    ProfileDrift.objects.create(field="about", ours="Shop smart", theirs="Shop smarter", last_pushed="Shop smart",
                                detected_by_run=run)
    alert_raise(kind="test", title="Template delivery_delayed held: quality RED", dedupe_key="test:held")
    # complaints: alice's, resolved (consent was valid); bala's, received 10 days ago and overdue
    complaint = complaint_create(channel=Channel.WEBSITE, category=Category.UNWANTED_MESSAGES, phone=phones[0],
                                 description="I got an offer after I replied STOP", actor=system_user(COMMAND),
                                 acknowledge=False)
    complaint_resolve(complaint=complaint, outcome=Outcome.OPT_OUT_NOT_HONOURED_FIXED,
                      resolution="Your opt-out is recorded; we are sorry for the message.", actor=system_user(COMMAND))
    complaint_create(channel=Channel.EMAIL, category=Category.PRIVACY, phone=phones[1],
                     description="Why do you have my number?", actor=system_user(COMMAND), acknowledge=False,
                     now=now - dt.timedelta(days=10))
    complaints_check_clocks()  # the beat task: marks bala's late first response and resolution, alerts
    ledger_sequence(force_checkpoint=True)  # beat's sequencer: positions, the tree, a signed checkpoint
    consent_ledger_verify(triggered_by="test")
    return History(alice=Contact.objects.get(pk=alice.pk), bala=Contact.objects.get(pk=bala.pk),
                   chitra=Contact.objects.get(pk=chitra.pk), dev=Contact.objects.get(pk=dev.pk),
                   alice_phone=phones[0], bala_phone=phones[1], chitra_phone=phones[2])


# --- Who may open it ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"), [("officer", 200), ("auditor", 200), ("support", 403), ("marketing", 403)]
)
def test_dashboard_is_for_compliance_officers_and_auditors_only(client_as, role, status):
    # given a signed-in user of the role (2FA done)
    client = client_as(role)
    # when they open the dashboard
    response = client.get(DASHBOARD)
    # then officers and auditors see it, support agents and marketing are refused
    assert response.status_code == status
    if status == 200:
        assert b"Compliance dashboard" in response.content


def test_dashboard_needs_sign_in_and_two_factor(client, db):
    # given an anonymous visitor, and a staff officer signed in with the password only
    officer = make_staff("officer-no-otp", "Compliance officer")
    # when each opens the dashboard
    anonymous = client.get(DASHBOARD)
    client.force_login(officer)
    password_only = client.get(DASHBOARD)
    # then both are sent to the sign-in page
    for response in (anonymous, password_only):
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(
    ("role", "dashboard", "reports", "evidence"),
    [
        ("officer", True, True, True),
        ("auditor", True, True, True),
        ("support", False, False, True),
        ("marketing", False, False, False),
    ],
)
def test_admin_index_links_the_pages_each_role_may_open(client_as, role, dashboard, reports, evidence):
    # given a signed-in user of the role
    client = client_as(role)
    # when they open the admin index
    html = client.get("/admin/").content.decode()
    # then it links exactly the compliance pages they may open
    assert (reverse("dashboard:index") + '"' in html) is dashboard
    assert (reverse("dashboard:reports") + '"' in html) is reports
    assert (reverse("dashboard:evidence_lookup") + '"' in html) is evidence
    assert ('id="compliance-links"' in html) is (dashboard or reports or evidence)


# --- What it shows --------------------------------------------------------------------------


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<(section|div) class="[^"]*" id="{section_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no #{section_id} on the page"
    return match.group(2)


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))


def test_dashboard_shows_live_figures_from_every_app(client_as):
    # given a mixed history in consent, messaging and profile
    seed_compliance_history()
    client = client_as("officer")
    # when the officer opens the dashboard (default range: the last 30 days)
    response = client.get(DASHBOARD)
    html = response.content.decode()
    # then coverage counts contacts that may be messaged (erased and blocked ones excluded)
    coverage = _text(_section(html, "coverage"))
    assert "Order updates 1 0 25.0 %" in coverage  # alice only (chitra erased, dev blocked)
    assert "Marketing 0 2 0.0 %" in coverage  # alice stopped, bala opted out
    # and the chart of opt-ins/opt-outs per day has a bar per series per day
    activity = _section(html, "activity")
    assert activity.count('data-series="Opt-ins"') == 30
    assert activity.count('data-series="Opt-outs"') == 30
    assert "<title" in activity
    # and honour times are measured per source (keyword: at once, storefront: ~2 min)
    honour = _text(_section(html, "honour-time"))
    assert re.search(r"WhatsApp 1 \d+ ms", honour)
    assert re.search(r"Account settings 1 2 min", honour)
    # and messages by status, suppressed by reason, failures by Meta's code
    assert re.search(r"Suppressed: reason Messages opted_out 2", _text(_section(html, "suppressed")))
    assert "131049" in _section(html, "suppressed")
    messages_chart = _section(html, "messages")
    assert re.search(r"<title>Read: 1</title>", messages_chart)
    # and the template board shows the held RED template as not sendable
    board = _text(_section(html, "templates"))
    assert re.search(r"delivery_delayed en .* RED Quality RED no: template_paused", board)
    assert "RED 1" in board and "HELD 1" in board
    # and the tiles: ledger intact, sending running, one alert, one drift
    tiles = _text(_section(html, "status-tiles"))
    assert "Consent ledger Intact" in tiles
    assert "Sending Running" in tiles
    assert "Open alerts 2" in tiles  # the held template, the complaint's late clocks
    assert "Business profile 1 drift" in tiles
    assert "about" in _section(html, "profile")
    assert "delivery_delayed held" in _section(html, "alerts")
    # and complaints: one open and overdue, received in the range by category, one resolved
    assert "Complaints 1 open 1 overdue" in tiles
    complaints = _section(html, "complaints")
    assert re.search(r"<title>Privacy: 1</title>", complaints)
    assert re.search(r"<title>Unwanted messages: 1</title>", complaints)
    text = _text(complaints)
    assert "Open, first response overdue 1" in text and "Resolved in the range 1" in text


def test_dashboard_shows_stop_all_and_a_broken_ledger(client_as):
    # given sending stopped and a failed ledger verification
    SendingPolicy.objects.create(pk=1, stop_all=True, stop_all_reason="[admin] account restricted",
                                 stop_all_since=timezone.now())
    LedgerVerification.objects.create(started_at=timezone.now(), finished_at=timezone.now(), ok=False,
                                      events_checked=41, first_bad_sequence=42,
                                      problem="event #42 does not match its hash (altered)")
    # when an auditor opens the dashboard
    html = client_as("auditor").get(DASHBOARD).content.decode()
    # then both are impossible to miss
    tiles = _text(_section(html, "status-tiles"))
    assert "Sending STOPPED" in tiles and "account restricted" in tiles
    assert "Consent ledger BROKEN" in tiles and "event #42 does not match its hash" in tiles


def test_date_range_filters_the_activity(client_as):
    # given an opt-in 40 days ago and one today
    notice = {n.language: n for n in seed_notices()}["en"]
    consent_opt_in(phone=indian_mobile(201), purposes=["marketing"], notice=notice, source="import", actor=ACTOR,
                   occurred_at=timezone.now() - dt.timedelta(days=40))
    consent_opt_in(phone=indian_mobile(202), purposes=["marketing"], notice=notice, source="checkout", actor=ACTOR)
    client = client_as("officer")
    today = timezone.localdate()
    # when the officer looks at the default range, then at the 40th day back alone
    default = _text(_section(client.get(DASHBOARD).content.decode(), "honour-time"))
    old_day = (today - dt.timedelta(days=40)).isoformat()
    old = client.get(DASHBOARD, {"date_from": old_day, "date_to": old_day})
    # then each counts only its own opt-in
    assert re.search(r"Total 1 0 0", default)
    assert old.status_code == 200
    assert re.search(r"Total 1 0 0", _text(_section(old.content.decode(), "honour-time")))
    assert _section(old.content.decode(), "activity").count('data-series="Opt-ins"') == 1


@pytest.mark.parametrize(
    ("params", "field_error"),
    [
        ({"date_from": "2026-03-10", "date_to": "2026-03-01"}, "on or before the end"),
        ({"date_from": "2024-01-01", "date_to": "2025-12-31"}, "at most 366 days"),
        ({"date_from": "not-a-date"}, "Enter a valid date"),
        ({"date_to": "2999-01-01"}, "cannot end in the future"),
        ({"date_from": "1999-01-01", "date_to": "1999-01-02"}, "cannot start before"),
    ],
)
def test_bad_date_range_is_refused_with_the_reason(client_as, params, field_error):
    # given an officer
    client = client_as("officer")
    # when they ask for a bad range
    response = client.get(DASHBOARD, params)
    # then the page answers 400 and says what is wrong, and shows no figures
    assert response.status_code == 400
    assert field_error in response.content.decode()
    assert 'id="coverage"' not in response.content.decode()


def test_dashboard_query_count_does_not_grow_with_the_data(client_as):
    # given an officer and an empty database
    client = client_as("officer")
    with CaptureQueriesContext(connection) as empty:
        assert client.get(DASHBOARD).status_code == 200
    # when the data grows (contacts, events, messages, templates)
    seed_compliance_history()
    with CaptureQueriesContext(connection) as full:
        assert client.get(DASHBOARD).status_code == 200
    # then the dashboard runs the same bounded set of aggregate queries (+ one per template:
    # the sending gate reads the approved revision, already joined — so none)
    assert len(full.captured_queries) <= len(empty.captured_queries) + 2, [q["sql"][:120] for q in full.captured_queries]
    assert len(full.captured_queries) < 40


def test_honour_time_percentiles_match_a_hand_computation(db):
    # given storefront opt-outs acknowledged 10, 20, 30 and 40 seconds after the customer acted
    notice = {n.language: n for n in seed_notices()}["en"]
    for i, delay in enumerate((10, 20, 30, 40)):
        phone = indian_mobile(300 + i)
        consent_opt_in(phone=phone, purposes=["marketing"], notice=notice, source="checkout", actor=ACTOR)
        consent_opt_out(phone=phone, purposes=["marketing"], source="account_settings", actor=ACTOR,
                        occurred_at=timezone.now() - dt.timedelta(seconds=delay))
    # when the honour times of yesterday and today are computed (just after midnight India time
    # an opt-out 40 s old happened yesterday)
    today = timezone.localdate()
    overall = opt_out_honour_times(DateRange(today - dt.timedelta(days=1), today))[0]
    # then p50 and p95 interpolate like percentile_cont (~25 s and ~38.5 s) and worst is ~40 s
    assert overall.count == 4
    assert overall.p50 == pytest.approx(25, abs=1.5)
    assert overall.p95 == pytest.approx(38.5, abs=1.5)
    assert overall.worst == pytest.approx(40, abs=1.5)


def test_activity_counts_per_day_in_india_time(db):
    # given an opt-in at 23:30 India time yesterday (18:00 UTC) and one at 00:30 today
    notice = {n.language: n for n in seed_notices()}["en"]
    today = timezone.localdate()
    midnight = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    consent_opt_in(phone=indian_mobile(401), purposes=["marketing"], notice=notice, source="checkout", actor=ACTOR,
                   occurred_at=midnight - dt.timedelta(minutes=30))
    consent_opt_in(phone=indian_mobile(402), purposes=["marketing"], notice=notice, source="checkout", actor=ACTOR,
                   occurred_at=min(midnight + dt.timedelta(minutes=30), timezone.now()))
    # when the last two days are counted
    activity = consent_activity(DateRange(today - dt.timedelta(days=1), today))
    # then each lands on its own local day
    assert activity.opt_ins == [1, 1]


# --- The SVG chart helper ---------------------------------------------------------------------


def test_nice_ticks_cover_the_maximum_with_round_steps():
    assert charts.nice_ticks(0) == [0, 1]
    assert charts.nice_ticks(7) == [0, 2, 4, 6, 8]
    assert charts.nice_ticks(1234)[-1] >= 1234
    assert charts.nice_ticks(1234) == [0, 250, 500, 750, 1000, 1250]


def test_column_chart_draws_a_titled_bar_per_value_and_escapes_labels():
    # given two series over three days, one label with markup in it
    svg = charts.column_chart(
        title="Opt-ins <per> day",
        labels=["1 Mar", "2 Mar", "<b>3</b>"],
        series=[charts.Series("Opt-ins", [3, 0, 5], "#0a0"), charts.Series("Opt-outs", [1, 2, 0], "#a00")],
        y_label="Events",
    )
    # then there are six bars, each with a tooltip, the svg is labelled, and nothing is unescaped
    assert svg.count('<rect class="bar"') == 6
    assert "<title>1 Mar: 3 opt-ins</title>" in svg
    assert 'role="img"' in svg and "Opt-ins &lt;per&gt; day" in svg
    assert "<b>" not in svg
    heights = [float(h) for h in re.findall(r'class="bar"[^>]* height="([\d.]+)"', svg)]
    # bars go day by day, series by series: 3, 1 | 0, 2 | 5, 0 — the 5 is tallest, zeros are flat
    assert heights.index(max(heights)) == 4
    assert heights[2] == heights[5] == 0.0
    assert heights[0] == pytest.approx(3 * heights[1])


def test_long_ranges_switch_to_a_line_chart():
    svg = charts.column_chart(title="t", labels=[str(i) for i in range(90)],
                              series=[charts.Series("Opt-ins", [1] * 90, "#0a0")], y_label="n")
    assert 'class="line"' in svg and '<rect class="bar"' not in svg
    assert svg.count("<circle") == 90


def test_range_queries_count_events_by_when_they_occurred(db):
    # given 6 events recorded 60 days ago, a backdated import recorded today that occurred 40
    # days ago, and one opt-in today (recorded_at rewritten past the append-only trigger)
    notice = {n.language: n for n in seed_notices()}["en"]
    now = timezone.now()
    for i in range(6):
        consent_opt_in(phone=indian_mobile(500 + i), purposes=["marketing"], notice=notice, source="checkout",
                       actor=ACTOR)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute("UPDATE consent_consentevent SET recorded_at = %s, occurred_at = %s",
                           [now - dt.timedelta(days=60), now - dt.timedelta(days=60)])
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    consent_opt_in(phone=indian_mobile(510), purposes=["marketing"], notice=notice, source="import", actor=ACTOR,
                   occurred_at=now - dt.timedelta(days=40))
    consent_opt_in(phone=indian_mobile(511), purposes=["marketing"], notice=notice, source="checkout", actor=ACTOR)
    today = timezone.localdate()
    # when the activity of 45 and 30 days is counted
    last_45 = consent_activity(DateRange(today - dt.timedelta(days=44), today))
    last_30 = consent_activity(DateRange(today - dt.timedelta(days=29), today))
    # then the old events are left out, and the backdated import counts when it occurred
    assert last_45.totals["in"] == 2
    assert last_30.totals["in"] == 1
