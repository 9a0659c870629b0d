"""One way to register a kind that the registry YAML chooses by name: architectures, objectives,
evaluation kinds, preprocessing, datasets, table and figure builders.

Each kind is a `Kinds` table of functions that share the kind's signature: its leading arguments
(what the framework passes) followed by keyword options (what the registry entry sets). The
options a registry entry may set, their types and which are required, are read from that
signature, so a new function is one decorated definition and nothing else to keep in step.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from typing import Any, Callable


class Kinds(dict):
    """name -> function for one kind; `fixed` names the leading arguments every function of the kind
    takes from the framework (not registry options)."""

    def __init__(self, kind: str, fixed: tuple[str, ...] = ()):
        super().__init__()
        self.kind, self.fixed = kind, fixed

    def register(self, name: str | None = None, **attributes) -> Callable:
        """Decorator: register the function under `name` (default: its own name), with `attributes`
        set on it (e.g. a dataset's input shape)."""
        def add(function: Callable) -> Callable:
            key = name or function.__name__
            if key in self:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            for attribute, value in attributes.items():
                setattr(function, attribute, value)
            self[key] = function
            return function
        return add

    def lookup(self, name: str) -> Callable:
        """The function registered as `name`; an unknown name fails with the allowed ones."""
        if name not in self:
            raise ValueError(f"unknown {self.kind} {name!r}{_did_you_mean(name, self)}; allowed: "
                             f"{', '.join(sorted(self))}")
        return self[name]

    def options(self, name: str) -> dict[str, inspect.Parameter]:
        """The registry options of `name`: its parameters after the kind's fixed ones."""
        parameters = inspect.signature(self.lookup(name)).parameters
        return {k: p for k, p in parameters.items() if k not in self.fixed and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def problems(self, name: str, options: dict) -> list[str]:
        """What is wrong with registry `options` for `name` (unknown or missing keys, wrong types or
        values), one message each; [] when they fit its signature."""
        if name not in self:
            return [f"unknown {self.kind} {name!r}{_did_you_mean(name, self)}; allowed: {', '.join(sorted(self))}"]
        allowed, hints = self.options(name), typing.get_type_hints(self[name])
        found = [f"unknown key {key!r}{_did_you_mean(key, allowed)} for {self.kind} {name!r}; allowed keys: "
                 f"{', '.join(sorted(allowed)) or 'none'}" for key in options if key not in allowed]
        found += [f"{self.kind} {name!r} needs {key!r}" for key, p in allowed.items()
                  if p.default is p.empty and key not in options]
        found += [f"{options[key]!r} at {key} {why}" for key in options if key in allowed
                  for why in [_type_problem(options[key], hints.get(key))] if why]
        return found


def _did_you_mean(name: str, known) -> str:
    match = difflib.get_close_matches(str(name), list(known), 1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _type_problem(value: Any, hint) -> str | None:
    """Why `value` does not fit the type hint (None when it does, or the hint is not a simple one)."""
    if hint is None or hint is Any:
        return None
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return None if value in arguments else f"is not allowed; allowed values: {', '.join(map(repr, arguments))}"
    if origin in (typing.Union, types.UnionType):
        reasons = [_type_problem(value, a) for a in arguments]
        return None if None in reasons else f"has the wrong type; expected {_name(hint)}"
    if hint is type(None):
        return None if value is None else "is not null"
    expected = {float: (int, float), int: (int,), bool: (bool,), str: (str,), list: (list,), dict: (dict,),
                tuple: (list, tuple)}.get(origin or hint)
    if expected is None:
        return None
    wrong = not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected)
    return f"has the wrong type; expected {_name(hint)}" if wrong else None


def _name(hint) -> str:
    return str(hint).replace("typing.", "")
