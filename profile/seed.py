"""Demo and first-run data of the profile app (called by `manage.py seed_demo`; idempotent).

The profile and policy version 1 come from PANDORAKART's published WhatsApp Business Policy
(reference/pandorakart-whatsapp-policy.txt, copied verbatim to policy_v1.txt); the register
entries from reference/compliance-requirements.md and whatsapp-cloud-api.md.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, TextIO

from profile.models import PolicyVersion, RegulatoryChange, Vertical
from profile.services.business_profile import profile_ensure
from profile.services.policy import policy_draft_create
from profile.services.publishing import policy_publish
from profile.services.regulatory import regulatory_change_seed

POLICY_V1_PATH = Path(__file__).with_name("policy_v1.txt")

PROFILE = {
    "name": "PANDORAKART",
    "about": "PANDORAKART: shopping across India. Order and delivery updates, and offers only if you opt in. "
    "Reply STOP to opt out of offers.",
    "description": "PANDORAKART is an online store in India. On WhatsApp we send order, payment and delivery "
    "updates, answer support questions and, only with your consent, share offers. Reply STOP to stop offers "
    "at any time. Support: support@pandorakart.com",
    "address": "",
    "email": "support@pandorakart.com",
    "websites": ["https://www.pandorakart.com"],
    "vertical": Vertical.RETAIL.value,
    "phone": "+91 9227021270",
    "support_email": "support@pandorakart.com",
    "support_phone": "+91 9227021270",
    "support_website": "https://www.pandorakart.com",
}

_S = RegulatoryChange.Source
_RULES_PHASE_2 = date(2027, 5, 13)  # 18 months after notification (13/14 Nov 2025): about 13/14 May 2027

REGISTER: list[dict[str, Any]] = [
    {
        "seed_key": "dpdp-rules-2025-notified",
        "source": _S.DPDP_RULES,
        "title": "DPDP Rules, 2025 notified (phased commencement)",
        "summary": "Notified 13/14 Nov 2025. The Data Protection Board took effect on notification; "
        "consent-manager provisions apply after about 12 months; most obligations of businesses (notice, "
        "security, rights, breach) after 18 months, around 13/14 May 2027. Check the dates against the Gazette.",
        "reference_url": "https://www.business-standard.com/amp/industry/news/dpdp-act-rules-notified-digital-"
        "personal-data-protection-operationalised-125111400811_1.html",
        "effective_date": date(2025, 11, 13),
        "affected_areas": "consent, notices, security, complaints, retention",
        "review_due": date(2027, 2, 15),
    },
    {
        "seed_key": "dpdp-rules-consent-managers",
        "source": _S.DPDP_RULES,
        "title": "DPDP Rule 4: consent managers",
        "summary": "About 12 months after notification (~13/14 Nov 2026) registered consent managers may give, "
        "manage, review and withdraw consent for a person (Act s.6(7)-(9)). Accept consent-manager artefacts "
        "(actor type consent manager) and emit withdrawal events; press reports say consent managers keep "
        "records for at least 7 years.",
        "reference_url": "https://dpdpa.co.in/rule-4-dpdp-2025",
        "effective_date": date(2026, 11, 13),
        "affected_areas": "consent API, consent ledger",
        "review_due": date(2026, 12, 15),
    },
    {
        "seed_key": "dpdp-rules-notice",
        "source": _S.DPDP_RULES,
        "title": "DPDP Rule 3: itemised, standalone consent notice",
        "summary": "From ~13/14 May 2027: a standalone notice in clear and plain language with an itemised list of "
        "personal data, each with its purpose, and a link to withdraw consent (as easily as it was given), "
        "exercise rights and complain to the Board. Put a withdrawal link or keyword in every marketing template.",
        "reference_url": "https://www.consently.in/blog/dpdp-rule-3-itemized-consent-notice-guide",
        "effective_date": _RULES_PHASE_2,
        "affected_areas": "consent notices, templates",
        "review_due": date(2027, 2, 13),
    },
    {
        "seed_key": "dpdp-rules-security",
        "source": _S.DPDP_RULES,
        "title": "DPDP Rule 6: reasonable security safeguards, logs kept 1 year",
        "summary": "From ~13/14 May 2027: encryption or masking, access control, logging and monitoring, backups, "
        "logs and personal data retained 1 year for investigation, security clauses in processor contracts.",
        "reference_url": "https://dpdpa.co.in/rule-6",
        "effective_date": _RULES_PHASE_2,
        "affected_areas": "security, audit log, roles",
        "review_due": date(2027, 2, 13),
    },
    {
        "seed_key": "dpdp-rules-breach",
        "source": _S.DPDP_RULES,
        "title": "DPDP Rule 7: personal data breach notification (72 hours)",
        "summary": "From ~13/14 May 2027: tell affected people without delay; tell the Board without delay and "
        "send a detailed report within 72 hours. Keep a breach runbook.",
        "reference_url": "https://www.getastra.com/blog/compliance/dpdp-compliance/",
        "effective_date": _RULES_PHASE_2,
        "affected_areas": "security, operations",
        "review_due": date(2027, 2, 13),
    },
    {
        "seed_key": "dpdp-rules-retention",
        "source": _S.DPDP_RULES,
        "title": "DPDP Rule 8 and Third Schedule: retention and erasure",
        "summary": "From ~13/14 May 2027: e-commerce entities with 2 crore or more registered users in India erase "
        "data 3 years after the person last approached them, with 48 hours' notice before erasure; every "
        "business keeps personal data, traffic data and processing logs for at least 1 year.",
        "reference_url": "https://www.dpdpa.in/dpdpa_rules_2025/Rule_8.htm",
        "effective_date": _RULES_PHASE_2,
        "affected_areas": "retention, erasure, templates",
        "review_due": date(2027, 2, 13),
    },
    {
        "seed_key": "dpdp-rules-rights-grievance",
        "source": _S.DPDP_RULES,
        "title": "DPDP Rule 14: rights requests and grievances (90-day outer limit)",
        "summary": "From ~13/14 May 2027: publish how to make rights requests and which identifiers are needed, "
        "verify identity, resolve grievances within a fixed outer limit (90 days per secondary sources; check "
        "the Gazette wording and rule number).",
        "reference_url": "https://www.privacyglobal.org/blog/dpdp-rule-14-rights-of-data-principals",
        "effective_date": _RULES_PHASE_2,
        "affected_areas": "complaints, data-subject requests",
        "review_due": date(2027, 2, 13),
    },
    {
        "seed_key": "dpdp-act-consent-withdrawal-proof",
        "source": _S.DPDP_ACT,
        "title": "DPDP Act s.6: withdrawal as easy as consent; proof of notice and consent",
        "summary": "Consent must be free, specific, informed and unambiguous, per purpose; withdrawal as easy as "
        "giving it, with processors made to stop (s.6(4)-(6)); the business must prove notice and consent when "
        "disputed (s.6(10)).",
        "reference_url": "https://www.apnilaw.com/bare-act/dpdp/section-6-digital-personal-data-protection-act-"
        "dpdp-consent",
        "effective_date": _RULES_PHASE_2,
        "affected_areas": "consent ledger, opt-out, messaging",
        "review_due": date(2027, 2, 13),
    },
    {
        "seed_key": "meta-utility-recategorisation-2025",
        "source": _S.META_POLICY,
        "title": "Meta: UTILITY templates judged marketing are approved as MARKETING",
        "summary": "Since 9 April 2025, a template submitted as UTILITY that Meta considers marketing is approved "
        "as MARKETING (review can be requested within 60 days). Sync template categories and pause a template "
        "whose category changed; marketing sends need marketing consent.",
        "reference_url": "https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/"
        "template-categorization",
        "effective_date": date(2025, 4, 9),
        "affected_areas": "templates, messaging",
        "review_due": date(2026, 12, 31),
    },
    {
        "seed_key": "meta-bsuid-2026",
        "source": _S.META_POLICY,
        "title": "Meta: business-scoped user IDs (BSUIDs) in webhooks",
        "summary": "Since April 2026 webhooks carry user_id (a BSUID, e.g. US.1349...); users with usernames may "
        "hide their phone number. Meta says every integration must support BSUIDs: match opt-outs and "
        "complaints by BSUID as well as by phone.",
        "reference_url": "https://developers.facebook.com/documentation/business-messaging/whatsapp/"
        "business-scoped-user-ids/",
        "effective_date": date(2026, 4, 1),
        "affected_areas": "webhooks, consent, complaints",
        "review_due": date(2026, 12, 31),
    },
    {
        "seed_key": "trai-tcccpr-2025-second-amendment",
        "source": _S.TRAI,
        "title": "TRAI TCCCPR 2018, Second Amendment 2025",
        "summary": "Notified 12 Feb 2025: promotional content in a service or transactional message makes the "
        "whole message promotional; stricter header and template controls. Binds SMS fallback and OTP SMS; "
        "WhatsApp (OTT) is outside its scope today, so keep it on the watchlist and lint templates for mixed "
        "content.",
        "reference_url": "https://khaitanco.com/thought-leadership/Efforts-to-Curb-Spam-Continue-TRAI-Releases-"
        "Second-Amendment-to-the-TCCCPR-2018",
        "effective_date": date(2025, 2, 12),
        "affected_areas": "templates, SMS fallback",
        "review_due": date(2027, 3, 31),
    },
    {
        "seed_key": "meta-profile-support-contacts",
        "source": _S.META_POLICY,
        "title": "Meta Business Messaging Policy: accurate profile with support contacts",
        "summary": "The business profile must carry customer-support contact details (email, website and/or "
        "phone), kept accurate, with no impersonation.",
        "reference_url": "https://business.whatsapp.com/policy",
        "effective_date": None,
        "affected_areas": "business profile",
        "review_due": date(2027, 1, 31),
    },
]


def seed_demo(stdout: TextIO) -> None:
    profile, created = profile_ensure(values=PROFILE, actor=None)
    stdout.write(f"Business profile {'created' if created else 'already present'}: {profile.name}\n")

    if not PolicyVersion.objects.filter(number=1).exists():
        draft = policy_draft_create(
            title="WhatsApp Business Policy",
            body=POLICY_V1_PATH.read_text(encoding="utf-8"),
            change_summary="First published version.",
            significant_change=False,  # nothing to tell customers about: no campaign
            actor=None,
        )
        version = policy_publish(version_id=draft.pk, actor=None)
        stdout.write(f"Published {version}\n")

    added = regulatory_change_seed(entries=REGISTER)
    stdout.write(f"Regulatory register: {added} entr{'y' if added == 1 else 'ies'} added\n")
