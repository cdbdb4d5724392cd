"""A tiny, safe evaluator for the CEL conditions that `dsl.If` / `dsl.Elif` / `dsl.Else` compile to.

KFP writes a condition sub-DAG's `triggerPolicy.condition` as CEL over the task's input
parameters, for example::

    inputs.parameter_values['pipelinechannel--x'] != ''
    !(int(inputs.parameter_values['pipelinechannel--n']) > 3) && inputs.parameter_values['f'] == 0.5

Supported: `||`, `&&`, `!`, unary `-`, `==`, `!=`, `<`, `<=`, `>`, `>=`, parentheses,
string / number / `true` / `false` / `null` literals, `inputs.parameter_values['name']`
and the conversions `int(...)`, `double(...)`, `string(...)`. Nothing is ever handed to
Python's `eval`; anything else is a :class:`ConditionError` naming the offending text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Condition", "ConditionError", "compile_condition"]

Evaluator = Callable[[Mapping[str, Any]], Any]


class ConditionError(ValueError):
    """The condition uses syntax outside the supported subset, or types that do not fit."""


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\d*\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)
  | (?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\].-])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ConditionError(f"unsupported character {text[position]!r} at {position}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            found.append(_Token(kind, match.group(), position))
        position = match.end()
    found.append(_Token("end", "", len(text)))
    return found


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            escaped = body[index + 1]
            if escaped not in _ESCAPES:
                raise ConditionError(f"unsupported escape '\\{escaped}' in {literal}")
            out.append(_ESCAPES[escaped])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if type(left) is not type(right):  # CEL: values of different types are never equal
        return False
    return bool(left == right)


def _order(op: str, left: Any, right: Any) -> bool:
    if not (
        (_is_number(left) and _is_number(right))
        or (isinstance(left, str) and isinstance(right, str))
    ):
        raise ConditionError(f"cannot compare {left!r} {op} {right!r}")
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ConditionError(f"int() of a bool: {value!r}")
    try:
        return int(value) if not isinstance(value, str) else int(value.strip())
    except (TypeError, ValueError):
        raise ConditionError(f"int() of {value!r}") from None


def _to_double(value: Any) -> float:
    if isinstance(value, bool):
        raise ConditionError(f"double() of a bool: {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConditionError(f"double() of {value!r}") from None


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


_CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "int": _to_int,
    "double": _to_double,
    "string": _to_string,
}


def _truth(value: Any, op: str) -> bool:
    if not isinstance(value, bool):
        raise ConditionError(f"'{op}' needs true/false, got {value!r}")
    return value


class _Parser:
    """Recursive descent over CEL's precedence: `||` < `&&` < relations < unary < primary."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0
        self.parameters: set[str] = set()

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def take(self, text: str | None = None, kind: str | None = None) -> _Token:
        token = self.current
        if (text is not None and token.text != text) or (kind is not None and token.kind != kind):
            wanted = repr(text) if text is not None else kind
            got = repr(token.text) if token.kind != "end" else "the end"
            raise ConditionError(f"expected {wanted} at {token.position}, found {got}")
        self.index += 1
        return token

    def parse(self) -> Evaluator:
        evaluator = self.disjunction()
        self.take(kind="end")
        return evaluator

    def disjunction(self) -> Evaluator:
        left = self.conjunction()
        while self.current.text == "||":
            self.take("||")
            right = self.conjunction()
            left = _or(left, right)
        return left

    def conjunction(self) -> Evaluator:
        left = self.relation()
        while self.current.text == "&&":
            self.take("&&")
            right = self.relation()
            left = _and(left, right)
        return left

    def relation(self) -> Evaluator:
        left = self.unary()
        op = self.current.text
        if self.current.kind == "op" and op in ("==", "!=", "<", "<=", ">", ">="):
            self.take(op)
            right = self.unary()
            return _compare(op, left, right)
        return left

    def unary(self) -> Evaluator:
        if self.current.text == "!":
            self.take("!")
            inner = self.unary()
            return lambda params: not _truth(inner(params), "!")
        if self.current.text == "-":
            self.take("-")
            inner = self.unary()
            return _negate(inner)
        return self.primary()

    def primary(self) -> Evaluator:
        token = self.current
        if token.text == "(":
            self.take("(")
            inner = self.disjunction()
            self.take(")")
            return inner
        if token.kind == "number":
            self.take()
            number: int | float = int(token.text) if token.text.isdigit() else float(token.text)
            return lambda params: number
        if token.kind == "string":
            self.take()
            string = _unquote(token.text)
            return lambda params: string
        if token.kind == "name":
            return self.name()
        raise ConditionError(
            f"unexpected {token.text!r} at {token.position}"
            if token.kind != "end"
            else "unexpected end of the condition"
        )

    def name(self) -> Evaluator:
        token = self.take(kind="name")
        constants = {"true": True, "false": False, "null": None}
        if token.text in constants:
            constant = constants[token.text]
            return lambda params: constant
        if token.text in _CONVERSIONS:
            convert = _CONVERSIONS[token.text]
            self.take("(")
            inner = self.disjunction()
            self.take(")")
            return lambda params: convert(inner(params))
        if token.text == "inputs":
            self.take(".")
            field = self.take(kind="name")
            if field.text != "parameter_values":
                raise ConditionError(
                    f"unsupported reference 'inputs.{field.text}' at {token.position} "
                    "(only inputs.parameter_values[...] is supported)"
                )
            self.take("[")
            key = _unquote(self.take(kind="string").text)
            self.take("]")
            self.parameters.add(key)
            return lambda params: params.get(key)
        raise ConditionError(f"unsupported name {token.text!r} at {token.position}")


def _or(left: Evaluator, right: Evaluator) -> Evaluator:
    return lambda params: _truth(left(params), "||") or _truth(right(params), "||")


def _and(left: Evaluator, right: Evaluator) -> Evaluator:
    return lambda params: _truth(left(params), "&&") and _truth(right(params), "&&")


def _negate(inner: Evaluator) -> Evaluator:
    def evaluate(params: Mapping[str, Any]) -> Any:
        value = inner(params)
        if not _is_number(value):
            raise ConditionError(f"cannot negate {value!r}")
        return -value

    return evaluate


def _compare(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    if op == "==":
        return lambda params: _equal(left(params), right(params))
    if op == "!=":
        return lambda params: not _equal(left(params), right(params))
    return lambda params: _order(op, left(params), right(params))


@dataclass(frozen=True)
class Condition:
    """A parsed condition: check it once when the package is read, evaluate it per task."""

    text: str
    parameters: frozenset[str]
    _evaluate: Evaluator

    def evaluate(self, parameters: Mapping[str, Any]) -> bool:
        """True when the task should run; a non-boolean result is an error."""
        try:
            result = self._evaluate(parameters)
        except ConditionError as exc:
            raise ConditionError(f"condition {self.text!r}: {exc}") from None
        if not isinstance(result, bool):
            raise ConditionError(f"condition {self.text!r} gave {result!r}, not true/false")
        return result


def compile_condition(text: str) -> Condition:
    """Parse `text`; raise ConditionError (with the text) when it is outside the subset."""
    try:
        parser = _Parser(text)
        evaluator = parser.parse()
    except ConditionError as exc:
        raise ConditionError(f"condition {text!r}: {exc}") from None
    return Condition(text, frozenset(parser.parameters), evaluator)
