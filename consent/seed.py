"""Demo and default data for consent: the English and Hindi notices, the keyword list.

Idempotent: existing rows are left alone (a published notice never changes anyway). The
keywords also arrive by a data migration, so production has them without seed_demo.
"""

from __future__ import annotations

from typing import Any

from consent.keywords import DEFAULT_KEYWORDS, PREFERENCE_KEYWORDS, normalize_keyword
from consent.models import ConsentNotice, OptOutKeyword
from consent.services.notices import notice_publish, notice_save
from consent.types import Actor

BUSINESS_NAME = "PANDORAKART"
BUSINESS_CONTACT = "Grievance officer: support@pandorakart.com, +91 9227021270, www.pandorakart.com"

NOTICES: list[dict[str, Any]] = [
    {
        "version": "2026-11-01-en",
        "language": "en",
        "title": "WhatsApp messages from PANDORAKART",
        "text": (
            "PANDORAKART would like to send you WhatsApp messages. Tick each kind you want:\n"
            "- Order updates: confirmations, shipping, delivery, returns and payments for your orders.\n"
            "- Account security: one-time codes when you sign in or confirm a payment.\n"
            "- Offers: discounts, recommendations and reminders about your cart.\n"
            "- Support: replies when you write to us.\n"
            "We use your mobile number only for the kinds you choose, keep a record of your choice, "
            "and never make an order conditional on it. You can withdraw at any time, as easily as "
            "you agreed: reply STOP to stop offers, STOP ALL to stop everything, or change your "
            "choices in your account settings. Withdrawing does not affect messages already sent."
        ),
        "items": [
            {"data": "Mobile number", "purposes": ["order_updates", "account_security", "marketing", "support"],
             "uses": "to deliver the WhatsApp messages you chose"},
            {"data": "Order details (order number, items, delivery status)", "purposes": ["order_updates"],
             "uses": "to tell you about your own orders"},
            {"data": "Browsing and purchase history", "purposes": ["marketing"],
             "uses": "to choose offers and cart reminders relevant to you"},
            {"data": "Your messages to us", "purposes": ["support"], "uses": "to answer your questions"},
        ],
        "purposes": ["order_updates", "account_security", "marketing", "support"],
        "withdrawal_instructions": (
            "Reply STOP (offers) or STOP ALL (every message) on WhatsApp, tap 'Stop promotions' on any "
            "offer, or switch off the messages in your account settings at www.pandorakart.com/account. "
            "Reply START to undo."
        ),
        "complaint_instructions": (
            "Write to our grievance officer at support@pandorakart.com or call +91 9227021270; we answer "
            "within 7 days. If you are not satisfied, you may complain to the Data Protection Board of "
            "India (https://www.dpb.gov.in) under the Digital Personal Data Protection Act, 2023."
        ),
    },
    {
        "version": "2026-11-01-hi",
        "language": "hi",
        "title": "PANDORAKART से WhatsApp संदेश",
        "text": (
            "PANDORAKART आपको WhatsApp पर संदेश भेजना चाहता है। आप जो संदेश चाहते हैं, उन्हें चुनें:\n"
            "- ऑर्डर अपडेट: आपके ऑर्डर की पुष्टि, शिपिंग, डिलीवरी, वापसी और भुगतान।\n"
            "- खाते की सुरक्षा: साइन-इन या भुगतान के लिए वन-टाइम कोड।\n"
            "- ऑफ़र: छूट, सुझाव और आपकी कार्ट के बारे में रिमाइंडर।\n"
            "- सहायता: आपके संदेशों के जवाब।\n"
            "हम आपका मोबाइल नंबर केवल आपके चुने हुए संदेशों के लिए उपयोग करते हैं और आपकी सहमति का रिकॉर्ड "
            "रखते हैं। कोई भी ऑर्डर इस सहमति पर निर्भर नहीं है। आप किसी भी समय उतनी ही आसानी से सहमति वापस "
            "ले सकते हैं: ऑफ़र रोकने के लिए रोकें या STOP लिखें, सब कुछ रोकने के लिए STOP ALL लिखें, या अपने "
            "खाते की सेटिंग में बदलाव करें।"
        ),
        "items": [
            {"data": "मोबाइल नंबर", "purposes": ["order_updates", "account_security", "marketing", "support"],
             "uses": "आपके चुने हुए WhatsApp संदेश भेजने के लिए"},
            {"data": "ऑर्डर का विवरण", "purposes": ["order_updates"], "uses": "आपके ऑर्डर की जानकारी देने के लिए"},
            {"data": "ब्राउज़िंग और ख़रीद का इतिहास", "purposes": ["marketing"],
             "uses": "आपके लिए उपयुक्त ऑफ़र चुनने के लिए"},
            {"data": "हमें भेजे गए आपके संदेश", "purposes": ["support"], "uses": "आपके सवालों के जवाब देने के लिए"},
        ],
        "purposes": ["order_updates", "account_security", "marketing", "support"],
        "withdrawal_instructions": (
            "WhatsApp पर रोकें / बंद / STOP (ऑफ़र) या STOP ALL (सभी संदेश) लिखें, किसी ऑफ़र पर 'Stop promotions' "
            "दबाएँ, या www.pandorakart.com/account पर सेटिंग बदलें। वापस शुरू करने के लिए START लिखें।"
        ),
        "complaint_instructions": (
            "हमारे शिकायत अधिकारी को support@pandorakart.com पर लिखें या +91 9227021270 पर कॉल करें; हम 7 दिनों "
            "में जवाब देते हैं। संतुष्ट न होने पर आप डिजिटल व्यक्तिगत डेटा संरक्षण अधिनियम, 2023 के तहत भारतीय "
            "डेटा संरक्षण बोर्ड (Data Protection Board of India, https://www.dpb.gov.in) से शिकायत कर सकते हैं।"
        ),
    },
]


def seed_keywords() -> int:
    """Add API.md's keywords and the preference-centre ones that are missing (staff edits and
    removals of others are kept)."""
    created = 0
    for phrase, action, scope, language, reply in (*DEFAULT_KEYWORDS, *PREFERENCE_KEYWORDS):
        _, was_created = OptOutKeyword.objects.get_or_create(
            normalized=normalize_keyword(phrase),
            defaults={"phrase": phrase, "action": action, "scope": scope, "language": language, "reply_text": reply},
        )
        created += int(was_created)
    return created


def seed_notices() -> list[ConsentNotice]:
    notices = []
    actor = Actor.system("seed_demo")
    for content in NOTICES:
        notice = ConsentNotice.objects.filter(version=content["version"]).first()
        if notice is None:
            notice = notice_save(
                notice=ConsentNotice(
                    **content, business_name=BUSINESS_NAME, business_contact=BUSINESS_CONTACT
                )
            )
        if not notice.is_published:
            notice = notice_publish(notice=notice, actor=actor)
        notices.append(notice)
    return notices


def seed_demo(stdout: Any) -> None:
    notices = seed_notices()
    created = seed_keywords()
    stdout.write(
        f"Consent notices: {', '.join(n.version for n in notices)} (published); keywords added: {created}"
    )
