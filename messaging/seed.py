"""Demo templates for an Indian retailer (API.md, Operations: `seed_demo`). Idempotent.

Each template goes through the real workflow: written by one system user, approved by another
(four eyes holds for the seed too), then submitted through the configured gateway. The sandbox
approves at once, so the templates are usable straight away; with `cloud` they wait for Meta
(`sync_message_templates` pulls the verdict). Existing templates are never changed.

Buttons carry fixed URLs: the send API fills the body's variables only (API.md), so a template
with a variable in a button URL could not be sent through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from messaging.models import MessageTemplate, RevisionStatus
from messaging.selectors import usable_templates
from messaging.services.common import TemplateFields
from messaging.services.drafting import template_approve, template_create_draft, template_submit_for_review
from messaging.services.submission import template_submit_to_meta
from pandorakart_wa.core.audit import system_user
from pandorakart_wa.whatsapp.errors import WhatsAppError

SEED_AUTHOR = "seed-author"
SEED_REVIEWER = "seed-reviewer"
SITE = "https://www.pandorakart.com"
STOP_PROMOTIONS = {"type": "QUICK_REPLY", "text": "Stop promotions"}


@dataclass(frozen=True)
class SeedTemplate:
    name: str
    language: str
    category: str
    fields: TemplateFields


def _url(text: str, path: str, example: str = "") -> dict[str, Any]:
    button: dict[str, Any] = {"type": "URL", "text": text, "url": f"{SITE}{path}"}
    if example:
        button["example"] = example
    return button


DEMO_TEMPLATES: tuple[SeedTemplate, ...] = (
    SeedTemplate("order_confirmed", "en", "UTILITY", TemplateFields(
        body="Hi {{1}}, thank you for shopping with PandoraKart. Your order {{2}} for {{3}} is confirmed, "
        "and we will message you when it ships.",
        body_examples=("Priya", "PK-10023", "₹1,499"),
        buttons=(_url("View order", "/orders"),),
    )),
    SeedTemplate("order_confirmed", "hi", "UTILITY", TemplateFields(
        body="नमस्ते {{1}}, PandoraKart से खरीदारी के लिए धन्यवाद। आपका ऑर्डर {{2}} (राशि {{3}}) कन्फ़र्म हो गया है। "
        "शिप होते ही हम आपको WhatsApp पर बताएँगे।",
        body_examples=("प्रिया", "PK-10023", "₹1,499"),
        buttons=(_url("ऑर्डर देखें", "/orders"),),
    )),
    SeedTemplate("order_shipped", "en", "UTILITY", TemplateFields(
        body="Hi {{1}}, your PandoraKart order {{2}} has shipped and should reach you by {{3}}. Track it "
        "in the app or on our website.",
        body_examples=("Ravi", "PK-10023", "27 Nov"),
        buttons=(_url("Track shipment", "/orders"),),
    )),
    SeedTemplate("order_shipped", "hi", "UTILITY", TemplateFields(
        body="नमस्ते {{1}}, आपका PandoraKart ऑर्डर {{2}} भेज दिया गया है और {{3}} तक आप तक पहुँच जाना चाहिए। "
        "ऐप या वेबसाइट पर इसे ट्रैक करें।",
        body_examples=("रवि", "PK-10023", "27 नवंबर"),
        buttons=(_url("शिपमेंट ट्रैक करें", "/orders"),),
    )),
    SeedTemplate("out_for_delivery", "en", "UTILITY", TemplateFields(
        body="Hi {{1}}, your order {{2}} is out for delivery today. Please keep your phone reachable: "
        "our delivery partner may call you before arriving.",
        body_examples=("Priya", "PK-10023"),
    )),
    SeedTemplate("out_for_delivery", "hi", "UTILITY", TemplateFields(
        body="नमस्ते {{1}}, आपका ऑर्डर {{2}} आज डिलीवरी के लिए निकल चुका है। कृपया अपना फ़ोन चालू रखें, "
        "डिलीवरी पार्टनर पहुँचने से पहले आपको कॉल कर सकते हैं।",
        body_examples=("प्रिया", "PK-10023"),
    )),
    SeedTemplate("refund_processed", "en", "UTILITY", TemplateFields(
        body="Hi {{1}}, we have processed a refund of {{2}} for order {{3}}. It should reach your original "
        "payment method within 5-7 working days.",
        body_examples=("Priya", "₹1,499", "PK-10023"),
    )),
    SeedTemplate("login_code", "en", "AUTHENTICATION", TemplateFields(
        body="{{1}} is your verification code. For your security, do not share this code.",
        body_examples=("482913",),
        buttons=({"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"},),
    )),
    SeedTemplate("cart_reminder", "en", "MARKETING", TemplateFields(
        body="Hi {{1}}, you left {{2}} in your PandoraKart cart. It is still available and your cart is saved "
        "for you.",
        body_examples=("Priya", "a cotton kurta set"),
        buttons=(_url("View cart", "/cart"), STOP_PROMOTIONS),
    )),
    SeedTemplate("festive_offer", "en", "MARKETING", TemplateFields(
        header_text="Diwali at PandoraKart",
        body="Hi {{1}}, light up your Diwali with up to 40% off on home decor, lights and kitchenware. "
        "The offer is valid till {{2}}.",
        body_examples=("Priya", "12 Nov"),
        buttons=(_url("See Diwali deals", "/diwali"), STOP_PROMOTIONS),
    )),
    SeedTemplate("opt_in_confirmation", "en", "UTILITY", TemplateFields(
        body="Hi {{1}}, you are now subscribed to {{2}} from PandoraKart on WhatsApp. Reply STOP at any time "
        "to unsubscribe.",
        body_examples=("Priya", "order updates"),
    )),
    SeedTemplate("opt_out_confirmation", "en", "UTILITY", TemplateFields(
        body="Hi {{1}}, you will no longer receive {{2}} messages from PandoraKart on WhatsApp. Reply START "
        "to subscribe again.",
        body_examples=("Priya", "marketing"),
    )),
    SeedTemplate("policy_update_notice", "en", "UTILITY", TemplateFields(
        body="Hi {{1}}, we have updated the PandoraKart WhatsApp Business Policy to version {{2}}, effective "
        "{{3}}. Tap below to read what changed.",
        body_examples=("Priya", "2", "1 Dec 2026"),
        buttons=(_url("Read the policy", "/policy/"),),
    )),
    SeedTemplate("complaint_acknowledgement", "en", "UTILITY", TemplateFields(
        body="Hi {{1}}, we have received your complaint {{2}} and will respond by {{3}}. You can reply here to "
        "add details.",
        body_examples=("Priya", "CMP-2026-000123", "30 Nov"),
    )),
)


def seed_demo(stdout: IO[str]) -> None:
    author = system_user(SEED_AUTHOR)
    reviewer = system_user(SEED_REVIEWER)
    created = 0
    for spec in DEMO_TEMPLATES:
        template = MessageTemplate.objects.filter(name=spec.name, language=spec.language).first()
        if template is None:
            template = template_create_draft(
                name=spec.name, language=spec.language, category=spec.category, fields=spec.fields, author=author
            )
            template_submit_for_review(template=template, actor=author)
            template_approve(template=template, actor=reviewer, note="Demo template (seed)")
            created += 1
        template.refresh_from_db()
        if template.current_revision is not None and template.current_revision.status == RevisionStatus.APPROVED:
            try:
                template_submit_to_meta(template=template, actor=reviewer)
            except WhatsAppError as exc:  # Meta unreachable: `sync_message_templates` submits it later
                stdout.write(f"Template {template}: not submitted yet ({exc})\n")
    usable = usable_templates().filter(name__in={s.name for s in DEMO_TEMPLATES}).count()
    stdout.write(f"Message templates: {created} created, {usable} of {len(DEMO_TEMPLATES)} usable now\n")
