"""The trees of an :class:`~skadv._core.trees.Ensemble` over cell indices.

A tree-ensemble attack moves between the cells of the split keys; a
:class:`CellForest` scores cell vectors exactly as the model scores any point
of those cells, all trees descended together, and scores one-feature moves by
re-descending only the trees whose leaf a move leaves. No scikit-learn here.
"""

import numpy as np

from .trees import _key, winner

__all__ = ["CellForest"]


_BOX_CELLS = 5_000_000  # (trees x nodes x features) entries of the node boxes kept


# --------------------------------------------------------------------------
# the ensemble over cells: every tree descended at once
class CellForest:
    """An :class:`~skadv._core.trees.Ensemble` whose splits compare cell indices.

    A node sends ``x`` left when ``v(x) <= key``, i.e. when ``x``'s cell index
    along that feature is at most the key's position among the feature's keys
    (:func:`~skadv._core.trees.split_keys`), so the class scores of a cell
    vector are exactly the model's scores at any point of that cell. All trees
    are padded to one node array and descended together, one gather per level.

    Parameters
    ----------
    ens : Ensemble
        In the precision the keys were made with.
    keys : ndarray of shape (n_features, max_keys)
    integer : ndarray of bool, shape (n_features,)
    """

    def __init__(self, ens, keys, integer):
        T = len(ens.feature)
        width = max(len(f) for f in ens.feature)
        d = keys.shape[0]
        feature = np.full((T, width), -1, np.intp)
        thr = np.zeros((T, width))
        # Leaves point to themselves, so extra levels keep them in place.
        left = np.tile(np.arange(width), (T, 1))
        right = left.copy()
        self.value = np.zeros((T, width, len(ens.offset)))
        for t, (f, th, lft, rgt, val) in enumerate(zip(ens.feature, ens.threshold, ens.left,
                                                         ens.right, ens.value)):
            n = len(f)
            inner = f >= 0
            feature[t, :n] = np.where(inner, f, -1)
            thr[t, :n] = np.where(inner, th, 0.0)
            left[t, :n] = np.where(inner, lft, np.arange(n))
            right[t, :n] = np.where(inner, rgt, np.arange(n))
            self.value[t, :n] = np.asarray(val, np.float64)
        # Each node's key as its position among its feature's keys.
        inner = feature >= 0
        fj = np.where(inner, feature, 0)
        key = np.where(integer[fj], np.floor(thr), _key(thr, ens.precision))
        cut = np.zeros((T, width), np.intp)
        for j in np.unique(fj[inner]):
            at = inner & (fj == j)
            cut[at] = np.searchsorted(keys[j], key[at], side="left")
        cut = np.where(key == np.inf, keys.shape[1] + 1, cut)  # every finite value goes left
        cut = np.where(key == -np.inf, -1, cut)                # every finite value goes right
        self.width = width
        # Flat node tables (tree t's node i at t * width + i) for 1-D gathers.
        base = np.arange(T)[:, None] * width
        self._feature = fj.ravel()
        self._cut = np.where(inner, cut, np.iinfo(np.intp).max).ravel()
        self._left = left.ravel()
        self._right = right.ravel()
        self.offset = np.asarray(ens.offset, np.float64)
        self.tie_wins = np.asarray(ens.tie_wins, bool)
        self._trees = np.arange(T)
        # Every node's box of cells (the cells of each feature that reach it),
        # so a one-feature move re-descends only the trees whose leaf it leaves;
        # skipped when it would not fit in memory (the trees using the feature
        # are re-descended instead). Built level by level, all trees at once,
        # which also measures the depth.
        boxes = T * width * d <= _BOX_CELLS
        if boxes:
            lo = np.zeros((T * width, d), np.int32)
            hi = np.full((T * width, d), keys.shape[1] + 1, np.int32)
        flat_inner, to_left, to_right = inner.ravel(), (base + left).ravel(), (base + right).ravel()
        level, depth = base[:, 0], 0
        while True:
            level = level[flat_inner[level]]
            if not level.size:
                break
            depth += 1
            a, b = to_left[level], to_right[level]
            if boxes:
                f, c = self._feature[level], self._cut[level]
                lo[a], hi[a], lo[b], hi[b] = lo[level], hi[level], lo[level], hi[level]
                hi[a, f] = np.minimum(hi[level, f], c)
                lo[b, f] = np.maximum(lo[level, f], c + 1)
            level = np.concatenate([a, b])
        self.depth = depth
        self._lo = lo if boxes else None
        self._hi = hi if boxes else None
        if not boxes:
            # The trees that split on each feature, padded.
            uses = np.zeros((d, T), bool)
            uses[fj[inner], np.nonzero(inner)[0]] = True
            self._n_using = uses.sum(axis=1)
            self._using = np.zeros((d, max(1, self._n_using.max(initial=0))), np.intp)
            for j in range(d):
                self._using[j, : self._n_using[j]] = np.flatnonzero(uses[j])

    def leaves(self, cells, trees=None, rows=None):
        """Leaf of every cell vector in every tree, ``(m, n_trees)``; or, given
        ``trees`` and ``rows`` (pairs), the leaf of ``cells[rows[i]]`` in
        ``trees[i]``, shape ``(n_pairs,)``."""
        if trees is None:
            m = len(cells)
            trees = np.broadcast_to(self._trees[None, :], (m, len(self._trees)))
            rows = np.broadcast_to(np.arange(m)[:, None], trees.shape)
        base = trees * self.width
        node = np.zeros(trees.shape, np.intp)
        for _ in range(self.depth):
            at = base + node
            f = self._feature[at]
            go_left = cells[rows, f] <= self._cut[at]
            node = np.where(go_left, self._left[at], self._right[at])
        return node

    def scores(self, cells):
        """Class scores ``(m, n_classes)`` of cell vectors ``(m, d)``."""
        return self.leaf_scores(self.leaves(cells))

    def leaf_scores(self, leaves):
        """Class scores from the leaves ``(m, n_trees)`` reached."""
        return self.offset + self.value[self._trees[None, :], leaves].sum(axis=1)

    def moved(self, cells, leaves, scores, state, feature, cell):
        """Scores of one-feature moves: ``cells[state[i]]`` with ``feature[i]``
        set to ``cell[i]``, from the states' ``leaves`` and ``scores``; only the
        trees whose leaf the move leaves are descended again.

        Returns the moved cell vectors and their scores.
        """
        cand = cells[state]
        i = np.arange(len(state))
        cand[i, feature] = cell
        if self._lo is not None:
            # The trees whose current leaf's box the new cell leaves.
            u, inv = np.unique(state, return_inverse=True)
            at = self._trees[None, :] * self.width + leaves[u]            # (u, T)
            lo = np.ascontiguousarray(self._lo[at].transpose(0, 2, 1))   # (u, d, T)
            hi = np.ascontiguousarray(self._hi[at].transpose(0, 2, 1))
            c = cell[:, None]
            pair, trees = np.nonzero((c < lo[inv, feature]) | (c > hi[inv, feature]))
        else:
            count = self._n_using[feature]
            pair = np.repeat(i, count)
            slot = np.arange(len(pair)) - np.repeat(np.cumsum(count) - count, count)
            trees = self._using[feature[pair], slot]
        new = self.leaves(cand, trees, pair)
        old = leaves[state[pair], trees]
        delta = self.value[trees, new] - self.value[trees, old]
        out = scores[state].copy()
        for k in range(out.shape[1]):
            out[:, k] += np.bincount(pair, weights=delta[:, k], minlength=len(state))
        return cand, out

    def verdict(self, s, y, targeted):
        """Adversarial margin and verdict of scores ``s`` against class ``y``.

        Untargeted: best other score minus ``y``'s; targeted: ``y``'s minus the
        best other. The verdict (the winning class differs from, or is, ``y``)
        also settles ties.
        """
        own = s[np.arange(len(s)), y]
        other = np.where(np.eye(s.shape[1], dtype=bool)[y], -np.inf, s).max(axis=1)
        win = winner(s, self.tie_wins)
        if targeted:
            return own - other, win == y
        return other - own, win != y

    def predict(self, cells):
        """Index of the class that beats every other (ties by ``tie_wins``)."""
        return winner(self.scores(cells), self.tie_wins)
