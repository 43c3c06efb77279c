"""`shared_task` with a type: Celery ships no type hints, so under mypy --strict its decorator
would make every task untyped. This one hands its options to Celery's own `shared_task` and
returns what Celery returns (the same task, same name, same options); only the checker's view
changes: a task is a `Task[P, R]`, callable like the function and with typed `delay`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Concatenate, Literal, ParamSpec, Protocol, TypeVar, cast, overload

from celery import shared_task as _celery_shared_task

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Task(Protocol[P, R_co]):
    """What the project's code (and its tests) use of a Celery task."""

    name: str
    max_retries: int | None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Any: ...

    def apply_async(
        self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> Any: ...

    def apply(  # run in this process, as the tests do
        self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> Any: ...


@overload
def shared_task(*, bind: Literal[True], **options: Any) -> Callable[[Callable[Concatenate[Any, P], R]], Task[P, R]]: ...


@overload
def shared_task(*, bind: Literal[False] = ..., **options: Any) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def shared_task(**options: Any) -> Callable[[Callable[..., Any]], Task[..., Any]]:
    """`celery.shared_task(**options)`, typed. A bound task (`bind=True`) takes the task as its
    first argument, which its callers do not pass."""

    def decorate(fun: Callable[..., Any]) -> Task[..., Any]:
        return cast("Task[..., Any]", _celery_shared_task(**options)(fun))

    return decorate
