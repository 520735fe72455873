"""``tf.app.run`` and ``tf.app.flags`` / ``tf.flags``, as TF1 tutorials use them:
``graphengine.compat.v1`` calls ``install`` with its namespace.

>>> import graphengine.compat.v1 as tf
>>> tf.app.flags.DEFINE_integer("batch_size", 32, "examples per step")
>>> tf.app.flags.FLAGS(["prog", "--batch_size=8"])
['prog']
>>> tf.app.flags.FLAGS.batch_size
8
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

_TRUE, _FALSE = ("1", "true", "t", "yes", "y"), ("0", "false", "f", "no", "n")


class _Flags:
    """``FLAGS``: defined flags as attributes, parsed from ``sys.argv`` on first use (or by
    ``FLAGS(argv)`` / ``tf.app.run``). ``--name=value``, ``--name value``; booleans also take
    ``--name`` / ``--noname``."""

    def __init__(self) -> None:
        self.__dict__["_defs"] = {}     # name -> (parse, default, help)
        self.__dict__["_values"] = {}
        self.__dict__["_parsed"] = False

    def _define(self, name: str, default: Any, help: str, parse: Callable) -> None:  # noqa: A002
        self._defs[name] = (parse, default, help)
        self._values[name] = default

    def __call__(self, argv: list) -> list:
        """Parse ``argv`` (argv[0] is the program); returns the arguments that are not flags."""
        rest, i = [argv[0]] if argv else [], 1
        while i < len(argv):
            a = argv[i]
            if a == "--":
                rest.extend(argv[i + 1:])
                break
            name, eq, value = a.lstrip("-").partition("=") if a.startswith("-") and len(a) > 1 else ("", "", "")
            is_bool = name in self._defs and self._defs[name][0] is _bool
            if not eq and name.startswith("no") and name[2:] in self._defs and self._defs[name[2:]][0] is _bool:
                self._values[name[2:]] = False  # --noflag
            elif name in self._defs:
                parse = self._defs[name][0]
                if not eq and is_bool:
                    value = "true"  # --flag
                elif not eq:
                    i += 1
                    if i >= len(argv):
                        raise SystemExit(f"flag --{name} needs a value")
                    value = argv[i]
                try:
                    self._values[name] = parse(value)
                except ValueError as e:
                    raise SystemExit(f"flag --{name}={value}: {e}") from None
            else:
                rest.append(a)
            i += 1
        self.__dict__["_parsed"] = True
        return rest

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if not self._parsed:
            self(list(sys.argv))
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"flag --{name} is not defined") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._values[name] = value

    def flag_values_dict(self) -> dict:
        return dict(self._values)


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).lower()
    if s in _TRUE or s in _FALSE:
        return s in _TRUE
    raise ValueError(f"expected true or false, got {v!r}")


def _list(v: Any) -> list:
    return list(v) if isinstance(v, list | tuple) else [x for x in str(v).split(",") if x]


FLAGS = _Flags()


def _definer(parse: Callable) -> Callable:
    def define(name: str, default: Any, help: str = "", *args: Any, **kw: Any) -> None:  # noqa: A002
        FLAGS._define(name, None if default is None else parse(default), help, parse)
    return define


def run(main: Callable | None = None, argv: list | None = None) -> None:
    """``tf.app.run``: parse the flags, call ``main(remaining argv)`` (default ``__main__.main``)
    and exit with its return value."""
    rest = FLAGS(list(sys.argv if argv is None else argv))
    main = main or sys.modules["__main__"].main
    sys.exit(main(rest))


def install(ns: dict) -> None:
    """Add ``tf.app`` and ``tf.flags`` to ``graphengine.compat.v1``'s globals."""
    flags = ns["_Namespace"](
        "flags", "TF1 ``tf.flags`` / ``tf.app.flags``.", FLAGS=FLAGS,
        DEFINE_string=_definer(str), DEFINE_integer=_definer(int), DEFINE_float=_definer(float),
        DEFINE_boolean=_definer(_bool), DEFINE_bool=_definer(_bool), DEFINE_list=_definer(_list))
    ns["flags"] = flags
    ns["app"] = ns["_Namespace"]("app", "TF1 ``tf.app``.", run=run, flags=flags)
