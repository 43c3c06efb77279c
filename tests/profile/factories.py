from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User

from profile.models import BusinessProfile, PolicyVersion, RegulatoryChange, Vertical
from tests.factories import ModelFactory


class StaffUserFactory(ModelFactory[User]):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def role(self: User, create: bool, extracted: str | None, **kwargs: Any) -> None:  # self: the user built
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))
        self.save()


class BusinessProfileFactory(ModelFactory[BusinessProfile]):
    class Meta:
        model = BusinessProfile

    name = "PANDORAKART"
    about = "Shopping across India. Offers only if you opt in."
    description = "PANDORAKART is an online store in India."
    address = "Bengaluru, Karnataka, India"
    email = "support@pandorakart.com"
    websites = factory.LazyFunction(lambda: ["https://www.pandorakart.com"])
    vertical = Vertical.RETAIL
    phone = "+91 9227021270"
    support_email = "support@pandorakart.com"
    support_phone = "+91 9227021270"
    support_website = "https://www.pandorakart.com"


class PolicyDraftFactory(ModelFactory[PolicyVersion]):
    class Meta:
        model = PolicyVersion

    title = "WhatsApp Business Policy"
    body = factory.Sequence(lambda n: f"Policy text {n}\n\n1. Introduction\n\nWe respect your choices ({n}).")
    change_summary = ""
    significant_change = False


class RegulatoryChangeFactory(ModelFactory[RegulatoryChange]):
    class Meta:
        model = RegulatoryChange

    source = RegulatoryChange.Source.OTHER
    title = factory.Sequence(lambda n: f"Change {n}")
    summary = "Something changed."
    status = RegulatoryChange.Status.OPEN
