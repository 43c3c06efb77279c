"""Demo data for complaints: the WhatsApp intake words and three complaints in different states
(received with the acknowledgement owed, investigating with a note, resolved and closed).

Idempotent: the intake words are matched on their normalised form, and the demo complaints are
created only while no complaint carries the demo marker.
"""

from __future__ import annotations

from typing import IO

from complaints.intake import DEFAULT_TRIGGERS, normalize_phrase
from complaints.models import Category, Channel, Complaint, IntakeTrigger, Outcome, Status
from complaints.services.handling import complaint_add_note
from complaints.services.intake import complaint_create
from complaints.services.workflow import complaint_resolve, complaint_transition
from consent.models import Source
from consent.selectors import notice_current
from consent.services.optin import consent_opt_in
from consent.types import Actor as ConsentActor
from pandorakart_wa.core.audit import system_user

SEED_ACTOR = "seed-complaints"
DEMO_MARKER = "[demo] "
DEMO_PHONE = "+919000000101"  # a demo customer (India's mobile range, not a real subscriber)


def intake_triggers_ensure() -> int:
    """The default WhatsApp intake words (the migration adds them too); returns how many were added."""
    added = 0
    for phrase, kind, whole_message in DEFAULT_TRIGGERS:
        _, created = IntakeTrigger.objects.get_or_create(
            normalized=normalize_phrase(phrase),
            defaults={"phrase": phrase, "kind": kind, "whole_message": whole_message},
        )
        added += int(created)
    return added


def seed_demo(stdout: IO[str]) -> None:
    added = intake_triggers_ensure()
    actor = system_user(SEED_ACTOR)
    if Complaint.objects.filter(created_by=actor.get_username()).exists():  # descriptions are ciphertext
        stdout.write(f"Complaints: demo complaints present; intake words added: {added}\n")
        return
    notice = notice_current(language="en")
    if notice is not None:
        consent_opt_in(phone=DEMO_PHONE, purposes=["order_updates", "marketing"], notice=notice,
                       source=Source.CHECKOUT, actor=ConsentActor.system("seed_demo"),
                       evidence={"note": "demo customer"})
    owed = complaint_create(
        channel=Channel.PHONE, category=Category.PRIVACY, actor=actor, contact_details="+91 90000 00102",
        description=f"{DEMO_MARKER}Caller asks how PANDORAKART got their number and wants it deleted.",
        customer_name="Anita",
    )
    investigating = complaint_create(
        channel=Channel.WEBSITE, category=Category.UNWANTED_MESSAGES, actor=actor, phone=DEMO_PHONE,
        description=f"{DEMO_MARKER}I keep getting offers after replying STOP.", customer_name="Ravi",
    )
    complaint_transition(complaint=investigating, to_status=Status.INVESTIGATING, actor=actor)
    complaint_add_note(complaint=investigating, actor=actor,
                       note="Ledger shows a STOP on 2 Nov; checking which campaign sent after it.")
    closed = complaint_create(
        channel=Channel.EMAIL, category=Category.OPT_OUT_NOT_HONOURED, actor=actor, phone=DEMO_PHONE,
        contact_details="ravi@example.com", description=f"{DEMO_MARKER}Still receiving messages after opting out.",
    )
    complaint_resolve(complaint=closed, outcome=Outcome.CONSENT_VALID_NO_BREACH, actor=actor,
                      resolution="Your opt-out covered offers only; order updates continue as you chose at checkout.")
    complaint_transition(complaint=closed, to_status=Status.CLOSED, actor=actor)
    stdout.write(
        f"Complaints: demo {owed.reference} (received), {investigating.reference} (investigating), "
        f"{closed.reference} (closed); intake words added: {added}\n"
    )
