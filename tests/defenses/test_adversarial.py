"""AdversarialTrainingClassifier: robustness gained, objective oracles, search, errors."""

import pickle

import jax
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.tree import DecisionTreeClassifier

from skadv import as_differentiable
from skadv._core import attacks as attacks_core
from skadv._core import train as train_core
from skadv.attacks import (
    AutoPGDAttack,
    CarliniWagnerL2Attack,
    DeepFoolAttack,
    FGSMAttack,
    HopSkipJumpAttack,
    PGDAttack,
    SquareAttack,
)
from skadv.constraints import FeatureConstraints
from skadv.defenses import AdversarialTrainingClassifier
from skadv.metrics import make_robust_scorer, robust_accuracy

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

EPS = 0.5  # L-inf, in standard deviations of the standardised features


def strongest(eps=EPS):
    """The strongest skadv attack: AutoPGD with restarts."""
    return AutoPGDAttack(eps=eps, steps=50, restarts=3, random_state=0)


@pytest.fixture(scope="module")
def tasks(breast_cancer_split, split_standardised):
    X3, y3 = make_classification(n_samples=600, n_features=10, n_informative=6,
                                 n_redundant=2, n_classes=3, n_clusters_per_class=1,
                                 class_sep=1.5, random_state=0)
    return {"breast_cancer": breast_cancer_split,
            "classification": split_standardised(X3, y3)}


@pytest.mark.parametrize("task", ["breast_cancer", "classification"])
def test_pgd_at_and_trades_raise_robust_accuracy(defense_mlp, tasks, task):
    # Issue 6: well above the undefended model under AutoPGD with restarts.
    Xtr, Xte, ytr, yte = tasks[task]
    plain = defense_mlp().fit(Xtr, ytr)
    base = robust_accuracy(plain, Xte, yte, strongest())
    for method in ("pgd", "trades"):
        clf = AdversarialTrainingClassifier(defense_mlp(), attack=PGDAttack(eps=EPS),
                                            method=method).fit(Xtr, ytr)
        assert clf.training_ == "fused"
        robust = robust_accuracy(clf, Xte, yte, strongest())
        assert robust >= base + 0.2, (method, base, robust)
        assert clf.score(Xte, yte) >= 0.8


def test_trades_beta_trades_clean_for_robust_accuracy(defense_mlp, tasks):
    Xtr, Xte, ytr, yte = tasks["classification"]
    clean, robust = [], []
    for beta in (0.5, 3.0, 12.0):
        clf = AdversarialTrainingClassifier(defense_mlp(), attack=PGDAttack(eps=EPS),
                                            method="trades", beta=beta).fit(Xtr, ytr)
        clean.append(clf.score(Xte, yte))
        robust.append(robust_accuracy(clf, Xte, yte, strongest()))
    assert clean[0] > clean[1] > clean[2], clean
    assert robust[0] < robust[1] < robust[2], robust


def test_fast_fgsm_training_raises_robust_accuracy(defense_mlp, tasks):
    Xtr, Xte, ytr, yte = tasks["breast_cancer"]
    base = robust_accuracy(defense_mlp().fit(Xtr, ytr), Xte, yte, strongest())
    clf = AdversarialTrainingClassifier(defense_mlp(), attack=FGSMAttack(eps=EPS),
                                        method="fgsm").fit(Xtr, ytr)
    assert robust_accuracy(clf, Xte, yte, strongest()) >= base + 0.2


def _same_params(a, b, rtol=1e-4, atol=1e-5):
    for la, lb in zip(a.params_, b.params_):
        for k in la:
            np.testing.assert_allclose(la[k], lb[k], rtol=rtol, atol=atol)


@pytest.mark.parametrize("attack", [
    PGDAttack(eps=0.0),
    # The attack can move nothing: every feature immutable, or zero scale.
    PGDAttack(eps=EPS, constraints=FeatureConstraints(immutable=list(range(30)))),
    PGDAttack(eps=EPS, feature_scale=np.zeros(30)),
], ids=["eps0", "immutable", "zero-scale"])
def test_training_attack_that_cannot_move_is_plain_training(defense_mlp, tasks, attack):
    # Oracle: when the training attack cannot change a row, (1 - ratio) CE(x) +
    # ratio CE(x_adv) is the cross-entropy, so adversarial training is plain
    # training step for step. This also shows the training attack respects the
    # attack's constraints and feature_scale.
    Xtr, _, ytr, _ = tasks["breast_cancer"]
    plain = defense_mlp(max_iter=5).fit(Xtr, ytr)
    clf = AdversarialTrainingClassifier(defense_mlp(max_iter=5), attack=attack,
                                        ratio=0.7).fit(Xtr, ytr)
    _same_params(clf.estimator_, plain)


def test_constraints_bind_the_training_attack(defense_mlp, tasks):
    # With bounds equal to the data's own box, rows at a bound cannot move
    # outward: the trained model differs from one trained without bounds.
    Xtr, _, ytr, _ = tasks["breast_cancer"]
    free = AdversarialTrainingClassifier(defense_mlp(max_iter=5),
                                         attack=PGDAttack(eps=EPS)).fit(Xtr, ytr)
    boxed = AdversarialTrainingClassifier(
        defense_mlp(max_iter=5), attack=PGDAttack(eps=EPS, constraints=FeatureConstraints(
            lower=Xtr.min(axis=0), upper=Xtr.max(axis=0)))).fit(Xtr, ytr)
    assert not np.allclose(free.estimator_.params_[0]["W"],
                           boxed.estimator_.params_[0]["W"])


@pytest.mark.parametrize("attack", [SquareAttack(eps=EPS), HopSkipJumpAttack(eps=EPS)],
                         ids=["square", "hopskipjump"])
def test_fused_training_refuses_an_attack_without_a_plan(defense_mlp, tasks, attack):
    # It used to rebuild a PGD from the attack's parameters and train with that.
    Xtr, _, ytr, _ = tasks["breast_cancer"]
    with pytest.raises(ValueError, match="compiled plan"):
        AdversarialTrainingClassifier(defense_mlp(max_iter=2), attack=attack).fit(Xtr, ytr)


def test_fused_training_runs_the_attack_it_is_given(defense_mlp, tasks):
    Xtr, _, ytr, _ = tasks["breast_cancer"]
    at = AdversarialTrainingClassifier(defense_mlp(max_iter=2))
    attack = AutoPGDAttack(eps=EPS, steps=7, loss="cw")
    plan = at._fused_plan(attack, Xtr.astype(np.float64), 2)
    assert plan.core is attacks_core.apgd
    assert dict(plan.static)["steps"] == 7 and dict(plan.static)["loss"] == "cw"
    # Training with it differs from training with a PGD of the same budget.
    apgd = clone(at).set_params(attack=attack).fit(Xtr, ytr)
    pgd = clone(at).set_params(attack=PGDAttack(eps=EPS)).fit(Xtr, ytr)
    assert apgd.training_ == "fused"
    assert not np.allclose(apgd.estimator_.params_[0]["W"], pgd.estimator_.params_[0]["W"])


def test_training_attack_honours_the_attack_constraints(defense_mlp, tasks):
    # The training step used to project onto bounds and mutability only:
    # increase-only features and linear relations were dropped.
    Xtr, _, ytr, _ = tasks["breast_cancer"]
    Xtr = Xtr.astype(np.float64)
    Xr = Xtr.copy()
    Xr[:, 2] = Xr[:, 0] + Xr[:, 1]  # a relation the data satisfy
    fc = FeatureConstraints(increase_only=[3, 4], relations=["x2 == x0 + x1"])
    model = defense_mlp(max_iter=5).fit(Xr, ytr)
    at = AdversarialTrainingClassifier(model, attack=PGDAttack(eps=EPS, constraints=fc))
    plan = at._fused_plan(at.attack, Xr, 2)
    diff = as_differentiable(model)
    X_adv = np.asarray(train_core._inner_max(
        plan, lambda v: diff.fn(diff.params, v), Xr, ytr, jax.random.PRNGKey(0),
        {"ramp": 1.0}))
    assert np.all(X_adv[:, [3, 4]] >= Xr[:, [3, 4]] - 1e-6)
    assert np.abs(X_adv[:, 2] - X_adv[:, 0] - X_adv[:, 1]).max() < 1e-3
    assert np.abs(X_adv - Xr).max() <= EPS + 1e-5
    assert np.abs(X_adv - Xr).max() > 0.9 * EPS  # it did attack


def test_adversarial_only_objective_is_the_ratio_one_objective(defense_mlp, tasks):
    # PGD-AT's default (ratio 1) skips the clean term's pass: the loss and
    # the gradient must be those of the full objective at ratio 1, and differ
    # from it at another ratio (so the check can fail).
    Xtr, _, ytr, _ = tasks["breast_cancer"]
    X = Xtr[:64].astype(np.float32)
    Y = ytr[:64].astype(np.int32)
    model = defense_mlp(max_iter=5).fit(Xtr, ytr)
    at = AdversarialTrainingClassifier(model, attack=PGDAttack(eps=EPS, steps=5))
    diff = as_differentiable(model)
    key = jax.random.PRNGKey(3)

    def value_and_grad(objective, ratio):
        hp = {"attack": at._fused_plan(at.attack, X.astype(np.float64), 2),
              "ramp": 1.0, "ratio": ratio}
        return jax.value_and_grad(
            lambda p: objective(diff.fn, p, X, Y, key, hp).mean())(diff.params)

    fast, g_fast = value_and_grad(train_core.AdversarialObjective(adversarial_only=True), 1.0)
    full, g_full = value_and_grad(train_core.AdversarialObjective(), 1.0)
    half, _ = value_and_grad(train_core.AdversarialObjective(), 0.5)
    np.testing.assert_allclose(fast, full, rtol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(g_fast), jax.tree_util.tree_leaves(g_full)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert abs(float(half) - float(full)) > 1e-3


def test_discrete_constraints_need_an_explicit_relaxation(defense_mlp, tasks):
    Xtr, _, ytr, _ = tasks["breast_cancer"]
    Xi = np.round(Xtr * 2)  # integer-valued columns
    attack = PGDAttack(eps=1.5, constraints=FeatureConstraints(integer=[0, 1]))
    with pytest.raises(ValueError, match="relax_discrete=True"):
        AdversarialTrainingClassifier(defense_mlp(max_iter=2), attack=attack).fit(Xi, ytr)
    clf = AdversarialTrainingClassifier(defense_mlp(max_iter=2), attack=attack,
                                        relax_discrete=True).fit(Xi, ytr)
    assert clf.training_ == "fused"
    # A budget below one unit cannot move them: no relaxation needed.
    AdversarialTrainingClassifier(defense_mlp(max_iter=2), attack=PGDAttack(
        eps=0.5, constraints=FeatureConstraints(integer=[0, 1]))).fit(Xi, ytr)


def test_warmup_ramps_eps_without_stopping_early(defense_mlp, tasks):
    # tol=1e6 makes every epoch after the first "no improvement": plain
    # training stops at epoch 1 + (n_iter_no_change + 1) = 4. During the
    # warm-up eps changes every epoch, so the count restarts each time; it
    # last restarts at epoch 11, the first at full eps, and stops at 11 + 3.
    Xtr, _, ytr, _ = tasks["breast_cancer"]
    inner = defense_mlp(max_iter=50, tol=1e6, n_iter_no_change=2)
    clf = AdversarialTrainingClassifier(inner, attack=PGDAttack(eps=EPS), warmup=10).fit(
        Xtr, ytr)
    assert clf.estimator_.n_iter_ == 14
    assert clone(inner).fit(Xtr, ytr).n_iter_ == 4
    # With early stopping, the best epoch is one at full eps, not an easier one.
    clf = AdversarialTrainingClassifier(clone(inner).set_params(early_stopping=True),
                                        attack=PGDAttack(eps=EPS), warmup=10).fit(Xtr, ytr)
    scores = clf.estimator_.validation_scores_
    assert len(scores) == 14 and clf.estimator_.best_validation_score_ == max(scores[10:])
    # Epoch 0 of the warm-up has eps = 0: one epoch equals plain training.
    one = AdversarialTrainingClassifier(defense_mlp(max_iter=1), attack=PGDAttack(eps=EPS),
                                        warmup=10).fit(Xtr, ytr)
    _same_params(one.estimator_, defense_mlp(max_iter=1).fit(Xtr, ytr))


def test_augmentation_rounds_for_sklearn_estimators(tasks):
    # Documented as weaker than fused training, but it must still help.
    Xtr, Xte, ytr, yte = tasks["breast_cancer"]
    attack = PGDAttack(eps=0.25, steps=20, random_state=0)
    plain = SkLogisticRegression().fit(Xtr, ytr)
    clf = AdversarialTrainingClassifier(SkLogisticRegression(), attack=attack, ratio=0.5,
                                        n_rounds=10).fit(Xtr, ytr)
    assert clf.training_ == "augmentation"
    assert isinstance(clf.estimator_, SkLogisticRegression)
    evaluate = PGDAttack(eps=0.25, steps=50, restarts=3, random_state=0)
    assert (robust_accuracy(clf, Xte, yte, evaluate)
            >= robust_accuracy(plain, Xte, yte, evaluate) + 0.03)


def test_augmentation_needs_a_black_box_attack_for_trees(tasks):
    Xtr, _, ytr, _ = tasks["breast_cancer"]
    Xs, ys = Xtr[:120], ytr[:120]
    tree = DecisionTreeClassifier(max_depth=4, random_state=0)
    with pytest.raises(TypeError, match="SquareAttack"):
        AdversarialTrainingClassifier(tree, attack=PGDAttack(eps=0.3)).fit(Xs, ys)
    clf = AdversarialTrainingClassifier(
        tree, attack=SquareAttack(eps=0.3, max_queries=50, random_state=0),
        n_rounds=1).fit(Xs, ys)
    assert clf.training_ == "augmentation" and clf.score(Xs, ys) > 0.9


def test_grid_search_over_eps_and_beta(defense_mlp, tasks):
    Xtr, _, ytr, _ = tasks["breast_cancer"]
    template = AdversarialTrainingClassifier(defense_mlp(max_iter=20),
                                             attack=PGDAttack(eps=0.1),
                                             method="trades")
    robust = make_robust_scorer(PGDAttack(eps=EPS, random_state=0))
    search = GridSearchCV(template, {"attack__eps": [0.0, EPS], "beta": [1.0, 6.0]},
                          scoring={"clean": "accuracy", "robust": robust},
                          refit="robust", cv=2, n_jobs=2).fit(Xtr, ytr)
    res = search.cv_results_
    assert np.all(np.isfinite(res["mean_test_clean"]))
    assert np.all(np.isfinite(res["mean_test_robust"]))
    # Training at eps=0.5 is more robust at eps=0.5 than not training against it.
    eps = np.asarray(res["param_attack__eps"], dtype=float)
    robust_scores = res["mean_test_robust"]
    assert robust_scores[eps == EPS].min() > robust_scores[eps == 0].max()
    assert search.best_params_["attack__eps"] == EPS
    # Every candidate is a clone: the template is untouched (unfitted, its
    # attack's eps unchanged) ...
    assert not hasattr(template, "estimator_") and template.attack.eps == 0.1
    assert not hasattr(template.estimator, "params_")
    # ... and a candidate refitted by hand on split 0 scores exactly what the
    # search recorded: the robust scorer attacked that fitted candidate.
    train, test = next(StratifiedKFold(2).split(Xtr, ytr))  # what cv=2 means
    i = int(np.flatnonzero((eps == EPS) & (np.asarray(res["param_beta"]) == 6.0))[0])
    candidate = clone(template).set_params(**res["params"][i]).fit(Xtr[train], ytr[train])
    assert robust(candidate, Xtr[test], ytr[test]) == pytest.approx(
        res["split0_test_robust"][i])
    assert candidate.attack.eps == EPS and template.attack is not candidate.attack


def test_delegation_view_and_pickle(defense_mlp, tasks):
    Xtr, Xte, ytr, _ = tasks["classification"]
    clf = AdversarialTrainingClassifier(defense_mlp(max_iter=5),
                                        attack=PGDAttack(eps=0.2)).fit(Xtr, ytr)
    inner = clf.estimator_
    np.testing.assert_array_equal(clf.predict(Xte), inner.predict(Xte))
    np.testing.assert_allclose(clf.predict_proba(Xte), inner.predict_proba(Xte))
    np.testing.assert_allclose(clf.decision_function(Xte), inner.decision_function(Xte))
    np.testing.assert_array_equal(clf.classes_, inner.classes_)
    assert clf.n_features_in_ == Xtr.shape[1]
    diff = as_differentiable(clf)
    assert diff.estimator is clf
    np.testing.assert_allclose(np.asarray(diff.logits(Xte)), inner.decision_function(Xte),
                               rtol=1e-5, atol=1e-5)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(Xte), clf.predict(Xte))


@pytest.mark.parametrize("params, error, match", [
    ({"attack": DeepFoolAttack()}, ValueError, "eps"),
    ({"attack": CarliniWagnerL2Attack()}, ValueError, "eps"),
    ({"ratio": 1.5}, ValueError, "ratio"),
    ({"ratio": -0.1}, ValueError, "ratio"),
    ({"beta": -1.0}, ValueError, "beta"),
    ({"method": "madry"}, ValueError, "method"),
    ({"estimator": Ridge()}, ValueError, "classifier"),
    ({"estimator": SkLogisticRegression(), "method": "trades"}, ValueError, "skadv model"),
], ids=["deepfool", "cw", "ratio>1", "ratio<0", "beta", "method", "regressor", "trades"])
def test_bad_input(defense_mlp, tasks, params, error, match):
    Xtr, _, ytr, _ = tasks["breast_cancer"]
    kw = {"estimator": defense_mlp(max_iter=2), "attack": PGDAttack(eps=0.1), **params}
    with pytest.raises(error, match=match):
        AdversarialTrainingClassifier(**kw).fit(Xtr, ytr)


def _traced_programs(caplog, fit):
    """Names of the programs ``fit()`` traces, from JAX's compile log."""
    import re

    caplog.clear()
    with jax.log_compiles(True), caplog.at_level("WARNING"):
        fit()
    return [m.group(1) for m in (re.search(r"Finished tracing (\S+) for jit", r.getMessage())
                                 for r in caplog.records) if m]


def test_fused_training_compiles_its_epoch_once_across_budgets_and_epochs(caplog):
    from skadv.models import MLPClassifier
    # A shape no other test uses (7 features, 150 rows), so the counts are this test's.
    X, y = make_classification(n_samples=150, n_features=7, n_informative=5,
                               n_redundant=0, random_state=1)
    X = X.astype(np.float32)

    def fit(eps, max_iter, warmup=0):
        mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=max_iter, batch_size=32,
                  random_state=0)
        AdversarialTrainingClassifier(mlp, attack=PGDAttack(eps=eps, steps=3),
                                      warmup=warmup).fit(X, y)

    # The first fit of a fresh process traces the initialisation, the
    # optimiser's state and the epoch: no program for the keys or scalars.
    jax.clear_caches()
    assert sorted(_traced_programs(caplog, lambda: fit(0.1, 2))) == [
        "_epoch", "_glorot", "_init_state"]
    before = train_core._epoch._cache_size()
    assert _traced_programs(caplog, lambda: (fit(0.3, 4), fit(0.05, 3, warmup=2))) == []
    assert train_core._epoch._cache_size() == before


def test_a_first_attack_traces_one_program_without_the_row_keys(caplog):
    # The per-row keys are derived on the host (fold_in_rows): the attack's
    # one program hashes only its random start, not the rows' indices too.
    from skadv.attacks._white_box import _run

    X, y = make_classification(n_samples=70, n_features=7, random_state=2)
    clf = SkLogisticRegression().fit(X, y)
    jax.clear_caches()
    attack = PGDAttack(clf, eps=0.2, steps=4, random_state=0)
    names = _traced_programs(caplog, lambda: attack.fit_transform(X, y))
    assert names == ["_run"]
    diff = as_differentiable(clf)
    keys = np.zeros((8, 2), np.uint32)
    jaxpr = jax.make_jaxpr(_run, static_argnums=0)(
        diff.fn, diff.params, attack._plan(), X[:8].astype(np.float32),
        np.zeros(8, np.int32), keys)
    # One fold_in left: the restart's (the rows' are on the host).
    assert _count_primitive(jaxpr.jaxpr, "random_fold_in") == 1


def _count_primitive(jaxpr, name):
    """Equations of primitive ``name`` in ``jaxpr`` and every jaxpr nested in it."""
    count = 0
    for eqn in jaxpr.eqns:
        count += eqn.primitive.name == name
        for param in eqn.params.values():
            for sub in (param if isinstance(param, (tuple, list)) else (param,)):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    count += _count_primitive(inner, name)
    return count
