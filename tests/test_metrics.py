"""skadv.metrics: make_robust_scorer composes with scikit-learn's scorers."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, log_loss, make_scorer, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skadv.attacks import PGDAttack
from skadv.metrics import make_robust_scorer, robust_accuracy

EPS = 0.3


@pytest.fixture(scope="module")
def fitted(breast_cancer):
    X, y = breast_cancer
    return LogisticRegression().fit(X, y), X, y


def attack():
    return PGDAttack(eps=EPS, random_state=0)


def test_accuracy_scorer_is_robust_accuracy(fitted):
    clf, X, y = fitted
    scorer = make_robust_scorer(attack())
    assert scorer(clf, X, y) == robust_accuracy(clf, X, y, attack())
    assert scorer(clf, X, y) < clf.score(X, y)


def test_attacks_the_fitted_candidate_not_the_template(fitted, breast_cancer):
    clf, X, y = fitted
    # The template aims at another (much weaker) model: ignored.
    other = LogisticRegression(C=1e-4).fit(X, y)
    template = PGDAttack(other, eps=EPS, random_state=0)
    assert make_robust_scorer(template)(clf, X, y) == robust_accuracy(clf, X, y, attack())
    assert template.estimator is other and not hasattr(template, "success_")


def test_multimetric_cross_validation_does_not_reuse_clean_predictions(breast_cancer):
    # With two scorers on predict, sklearn caches predict's output for the
    # fold; the robust scorer must score the adversarial rows instead.
    X, y = breast_cancer
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scoring = {"clean": "accuracy", "robust": make_robust_scorer(attack()),
               "robust_f1": make_robust_scorer(attack(), "f1")}
    res = cross_validate(LogisticRegression(), X, y, cv=cv, scoring=scoring,
                         return_estimator=True)
    for k, (est, (_, test)) in enumerate(zip(res["estimator"], cv.split(X, y))):
        X_adv = PGDAttack(est, eps=EPS, random_state=0).fit_transform(X[test], y[test])
        assert res["test_robust"][k] == robust_accuracy(est, X[test], y[test], attack())
        assert res["test_robust_f1"][k] == f1_score(y[test], est.predict(X_adv))
        assert res["test_clean"][k] == est.score(X[test], y[test])
        assert res["test_robust"][k] < res["test_clean"][k]


def test_metric_forms(fitted):
    clf, X, y = fitted
    X_adv = PGDAttack(clf, eps=EPS, random_state=0).fit_transform(X, y)
    macro = f1_score(y, clf.predict(X_adv), average="macro")
    assert make_robust_scorer(attack(), f1_score, average="macro")(clf, X, y) == macro
    assert make_robust_scorer(attack(), "f1_macro")(clf, X, y) == macro
    assert make_robust_scorer(attack(), make_scorer(f1_score, average="macro"))(
        clf, X, y) == macro
    assert make_robust_scorer(attack(), "roc_auc")(clf, X, y) == roc_auc_score(
        y, clf.decision_function(X_adv))
    # A loss on probabilities: response_method and sign, as in make_scorer.
    loss = make_robust_scorer(attack(), log_loss, response_method="predict_proba",
                              greater_is_better=False)
    assert loss(clf, X, y) == pytest.approx(-log_loss(y, clf.predict_proba(X_adv)))
    assert "make_robust_scorer(PGDAttack" in repr(loss)


def test_works_on_a_pipeline_with_sample_weight(breast_cancer):
    X, y = breast_cancer
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    w = np.linspace(0.5, 2.0, len(y))
    X_adv = PGDAttack(pipe, eps=EPS, random_state=0).fit_transform(X, y)
    expected = np.average(pipe.predict(X_adv) == y, weights=w)
    assert make_robust_scorer(attack())(pipe, X, y, sample_weight=w) == pytest.approx(
        expected)


@pytest.mark.parametrize("args, kwargs, match", [
    (("accuracy",), {"response_method": "predict_proba"}, "callable metric"),
    (("accuracy",), {"normalize": False}, "callable metric"),
], ids=["response_method", "kwargs"])
def test_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_robust_scorer(attack(), *args, **kwargs)


def test_not_an_attack():
    with pytest.raises(ValueError, match="attack"):
        make_robust_scorer(LogisticRegression())
