"""Square, HopSkipJump and Transfer attacks: oracles, budgets, constraints, encodings.

Oracles: on a linear model the minimal distance to the decision boundary is
known in closed form (``|f(x)| / ||w||_q``, ``q`` the dual norm), so a
decision-based attack can be checked for *never beating it* and for *getting
close to it*; a budgeted attack can be checked for failing on every row whose
exact radius exceeds the budget. Queries are recorded by a wrapper around the
victim: every point the search asks about must already satisfy the
constraints, and the number of model calls must not grow with the number of
rows.
"""

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

import skadv._core.query as bb_core
from skadv.attacks import HopSkipJumpAttack, PGDAttack, SquareAttack, TransferAttack
from skadv.constraints import FeatureConstraints

N_ATTACK = 60


def small_surrogate():
    return make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,),
                                                         max_iter=100, random_state=0))


class Recorder(ClassifierMixin, BaseEstimator):
    """Wraps a fitted classifier and records every batch it is asked about."""

    def __init__(self, model):
        self.model = model

    def fit(self, X=None, y=None):
        self.classes_ = self.model.classes_
        self.n_features_in_ = self.model.n_features_in_
        self.batches_ = []
        return self

    def _log(self, X):
        self.batches_.append(np.array(X, dtype=np.float64))

    def predict(self, X):
        self._log(X)
        return self.model.predict(X)

    def predict_proba(self, X):
        self._log(X)
        return self.model.predict_proba(X)


class PredictOnly(ClassifierMixin, BaseEstimator):
    """A fitted victim with nothing but ``predict`` (no scores)."""

    def __init__(self, model):
        self.model = model

    def fit(self, X=None, y=None):
        self.classes_ = self.model.classes_
        return self

    def predict(self, X):
        return self.model.predict(X)


@pytest.fixture(autouse=True, scope="module")
def _one_openmp_thread():
    # Attacks call the model once per step on small batches; OpenMP threads
    # (HistGradientBoosting) only add synchronisation there, a lot of it on a
    # busy machine.
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def cancer(breast_cancer):
    X, y = breast_cancer
    X = X.astype(np.float64)
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(X))
    tr, te = idx[:400], idx[400:400 + N_ATTACK]
    return X[tr], y[tr], X[te], y[te]


@pytest.fixture(scope="module")
def victims(cancer):
    Xtr, ytr, _, _ = cancer
    return {
        "rf": RandomForestClassifier(n_estimators=30, random_state=0).fit(Xtr, ytr),
        "hgb": HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(Xtr, ytr),
    }


@pytest.fixture(scope="module")
def linear():
    """A logistic regression on Gaussian rows and its exact boundary distances."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 6))
    y = (X @ np.array([1.0, -2.0, 0.5, 1.5, 0.0, -1.0]) + 0.3 * rng.normal(size=300) > 0)
    clf = LogisticRegression().fit(X, y.astype(int))
    w, b = clf.coef_[0], clf.intercept_[0]
    Xa = X[:40]

    def exact(norm):
        q = {2: 2, "inf": 1}[norm]
        return np.abs(Xa @ w + b) / np.linalg.norm(w, ord=q)

    return clf, X, Xa, exact


# -- oracles on a linear model ------------------------------------------------
@pytest.mark.parametrize("norm", [2, "inf"])
def test_hop_skip_jump_close_to_exact_distance_never_below(linear, norm):
    clf, X, Xa, exact = linear
    atk = HopSkipJumpAttack(clf, norm=norm, max_queries=1500, random_state=0).fit(X)
    atk.transform(Xa)
    assert atk.success_.all()
    d = exact(norm)
    # An adversarial point can never be closer than the boundary...
    assert np.all(atk.perturbation_ >= d * (1 - 1e-9))
    # ...and HopSkipJump walks most of the way to it.
    assert np.median(atk.perturbation_ / d) < 1.1
    assert atk.n_queries_.max() <= 1500


@pytest.mark.parametrize("norm", ["inf", 2])
def test_square_fails_beyond_exact_radius_succeeds_well_inside(linear, norm):
    clf, X, Xa, exact = linear
    d = exact(norm)
    eps = float(np.median(d))
    atk = SquareAttack(clf, eps=eps, norm=norm, max_queries=300, random_state=0).fit(X)
    atk.transform(Xa)
    assert not atk.success_[d > eps].any()
    inside = d < 0.7 * eps
    assert atk.success_[inside].mean() >= 0.9
    assert np.all(atk.perturbation_ <= eps * (1 + 1e-9))


# -- real tabular victims -------------------------------------------------------
@pytest.mark.parametrize("model", ["rf", "hgb"])
def test_square_reduces_accuracy(victims, cancer, model):
    _, _, X, y = cancer
    clf = victims[model]
    atk = SquareAttack(clf, eps=0.6, max_queries=150, random_state=0).fit(X)
    X_adv = atk.transform(X, y)
    clean, robust = clf.score(X, y), clf.score(X_adv, y)
    assert clean >= 0.85
    assert robust < clean - 0.3
    assert atk.n_queries_.max() <= 150
    assert np.abs(X_adv - X).max() <= 0.6 + 1e-9


@pytest.mark.parametrize("model", ["rf", "hgb"])
def test_hop_skip_jump_reduces_accuracy(victims, cancer, model):
    _, _, X, y = cancer
    clf = victims[model]
    atk = HopSkipJumpAttack(clf, eps=1.0, norm="inf", max_queries=150,
                            random_state=0).fit(cancer[0])
    X_adv = atk.transform(X, y)
    assert clf.score(X_adv, y) < clf.score(X, y) - 0.3
    assert np.all(atk.perturbation_[atk.success_] <= 1.0 + 1e-9)
    assert atk.n_queries_.max() <= 150
    assert atk.n_fit_queries_ == len(cancer[0])


# -- queries: batched, valid, within budget ---------------------------------------
def _constraints(X):
    return FeatureConstraints(lower=X.min(0), upper=X.max(0), immutable=[0, 1],
                              integer=[2])


@pytest.mark.parametrize("Attack", [SquareAttack, HopSkipJumpAttack])
def test_every_query_is_valid_and_batched(victims, cancer, Attack):
    Xtr, _, X, y = cancer
    X = X.copy()
    Xtr = Xtr.copy()
    X[:, 2], Xtr[:, 2] = np.round(X[:, 2]), np.round(Xtr[:, 2])
    fc = _constraints(np.vstack([Xtr, X]))
    rec = Recorder(victims["rf"]).fit()
    kw = {"eps": 1.0} if Attack is SquareAttack else {"norm": 2}
    atk = Attack(rec, constraints=fc, max_queries=100, random_state=0, **kw).fit(Xtr)
    rec.batches_ = []
    X_adv = atk.transform(X, y)
    assert fc.is_satisfied(X_adv, X).all()
    assert atk.success_.mean() > 0.3
    queried = np.vstack(rec.batches_)
    # Queries cover every row, yet the calls are per step, not per row.
    assert len(queried) >= atk.n_queries_.sum()
    assert len(rec.batches_) <= 100 + 2 < atk.n_queries_.sum()
    v = fc.violations(queried)
    assert not (v["bounds"].any() or v["integer"].any())
    # Immutable features: every queried value is some clean row's value.
    clean = {tuple(r) for r in X[:, :2]}
    assert all(tuple(r) in clean for r in queried[:, :2])


def test_rows_that_cannot_move_are_unchanged(victims, cancer):
    _, _, X, y = cancer
    fc = FeatureConstraints(immutable=list(range(X.shape[1])))
    for atk in (SquareAttack(victims["rf"], eps=1.0, constraints=fc, max_queries=50),
                HopSkipJumpAttack(victims["rf"], constraints=fc, max_queries=50)):
        X_adv = atk.fit(X).transform(X, y)
        correct = victims["rf"].predict(X) == y
        assert not atk.success_[correct].any()
        assert np.array_equal(X_adv[correct], X[correct])


@pytest.mark.parametrize("Attack", [SquareAttack, HopSkipJumpAttack])
def test_same_seed_same_output_independent_of_batching(victims, cancer, Attack):
    Xtr, _, X, y = cancer
    X, y = X[:20], y[:20]
    kw = {"eps": 0.5} if Attack is SquareAttack else {}
    a = Attack(victims["rf"], max_queries=60, random_state=3, **kw).fit(Xtr)
    out1 = a.transform(X, y)
    out2 = a.transform(X, y)
    out3 = Attack(victims["rf"], max_queries=60, random_state=3, batch_size=8,
                  **kw).fit(Xtr).transform(X, y)
    assert np.array_equal(out1, out2)
    assert np.array_equal(out1, out3)
    other = Attack(victims["rf"], max_queries=60, random_state=4, **kw).fit(Xtr)
    assert not np.array_equal(other.transform(X, y), out1)


# -- categorical raw features behind a OneHotEncoder ------------------------------
@pytest.fixture(scope="module")
def frame():
    rng = np.random.RandomState(0)
    n = 300
    df = pd.DataFrame({
        "age": rng.randint(18, 80, n),
        "income": rng.normal(50.0, 15.0, n),
        "color": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
        "city": np.array(rng.choice(["a", "b", "c", "d"], n), dtype=object),
    }, index=np.arange(1000, 1000 + n))
    y = ((df.income > 50) ^ (df.color == "red") ^ (df.city == "a")).astype(int).values
    ct = ColumnTransformer([("oh", OneHotEncoder(), ["color", "city"])],
                           remainder=StandardScaler())
    clf = make_pipeline(ct, RandomForestClassifier(n_estimators=20, random_state=0))
    return df, y, clf.fit(df, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("Attack", [SquareAttack, HopSkipJumpAttack, TransferAttack])
def test_categorical_dataframe_stays_valid(frame, Attack):
    df, y, clf = frame
    fc = FeatureConstraints(immutable=["city"], lower={"age": 18}, upper={"age": 79})
    kw = ({"surrogate": small_surrogate()} if Attack is TransferAttack
          else {"max_queries": 150})
    if Attack is HopSkipJumpAttack:
        kw["norm"] = "inf"
    else:
        kw["eps"] = 1.0
    atk = Attack(clf, feature_scale="std", constraints=fc, random_state=0, **kw).fit(df)
    rows = df.iloc[:40]
    out = atk.transform(rows, y[:40])
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(df.columns)
    assert out.index.equals(rows.index)
    assert (out.dtypes == df.dtypes).all()
    assert set(out["color"]) <= {"red", "green", "blue"}
    assert out["color"].cat.categories.equals(df["color"].cat.categories)
    assert (out["city"].values == rows["city"].values).all()  # immutable
    assert out["age"].between(18, 79).all()
    assert atk.success_.mean() > 0.3
    ok = atk.success_
    assert np.all(clf.predict(out[ok]) != y[:40][ok])
    assert out[~ok].equals(rows[~ok])
    if Attack is not HopSkipJumpAttack:
        # eps = 1 (L-inf) may switch a category: it costs exactly 1.
        assert (out["color"] != rows["color"]).any()


def test_categorical_change_costs_one_unit(frame):
    df, y, clf = frame
    atk = SquareAttack(clf, eps=0.9, feature_scale="std", max_queries=100,
                       random_state=0).fit(df)
    out = atk.transform(df.iloc[:40], y[:40])
    assert (out["color"] == df["color"].iloc[:40]).all()
    assert (out["city"] == df["city"].iloc[:40]).all()
    with pytest.raises(ValueError, match="categories the attack does not know"):
        atk.transform(df.iloc[:3].assign(city=["zz", "a", "a"]), y[:3])


def test_numeric_columns_the_victim_one_hot_encodes():
    rng = np.random.RandomState(1)
    X = np.column_stack([rng.normal(size=200), rng.choice([1.0, 5.0, 7.0], 200)])
    y = ((X[:, 0] > 0) ^ (X[:, 1] == 5.0)).astype(int)
    ct = ColumnTransformer([("oh", OneHotEncoder(), [1])], remainder="passthrough")
    clf = make_pipeline(ct, RandomForestClassifier(n_estimators=10, random_state=0))
    clf.fit(X, y)
    atk = HopSkipJumpAttack(clf, norm="inf", max_queries=100, random_state=0).fit(X)
    X_adv = atk.transform(X[:30], y[:30])
    assert isinstance(X_adv, np.ndarray) and X_adv.dtype == np.float64
    assert set(X_adv[:, 1]) <= {1.0, 5.0, 7.0}
    assert (X_adv[:, 1] != X[:30, 1]).any()
    assert atk.success_.mean() > 0.5


# -- TransferAttack --------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_transfer_attack_counts_queries_and_transfers(victims, cancer):
    Xtr, ytr, X, y = cancer
    atk = TransferAttack(victims["hgb"], eps=1.0, attack=PGDAttack(steps=10),
                         surrogate=small_surrogate(), random_state=0).fit(Xtr)
    assert atk.n_fit_queries_ == len(Xtr)
    X_adv = atk.transform(X, y)
    assert atk.success_.mean() > 0.3
    ok = atk.success_
    assert np.all(victims["hgb"].predict(X_adv[ok]) != y[ok])
    assert np.array_equal(X_adv[~ok], X[~ok])
    assert np.abs(X_adv - X).max() <= 1.0 + 1e-6
    given = TransferAttack(victims["hgb"], eps=1.0, labels="given",
                           surrogate=small_surrogate(), random_state=0)
    assert given.fit(Xtr, ytr).n_fit_queries_ == 0
    with pytest.raises(ValueError, match="labels='given'"):
        TransferAttack(victims["hgb"], labels="given").fit(Xtr)


# -- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize("Attack", [SquareAttack, HopSkipJumpAttack])
def test_max_queries_must_be_positive(victims, cancer, Attack):
    with pytest.raises(ValueError, match="max_queries"):
        Attack(victims["rf"], max_queries=0).fit(cancer[2])


def test_square_needs_scores(victims, cancer):
    X = cancer[2]
    with pytest.raises(TypeError, match="HopSkipJumpAttack"):
        SquareAttack(PredictOnly(victims["rf"]).fit()).fit(X)
    svc = SVC().fit(cancer[0], cancer[1])
    with pytest.raises(TypeError, match="predict_proba"):
        SquareAttack(svc, scores="predict_proba").fit(X)
    # decision_function is enough
    SquareAttack(svc, max_queries=5).fit(X).transform(X[:5])
    HopSkipJumpAttack(PredictOnly(victims["rf"]).fit(), max_queries=30).fit(X).transform(X[:5])


@pytest.mark.parametrize("Attack", [SquareAttack, HopSkipJumpAttack, TransferAttack])
def test_unfitted_victim(cancer, Attack):
    with pytest.raises(NotFittedError):
        Attack(RandomForestClassifier()).fit(cancer[2])


def test_core_imports_no_sklearn():
    src = Path(bb_core.__file__).read_text()
    names = [a.name for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Import)
             for a in n.names]
    names += [n.module or "" for n in ast.walk(ast.parse(src))
              if isinstance(n, ast.ImportFrom)]
    assert not any(n.split(".")[0] == "sklearn" for n in names)


@pytest.mark.parametrize("norm", ["inf", 2])
def test_square_over_a_budget_grid_equals_one_run_per_budget(victims, cancer, norm):
    """robustness_report runs Square once for all budgets: same rows, queries and
    accuracy as a run per budget, with one victim call per step, not per budget."""
    from skadv.evaluation import robustness_report

    Xtr, _, X, y = cancer
    X, Xtr = X.copy(), Xtr.copy()
    X[:, 2], Xtr[:, 2] = np.round(X[:, 2]), np.round(Xtr[:, 2])
    fc = _constraints(np.vstack([Xtr, X]))
    grid = [0.2, 0.5, 1.0] if norm == "inf" else [1.0, 3.0, 6.0]
    rec = Recorder(victims["rf"]).fit()
    atk = SquareAttack(norm=norm, max_queries=80, random_state=1)
    kw = dict(attacks={"sq": atk}, constraints=fc, feature_scale="std",
              return_adversarial=True)
    joint, adv = robustness_report({"rf": rec}, X, y, eps=grid, **kw)
    calls = len(rec.batches_)
    for e in grid:
        one, adv_one = robustness_report({"rf": victims["rf"]}, X, y, eps=[e], **kw)
        np.testing.assert_array_equal(adv[("rf", e, "sq")], adv_one[("rf", e, "sq")])
        pick = lambda r: r[(r.eps == e) & (r.attack == "sq")][  # noqa: E731
            ["accuracy", "median_perturbation", "mean_queries"]].to_numpy()
        np.testing.assert_array_equal(pick(joint), pick(one))
    acc = joint[joint.attack == "sq"].accuracy.to_numpy()
    assert acc[0] > acc[-1]  # the budgets differ: the test is not decided by one of them
    # one call per step for all budgets (+ the clean and final predicts)
    assert calls <= 80 + 10
