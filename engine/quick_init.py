"""A cheaper `__init__` for the frozen dataclasses the write path builds for every append.

A frozen dataclass's generated `__init__` stores each field with `object.__setattr__`: a generic
attribute lookup and call per field, which costs more than when each field goes through its slot's
own descriptor (and a class without slots can have its instance dictionary filled directly). An
append builds a new event, a command, a recorded event, an append result and an outcome.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class _Factory:
    """Stands for "not given" where a field's default comes from a factory (as in dataclasses)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def quick_init(cls: type[T]) -> type[T]:
    """Give a frozen dataclass an `__init__` that stores its fields without `object.__setattr__`.

    The class stays as it was declared: frozen (assignment raises), the same signature (positional
    and keyword-only fields, defaults and default factories), `repr`, `eq` and `hash`. Fields
    outside `__init__` get their default, then `__post_init__` runs, as in the dataclass's own (a
    command checks its inputs there). A class with `InitVar`s is refused here rather than mishandled.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass")
    taken = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    if set(inspect.signature(cls.__init__).parameters) != {"self", *taken}:
        raise TypeError(f"{cls.__name__} has InitVars")
    slotted = "__slots__" in cls.__dict__
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY}
    positional: list[str] = []
    keyword_only: list[str] = []
    body: list[str] = []
    stores: list[str] = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = field.name
        parameter = name
        if not field.init:
            if field.default is dataclasses.MISSING:
                raise TypeError(f"{cls.__name__}.{name}: a field outside __init__ needs a plain default")
            namespace[f"_default_{name}"] = field.default
            body.append(f"    {name} = _default_{name}")
        elif field.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = field.default
            parameter = f"{name}=_default_{name}"
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = field.default_factory
            parameter = f"{name}=_FACTORY"
            body.append(f"    if {name} is _FACTORY:\n        {name} = _factory_{name}()")
        if field.init:
            (keyword_only if field.kw_only else positional).append(parameter)
        if slotted:
            namespace[f"_set_{name}"] = getattr(cls, name).__set__
            stores.append(f"    _set_{name}(self, {name})")
        else:
            stores.append(f"    fields[{name!r}] = {name}")
    if not slotted:
        body.append("    fields = self.__dict__")
    parameters = ", ".join(["self", *positional, *(["*", *keyword_only] if keyword_only else [])])
    finish = "    self.__post_init__()" if hasattr(cls, "__post_init__") else "    pass"
    source = f"def __init__({parameters}):\n" + "\n".join([*body, *stores, finish]) + "\n"
    exec(source, namespace)  # the dataclasses module builds its own __init__ the same way
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = dict(cls.__init__.__annotations__)  # what introspection shows stays the same
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


def quick_builder(cls: type[T]) -> Callable[..., T]:
    """A constructor of `cls` (a frozen dataclass with slots) taking every field positionally, at
    about half the cost of even `quick_init`'s: for the read paths that build an event per row.

    A plain function, not a class: a call from Python code runs it in the caller's frame loop
    (no C call of `type.__call__`, no tuple of the arguments, no `__init__` lookup). It makes an
    empty twin with the same slots and no frozen `__setattr__`, stores each field as a plain
    attribute (the interpreter's fast path for a slot), then turns the object into a `cls`
    (`__class__` assignment, which CPython allows between classes of the same slots). What comes
    out is a `cls` like any other: equal, frozen, the same `repr`.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass with slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__")
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if tuple(names) != tuple(cls.__dict__["__slots__"]):
        raise TypeError(f"{cls.__name__}: its slots are not its fields")
    twin = type(f"{cls.__name__}Builder", (), {"__slots__": tuple(names)})
    twin.__qualname__ = f"{cls.__qualname__}Builder"
    twin.__module__ = cls.__module__
    stores = "".join(f"    self.{name} = {name}\n" for name in names)
    source = f"def build({', '.join(names)}):\n    self = _twin()\n{stores}"
    source += "    self.__class__ = _cls\n    return self\n"
    namespace: dict[str, Any] = {"_cls": cls, "_twin": twin}
    exec(source, namespace)
    build: Callable[..., T] = namespace["build"]
    build.__qualname__ = f"{cls.__qualname__}.build"
    build.__module__ = cls.__module__
    return build
