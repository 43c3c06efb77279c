"""django.contrib.admin with the two-factor staff site as `admin.site`.

Django's documented way to replace the default admin site: an AdminConfig whose `default_site`
names the site class. `django.contrib.admin.site` is then an instance of StaffAdminSite, so
every app's `admin.site.register(...)` and `@admin.register(...)` keeps working unchanged,
whatever the import order, and no AdminSite object is swapped or mutated at run time.
"""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    default_site = "pandorakart_wa.admin_site.StaffAdminSite"
