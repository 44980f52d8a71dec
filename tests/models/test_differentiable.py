"""Oracle tests for ``as_differentiable`` on fitted scikit-learn estimators.

The oracle is the estimator itself: its float64 ``decision_function`` (or
``log(predict_proba)``) for the logits, central finite differences of the same
for the gradients, and its ``predict`` for the labels.
"""

import copy
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import (
    LogisticRegression,
    Perceptron,
    RidgeClassifier,
    RidgeClassifierCV,
    SGDClassifier,
)
from sklearn.multiclass import OneVsRestClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
)
from sklearn.svm import SVC, LinearSVC, NuSVC

from skadv import as_differentiable
from skadv.models._adapters import KernelSVC
from skadv.models._differentiable import Affine, Chain, DenseNet
from skadv.utils._sklearn_compat import _ovr_decision_function

N_SAMPLES, N_FEATURES = 40, 4
# Raw columns on very different scales and offsets, as tabular data has: a
# scaler that is mapped wrongly cannot hide behind similar columns.
RAW_SCALE = np.array([1.0, 20.0, 0.05, 300.0])
RAW_OFFSET = np.array([0.0, -50.0, 3.0, 1000.0])
COLUMNS = ["age", "income", "rate", "score"]


@functools.lru_cache(maxsize=None)
def _data(n_classes, raw):
    X, y = make_classification(
        n_samples=N_SAMPLES,
        n_features=N_FEATURES,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        class_sep=1.0,
        random_state=n_classes,
    )
    if raw:
        X = X * RAW_SCALE + RAW_OFFSET
    return X, y


def _mlp(activation):
    return MLPClassifier((6,), activation=activation, max_iter=300, random_state=0)


def _ct_two_scalers():
    # Columns reordered on purpose: output = [scaled 3, 1 | min-max 0 | rest 2].
    return ColumnTransformer(
        [("std", StandardScaler(), [3, 1]), ("mm", MinMaxScaler(), [0])],
        remainder="passthrough",
    )


def _ct_frame():
    return ColumnTransformer(
        [
            ("robust", RobustScaler(), ["score", "age"]),
            ("gone", "drop", ["rate"]),
            ("kept", "passthrough", ["income"]),
        ],
        remainder="drop",
        transformer_weights={"robust": 2.0},
    )


# id -> (estimator factory, n_classes, raw features, fit on a DataFrame)
CASES = {
    "lr-binary": (lambda: LogisticRegression(), 2, False, False),
    "lr-multinomial": (lambda: LogisticRegression(), 3, False, False),
    "lr-no-intercept": (lambda: LogisticRegression(fit_intercept=False), 3, False, False),
    "ovr-lr": (lambda: OneVsRestClassifier(LogisticRegression()), 3, False, False),
    "ovr-linearsvc-binary": (lambda: OneVsRestClassifier(LinearSVC()), 2, False, False),
    "linearsvc-binary": (lambda: LinearSVC(), 2, False, False),
    "linearsvc-multi": (lambda: LinearSVC(), 3, False, False),
    "linearsvc-no-intercept": (lambda: LinearSVC(fit_intercept=False), 2, False, False),
    "sgd": (lambda: SGDClassifier(random_state=0), 3, False, False),
    "ridge-binary": (lambda: RidgeClassifier(), 2, False, False),
    "ridgecv": (lambda: RidgeClassifierCV(), 3, False, False),
    "perceptron": (lambda: Perceptron(random_state=0), 3, False, False),
    "lda": (lambda: LinearDiscriminantAnalysis(), 3, False, False),
    **{
        f"mlp-{act}-{'binary' if k == 2 else 'multi'}": (
            functools.partial(_mlp, act), k, False, False
        )
        for act in ("relu", "tanh", "logistic", "identity")
        for k in (2, 3)
    },
    **{
        f"svc-{kernel}-{'binary' if k == 2 else 'multi'}": (
            functools.partial(SVC, kernel=kernel), k, False, False
        )
        for kernel in ("linear", "rbf", "poly", "sigmoid")
        for k in (2, 3)
    },
    "svc-rbf-4-classes": (lambda: SVC(), 4, False, False),
    "svc-ovo-shape": (lambda: SVC(decision_function_shape="ovo"), 3, False, False),
    "nusvc": (lambda: NuSVC(nu=0.3), 3, False, False),
    "pipe-standard": (lambda: make_pipeline(StandardScaler(), LogisticRegression()), 3, True, False),
    "pipe-standard-no-mean": (
        lambda: make_pipeline(StandardScaler(with_mean=False), LinearSVC()), 2, True, False
    ),
    "pipe-standard-no-std": (
        lambda: make_pipeline(StandardScaler(with_std=False), LogisticRegression()), 2, True, False
    ),
    "pipe-minmax-svc": (lambda: make_pipeline(MinMaxScaler(), SVC()), 3, True, False),
    "pipe-maxabs-mlp": (lambda: make_pipeline(MaxAbsScaler(), _mlp("tanh")), 3, True, False),
    "pipe-robust": (lambda: make_pipeline(RobustScaler(), LogisticRegression()), 3, True, False),
    "pipe-robust-no-centering": (
        lambda: make_pipeline(RobustScaler(with_centering=False), LogisticRegression()),
        2, True, False,
    ),
    "pipe-robust-no-scaling": (
        lambda: make_pipeline(StandardScaler(), RobustScaler(with_scaling=False), SVC()),
        2, True, False,
    ),
    "pipe-folded": (
        lambda: make_pipeline(StandardScaler(), "passthrough", MaxAbsScaler(), _mlp("relu")),
        2, True, False,
    ),
    "pipe-nested": (
        lambda: make_pipeline(
            make_pipeline(MinMaxScaler(), None), make_pipeline(StandardScaler(), LinearSVC())
        ),
        3, True, False,
    ),
    "pipe-column-transformer": (
        lambda: make_pipeline(_ct_two_scalers(), LogisticRegression()), 3, True, False
    ),
    "pipe-column-transformer-svc": (
        lambda: make_pipeline(_ct_two_scalers(), SVC(kernel="poly", degree=2)), 3, True, False
    ),
    "pipe-ct-scaler-remainder": (
        lambda: make_pipeline(
            ColumnTransformer([("std", StandardScaler(), [2])], remainder=MaxAbsScaler()),
            LogisticRegression(),
        ),
        2, True, False,
    ),
    "pipe-dataframe": (lambda: make_pipeline(_ct_frame(), LogisticRegression()), 3, True, True),
}


def _final(est):
    return est[-1] if isinstance(est, Pipeline) else est


def _is_svc_multi(est, n_classes):
    return isinstance(_final(est), (SVC, NuSVC)) and n_classes > 2


def _fit_quietly(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@functools.lru_cache(maxsize=None)
def _fitted(case):
    """Fitted estimator, its Differentiable, X as an array and X as sklearn sees it."""
    make, n_classes, raw, frame = CASES[case]
    X, y = _data(n_classes, raw)
    X_sk = X
    if frame:
        pd = pytest.importorskip("pandas")
        X_sk = pd.DataFrame(X, columns=COLUMNS)
    est = _fit_quietly(make(), X_sk, y)
    return est, as_differentiable(est), X, X_sk, n_classes


def _as_sklearn_input(X, like):
    if hasattr(like, "columns"):
        return type(like)(X, columns=like.columns)
    return X


def _reference(est, X_sk, n_classes):
    """scikit-learn's float64 scores that the logits must reproduce, per row and class."""
    if not hasattr(est, "decision_function"):
        return np.log(est.predict_proba(X_sk))
    dec = est.decision_function(X_sk)
    if _is_svc_multi(est, n_classes) and _final(est).decision_function_shape == "ovo":
        # The logits are the ovr form of these pairwise decisions.
        dec = _ovr_decision_function(dec < 0, -dec, n_classes)
    return dec


def _comparable(est, logits):
    """The logits transformed into what :func:`_reference` returns (JAX, differentiable)."""
    if not hasattr(est, "decision_function"):
        return jax.nn.log_softmax(logits, axis=1)
    if logits.shape[1] == 2:
        return logits[:, 1] - logits[:, 0]
    return logits


@pytest.mark.parametrize("case", list(CASES))
def test_logits_match_sklearn(case):
    est, diff, X, X_sk, n_classes = _fitted(case)
    logits = np.asarray(diff.logits(X), dtype=np.float64)
    assert logits.shape == (N_SAMPLES, n_classes)
    ref = _reference(est, X_sk, n_classes)
    got = np.asarray(_comparable(est, jnp.asarray(logits)), dtype=np.float64)
    scale = max(1.0, np.abs(ref).max())
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * scale)

    # Labels: equal to the estimator's own predict except on ties, which float32
    # may break differently (or libsvm breaks by class order for SVC votes).
    pred = diff.classes_[logits.argmax(axis=1)]
    agree = pred == est.predict(X_sk)
    if ref.ndim == 1:
        tie = np.abs(ref) < 1e-4 * scale
    else:
        votes = np.round(ref) if _is_svc_multi(est, n_classes) else ref
        top2 = np.sort(votes, axis=1)[:, -2:]
        tie = top2[:, 1] - top2[:, 0] < 1e-4 * scale
    assert np.all(agree | tie)
    assert agree.mean() >= 0.9


@pytest.mark.parametrize("case", list(CASES))
def test_gradient_matches_finite_differences(case):
    est, diff, X, X_sk, n_classes = _fitted(case)
    # One scalar that involves every class: random weights over the columns.
    binary_decision = n_classes == 2 and hasattr(est, "decision_function")
    n_scores = 1 if binary_decision else n_classes
    weights = np.random.default_rng(0).uniform(0.5, 1.5, size=n_scores)

    def scalar(X32):
        scores = _comparable(est, diff.fn(diff.params, X32))
        scores = scores[:, None] if scores.ndim == 1 else scores
        return jnp.sum(scores * weights)

    grad = np.asarray(jax.grad(scalar)(jnp.asarray(X, dtype=jnp.float32)), dtype=np.float64)

    def reference(Xh):
        scores = _reference(est, _as_sklearn_input(Xh, X_sk), n_classes)
        return scores[:, None] if scores.ndim == 1 else scores

    # Rows are independent, so moving one whole column gives every row's
    # partial derivative along that feature at once.
    steps = 1e-5 * X.std(axis=0)
    fd = np.empty_like(X)
    unchanged = np.ones(len(X), dtype=bool)
    base_votes = np.round(reference(X))
    for j, h in enumerate(steps):
        Xp, Xm = X.copy(), X.copy()
        Xp[:, j] += h
        Xm[:, j] -= h
        plus, minus = reference(Xp), reference(Xm)
        fd[:, j] = (plus - minus) @ weights / (2 * h)
        if _is_svc_multi(est, n_classes):
            # Votes are piecewise constant: compare only where no vote flipped.
            unchanged &= np.all(np.round(plus) == base_votes, axis=1)
            unchanged &= np.all(np.round(minus) == base_votes, axis=1)
    assert unchanged.mean() >= 0.9
    # Compare in standardised units, so that each column is held to the same
    # relative tolerance whatever its scale.
    got, want = (grad * X.std(axis=0))[unchanged], (fd * X.std(axis=0))[unchanged]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * max(1e-3, np.abs(want).max()))


def test_representation():
    est, diff, *_ = _fitted("pipe-folded")
    # Two scalers around a passthrough fold into a single Affine.
    assert diff.fn == Chain((Affine(), DenseNet(activation="relu", binary=True)))
    affine, layers = diff.params
    assert affine["index"].dtype == jnp.int32
    assert all(a.dtype == jnp.float32 for a in jax.tree_util.tree_leaves(layers))
    assert affine["scale"].dtype == affine["offset"].dtype == jnp.float32
    assert diff.estimator is est
    assert diff.n_features_in_ == N_FEATURES
    np.testing.assert_array_equal(diff.classes_, est.classes_)

    _, lr, *_ = _fitted("lr-binary")
    assert lr.fn == DenseNet(activation="identity", binary=True)
    assert lr.params[0]["W"].shape == (N_FEATURES, 1)


def test_column_transformer_columns():
    _, diff, *_ = _fitted("pipe-column-transformer")
    # Transformers' blocks in order, then the remainder.
    np.testing.assert_array_equal(diff.params[0]["index"], [3, 1, 0, 2])


def test_dataframe_pipeline():
    est, diff, X, X_sk, _ = _fitted("pipe-dataframe")
    np.testing.assert_array_equal(diff.feature_names_in_, COLUMNS)
    assert diff.n_features_in_ == N_FEATURES
    # "rate" is dropped; robust block (weighted) first, then "income".
    np.testing.assert_array_equal(diff.params[0]["index"], [3, 0, 1])


def test_fn_is_hashable_and_stable_across_refits():
    X, y = _data(3, False)
    a = as_differentiable(SVC(kernel="poly", degree=2).fit(X, y))
    b = as_differentiable(SVC(kernel="poly", degree=2, C=3.0).fit(X[::-1], y[::-1]))
    assert a.fn == b.fn == KernelSVC(kernel="poly", n_classes=3, degree=2)
    assert hash(a.fn) == hash(b.fn)


@pytest.mark.parametrize("case", ["svc-poly-multi", "svc-rbf-4-classes", "nusvc"])
def test_svc_argmax_is_predict_with_break_ties(case):
    # The logits' argmax breaks tied votes by confidence, as break_ties=True does;
    # the default predict gives them to the lowest class index instead.
    est, diff, X, *_ = _fitted(case)
    est = copy.deepcopy(est).set_params(break_ties=True)  # predict-time only: no refit
    pred = diff.classes_[np.asarray(diff.logits(X)).argmax(axis=1)]
    np.testing.assert_array_equal(pred, est.predict(X))


def test_jit_matches_eager():
    _, diff, X, *_ = _fitted("svc-rbf-multi")
    X32 = jnp.asarray(X, dtype=jnp.float32)
    np.testing.assert_allclose(
        jax.jit(diff.fn)(diff.params, X32), diff.fn(diff.params, X32), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    "est, name",
    [
        (RandomForestClassifier(n_estimators=3, random_state=0), "RandomForestClassifier"),
        (KNeighborsClassifier(n_neighbors=3), "KNeighborsClassifier"),
        (GaussianNB(), "GaussianNB"),
        (make_pipeline(OneHotEncoder(), LogisticRegression()), "OneHotEncoder"),
        (make_pipeline(MinMaxScaler(clip=True), LogisticRegression()), "clip=True"),
        (
            make_pipeline(
                ColumnTransformer([("oh", OneHotEncoder(), [0])], remainder=StandardScaler()),
                LogisticRegression(),
            ),
            "OneHotEncoder",
        ),
        (OneVsRestClassifier(GaussianNB()), "GaussianNB"),
        (SVC(kernel="precomputed"), "precomputed"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
@pytest.mark.parametrize("fitted", [True, False], ids=["fitted", "unfitted"])
def test_unsupported_raises_type_error(est, name, fitted):
    est = clone(est)
    if fitted:
        X, y = _data(2, False)
        if "precomputed" in name:
            X = X @ X.T
        _fit_quietly(est, X, y)
    with pytest.raises(TypeError, match="black-box") as info:
        as_differentiable(est)
    assert name in str(info.value)


def test_multilabel_raises_type_error():
    X, _ = _data(2, False)
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0], axis=1).astype(int)
    est = _fit_quietly(MLPClassifier((3,), max_iter=20, random_state=0), X, Y)
    with pytest.raises(TypeError, match="multilabel MLPClassifier"):
        as_differentiable(est)


def test_non_estimator_raises_type_error():
    with pytest.raises(TypeError, match="Got 'not a model' of type str"):
        as_differentiable("not a model")


@pytest.mark.parametrize(
    "est",
    [
        LogisticRegression(),
        SVC(),
        MLPClassifier(),
        make_pipeline(StandardScaler(), LogisticRegression()),
        make_pipeline(_ct_two_scalers(), SVC()),
    ],
    ids=["lr", "svc", "mlp", "pipeline", "pipeline-column-transformer"],
)
def test_unfitted_raises_not_fitted_error(est):
    with pytest.raises(NotFittedError):
        as_differentiable(est)


def test_pipeline_ending_in_a_skadv_model():
    # Scaler pipelines around skadv's own models are differentiable too.
    from skadv.models import MLPClassifier as SkadvMLP

    X, y = make_classification(n_samples=120, n_features=5, random_state=0)
    pipe = make_pipeline(StandardScaler(), SkadvMLP(hidden_layer_sizes=(8,), max_iter=20,
                                                    random_state=0)).fit(X, y)
    diff = as_differentiable(pipe)
    z = np.asarray(diff.logits(X))
    np.testing.assert_allclose(z[:, 1] - z[:, 0], pipe.decision_function(X), atol=1e-4)
    assert isinstance(diff.fn, Chain)
