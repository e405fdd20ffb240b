"""What a config key allows, declared beside the code that reads it.

A class built from the config (``_target_``) declares ``rules: ClassVar[tuple[Rule, ...]]`` with keys relative to
its node (``Rule("hidden_dim", ...)`` on a generator checks ``model.generator.hidden_dim``); a module that reads
keys of a group without a ``_target_`` (``optim.lr_g``, ``metrics.*``) declares a ``RULES`` table with full keys.
``ganforge.config`` gathers them and reports every problem at once. The predicates below are shared with the
constructors that must refuse the same values when called from Python, so each rule is written once.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import ListConfig

Check = Callable[[Any], bool]


@dataclass(frozen=True)
class Rule:
    """What a config key allows: checked before anything is built. ``example`` is a valid value (the message says
    ``key=example``). ``bad`` holds a value of the wrong type and one out of range (as command-line overrides): the
    test that walks every key sets both and expects this rule to refuse them."""

    key: str
    allowed: str
    example: str
    check: Check
    bad: tuple[str, str] = ("abc", "-5")

    def at(self, prefix: str) -> "Rule":
        """This rule for the key under ``prefix`` (a class's relative rule placed at its node)."""
        return Rule(f"{prefix}.{self.key}" if prefix else self.key, self.allowed, self.example, self.check, self.bad)

    def problem(self, value: Any, key: str | None = None) -> str | None:
        """What is wrong with ``value`` for ``key`` (default: this rule's), and how to fix it; None if it is allowed."""
        if self.check(value):
            return None
        key = key or self.key
        return f"{key}={value!r} is invalid: it must be {self.allowed} (for example {key}={self.example})."

    def require(self, value: Any, key: str | None = None, error: type[Exception] = ValueError) -> None:
        """Raise ``error`` unless ``value`` is allowed: the same rule for an object built from Python."""
        if (problem := self.problem(value, key)) is not None:
            raise error(problem)


def require_all(
    rules: tuple[Rule, ...], arguments: Mapping[str, Any], error: type[Exception] = ValueError, prefix: str = ""
) -> None:
    """``Rule.require`` for each rule whose key is in ``arguments`` (a constructor's ``locals()``); ``prefix``: the
    config node's path, for the message."""
    for rule in rules:
        if rule.key in arguments:
            rule.require(arguments[rule.key], prefix + rule.key, error)


# --- predicates -----------------------------------------------------------------------------------------------


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def at_least(low: int) -> Check:
    """An integer >= ``low``."""
    return lambda value: is_int(value) and value >= low


def is_positive(value: Any) -> bool:
    return is_number(value) and value > 0


def is_non_negative(value: Any) -> bool:
    return is_number(value) and value >= 0


def is_fraction(value: Any) -> bool:
    """A number in [0, 1)."""
    return is_number(value) and 0 <= value < 1


def is_unit_interval(value: Any) -> bool:
    """A number in (0, 1]."""
    return is_number(value) and 0 < value <= 1


def is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def is_seed(value: Any) -> bool:
    return is_int(value) and 0 <= value < 2**32  # numpy's and Lightning's seed range


def one_of(*allowed: Any) -> Check:
    return lambda value: any(value == a and type(value) is type(a) for a in allowed)


def any_of(*checks: Check) -> Check:
    return lambda value: any(check(value) for check in checks)


def optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def list_of(check: Check, min_length: int = 1) -> Check:
    return lambda value: (
        isinstance(value, (list, tuple, ListConfig)) and len(value) >= min_length and all(map(check, value))
    )


# --- rules ----------------------------------------------------------------------------------------------------


def boolean(key: str, example: str = "true") -> Rule:
    return Rule(key, "true or false", example, one_of(True, False), ("maybe", "2"))


def integer(key: str, low: int, example: str, allowed: str | None = None) -> Rule:
    """An integer >= ``low``."""
    return Rule(key, allowed or f"an integer >= {low}", example, at_least(low), ("abc", str(min(low - 1, -5))))


def optional_integer(key: str, low: int, example: str, null: str) -> Rule:
    """null (meaning ``null``) or an integer >= ``low``."""
    return Rule(key, f"null ({null}) or an integer >= {low}", example, optional(at_least(low)), ("abc", str(low - 1)))


def positive(key: str, example: str, out_of_range: str = "-1") -> Rule:
    return Rule(key, "a finite number > 0", example, is_positive, ("abc", out_of_range))


def non_negative(key: str, example: str, allowed: str = "a finite number >= 0") -> Rule:
    return Rule(key, allowed, example, is_non_negative, ("abc", "-1"))


def fraction(key: str, example: str, null: str | None = None) -> Rule:
    """A number in [0, 1); with ``null``, also null (meaning ``null``)."""
    if null is None:
        return Rule(key, "a number in [0, 1)", example, is_fraction, ("abc", "1.0"))
    return Rule(key, f"null ({null}) or a number in [0, 1)", example, optional(is_fraction), ("abc", "1.5"))


def unit_interval(key: str, example: str) -> Rule:
    """A number in (0, 1]."""
    return Rule(key, "a number in (0, 1]", example, is_unit_interval, ("abc", "1.5"))


def enum(key: str, values: tuple[Any, ...], example: str, out_of_range: str, null: str = "") -> Rule:
    """One of ``values`` (None written as ``null``, explained by ``null``)."""
    names = [f"null{null}" if v is None else str(v) for v in values]
    return Rule(key, ", ".join(names[:-1]) + " or " + names[-1], example, one_of(*values), ("[1]", out_of_range))


def names(key: str, what: str, example: str, known: Check) -> Rule:
    """A list (possibly empty) of known names."""
    check = list_of(lambda name: isinstance(name, str) and known(name), min_length=0)
    return Rule(key, f"a list of {what}", example, check, (example.strip("[]").split(",")[0], "[nope]"))


def text(key: str, allowed: str = "a non-empty name", example: str = "name") -> Rule:
    return Rule(key, allowed, example, is_text, ("[1]", "''"))


def optional_text(key: str, allowed: str, example: str) -> Rule:
    return Rule(key, allowed, example, optional(is_text), ("[1]", "''"))


def folder(key: str, example: str = "outputs/run", allowed: str = "a folder") -> Rule:
    return text(key, allowed, example)


def seed(key: str, example: str = "0") -> Rule:
    return Rule(key, "an integer in [0, 2^32)", example, is_seed, ("abc", "-1"))
