"""django.contrib.admin with the two-factor staff site as `admin.site`.

Django's documented way to replace the default admin site: an AdminConfig whose `default_site`
names the site class. `django.contrib.admin.site` is then an instance of StaffAdminSite, so
every app's `admin.site.register(...)` and `@admin.register(...)` keeps working unchanged,
whatever the import order, and no AdminSite object is swapped or mutated at run time.
"""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    default_site = "pandorakart_wa.backoffice.admin.site.StaffAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscovers each app's admin.py
        # the staff site's own screens and audit registrations: users, roles, API keys, sign-in
        # attempts, the audit screen, webhook events (the core app has no admin.py of its own)
        from pandorakart_wa.backoffice.admin import registry  # noqa: F401
