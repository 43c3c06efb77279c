"""The demo templates: realistic, lint-clean, approved by a second person, usable at once on the sandbox."""

from __future__ import annotations

import io

import pytest

from messaging.lint import lint_template
from messaging.models import MessageTemplate
from messaging.seed import DEMO_TEMPLATES, seed_demo
from messaging.selectors import lint_vocabulary, template_usable
from messaging.template_format import TemplateContent
from pandorakart_wa.whatsapp import reset_backend

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(settings, tmp_path):
    settings.WHATSAPP_BACKEND = "pandorakart_wa.whatsapp.backends.sandbox.SandboxBackend"
    settings.WHATSAPP_SANDBOX_STATE = str(tmp_path / "sandbox.json")
    reset_backend()
    yield
    reset_backend()


@pytest.mark.parametrize("spec", DEMO_TEMPLATES, ids=[f"{s.name}-{s.language}" for s in DEMO_TEMPLATES])
def test_each_demo_template_has_no_lint_finding_at_all(spec):
    content = TemplateContent(name=spec.name, language=spec.language, category=spec.category, body=spec.fields.body,
                              header_text=spec.fields.header_text, footer=spec.fields.footer, buttons=spec.fields.buttons,
                              body_examples=spec.fields.body_examples)
    assert lint_template(content, lint_vocabulary()) == []


def test_seed_on_the_sandbox_makes_every_template_usable_and_runs_twice(sandbox):
    # when seeded twice
    seed_demo(io.StringIO())
    out = io.StringIO()
    seed_demo(out)
    # then each template exists once, approved by a second system user, and usable
    templates = list(MessageTemplate.objects.select_related("approved_revision"))
    assert len(templates) == len(DEMO_TEMPLATES) == 14
    for template in templates:
        revision = template.approved_revision
        assert revision is not None
        assert revision.reviewed_by_id != revision.author_id
        assert template_usable(template) == (True, None), template
    assert {t.language for t in templates if t.name.startswith(("order_", "out_for"))} == {"en", "hi"}
    assert {t.category for t in templates} == {"UTILITY", "MARKETING", "AUTHENTICATION"}
    assert "0 created, 14 of 14 usable now" in out.getvalue()


def test_seed_with_a_gateway_that_only_queues_leaves_them_pending():
    # given the locmem gateway, which answers PENDING like Meta
    seed_demo(io.StringIO())
    # then they are submitted but wait for Meta
    template = MessageTemplate.objects.get(name="order_confirmed", language="en")
    assert (template.status, template.meta_status) == ("submitted", "PENDING")
    assert template_usable(template) == (False, "template_not_approved")
