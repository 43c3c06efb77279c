"""Each role sees exactly the admin pages it should: one test per role and page.

The matrix below is the role design, written out: V = may open the list (view), A = may add.
A page not in a role's row must answer 403 to that role; Auditors read everything and add or
change nothing. Actions and exports are checked by each app's own tests.
"""

from __future__ import annotations

import pytest
from django.contrib import admin

from pandorakart_wa.core.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT
from tests.backoffice.helpers import make_staff

pytestmark = pytest.mark.django_db

ALL_VIEW = {
    "auditlog.logentry", "auth.group", "auth.user", "axes.accessattempt", "axes.accessfailurelog",
    "axes.accesslog", "business_profile.businessprofile", "business_profile.compliancealert",
    "business_profile.policyversion", "business_profile.profiledrift", "business_profile.profilesyncrun",
    "business_profile.regulatorychange", "complaints.complaint", "complaints.complaintsignal",
    "complaints.intaketrigger", "consent.consentartefactaction", "consent.consentevent", "consent.consentmanager",
    "consent.consentnotice", "consent.consentstate", "consent.contact", "consent.ledgercheckpoint",
    "consent.ledgerverification", "consent.optoutkeyword",
    "core.storefrontapikey", "core.webhookevent", "core.webhookitem", "messaging.campaign", "messaging.lintterm",
    "messaging.message", "messaging.messagerate",
    "messaging.messagetemplate", "messaging.sendingpolicy", "messaging.templaterevision",
    "messaging.templatestatusevent", "otp_totp.totpdevice",
}

MATRIX: dict[str, dict[str, str]] = {
    COMPLIANCE_OFFICER: {
        **dict.fromkeys(ALL_VIEW, "V"),
        **dict.fromkeys(
            ["business_profile.businessprofile", "business_profile.policyversion",
             "business_profile.regulatorychange", "complaints.complaint", "complaints.intaketrigger",
             "consent.consentmanager", "consent.consentnotice", "consent.optoutkeyword", "messaging.campaign",
             "messaging.lintterm", "messaging.messagerate", "messaging.messagetemplate"],
            "VA",
        ),
    },
    AUDITOR: dict.fromkeys(ALL_VIEW, "V"),
    SUPPORT_AGENT: {
        **dict.fromkeys(
            ["business_profile.businessprofile", "business_profile.policyversion", "complaints.complaintsignal",
             "complaints.intaketrigger", "consent.consentevent", "consent.consentnotice", "consent.consentstate",
             "consent.contact", "messaging.campaign", "messaging.message", "messaging.messagetemplate",
             "messaging.templaterevision"],
            "V",
        ),
        "complaints.complaint": "VA",
    },
    # Marketing sees no individual customer (contacts, consent states, single messages): it works
    # on templates and campaigns, whose pages give the counts it needs.
    MARKETING: {
        **dict.fromkeys(
            ["business_profile.businessprofile", "business_profile.policyversion", "consent.consentnotice",
             "messaging.lintterm", "messaging.messagerate", "messaging.sendingpolicy", "messaging.templaterevision",
             "messaging.templatestatusevent"],
            "V",
        ),
        "messaging.campaign": "VA",
        "messaging.messagetemplate": "VA",
    },
}

REGISTERED = sorted(model._meta.label_lower for model in admin.site._registry)
CASES = [(role, label) for role in MATRIX for label in REGISTERED]


def test_the_matrix_names_every_admin_page():
    assert set(REGISTERED) == ALL_VIEW


@pytest.mark.parametrize(("role", "label"), CASES, ids=[f"{r}:{m}" for r, m in CASES])
def test_role_sees_exactly_its_pages(otp_client, role, label):
    # given a staff user in the role, signed in with 2FA
    client = otp_client(make_staff(f"user-{abs(hash(role)) % 10_000}", role))
    app_label, model = label.split(".")
    rights = MATRIX[role].get(label, "")
    # when they open the page's list and its add form
    listing = client.get(f"/admin/{app_label}/{model}/")
    adding = client.get(f"/admin/{app_label}/{model}/add/")
    # then exactly what the matrix grants is open (a single-row admin with no row yet redirects
    # its list to the add form)
    if "V" in rights:
        assert listing.status_code in (200, 302), f"{role} list {label}"
    else:
        assert listing.status_code == 403, f"{role} list {label}"
    if "A" in rights:
        assert adding.status_code in (200, 302), f"{role} add {label}"  # single-row admins redirect
    else:
        assert adding.status_code == 403, f"{role} add {label}"
