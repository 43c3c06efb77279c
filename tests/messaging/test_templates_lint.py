"""Each lint rule with a template that breaks it and one that passes it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from messaging.lint import Severity, Vocabulary, lint_template
from messaging.template_format import TemplateContent, meta_components

VOCABULARY = Vocabulary(promotional=("coupon", "offer", "sale", "छूट"), abusive=("defaulter", "बेवकूफ", "shut up"))

UTILITY = TemplateContent(
    name="order_shipped",
    language="en",
    category="UTILITY",
    body="Hi {{1}}, your order {{2}} has shipped and should reach you by {{3}}. Track it in the app.",
    body_examples=("Ravi", "PK-10023", "27 Nov"),
)
MARKETING = TemplateContent(
    name="festive_offer",
    language="en",
    category="MARKETING",
    body="Hi {{1}}, our Diwali sale is live with 20% off on home decor until {{2}}. Shop on the app.",
    body_examples=("Ravi", "12 Nov"),
    buttons=({"type": "QUICK_REPLY", "text": "Stop promotions"},),
)
AUTH = TemplateContent(
    name="login_code",
    language="en",
    category="AUTHENTICATION",
    body="{{1}} is your verification code. For your security, do not share this code.",
    body_examples=("482913",),
    buttons=({"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"},),
)


def qr(text: str = "Track order") -> dict[str, str]:
    return {"type": "QUICK_REPLY", "text": text}


def url(link: str = "https://www.pandorakart.com/orders", **extra: Any) -> dict[str, str]:
    return {"type": "URL", "text": "Track order", "url": link, **extra}


def phone(number: str = "+919227021270") -> dict[str, str]:
    return {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": number}


def copy_code(example: str = "DIWALI20") -> dict[str, str]:
    return {"type": "COPY_CODE", "example": example}


# (rule, component, severity, base, changes that break the rule, changes that pass it)
CASES: list[tuple[str, str, Severity, TemplateContent, dict[str, Any], dict[str, Any]]] = [
    ("name.format", "name", Severity.ERROR, UTILITY, {"name": "Order-Shipped"}, {"name": "order_shipped_v2"}),
    ("name.length", "name", Severity.ERROR, UTILITY, {"name": "a" * 513}, {"name": "a" * 512}),
    ("language.format", "language", Severity.ERROR, UTILITY, {"language": "english"}, {"language": "en_US"}),
    ("header.length", "header", Severity.ERROR, UTILITY, {"header_text": "Your order update " * 4},
     {"header_text": "Your order has shipped"}),
    ("header.variables", "header", Severity.ERROR, UTILITY,
     {"header_text": "Order {{1}} for {{2}}", "header_examples": ("PK-1", "Ravi")},
     {"header_text": "Order {{1}} update", "header_examples": ("PK-1",)}),
    ("body.required", "body", Severity.ERROR, UTILITY, {"body": "  ", "body_examples": ()}, {}),
    ("body.length", "body", Severity.ERROR, UTILITY, {"body": UTILITY.body + " Thank you." * 100}, {}),
    ("footer.length", "footer", Severity.ERROR, UTILITY, {"footer": "PandoraKart " * 6},
     {"footer": "PandoraKart, Bengaluru"}),
    ("footer.variables", "footer", Severity.ERROR, UTILITY, {"footer": "Order {{1}}"}, {"footer": "PandoraKart"}),
    ("buttons.total", "buttons", Severity.ERROR, UTILITY, {"buttons": [qr(f"Option {i}") for i in range(9)] + [url(), url()]},
     {"buttons": [qr(f"Option {i}") for i in range(8)] + [url(), url()]}),
    ("buttons.quick_reply_count", "buttons", Severity.ERROR, UTILITY, {"buttons": [qr(f"Option {i}") for i in range(11)]},
     {"buttons": [qr(f"Option {i}") for i in range(10)]}),
    ("buttons.grouping", "buttons", Severity.ERROR, UTILITY, {"buttons": [qr("Yes"), url(), qr("No")]},
     {"buttons": [qr("Yes"), qr("No"), url()]}),
    ("buttons.url_count", "buttons", Severity.ERROR, UTILITY, {"buttons": [url(), url(), url()]}, {"buttons": [url(), url()]}),
    ("buttons.phone_count", "buttons", Severity.ERROR, UTILITY, {"buttons": [phone(), phone()]}, {"buttons": [phone()]}),
    ("buttons.copy_code_count", "buttons", Severity.ERROR, MARKETING,
     {"buttons": [copy_code(), copy_code(), qr("Stop promotions")]}, {"buttons": [copy_code(), qr("Stop promotions")]}),
    ("buttons.label_length", "buttons[0]", Severity.ERROR, UTILITY, {"buttons": [qr("x" * 26)]}, {"buttons": [qr("x" * 25)]}),
    ("buttons.label_required", "buttons[0]", Severity.ERROR, UTILITY, {"buttons": [qr("")]}, {"buttons": [qr("Help")]}),
    ("buttons.type", "buttons[0]", Severity.ERROR, UTILITY, {"buttons": [{"type": "CALL_ME", "text": "Hi"}]},
     {"buttons": [phone()]}),
    ("buttons.url_required", "buttons[0]", Severity.ERROR, UTILITY, {"buttons": [url("pandorakart.com/orders")]},
     {"buttons": [url("https://www.pandorakart.com/orders")]}),
    ("buttons.url_variables", "buttons[0]", Severity.ERROR, UTILITY,
     {"buttons": [url("https://www.pandorakart.com/{{1}}/track", example="PK-1")]},
     {"buttons": [url("https://www.pandorakart.com/track/{{1}}", example="PK-1")]}),
    ("examples.missing", "buttons[0]", Severity.ERROR, UTILITY, {"buttons": [url("https://www.pandorakart.com/track/{{1}}")]},
     {"buttons": [url("https://www.pandorakart.com/track/{{1}}", example="PK-1")]}),
    ("buttons.phone_format", "buttons[0]", Severity.ERROR, UTILITY, {"buttons": [phone("9227021270")]},
     {"buttons": [phone("+919227021270")]}),
    ("buttons.copy_code_example", "buttons[0]", Severity.ERROR, MARKETING,
     {"buttons": [copy_code("SUPERLONGCODE12345"), qr("Stop promotions")]},
     {"buttons": [copy_code("DIWALI20"), qr("Stop promotions")]}),
    ("buttons.otp_outside_authentication", "buttons[0]", Severity.ERROR, UTILITY,
     {"buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy"}]}, {"buttons": [qr("Help")]}),
    ("variables.malformed", "body", Severity.ERROR, UTILITY,
     {"body": "Hi {{name}}, your order {{1}} has shipped and should reach you soon.", "body_examples": ("PK-1",)}, {}),
    ("variables.malformed", "body", Severity.ERROR, UTILITY,
     {"body": "Hi {{1}, your order has shipped and should reach you soon.", "body_examples": ()}, {}),
    ("variables.special_chars", "body", Severity.ERROR, UTILITY,
     {"body": "Hi {{#1}}, your order has shipped and should reach you soon.", "body_examples": ("Ravi",)}, {}),
    ("variables.sequence", "body", Severity.ERROR, UTILITY,
     {"body": "Hi {{1}}, your order {{3}} has shipped and should reach you soon.", "body_examples": ("Ravi", "PK-1")}, {}),
    ("variables.sequence", "body", Severity.ERROR, UTILITY,
     {"body": "Hi {{2}}, your order {{1}} has shipped and should reach you soon.", "body_examples": ("PK-1", "Ravi")}, {}),
    ("variables.at_start", "body", Severity.ERROR, UTILITY,
     {"body": "{{1}}, your order has shipped and should reach you soon.", "body_examples": ("Ravi",)},
     {"body": "Hi {{1}}, your order has shipped and should reach you soon.", "body_examples": ("Ravi",)}),
    ("variables.at_end", "body", Severity.ERROR, UTILITY,
     {"body": "Your order has shipped and should reach you by {{1}}", "body_examples": ("27 Nov",)},
     {"body": "Your order has shipped and should reach you by {{1}}.", "body_examples": ("27 Nov",)}),
    ("variables.adjacent", "body", Severity.ERROR, UTILITY,
     {"body": "Hi, your order {{1}}{{2}} has shipped and should reach you soon.", "body_examples": ("PK", "-1")},
     {"body": "Hi, your order {{1}} of {{2}} has shipped and should reach you soon.", "body_examples": ("PK-1", "Rs 400")}),
    ("variables.density", "body", Severity.WARNING, UTILITY,
     {"body": "Order {{1}}, {{2}}, {{3}} today.", "body_examples": ("a", "b", "c")}, {}),
    ("examples.missing", "body", Severity.ERROR, UTILITY, {"body_examples": ("Ravi", "PK-10023")}, {}),
    ("examples.special_chars", "body", Severity.ERROR, UTILITY, {"body_examples": ("Ravi", "PK-10023", "$20")},
     {"body_examples": ("Ravi", "PK-10023", "₹20")}),
    ("examples.extra", "body", Severity.WARNING, UTILITY, {"body_examples": ("Ravi", "PK-10023", "27 Nov", "extra")}, {}),
    ("auth.otp_button", "buttons", Severity.ERROR, AUTH, {"buttons": ()}, {}),
    ("auth.other_buttons", "buttons", Severity.ERROR, AUTH, {"buttons": (*AUTH.buttons, qr("Help"))}, {}),
    ("auth.header", "header", Severity.ERROR, AUTH, {"header_text": "Your code"}, {}),
    ("auth.footer", "footer", Severity.ERROR, AUTH, {"footer": "PandoraKart"}, {}),
    ("auth.code_variable", "body", Severity.ERROR, AUTH,
     {"body": "Your verification code is below. Do not share it.", "body_examples": ()}, {}),
    ("auth.url", "body", Severity.ERROR, AUTH,
     {"body": "{{1}} is your code. Log in at https://www.pandorakart.com now."}, {}),
    ("auth.emoji", "body", Severity.ERROR, AUTH, {"body": "{{1}} is your verification code 🔐. Do not share it."}, {}),
    ("auth.parameter_length", "body", Severity.ERROR, AUTH, {"body_examples": ("1234567890123456",)},
     {"body_examples": ("123456789012345",)}),
    ("content.mixed_promotional", "body", Severity.ERROR, UTILITY,
     {"body": UTILITY.body + " Use coupon SAVE10 on your next order."}, {}),
    ("content.mixed_promotional", "body", Severity.ERROR, UTILITY, {"body": UTILITY.body + " Get 20% off next time."}, {}),
    ("content.mixed_promotional", "buttons[0]", Severity.ERROR, UTILITY, {"buttons": [qr("See offer")]},
     {"buttons": [qr("Track order")]}),
    ("content.mixed_promotional", "body", Severity.ERROR, AUTH,
     {"body": "{{1}} is your verification code. Big sale today, do not share this code."}, {}),
    ("content.opt_out_missing", "buttons", Severity.ERROR, MARKETING, {"buttons": ()},
     {"buttons": (), "footer": "Reply STOP to opt out"}),
    ("content.opt_out_missing", "buttons", Severity.ERROR, MARKETING, {"buttons": [qr("Shop now")]},
     {"buttons": [qr("Shop now"), qr("Stop promotions")]}),
    ("content.shouting", "body", Severity.WARNING, UTILITY,
     {"body": "HI {{1}}, YOUR ORDER {{2}} HAS SHIPPED AND WILL REACH YOU BY {{3}}. TRACK IT NOW."}, {}),
    ("content.exclamations", "body", Severity.WARNING, UTILITY,
     {"body": "Hi {{1}}, your order {{2}} has shipped!!! It should reach you by {{3}}."},
     {"body": "Hi {{1}}, your order {{2}} has shipped! It should reach you by {{3}}."}),
    ("content.url_shortener", "body", Severity.ERROR, UTILITY,
     {"body": UTILITY.body + " Details: https://bit.ly/3xYz"}, {"body": UTILITY.body + " Details: https://www.pandorakart.com/orders"}),
    ("content.url_shortener", "buttons[0]", Severity.ERROR, UTILITY, {"buttons": [url("https://tinyurl.com/pk-track")]},
     {"buttons": [url()]}),
    ("content.abusive_term", "body", Severity.ERROR, UTILITY,
     {"body": "Hi {{1}}, pay for order {{2}} by {{3}} or be listed as a defaulter."}, {}),
    ("content.abusive_term", "body", Severity.ERROR, UTILITY,
     {"body": "नमस्ते {{1}}, बेवकूफ मत बनिए, ऑर्डर {{2}} {{3}} तक पहुँचेगा।"},
     {"body": "नमस्ते {{1}}, आपका ऑर्डर {{2}} {{3}} तक पहुँचेगा।"}),
]


def _ids(case: tuple[Any, ...]) -> str:
    return str(case[0])


@pytest.mark.parametrize(("rule", "component", "severity", "base", "breaking", "passing"), CASES, ids=[c[0] for c in CASES])
def test_lint_rule_fails_the_breaking_template_and_passes_the_other(
    rule: str, component: str, severity: Severity, base: TemplateContent, breaking: dict[str, Any], passing: dict[str, Any]
) -> None:
    # given a template that breaks the rule and one that keeps it
    bad = replace(base, **breaking)
    good = replace(base, **passing)
    # when both are linted
    bad_findings = lint_template(bad, VOCABULARY)
    good_findings = lint_template(good, VOCABULARY)
    # then the rule is reported on the component at fault with its severity, and not on the other
    assert any(f.rule == rule and f.component == component and f.severity == severity for f in bad_findings), bad_findings
    assert not any(f.rule == rule for f in good_findings), good_findings


@pytest.mark.parametrize("content", [UTILITY, MARKETING, AUTH], ids=["utility", "marketing", "authentication"])
def test_well_formed_templates_of_each_category_have_no_findings(content: TemplateContent) -> None:
    # given a realistic template of each category / when linted / then nothing is found
    assert lint_template(content, VOCABULARY) == []


def test_errors_come_before_warnings() -> None:
    # given a template with a warning (shouting) and an error (missing example)
    content = replace(UTILITY, body=UTILITY.body.upper(), body_examples=())
    # when
    severities = [f.severity for f in lint_template(content, VOCABULARY)]
    # then
    assert severities == sorted(severities, key=lambda s: s != Severity.ERROR)
    assert Severity.WARNING in severities


def test_terms_match_whole_words_only() -> None:
    # given "sale" is promotional, and a utility body that says "wholesale" and "resale"
    content = replace(UTILITY, body="Hi {{1}}, your wholesale order {{2}} for resale ships by {{3}}. Thank you.")
    # when / then: no promotional finding
    assert not [f for f in lint_template(content, VOCABULARY) if f.rule == "content.mixed_promotional"]


def test_meta_components_carry_an_example_for_each_variable() -> None:
    # given a utility template with a header variable, a footer and a URL button
    content = replace(
        UTILITY,
        header_text="Order {{1}}",
        header_examples=("PK-10023",),
        footer="PandoraKart",
        buttons=(url("https://www.pandorakart.com/track/{{1}}", example="PK-10023"),),
    )
    # when
    components = meta_components(content)
    # then: Meta's shape, POSITIONAL examples included
    assert components == [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["PK-10023"]}},
        {"type": "BODY", "text": UTILITY.body, "example": {"body_text": [["Ravi", "PK-10023", "27 Nov"]]}},
        {"type": "FOOTER", "text": "PandoraKart"},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Track order", "url": "https://www.pandorakart.com/track/{{1}}", "example": ["PK-10023"]}
        ]},
    ]
