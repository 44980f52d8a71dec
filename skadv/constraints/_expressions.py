"""A small, safe expression language for relations between features.

Relations are written as text over column names, e.g. ``"debt <= 1.5 * income"``
or ``"debt_ratio == debt / income"``. This module parses them with a
hand-written recursive-descent parser -- user strings are never passed to
``eval`` or ``exec`` -- into a tree of frozen dataclasses (hashable, so a tree
can be a static argument of a compiled function), and decides whether a
relation is linear.

Grammar::

    relation   := expression ("<=" | ">=" | "==") expression
    expression := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := ("+" | "-") unary | atom
    atom       := number | name | "`" any text but "`" "`" | "(" expression ")"

A *name* is an identifier (letters, digits, ``_`` and ``.``, not starting with
a digit); a column whose name is not an identifier is written between
backticks. Names resolve to column indices through the feature names; without
feature names, ``x0``, ``x1``, ... name the columns (scikit-learn's default
names).
"""

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["Affine", "BinOp", "Col", "Neg", "Num", "Relation", "evaluate", "parse_relation"]


class ExpressionError(ValueError):
    """A relation that cannot be parsed or resolved (a ``ValueError``)."""


# --------------------------------------------------------------------------
# expression trees
@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Col:
    """A column, by name until resolved, then by index."""

    name: object


@dataclass(frozen=True)
class Neg:
    arg: object


@dataclass(frozen=True)
class BinOp:
    op: str  # "+", "-", "*", "/"
    left: object
    right: object


def evaluate(node, X, xp=np):
    """Value of a resolved expression on rows ``X`` (NumPy or JAX, ``xp``).

    Parameters
    ----------
    node : Num, Col, Neg or BinOp
        Columns resolved to indices.
    X : array of shape (..., n_features)
    xp : module, default=numpy
        ``numpy`` or ``jax.numpy``.

    Returns
    -------
    value : array of shape X.shape[:-1]
    """
    if isinstance(node, Num):
        return xp.full(X.shape[:-1], node.value, dtype=X.dtype)
    if isinstance(node, Col):
        return X[..., node.name]
    if isinstance(node, Neg):
        return -evaluate(node.arg, X, xp)
    a, b = evaluate(node.left, X, xp), evaluate(node.right, X, xp)
    if node.op == "+":
        return a + b
    if node.op == "-":
        return a - b
    if node.op == "*":
        return a * b
    return a / b


def columns(node):
    """Set of the columns an expression reads."""
    if isinstance(node, Col):
        return {node.name}
    if isinstance(node, Num):
        return set()
    if isinstance(node, Neg):
        return columns(node.arg)
    return columns(node.left) | columns(node.right)


def to_text(node):
    """The expression written back (fully parenthesised where it matters)."""
    if isinstance(node, Num):
        return repr(node.value)
    if isinstance(node, Col):
        return f"x{node.name}" if isinstance(node.name, (int, np.integer)) else str(node.name)
    if isinstance(node, Neg):
        return f"-({to_text(node.arg)})"
    return f"({to_text(node.left)} {node.op} {to_text(node.right)})"


# --------------------------------------------------------------------------
# affine forms: the linear part of the language
@dataclass(frozen=True)
class Affine:
    """``sum(coef[j] * x[j]) + const`` over resolved columns."""

    coef: tuple  # ((column, coefficient), ...)
    const: float

    def as_dict(self):
        return dict(self.coef)


def _affine(node):
    """Affine form of an expression, or None when it is not linear."""
    if isinstance(node, Num):
        return {}, node.value
    if isinstance(node, Col):
        return {node.name: 1.0}, 0.0
    if isinstance(node, Neg):
        inner = _affine(node.arg)
        if inner is None:
            return None
        return {k: -v for k, v in inner[0].items()}, -inner[1]
    left, right = _affine(node.left), _affine(node.right)
    if left is None or right is None:
        return None
    (lc, lk), (rc, rk) = left, right
    if node.op in "+-":
        sign = 1.0 if node.op == "+" else -1.0
        out = dict(lc)
        for k, v in rc.items():
            out[k] = out.get(k, 0.0) + sign * v
        return out, lk + sign * rk
    if node.op == "*":
        if not lc:
            return {k: lk * v for k, v in rc.items()}, lk * rk
        if not rc:
            return {k: rk * v for k, v in lc.items()}, lk * rk
        return None
    # division: linear only by a constant
    if rc:
        return None
    if rk == 0.0:
        raise ExpressionError("division by the constant 0")
    return {k: v / rk for k, v in lc.items()}, lk / rk


def affine(node):
    """:class:`Affine` form of a resolved expression, or None if not linear."""
    form = _affine(node)
    if form is None:
        return None
    coef, const = form
    return Affine(tuple(sorted((k, v) for k, v in coef.items() if v != 0.0)), float(const))


# --------------------------------------------------------------------------
# parsing
_TOKEN = re.compile(r"""
    \s*(?:
      (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    | `(?P<quoted>[^`]*)`
    | (?P<op><=|>=|==|[-+*/()])
    )""", re.VERBOSE)


def _tokens(text):
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            where = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ExpressionError(
                f"unexpected {text[where]!r} at position {where}")
        pos = m.end()
        if m.group("num") is not None:
            out.append(("num", float(m.group("num")), m.start("num")))
        elif m.group("name") is not None:
            out.append(("name", m.group("name"), m.start("name")))
        elif m.group("quoted") is not None:
            out.append(("name", m.group("quoted"), m.start("quoted") - 1))
        else:
            out.append(("op", m.group("op"), m.start("op")))
    return out


class _Parser:
    def __init__(self, text):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else ("end", None, len(self.text))

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def fail(self, tok, wanted):
        got = "the end" if tok[0] == "end" else repr(tok[1])
        raise ExpressionError(f"expected {wanted} at position {tok[2]}, got {got}")

    def expression(self):
        node = self.term()
        while self.peek()[:2] in (("op", "+"), ("op", "-")):
            node = BinOp(self.take()[1], node, self.term())
        return node

    def term(self):
        node = self.unary()
        while self.peek()[:2] in (("op", "*"), ("op", "/")):
            node = BinOp(self.take()[1], node, self.unary())
        return node

    def unary(self):
        tok = self.peek()
        if tok[:2] == ("op", "-"):
            self.take()
            return Neg(self.unary())
        if tok[:2] == ("op", "+"):
            self.take()
            return self.unary()
        return self.atom()

    def atom(self):
        tok = self.take()
        if tok[0] == "num":
            return Num(tok[1])
        if tok[0] == "name":
            return Col(tok[1])
        if tok[:2] == ("op", "("):
            node = self.expression()
            close = self.take()
            if close[:2] != ("op", ")"):
                self.fail(close, "')'")
            return node
        self.fail(tok, "a number, a column name or '('")


@dataclass(frozen=True)
class Relation:
    """A parsed relation ``left op right`` (columns by name until resolved)."""

    text: str
    name: str
    op: str  # "<=", ">=", "=="
    left: object
    right: object


def parse_relation(text, name=None):
    """Parse ``text`` into a :class:`Relation`.

    Parameters
    ----------
    text : str
        E.g. ``"open_credit <= total_credit"``.
    name : str, default=None
        How reports name the relation (``text`` when None).

    Returns
    -------
    relation : Relation

    Raises
    ------
    ValueError
        Naming the relation and the position of the problem.
    """
    if not isinstance(text, str):
        raise ExpressionError(
            f"A relation must be a string such as 'debt <= 1.5 * income'. Got "
            f"{text!r} instead.")
    try:
        p = _Parser(text)
        left = p.expression()
        op = p.take()
        if op[0] != "op" or op[1] not in ("<=", ">=", "=="):
            p.fail(op, "a comparison '<=', '>=' or '=='")
        right = p.expression()
        rest = p.peek()
        if rest[0] != "end":
            wanted = ("the end (one comparison per relation: write a range as two "
                      "relations)" if rest[1] in ("<=", ">=", "==") else "the end")
            p.fail(rest, wanted)
    except ExpressionError as exc:
        raise ExpressionError(f"Cannot parse relation {text!r}: {exc}.") from None
    return Relation(text.strip(), name if name is not None else text.strip(), op[1],
                    left, right)


def resolve_columns(node, lookup):
    """The tree with every column name replaced by ``lookup(name)``."""
    if isinstance(node, Col):
        return Col(lookup(node.name))
    if isinstance(node, Neg):
        return Neg(resolve_columns(node.arg, lookup))
    if isinstance(node, BinOp):
        return BinOp(node.op, resolve_columns(node.left, lookup),
                     resolve_columns(node.right, lookup))
    return node
