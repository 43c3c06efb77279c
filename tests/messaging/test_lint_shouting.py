"""The shouting rule on realistic Indian retail copy: capitals that shout are warned about, the
capitals retail copy is full of (acronyms, payment rails, the brand, STOP, offer codes) are not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from messaging.lint import lint_template
from messaging.template_format import TemplateContent

MARKETING = TemplateContent(
    name="festive_offer", language="en", category="MARKETING", body="", body_examples=("Priya",),
    buttons=({"type": "QUICK_REPLY", "text": "Stop promotions"},),
)

SHOUTING = [
    # half the body in capitals: a ratio over the whole body missed it
    "HUGE FLASH SALE TODAY ONLY… CLICK NOW to grab the best deals on mobiles, laptops and more, {{1}}.",
    "Hi {{1}}, BIG BILLION DAYS are here: smartphones, TVs and kitchen appliances at our lowest prices of the year.",
    # one word shouted for emphasis
    "Hi {{1}}, get FREE delivery on every order above ₹499 this weekend. Reply STOP to opt out.",
    "Hi {{1}}, HURRY, the end of season sale on kurtas and sarees closes at midnight tonight.",
    "HI {{1}}, YOUR FAVOURITES ARE BACK IN STOCK. SHOP NOW BEFORE THEY ARE GONE.",
]
CALM = [
    "Hi {{1}}, light up your Diwali with up to 40% off on home decor, lights and kitchenware. Reply STOP to opt out.",
    "Hi {{1}}, pay by UPI or COD and get no-cost EMI on orders above ₹3,000. Use code DIWALI40 at checkout.",
    "Hi {{1}}, PANDORAKART's new arrivals in ethnic wear are here, in sizes XS to XXL. GST included in the MRP.",
    "Hi {{1}}, your OTP-free checkout is ready: save your PAN and KYC once and shop faster on the app.",
    "नमस्ते {{1}}, दिवाली सेल में घर की सजावट पर 40% तक की छूट। STOP लिखकर भेजें और ऑफ़र बंद करें।",
]


@pytest.mark.parametrize("body", SHOUTING)
def test_shouted_copy_is_warned_about(body: str) -> None:
    findings = lint_template(replace(MARKETING, body=body))
    assert [f.rule for f in findings if f.rule == "content.shouting"] == ["content.shouting"], findings


@pytest.mark.parametrize("body", CALM)
def test_ordinary_retail_capitals_are_not_shouting(body: str) -> None:
    findings = lint_template(replace(MARKETING, body=body))
    assert not [f for f in findings if f.rule == "content.shouting"], findings


def test_the_finding_names_the_words_that_shout() -> None:
    run = lint_template(replace(MARKETING, body=SHOUTING[0]))
    assert any("HUGE FLASH SALE TODAY ONLY" in f.message for f in run)
    emphasis = lint_template(replace(MARKETING, body=SHOUTING[2]))
    assert any("FREE" in f.message and "STOP" not in f.message for f in emphasis)
