"""``Registry``: the one registry type behind amx's worlds, methods, metrics and claim sets.

A registry maps names to objects of one kind. ``register`` refuses a name taken twice and names
both sources; ``get`` of an unknown name lists the valid ones and the closest match. Other
packages extend amx the way pytest plugins extend pytest: through an entry-point group
(``amx.worlds``, ``amx.methods``, ``amx.metrics``, ``amx.claims``) whose entries are loaded once,
on the first look-up, each registered under the entry point's name::

    # a researcher's pyproject.toml
    [project.entry-points."amx.metrics"]
    ssim = "my_package.metrics:SSIM_SPEC"

>>> r = Registry("colour")
>>> r.register("red", 1)
1
>>> r.get("rde")
Traceback (most recent call last):
...
amx.registry.UnknownNameError: unknown colour 'rde'. Did you mean 'red'? Valid colours: red
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry key; the message lists the valid names and the closest match."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


class RegistryError(RuntimeError):
    """A duplicate registration, or an entry point that failed to load."""


def unknown_name(kind: str, name: str, valid) -> UnknownNameError:
    """The error for ``name`` not among ``valid``, with a "did you mean" hint."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return UnknownNameError(f"unknown {kind} {name!r}.{hint} Valid {kind}s: {', '.join(valid)}")


def _caller() -> str:
    """``module:line`` of the code that called ``register`` (the registration's source)."""
    for frame in inspect.stack()[2:]:
        if frame.filename != __file__:
            return f"{frame.frame.f_globals.get('__name__', frame.filename)}:{frame.lineno}"
    return "unknown"


class Registry(Generic[T]):
    """Named objects of one ``kind``, extended by the entry-point group ``group`` if given.

    ``expected``: the type every object must be (a subclass of it, where the registry holds
    classes); such an object must also be registered under its own ``name``. ``check(name,
    obj)``: any further rule, raising on a bad registration.
    """

    def __init__(self, kind: str, group: str | None = None, expected: type | None = None,
                 check: Callable[[str, T], None] | None = None):
        self.kind = kind
        self.group = group
        self._expected = expected
        self._check = check
        self._items: dict[str, T] = {}
        self._sources: dict[str, str] = {}
        self._loaded = group is None
        self._failure: str | None = None

    def register(self, name: str, obj: T, source: str | None = None) -> T:
        """Add ``obj`` under ``name``; a name registered twice is an error naming both sources."""
        source = source or _caller()
        if name in self._items:
            raise RegistryError(f"{self.kind} {name!r} is registered twice: by {self._sources[name]} "
                                f"and by {source}")
        self._check_kind(name, obj)
        if self._check is not None:
            self._check(name, obj)
        self._items[name] = obj
        self._sources[name] = source
        return obj

    def _check_kind(self, name: str, obj) -> None:
        if self._expected is None:
            return
        expected = self._expected
        if not (issubclass(obj, expected) if isinstance(obj, type) else isinstance(obj, expected)):
            raise TypeError(f"{self.kind} {name!r}: expected {expected.__module__}.{expected.__name__}, "
                            f"got {obj!r}")
        if getattr(obj, "name", name) != name:
            raise ValueError(f"{self.kind} registered as {name!r} is named {obj.name!r}")

    def get(self, name: str) -> T:
        """The object called ``name``; an unknown name lists the valid ones."""
        self._load_entry_points()
        if name not in self._items:
            raise unknown_name(self.kind, name, self._items)
        return self._items[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load_entry_points()
        return sorted(self._items)

    def source(self, name: str) -> str:
        """Where ``name`` was registered (``module:line`` or the entry point)."""
        self.get(name)
        return self._sources[name]

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> list[tuple[str, T]]:
        """``(name, object)`` pairs in registration order (amx's own first, then entry points)."""
        self._load_entry_points()
        return self.registered()

    def registered(self) -> list[tuple[str, T]]:
        """``items()`` as registered so far, without loading entry points (for ``check`` rules)."""
        return list(self._items.items())

    def _load_entry_points(self) -> None:
        """Load the group's entry points on first use; a broken one is an error naming it, raised
        on every look-up (the others are registered)."""
        if not self._loaded:
            self._loaded = True
            failures = []
            for ep in metadata.entry_points(group=self.group):
                where = f"entry point {ep.name!r} = {ep.value!r} (group {self.group}"
                where += f", distribution {ep.dist.name})" if ep.dist is not None else ")"
                try:
                    self.register(ep.name, ep.load(), source=where)
                except Exception as err:
                    failures.append(f"{where} failed to load: {type(err).__name__}: {err}")
            self._failure = "; ".join(failures) or None
        if self._failure:
            raise RegistryError(self._failure)
