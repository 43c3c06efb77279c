"""Named hooks: what a lower app calls for the apps above it to do, filled by pandorakart_wa/wiring.py.

A lower app cannot import a higher one (DESIGN.md "Dependencies between apps"), yet consent must
export and erase what messaging and complaints hold, and messaging must tell complaints of a failed
send. The lower app declares a `Hooks` and calls what is connected; wiring.py connects the higher
apps' functions with real imports (seen by mypy and the import graph), and its system check says
when a hook that must be filled is empty. No dotted paths in settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def qualified_name(fn: Callable[..., Any]) -> str:
    """`module.function`: how a connected function is named in logs and alerts."""
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


class Hooks(Generic[F]):
    """An ordered set of functions, each under a key (its qualified name unless given one);
    connecting the same key again replaces it, so wiring may run more than once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._items: dict[str, F] = {}

    def connect(self, fn: F, *, key: str | None = None) -> F:
        self._items[key or qualified_name(fn)] = fn
        return fn

    def items(self) -> list[tuple[str, F]]:
        return list(self._items.items())

    def __iter__(self) -> Iterator[F]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"<Hooks {self.name}: {', '.join(self._items) or 'nothing connected'}>"

    @contextmanager
    def replaced(self, fns: Sequence[F] | Mapping[str, F]) -> Iterator[None]:
        """Only these functions while the block runs (tests)."""
        saved = self._items
        self._items = dict(fns) if isinstance(fns, Mapping) else {qualified_name(fn): fn for fn in fns}
        try:
            yield
        finally:
            self._items = saved
