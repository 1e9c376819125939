"""Spoken arithmetic, exactly: words → tokens → a small recursive-descent parser over fractions (no eval)."""

from __future__ import annotations

import math
import re
from decimal import Decimal, localcontext
from dataclasses import dataclass
from fractions import Fraction

from assistant.tools.numbers import SCALES, TEENS, TENS, UNITS, parse_number
from assistant.tools.registry import Tool, ToolResult, builtin_tool

# Spoken operators, longest first, → the parser's symbols.
OPERATORS = [
    (("raised", "to", "the", "power", "of"), "^"), (("to", "the", "power", "of"), "^"), (("to", "the", "power"), "^"),
    (("the", "square", "root", "of"), "sqrt"), (("square", "root", "of"), "sqrt"), (("square", "root"), "sqrt"),
    (("multiplied", "by"), "*"), (("divided", "by"), "/"), (("percent", "of"), "% *"), (("per", "cent", "of"), "% *"),
    (("plus",), "+"), (("add",), "+"), (("minus",), "-"), (("negative",), "neg"), (("times",), "*"), (("x",), "*"),
    (("over",), "/"), (("percent",), "%"), (("squared",), "sq"), (("cubed",), "cube"), (("+",), "+"), (("-",), "-"),
    (("*",), "*"), (("×",), "*"), (("/",), "/"), (("÷",), "/"), (("^",), "^"), (("%",), "%"), (("(",), "("),
    ((")",), ")"),
]
NUMBER_WORDS = {*UNITS, *TEENS, *TENS, *SCALES, "hundred", "point", "and", "a", "half", "quarter"}
MAX_EXPONENT = 1000  # 10^10^10 would hang the daemon
# An exact result's numerator or denominator in bits (about 3,000 digits): nobody says more aloud, and
# chained powers ("(9^999)^999)^999") would otherwise compute for minutes on the daemon's event loop.
MAX_BITS = 10_000
TOO_LARGE = "that number is too large to work out"


class MathError(ValueError):
    pass


@dataclass(frozen=True)
class Sum:
    expression: str  # words or symbols: "twelve times seven", "12 * 7"


NO_SUM = "I can't work that out: there is no arithmetic in that."


def tokenize(text: str) -> list[str | Fraction]:
    """ "twelve times seven" → [12, "*", 7]; raises MathError for anything that is not arithmetic."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text.lower())
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)
    raw = re.findall(r"\d+(?:\.\d+)?|[a-z']+|[-+*/×÷^%()]", text)
    raw = [w for w in raw if w not in ("what", "is", "what's", "whats", "equal", "equals", "calculate")]
    out: list[str | Fraction] = []
    pos = 0
    while pos < len(raw):
        for words_, symbol in OPERATORS:
            if tuple(raw[pos : pos + len(words_)]) == words_:
                out.extend(symbol.split())
                pos += len(words_)
                break
        else:
            end = pos
            while end < len(raw) and (raw[end] in NUMBER_WORDS or raw[end][0].isdigit()):
                end += 1
            # "and" or "a" at the end of a run belongs to what follows ("a half" aside).
            while end > pos and raw[end - 1] in ("and", "a"):
                end -= 1
            value = parse_number(raw[pos:end]) if end > pos else None
            if value is None:
                raise MathError(f"I can't read {' '.join(raw[pos:pos + 3])!r} as arithmetic")
            out.append(value)
            pos = end
    return out


class _Parser:
    def __init__(self, tokens: list[str | Fraction]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | Fraction | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | Fraction | None:
        token = self.peek()
        self.pos += 1
        return token

    def expression(self) -> Fraction | float:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> Fraction | float:
        value = self.power()
        while self.peek() in ("*", "/"):
            op, right = self.take(), self.power()
            if op == "/" and right == 0:
                raise MathError("you can't divide by zero")
            value = _bounded(value * right if op == "*" else value / right)
        return value

    def power(self) -> Fraction | float:
        base = self.unary()
        if self.peek() == "^":
            self.take()
            exponent = self.power()
            if abs(float(exponent)) > MAX_EXPONENT:
                raise MathError("that power is too large to work out")
            if base == 0 and exponent < 0:
                raise MathError("you can't divide by zero")
            if isinstance(exponent, Fraction) and exponent.denominator == 1:
                if isinstance(base, Fraction):
                    _grows(base, abs(int(exponent)))
                    return Fraction(base ** int(exponent))
                return float(base ** int(exponent))
            if base < 0:
                raise MathError("a negative number has no real root of that kind")
            return float(float(base) ** float(exponent))
        return base

    def unary(self) -> Fraction | float:
        token = self.peek()
        if token in ("-", "neg"):
            self.take()
            return -self.unary()
        if token == "sqrt":
            self.take()
            return square_root(self.unary())
        return self.postfix(self.atom())

    def postfix(self, value: Fraction | float) -> Fraction | float:
        while self.peek() in ("%", "sq", "cube"):
            op = self.take()
            _grows(value, 3 if op == "cube" else 2)
            value = value / 100 if op == "%" else value**2 if op == "sq" else value**3
        return value

    def atom(self) -> Fraction | float:
        token = self.take()
        if isinstance(token, Fraction):
            return token
        if token == "(":
            value = self.expression()
            if self.take() != ")":
                raise MathError("a bracket is not closed")
            return value
        raise MathError("that is not a complete sum")


def _bits(value: Fraction | float) -> int:
    if isinstance(value, Fraction):
        return max(value.numerator.bit_length(), value.denominator.bit_length())
    return 0  # a float cannot grow without bound: it overflows, which is caught


def _bounded(value: Fraction | float) -> Fraction | float:
    if _bits(value) > MAX_BITS:
        raise MathError(TOO_LARGE)
    return value


def _grows(base: Fraction | float, exponent: int) -> None:
    """Refuse a power whose exact result would be too large, before computing it."""
    if (_bits(base) - 1) * exponent > MAX_BITS:
        raise MathError(TOO_LARGE)


def square_root(value: Fraction | float) -> Fraction | float:
    if value < 0:
        raise MathError("a negative number has no real square root")
    if isinstance(value, Fraction):
        num, den = math.isqrt(value.numerator), math.isqrt(value.denominator)
        if num * num == value.numerator and den * den == value.denominator:
            return Fraction(num, den)  # exact: the square root of 144 is 12, not 12.000000001
        with localcontext() as context:  # the daemon's own decimal context stays as it was
            context.prec = 30
            return float((Decimal(value.numerator) / Decimal(value.denominator)).sqrt())
    return math.sqrt(value)


def evaluate(text: str) -> Fraction | float:
    """The exact value of spoken or written arithmetic; raises MathError with a sentence to say."""
    tokens = tokenize(text)
    if not any(isinstance(t, str) and t not in ("(", ")") for t in tokens):
        raise MathError("there is no arithmetic in that")
    parser = _Parser(tokens)
    value = parser.expression()
    if parser.peek() is not None:
        raise MathError("that is not a complete sum")
    return value


def is_arithmetic(text: str) -> bool:
    try:
        evaluate(text)
    except (MathError, ZeroDivisionError, OverflowError):
        return False
    return True


def format_number(value: Fraction | float) -> tuple[str, bool]:
    """(digits, exact): 84 → "84"; 1/8 → "0.125"; 10/3 → "3.333333333" (not exact)."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator), True
        den = value.denominator
        while den % 2 == 0:
            den //= 2
        while den % 5 == 0:
            den //= 5
        if den == 1:  # a terminating decimal: show it whole
            with localcontext() as context:
                context.prec = 50
                return format(Decimal(value.numerator) / Decimal(value.denominator), "f"), True
        value = float(value)
    text = f"{value:.10g}"
    return (text if "e" not in text else f"{value:.6e}"), False


def _readable(text: str) -> str:
    """The question in words with digits, for the reply: "twelve times seven" → "12 times 7"."""
    out: list[str] = []
    for token in tokenize(text):
        if isinstance(token, Fraction):
            out.append(format_number(token)[0])
        else:
            out.append({"+": "plus", "-": "minus", "neg": "minus", "*": "times", "/": "divided by", "^": "to the power of",
                        "sqrt": "the square root of", "%": "percent", "sq": "squared", "cube": "cubed"}.get(token, token))
    return " ".join(out).replace("percent times", "percent of").replace("( ", "(").replace(" )", ")")


def arithmetic_tools() -> list[Tool]:
    async def calculate(args: Sum) -> ToolResult:
        expression = args.expression
        try:
            value = evaluate(expression)
        except (MathError, OverflowError) as exc:
            return ToolResult(f"I can't work that out: {exc}.", {"expression": expression}, ok=False)
        digits, exact = format_number(value)
        said = f"{_readable(expression)} is {'' if exact else 'about '}{digits}."
        return ToolResult(said[0].upper() + said[1:], {"expression": expression, "value": digits, "exact": exact})

    return [
        builtin_tool(
            "calculate",
            "Exact arithmetic: + - * / powers, percent of, square roots. Takes words or symbols.",
            {
                "type": "object",
                "properties": {"expression": {"type": "string", "description": "e.g. 12 * 7, or 15 percent of 80"}},
                "required": ["expression"],
            },
            Sum,
            calculate,
            asks={"expression": NO_SUM},
        )
    ]
