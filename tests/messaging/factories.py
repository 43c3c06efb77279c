"""factory_boy factories of the messaging app (templates part; the sending pipeline adds its own)."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User

from consent.purposes import PURPOSE_FOR_CATEGORY, TemplateCategory
from messaging.models import (
    MessageTemplate,
    MetaTemplateStatus,
    RevisionStatus,
    TemplateQuality,
    TemplateRevision,
)
from tests.factories import ModelFactory

UTILITY_BODY = "Hi {{1}}, your order {{2}} has shipped and should reach you by {{3}}. Track it in the app."
UTILITY_EXAMPLES = ["Ravi", "PK-10023", "27 Nov"]


class UserFactory(ModelFactory[User]):
    """A staff user; `roles=["Compliance officer"]` puts them in those groups."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@pandorakart.com")
    is_staff = True

    @factory.post_generation
    def roles(self: User, create: bool, extracted: Any, **kwargs: Any) -> None:  # self: the user built
        if create and extracted:
            for role in extracted:
                group, _ = Group.objects.get_or_create(name=role)
                self.groups.add(group)


class MessageTemplateFactory(ModelFactory[MessageTemplate]):
    class Meta:
        model = MessageTemplate

    name = factory.Sequence(lambda n: f"order_update_{n}")
    language = "en"
    category = TemplateCategory.UTILITY
    purpose = factory.LazyAttribute(lambda o: PURPOSE_FOR_CATEGORY[TemplateCategory(o.category)])


class TemplateRevisionFactory(ModelFactory[TemplateRevision]):
    class Meta:
        model = TemplateRevision

    template = factory.SubFactory(MessageTemplateFactory)
    number = factory.Sequence(lambda n: n + 1)
    category = factory.LazyAttribute(lambda o: o.template.category)
    body = UTILITY_BODY
    body_examples = factory.LazyFunction(lambda: list(UTILITY_EXAMPLES))
    author = factory.SubFactory(UserFactory)


def make_usable_template(
    *,
    name: str = "order_shipped",
    language: str = "en",
    category: str = TemplateCategory.UTILITY,
    body: str = UTILITY_BODY,
    body_examples: list[str] | None = None,
    **revision_fields: Any,
) -> MessageTemplate:
    """A template in the state a send needs: reviewed by a second person, submitted, Meta
    APPROVED, quality GREEN (rows written directly: for tests of the code that *reads* templates)."""
    template = MessageTemplateFactory(name=name, language=language, category=category)
    revision = TemplateRevisionFactory(
        template=template,
        number=1,
        category=category,
        body=body,
        body_examples=body_examples if body_examples is not None else list(UTILITY_EXAMPLES),
        status=RevisionStatus.SUBMITTED,
        reviewed_by=UserFactory(),
        **revision_fields,
    )
    template.current_revision = revision
    template.approved_revision = revision
    template.status = RevisionStatus.SUBMITTED
    template.meta_template_id = str(880_000_000_000 + template.pk)  # Meta ids are numeric
    template.meta_status = MetaTemplateStatus.APPROVED
    template.quality = TemplateQuality.GREEN
    template.save()
    return template
