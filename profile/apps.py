from django.apps import AppConfig


class ProfileConfig(AppConfig):
    """The business profile, support channels and policy documents.

    The folder is named `profile` (the product brief fixes the layout), which shadows the
    standard library's `profile` module for code run from the repository root: profile with
    pyinstrument or py-spy, not `python -m cProfile`. The label is frozen explicitly.
    """

    name = "profile"
    label = "business_profile"
    verbose_name = "Business profile and policy"

    def ready(self) -> None:
        from profile import audit  # noqa: F401  (registers the models with django-auditlog)
