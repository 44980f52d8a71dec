"""White-box attack transformers: exact oracles on linear models, invariants.

Oracles: a binary linear model ``f(x) = w.x + b`` has minimal L2 distance
``|f| / ||w||_2`` and minimal L-infinity distance ``|f| / ||w||_1`` to its
boundary. Invariants (parametrised by attack and norm): every row satisfies
the constraints and the budget, the same seed gives the same output, jit and
eager agree, unsuccessful rows come back unchanged, dtypes are preserved.

Every attack here runs on 64 rows of one 8-feature victim, so each
configuration is compiled once for the whole file.
"""

import numpy as np
import jax
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skadv.attacks import (
    AutoPGDAttack,
    CarliniWagnerL2Attack,
    DeepFoolAttack,
    FGSMAttack,
    PGDAttack,
)
from skadv.attacks._white_box import _run
from skadv.constraints import FeatureConstraints
from skadv.metrics import robust_accuracy
from skadv.models import LogisticRegression as JaxLogisticRegression

N = 64
NAMES = ["a", "b", "c", "count", "red", "green", "blue", "age"]
CONSTRAINTS = FeatureConstraints(
    lower={"a": 0, "b": 0, "c": 0, "count": 0}, upper={"a": 1, "b": 1, "c": 1, "count": 6},
    integer=["count"], one_hot_groups=[["red", "green", "blue"]], immutable=["age"],
    feature_names=NAMES)
EPS = {"inf": 0.5, 2: 1.0, 1: 2.0}  # in units of each feature's std


def _mixed_data(n, seed):
    """Bounded, integer, one-hot and immutable columns; three classes."""
    rng = np.random.default_rng(seed)
    cont = rng.uniform(0, 1, size=(n, 3))
    count = rng.integers(0, 7, size=(n, 1))
    colour = np.eye(3)[rng.integers(0, 3, size=n)]
    age = rng.uniform(20, 60, size=(n, 1))
    X = np.hstack([cont, count, colour, age]).astype(np.float32)
    score = cont @ [1.0, -1.0, 0.5] + 0.25 * count[:, 0] + colour @ [0.0, 0.5, 1.0]
    score = score + 0.01 * age[:, 0] + rng.normal(scale=0.3, size=n)
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    return X, y


@pytest.fixture(scope="module")
def mixed():
    X_train, y_train = _mixed_data(400, 0)
    clf = make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(16,), max_iter=1000, random_state=0)).fit(X_train, y_train)
    X, y = _mixed_data(N, 1)
    return clf, X_train, X, y


def make_attack(name, clf, norm, **kw):
    """Small, fast settings; every attack bounded by EPS in std units."""
    common = dict(eps=EPS[norm], constraints=CONSTRAINTS, feature_scale="std",
                  random_state=0, **kw)
    if name == "fgsm":
        return FGSMAttack(clf, norm=norm, random_start=True, **common)
    if name == "pgd":
        return PGDAttack(clf, norm=norm, steps=5, restarts=2, **common)
    if name == "apgd":
        return AutoPGDAttack(clf, norm=norm, steps=5, **common)
    if name == "cw":
        return CarliniWagnerL2Attack(clf, steps=10, binary_search_steps=4,
                                     initial_const=0.1, **common)
    return DeepFoolAttack(clf, norm=norm, steps=10, **common)


# L1 is the same pure NORMS entry for FGSM, PGD and AutoPGD: tested once.
CASES = [("fgsm", "inf"), ("fgsm", 2), ("pgd", "inf"), ("pgd", 2), ("apgd", "inf"),
         ("apgd", 2), ("apgd", 1), ("cw", 2), ("deepfool", "inf"), ("deepfool", 2)]
IDS = [f"{a}-{n}" for a, n in CASES]


def _norm(delta, norm):
    return np.linalg.norm(delta, ord={"inf": np.inf, 2: 2, 1: 1}[norm], axis=1)


@pytest.mark.parametrize("name, norm", CASES, ids=IDS)
def test_every_row_satisfies_constraints_and_budget(mixed, name, norm):
    clf, X_train, X, y = mixed
    attack = make_attack(name, clf, norm).fit(X_train)
    X_adv = attack.transform(X, y)
    assert X_adv.dtype == np.float32 and X_adv.shape == X.shape
    assert CONSTRAINTS.is_satisfied(X_adv, X).all()
    scale = X_train.astype(np.float64).std(axis=0)
    size = _norm((X_adv.astype(np.float64) - X) / scale, norm)
    assert np.all(size <= EPS[norm] * (1 + 1e-6))
    np.testing.assert_allclose(attack.perturbation_, size, rtol=1e-6, atol=1e-9)
    # Success is the victim's own verdict; the rest come back untouched.
    pred = clf.predict(X_adv)
    np.testing.assert_array_equal(attack.success_, pred != y)
    np.testing.assert_array_equal(X_adv[~attack.success_], X[~attack.success_])
    assert attack.success_.sum() > (clf.predict(X) != y).sum()


@pytest.mark.parametrize("name, norm", CASES, ids=IDS)
def test_same_seed_same_output(mixed, name, norm):
    clf, X_train, X, y = mixed
    first = make_attack(name, clf, norm).fit(X_train).transform(X, y)
    again = make_attack(name, clf, norm).fit(X_train).transform(X, y)
    np.testing.assert_array_equal(first, again)


# Eager execution is slow (one dispatch per operation): one case per attack.
@pytest.mark.parametrize("name, norm", [("pgd", "inf"), ("apgd", 1), ("cw", 2),
                                        ("deepfool", "inf")])
def test_jit_equals_eager(mixed, name, norm):
    clf, X_train, X, y = mixed
    light = {"steps": 3, "binary_search_steps": 2} if name == "cw" else {}
    first = make_attack(name, clf, norm).set_params(**light).fit(X_train).transform(X, y)
    with jax.disable_jit():
        eager = make_attack(name, clf, norm).set_params(**light).fit(X_train)
        eager = eager.transform(X[:8], y[:8])  # rows are independent of the batch
    np.testing.assert_allclose(eager, first[:8], atol=1e-5)


@pytest.mark.parametrize("name, norm", [("pgd", "inf"), ("apgd", 2), ("cw", 2),
                                        ("deepfool", 2)])
def test_targeted_attacks_reach_the_target(mixed, name, norm):
    clf, X_train, X, y = mixed
    target = (clf.predict(X) + 1) % 3
    attack = make_attack(name, clf, norm, targeted=True).fit(X_train)
    X_adv = attack.transform(X, target)
    np.testing.assert_array_equal(attack.success_, clf.predict(X_adv) == target)
    assert attack.success_.mean() > 0.25
    assert CONSTRAINTS.is_satisfied(X_adv, X).all()


def test_y_none_attacks_the_victims_own_predictions(mixed):
    clf, X_train, X, y = mixed
    attack = make_attack("pgd", clf, "inf").fit(X_train)
    np.testing.assert_array_equal(attack.transform(X), attack.transform(X, clf.predict(X)))


def test_float64_in_float64_out(mixed):
    clf, X_train, X, y = mixed
    X_adv = make_attack("deepfool", clf, 2).fit(X_train).transform(X.astype(np.float64), y)
    assert X_adv.dtype == np.float64
    assert CONSTRAINTS.is_satisfied(X_adv, X).all()


def test_dataframe_with_named_constraints_and_pandas_output(mixed):
    clf, X_train, X, y = mixed
    df_train, df = pd.DataFrame(X_train, columns=NAMES), pd.DataFrame(X, columns=NAMES)
    constraints = FeatureConstraints(
        lower={"a": 0, "b": 0, "c": 0, "count": 0},
        upper={"a": 1, "b": 1, "c": 1, "count": 6}, integer=["count"],
        one_hot_groups=[["red", "green", "blue"]],
        immutable=["age"])  # names resolved from the DataFrame's columns
    attack = PGDAttack(clf, eps=0.5, steps=5, restarts=2, constraints=constraints,
                       feature_scale="std", random_state=0).fit(df_train)
    np.testing.assert_array_equal(attack.feature_names_in_, NAMES)
    X_adv = attack.set_output(transform="pandas").transform(df, y)
    assert isinstance(X_adv, pd.DataFrame) and list(X_adv.columns) == NAMES
    assert constraints.is_satisfied(X_adv, df).all()
    assert np.all(X_adv["age"] == df["age"])
    assert attack.success_.any()
    # The same attack on the NumPy array, with index constraints, agrees (to
    # the float32 rounding of the std computed from a DataFrame or an array).
    same = make_attack("pgd", clf, "inf").fit(X_train).transform(X, y)
    np.testing.assert_allclose(X_adv.to_numpy(), same, atol=1e-6)


def test_compiled_core_is_reused_across_calls(mixed):
    clf, X_train, X, y = mixed
    attack = make_attack("apgd", clf, "inf").fit(X_train)
    attack.transform(X, y)
    size = _run._cache_size()
    attack.transform(X[::-1].copy(), y[::-1])
    attack.set_params(eps=0.3).fit(X_train).transform(X, y)  # a traced value
    assert _run._cache_size() == size


def test_an_eps_grid_compiles_pgd_once_per_shape():
    # A shape no other test uses (11 features), so the count is this test's.
    rng = np.random.RandomState(0)
    X = rng.randn(90, 11).astype(np.float32)
    y = (X[:, 0] - X[:, 3] > 0).astype(int)
    victims = [LogisticRegression(C=c).fit(X, y) for c in (1.0, 0.1)]
    before = _run._cache_size()
    for victim in victims:  # a new victim of the same kind and shape: no new program
        for eps in (0.05, 0.1, 0.2, 0.4, 0.8):
            # step_size defaults to 2.5 * eps / steps: traced with eps.
            attack = PGDAttack(victim, eps=eps, steps=7, random_state=0)
            X_adv = attack.fit_transform(X, y)
            assert np.abs(X_adv - X).max() <= eps + 1e-6
    assert _run._cache_size() - before == 1


def test_a_traced_budget_gives_the_result_of_a_fresh_compilation(breast_cancer):
    # eps traced, not compiled in: the reused program must give what a
    # program compiled for this eps alone gives.
    X, y = breast_cancer
    X, y = X[:64], y[:64]
    clf = LogisticRegression().fit(X, y)
    PGDAttack(clf, eps=0.9, steps=5, random_state=0).fit_transform(X, y)  # compile
    reused = PGDAttack(clf, eps=0.3, steps=5, random_state=0).fit_transform(X, y)
    _run.clear_cache()
    fresh = PGDAttack(clf, eps=0.3, steps=5, random_state=0).fit_transform(X, y)
    np.testing.assert_array_equal(reused, fresh)


def test_verbose_shows_a_progress_bar_over_batches(mixed, capsys):
    clf, X_train, X, y = mixed
    FGSMAttack(clf, eps=0.1, batch_size=16, verbose=True).fit(X_train).transform(X, y)
    err = capsys.readouterr().err
    assert "FGSMAttack" in err and "4/4" in err


# --------------------------------------------------------------------------
# oracles on linear models
@pytest.fixture(scope="module")
def cancer():
    """breast_cancer standardised (float64), 128 test rows."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, y, X[::4][:128]


@pytest.mark.parametrize("attack, norm", [
    (DeepFoolAttack(), 2), (DeepFoolAttack(norm="inf"), "inf"),
    (CarliniWagnerL2Attack(), 2)], ids=["deepfool-2", "deepfool-inf", "cw-2"])
def test_minimal_attacks_find_the_exact_distance(cancer, attack, norm):
    X, y, rows = cancer
    clf = LogisticRegression().fit(X, y)  # float64 coef and arithmetic
    w = clf.coef_.ravel()
    exact = np.abs(clf.decision_function(rows)) / np.linalg.norm(w, ord={2: 2, "inf": 1}[norm])
    X_adv = attack.set_params(estimator=clf).fit(X).transform(rows)
    assert attack.success_.all()
    ratio = _norm(X_adv - rows, norm) / exact
    assert np.all(ratio >= 1 - 1e-9)  # never closer than the boundary
    assert np.all(ratio <= 1.02)
    assert np.all(clf.predict(X_adv) != clf.predict(rows))


def _rows_at_linf_distance(U, w, b, c):
    """Rows moved along w so that |w.u + b| = c ||w||_1: L-inf distance exactly c."""
    U, w = np.asarray(U, np.float64), np.asarray(w, np.float64)
    f = U @ w + b
    side = np.where(f > 0, 1.0, -1.0)
    return U - ((f - side * c * np.abs(w).sum()) / (w @ w))[:, None] * w


@pytest.mark.parametrize("victim", ["pipeline", "skadv"])
def test_pgd_succeeds_just_above_the_exact_linf_distance_and_never_below(
        breast_cancer, victim):
    X_std, y = breast_cancer  # the conftest fixture: the fit compiles once per suite
    X_raw, _ = load_breast_cancer(return_X_y=True)
    c = 0.3
    if victim == "pipeline":
        # eps relative to each feature's std through a scaler pipeline: the
        # L-inf budget in std units is the L-inf budget in the scaler's space.
        clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_raw, y)
        scaler, lr = clf[0], clf[-1]
        U = _rows_at_linf_distance(scaler.transform(X_raw[:128]), lr.coef_.ravel(),
                                   lr.intercept_[0], c)
        rows, fit_X, scale = scaler.inverse_transform(U), X_raw, "std"
    else:
        clf = JaxLogisticRegression().fit(X_std, y)
        rows = _rows_at_linf_distance(X_std[:128], clf.coef_.ravel(),
                                      clf.intercept_[0], c).astype(np.float32)
        fit_X, scale = X_std, None
    rates = {}
    for factor in (0.99, 1.01):
        attack = PGDAttack(clf, eps=factor * c, steps=20, feature_scale=scale,
                           random_state=0).fit(fit_X)
        attack.transform(rows)
        rates[factor] = attack.success_.mean()
    assert rates[1.01] >= 0.99
    assert rates[0.99] == 0.0


# --------------------------------------------------------------------------
# strength
@pytest.mark.parametrize("norm", ["inf", 2])
def test_autopgd_is_at_least_as_strong_as_pgd(mixed, norm):
    # Equal budget, gradient steps and restarts: AutoPGD's robust accuracy is
    # no higher than PGD's. benchmarks/bench_attack_strength.py checks the
    # same claim at scale (and PGD against ART).
    clf, X_train, X, y = mixed
    kw = dict(eps=EPS[norm] / 2, norm=norm, steps=20, feature_scale="std",
              random_state=0)
    pgd = robust_accuracy(clf, X, y, PGDAttack(**kw))
    apgd = robust_accuracy(clf, X, y, AutoPGDAttack(**kw))
    assert apgd <= pgd < clf.score(X, y)  # the budget matters; AutoPGD is no weaker


def test_robust_accuracy_counts_the_rows_the_attack_failed_on(mixed):
    clf, X_train, X, y = mixed
    attack = make_attack("pgd", None, "inf")
    acc, X_adv = robust_accuracy(clf, X, y, attack, return_adversarial=True)
    assert acc == accuracy_score(y, clf.predict(X_adv))
    assert attack.get_params()["estimator"] is None  # the template is not touched


def test_robust_accuracy_refuses_a_targeted_attack(mixed):
    clf, X_train, X, y = mixed
    with pytest.raises(ValueError, match="untargeted attack"):
        robust_accuracy(clf, X, y, PGDAttack(targeted=True))
