"""What every reader shares: the error, the class-tie rules, one tree as arrays and
the assembly of an :class:`~skadv._core.trees.Ensemble`."""

import numpy as np

from ...exceptions import UnsupportedModelError
from ..trees import Ensemble

_EXTRA = 'pip install "skadv[trees]"'
_MAX_NODES = 1 << 20
# LightGBM's kZeroThreshold (a float): its predict reads |x| <= it as 0.0.
_LGB_ZERO = float(np.float32(1e-35))

_SUPPORTED = (
    "scikit-learn's DecisionTreeClassifier, ExtraTreeClassifier, RandomForestClassifier, "
    "ExtraTreesClassifier, GradientBoostingClassifier and HistGradientBoostingClassifier "
    "(also in a Pipeline after StandardScaler, MinMaxScaler, MaxAbsScaler or RobustScaler), "
    "xgboost's XGBClassifier and Booster (or a saved JSON model, or a JSON dump), "
    "lightgbm's LGBMClassifier and Booster, and catboost's CatBoostClassifier")


def _unsupported(model, why=""):
    return UnsupportedModelError(
        f"{type(model).__name__} is not a supported tree ensemble{why}. The tree readers "
        f"take a fitted classifier with one output: {_SUPPORTED} ({_EXTRA} installs the "
        "three boosting libraries). For any other model use skadv.attacks.HopSkipJumpAttack "
        "or SquareAttack.")


def _classes(model):
    """``{(root module, class name)}`` over the MRO: duck typing without imports."""
    return {(c.__module__.split(".")[0], c.__name__) for c in type(model).__mro__}


def _is(model, library, *names):
    found = _classes(model)
    return any((library, n) in found for n in names)


# --------------------------------------------------------------------------
# tie rules
def _first_wins(n_classes):
    """``argmax``: the lower class index wins a tie."""
    i = np.arange(n_classes)
    return np.less.outer(i, i)


def _binary(class1_wins_tie):
    ties = np.zeros((2, 2), dtype=bool)
    ties[1, 0] = class1_wins_tie
    ties[0, 1] = not class1_wins_tie
    return ties


# --------------------------------------------------------------------------
# building trees
class _Tree:
    """Arrays of one tree: ``feature`` (< 0 at leaves), keys, children, leaf
    values, where NaN goes. ``pieces`` maps a node to a piecewise split
    ``(breaks, goes_left, nan_left)``: regions ``(breaks[i-1], breaks[i]]`` of
    ``v(x)`` (open-ended at both ends) go left where ``goes_left[i]``."""

    def __init__(self, feature, key, left, right, value, missing, pieces=None):
        self.feature = np.asarray(feature, np.intp)
        self.key = np.asarray(key, np.float64)
        self.left = np.asarray(left, np.intp)
        self.right = np.asarray(right, np.intp)
        self.value = np.asarray(value, np.float64)
        self.missing = np.asarray(missing, bool)
        self.pieces = pieces or {}

    def expanded(self):
        """The tree with every piecewise split unrolled into key nodes."""
        if not self.pieces:
            return self
        feat, key, left, right, value, miss = [], [], [], [], [], []
        zero = np.zeros(self.value.shape[1])

        def add(f, k, m, v=zero):
            if len(feat) >= _MAX_NODES:
                raise ValueError(
                    f"A tree grows past {_MAX_NODES} nodes once its categorical / missing-"
                    "value splits are unrolled into threshold nodes; the tree readers "
                    "cannot represent it. Use fewer categories (or one-hot encode them).")
            feat.append(f)
            key.append(k)
            left.append(-1)
            right.append(-1)
            value.append(v)
            miss.append(m)
            return len(feat) - 1

        def emit(n):
            f = self.feature[n]
            if f < 0:
                return add(-1, 0.0, False, self.value[n])
            if n in self.pieces:
                breaks, goes, nan_left = self.pieces[n]
                return chain(f, list(breaks), list(goes), nan_left,
                             lambda: emit(self.left[n]), lambda: emit(self.right[n]))
            i = add(f, self.key[n], self.missing[n])
            left[i] = emit(self.left[n])
            right[i] = emit(self.right[n])
            return i

        def chain(f, breaks, goes, nan_left, make_left, make_right):
            # Merge neighbouring regions that go the same way.
            b, g = [], [goes[0]]
            for k, d in zip(breaks, goes[1:]):
                if d != g[-1]:
                    b.append(k)
                    g.append(d)
            if nan_left not in g:
                # Every finite value goes one way, NaN the other: an infinite key
                # (+inf: all finite values left; -inf: all right).
                i = add(f, -np.inf if nan_left else np.inf, nan_left)
                left[i] = make_left()
                right[i] = make_right()
                return i
            return part(f, b, g, nan_left, make_left, make_right)

        def part(f, b, g, nan_left, make_left, make_right):
            if not b:
                return make_left() if g[0] else make_right()
            mid = len(b) // 2
            # NaN walks towards a region that sends it the right way.
            i = add(f, b[mid], nan_left in g[: mid + 1])
            left[i] = part(f, b[:mid], g[: mid + 1], nan_left, make_left, make_right)
            right[i] = part(f, b[mid + 1:], g[mid + 1:], nan_left, make_left, make_right)
            return i

        emit(0)
        return _Tree(feat, key, left, right, value, miss)


def _reachable(tree):
    """The tree without nodes its root cannot reach (XGBoost keeps deleted ones),
    numbered breadth first."""
    order, seen = [0], np.zeros(len(tree.feature), bool)
    seen[0] = True
    i = 0
    while i < len(order):
        n = order[i]
        i += 1
        if tree.feature[n] >= 0:
            for c in (tree.left[n], tree.right[n]):
                if not seen[c]:
                    seen[c] = True
                    order.append(c)
    # Renumbered breadth first: parents precede their children.
    order = np.asarray(order)
    if np.array_equal(order, np.arange(len(tree.feature))):
        return tree
    new = np.full(len(tree.feature), -1, np.intp)
    new[order] = np.arange(len(order))
    inner = tree.feature[order] >= 0
    return _Tree(tree.feature[order], tree.key[order],
                 np.where(inner, new[tree.left[order]], -1),
                 np.where(inner, new[tree.right[order]], -1), tree.value[order],
                 tree.missing[order])


def _ensemble(trees, offset, tie_wins, *, precision, nan, n_features):
    trees = [_reachable(t.expanded()) for t in trees]
    return Ensemble(
        feature=tuple(t.feature for t in trees), threshold=tuple(t.key for t in trees),
        left=tuple(t.left for t in trees), right=tuple(t.right for t in trees),
        value=tuple(t.value for t in trees), offset=np.asarray(offset, np.float64),
        tie_wins=np.asarray(tie_wins, bool), precision=precision,
        missing_left=tuple(t.missing for t in trees) if nan else None,
        n_features=None if n_features is None else int(n_features))


def _from_nested(root, n_classes, split, leaf):
    """Flatten a tree of nested nodes: ``split(node)`` gives ``None`` for a leaf,
    else ``(feature, key, missing_left, left_node, right_node, piece)``;
    ``leaf(node)`` the leaf's value vector."""
    feat, key, left, right, value, miss, pieces = [], [], [], [], [], [], {}
    stack = [(root, -1, False)]
    while stack:
        node, parent, is_left = stack.pop()
        i = len(feat)
        if parent >= 0:
            (left if is_left else right)[parent] = i
        s = split(node)
        left.append(-1)
        right.append(-1)
        if s is None:
            feat.append(-1)
            key.append(0.0)
            miss.append(False)
            value.append(leaf(node))
            continue
        f, k, m, lo, hi, piece = s
        feat.append(f)
        key.append(k)
        miss.append(m)
        value.append(np.zeros(n_classes))
        if piece is not None:
            pieces[i] = piece
        stack.append((hi, i, False))
        stack.append((lo, i, True))
    return _Tree(feat, key, left, right, np.reshape(value, (-1, n_classes)), miss, pieces)


def _class_column(values, k, n_classes):
    """Leaf values of a one-output tree placed in class column ``k``."""
    v = np.zeros((len(values), n_classes))
    v[:, k] = values
    return v


# --------------------------------------------------------------------------
# scikit-learn
def _allows_nan(model):
    try:
        return bool(model.__sklearn_tags__().input_tags.allow_nan)
    except AttributeError:
        return False

