"""`ModelAdmin[Message]`, `TabularInline[MessageEvent, Message]` and `ModelForm[Campaign]` as base
classes, without changing what the classes are at runtime.

django-stubs makes these classes generic in their model, and mypy --strict wants the model named.
Django itself gives them no `__class_getitem__` (only QuerySet and Manager have one), so
`admin.ModelAdmin[Message]` raises TypeError at import; django_stubs_ext.monkeypatch() would add
one to Django's classes at runtime. Here the checker sees django-stubs' classes, and at runtime
subscripting one of these names hands back Django's own class: a class statement built on
`ModelAdmin[Message]` gets exactly the bases, MRO and metaclass `admin.ModelAdmin` gave it.

Use them in class statements only; at runtime they are not the classes themselves (isinstance()
and issubclass() take Django's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin as ModelAdmin
    from django.contrib.admin import TabularInline as TabularInline
    from django.forms import ModelForm as ModelForm
else:
    from django import forms
    from django.contrib import admin

    class _Subscriptable:
        """A generic class's name at runtime: `Name[...]` (and `Name` as a base) is the class."""

        def __init__(self, cls: type) -> None:
            self._cls = cls

        def __getitem__(self, params: object) -> type:
            return self._cls

        def __mro_entries__(self, bases: tuple[object, ...]) -> tuple[type]:
            return (self._cls,)

        def __repr__(self) -> str:
            return f"{self._cls.__module__}.{self._cls.__qualname__}"

    ModelAdmin = _Subscriptable(admin.ModelAdmin)
    TabularInline = _Subscriptable(admin.TabularInline)
    ModelForm = _Subscriptable(forms.ModelForm)
