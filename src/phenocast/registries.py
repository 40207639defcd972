"""Name registries: the one helper behind every extension point (models, featurisers,
acquisition functions, LLM backends). It imports nothing from phenocast, so every package may
use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, TypeVar, overload

__all__ = ["NameRegistry"]

T = TypeVar("T")
_O = TypeVar("_O")


class NameRegistry(MutableMapping[str, T]):
    """Objects registered by name, in registration order: reads like a dict (``name in reg``,
    ``reg[name]``, ``list(reg)``), adds by decorator or call, refuses a taken name and answers
    an unknown one with a :class:`KeyError` listing the known names.

    Parameters
    ----------
    kind
        What the entries are (``"model"``, ``"LLM backend"``), used in error messages.
    name_attr
        If given, each registered object gets this attribute set to its registered name (for
        classes that report their own name, e.g. ``cls.name``).

    Notes
    -----
    Registering a name a second time with a different object raises :class:`ValueError`
    naming both objects; registering the identical object again does nothing. Item assignment
    (``reg[name] = obj``) registers, so it follows the same rule; ``del reg[name]`` removes an
    entry (tests use it to clean up).

    Examples
    --------
    >>> SHAPES = NameRegistry("shape")
    >>> @SHAPES.register("square")
    ... class Square: ...
    >>> SHAPES.register("circle", dict)
    <class 'dict'>
    >>> list(SHAPES), "square" in SHAPES, SHAPES.names()
    (['square', 'circle'], True, ['circle', 'square'])
    >>> SHAPES["triangle"]
    Traceback (most recent call last):
    KeyError: "Unknown shape 'triangle'; choose one of ['circle', 'square']."
    """

    def __init__(self, kind: str, *, name_attr: str | None = None) -> None:
        self.kind = kind
        self.name_attr = name_attr
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[_O], _O]: ...
    @overload
    def register(self, name: str, obj: _O) -> _O: ...

    def register(self, name: str, obj: Any = None) -> Any:
        """Add ``obj`` under ``name`` and return it; without ``obj``, a decorator doing so."""
        if obj is None:
            return lambda o: self.register(name, o)
        old = self._entries.get(name, obj)
        if old is not obj:
            raise ValueError(
                f"{name!r} is already a registered {self.kind} ({_describe(old)}); "
                f"refusing to replace it with {_describe(obj)}."
            )
        if self.name_attr is not None:
            setattr(obj, self.name_attr, name)
        self._entries[name] = obj
        return obj

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"Unknown {self.kind} {name!r}; choose one of {self.names()}.") from None

    def __setitem__(self, name: str, obj: T) -> None:
        self.register(name, obj)

    def __delitem__(self, name: str) -> None:
        self[name]  # raises the unknown-name KeyError
        del self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"NameRegistry({self.kind!r}, names={self.names()})"


def _describe(obj: object) -> str:
    name = getattr(obj, "__qualname__", None)
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if name and module else repr(obj)
