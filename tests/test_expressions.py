"""The relation language: parsed by hand (never eval-ed), linearity decided exactly."""

import numpy as np
import pytest

from skadv.constraints import _expressions as ex


def _resolved(text, names):
    rel = ex.parse_relation(text)
    look = names.index
    return (ex.resolve_columns(rel.left, look), rel.op, ex.resolve_columns(rel.right, look))


def test_precedence_and_evaluation():
    names = ["a", "b", "c"]
    left, op, right = _resolved("a - b * c / 2 + -(a - 1) <= `b` * (c + 1)", names)
    X = np.array([[1.0, 2.0, 3.0], [4.0, -1.0, 0.5]])
    a, b, c = X.T
    np.testing.assert_allclose(ex.evaluate(left, X), a - b * c / 2 + -(a - 1))
    np.testing.assert_allclose(ex.evaluate(right, X), b * (c + 1))
    assert op == "<="


@pytest.mark.parametrize("text, coef, const", [
    ("a <= 2 * b + 1", {0: 1.0, 1: -2.0}, -1.0),
    ("(a + b) / 4 >= 0.5 * c", {0: 0.25, 1: 0.25, 2: -0.5}, 0.0),
    ("3 * (a - 2 * (b - c)) == 6", {0: 3.0, 1: -6.0, 2: 6.0}, -6.0),
    ("a - a + b <= 1", {1: 1.0}, -1.0),
])
def test_linear_forms_are_exact(text, coef, const):
    left, _, right = _resolved(text, ["a", "b", "c"])
    form = ex.affine(ex.BinOp("-", left, right))
    assert form.as_dict() == pytest.approx(coef) and form.const == pytest.approx(const)


@pytest.mark.parametrize("text", ["a * b <= 1", "a / b == c", "1 / a <= 2", "a * (b + 1) >= 0"])
def test_non_linear_forms_are_recognised(text):
    left, _, right = _resolved(text, ["a", "b", "c"])
    assert ex.affine(ex.BinOp("-", left, right)) is None


@pytest.mark.parametrize("text, match", [
    ("a <= ", "expected a number, a column name or '\\(' at position 5, got the end"),
    ("a << b", "unexpected '<' at position 2"),
    ("a + b", "expected a comparison"),
    ("0 <= a <= 1", "one comparison per relation"),
    ("(a + b <= c", "expected '\\)'"),
    ("__import__('os').system('x') == 1", "unexpected"),
    ("a / 0 <= 1", None),
])
def test_parse_errors_name_the_relation_and_position(text, match):
    if match is None:  # parses; the division by zero is caught when linearised
        left, _, right = _resolved(text, ["a"])
        with pytest.raises(ValueError, match="division by the constant 0"):
            ex.affine(ex.BinOp("-", left, right))
        return
    with pytest.raises(ValueError, match=match) as info:
        ex.parse_relation(text)
    assert repr(text) in str(info.value)


def test_not_a_string():
    with pytest.raises(ValueError, match="must be a string"):
        ex.parse_relation(3)


def test_text_round_trips_through_the_parser():
    rel = ex.parse_relation("x0 * (x1 + 2) == x2 / -x3")
    again = ex.parse_relation(f"{ex.to_text(rel.left)} == {ex.to_text(rel.right)}")
    X = np.random.default_rng(0).uniform(1, 2, size=(5, 4))
    look = lambda name: int(name[1:])  # noqa: E731
    for a, b in ((rel.left, again.left), (rel.right, again.right)):
        np.testing.assert_allclose(ex.evaluate(ex.resolve_columns(a, look), X),
                                   ex.evaluate(ex.resolve_columns(b, look), X))
