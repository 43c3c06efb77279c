"""The base of the tests' factory_boy factories: `ModelFactory[Model]`, whose call is typed as the model.

factory_boy 3.3 makes its factories generic (`DjangoModelFactory[Model]` types `create()`, `build()` and
their batches as the model), but calling the factory itself, `UserFactory(...)`, goes through its
metaclass's `__call__`, which is unannotated, so mypy sees an instance of the factory class instead.
For mypy, ModelFactory declares that call (as `__new__`) to return the model, as the metaclass does with
the Django factories' create strategy; at run time it is DjangoModelFactory itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from factory.django import DjangoModelFactory

T = TypeVar("T")

if TYPE_CHECKING:

    class ModelFactory(DjangoModelFactory[T]):
        # mypy wants __new__ to return an instance of its class; factory_boy's metaclass returns the model's.
        def __new__(cls, *args: Any, **kwargs: Any) -> T: ...  # type: ignore[misc]

else:
    ModelFactory = DjangoModelFactory
