"""DistilledClassifier: the training objective's oracles, and why it is not a defense."""

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.linear_model import Ridge

from skadv import as_differentiable
from skadv.attacks import AutoPGDAttack, CarliniWagnerL2Attack, PGDAttack
from skadv.defenses import DistilledClassifier
from skadv.defenses.distillation import soft_labels
from skadv.metrics import robust_accuracy

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def models(defense_mlp, breast_cancer_split):
    Xtr, _, ytr, _ = breast_cancer_split
    distilled = DistilledClassifier(defense_mlp(), temperature=20.0).fit(Xtr, ytr)
    return defense_mlp().fit(Xtr, ytr), distilled


def test_apparent_robustness_disappears_under_logit_attacks(breast_cancer_split, models):
    # Papernot et al.'s defense against Carlini & Wagner's attack on the logits.
    _, Xte, _, yte = breast_cancer_split
    plain, distilled = models
    # L-inf: cross-entropy PGD (saturated softmax, zero gradients) vs AutoPGD
    # on the margin of the logits.
    naive = AutoPGDAttack(eps=0.5, steps=50, restarts=3, random_state=0)
    logits = AutoPGDAttack(eps=0.5, steps=50, restarts=3, loss="cw", random_state=0)
    base = robust_accuracy(plain, Xte, yte, logits)
    assert robust_accuracy(distilled, Xte, yte, naive) >= base + 0.2
    assert abs(robust_accuracy(distilled, Xte, yte, logits) - base) <= 0.05
    # L2: cross-entropy PGD vs Carlini-Wagner L2.
    naive = PGDAttack(eps=1.0, norm=2, steps=50, restarts=3, random_state=0)
    cw = CarliniWagnerL2Attack(eps=1.0, steps=50, binary_search_steps=5)
    base = robust_accuracy(plain, Xte, yte, cw)
    assert robust_accuracy(distilled, Xte, yte, naive) >= base + 0.05
    assert abs(robust_accuracy(distilled, Xte, yte, cw) - base) <= 0.05


def test_deployed_logits_are_hot(breast_cancer_split, models):
    # Trained at T, deployed at T=1: the logits are about T times a normally
    # trained model's, which is what saturates the softmax.
    _, Xte, _, _ = breast_cancer_split
    plain, distilled = models
    ratio = (np.median(np.abs(distilled.decision_function(Xte)))
             / np.median(np.abs(plain.decision_function(Xte))))
    assert 5 < ratio < 60
    np.testing.assert_allclose(np.asarray(as_differentiable(distilled).logits(Xte))[:, 1],
                               distilled.decision_function(Xte), rtol=1e-5, atol=1e-4)


def test_temperature_one_teacher_is_plain_training(defense_mlp, breast_cancer_split):
    # Oracle: at T = 1 the distillation objective is the cross-entropy.
    Xtr, _, ytr, _ = breast_cancer_split
    clf = DistilledClassifier(defense_mlp(max_iter=5), temperature=1.0).fit(Xtr, ytr)
    plain = defense_mlp(max_iter=5).fit(Xtr, ytr)
    for a, b in zip(clf.teacher_.params_, plain.params_):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("T", [1.0, 20.0])
def test_soft_labels_are_the_softened_softmax(breast_cancer_split, models, T):
    _, Xte, _, _ = breast_cancer_split
    teacher = models[1].teacher_
    z = np.asarray(as_differentiable(teacher).logits(Xte), dtype=np.float64)
    np.testing.assert_allclose(soft_labels(teacher, Xte, T), softmax(z / T, axis=1),
                               atol=1e-5)


def test_sklearn_teacher(defense_mlp, breast_cancer_split):
    Xtr, Xte, ytr, yte = breast_cancer_split
    teacher = SkLogisticRegression()
    clf = DistilledClassifier(teacher, defense_mlp(), temperature=5.0).fit(Xtr, ytr)
    assert isinstance(clf.teacher_, SkLogisticRegression)
    # The student imitates the teacher.
    agree = np.mean(clf.predict(Xte) == clone(teacher).fit(Xtr, ytr).predict(Xte))
    assert agree >= 0.95
    assert clf.predict_proba(Xte).shape == (len(Xte), 2)


@pytest.mark.parametrize("params, match", [
    ({"temperature": 0.0}, "temperature"),
    ({"temperature": -1.0}, "temperature"),
    ({"teacher": Ridge()}, "classifier"),
    ({"student": SkLogisticRegression()}, "skadv model"),
], ids=["T=0", "T<0", "regressor", "sklearn-student"])
def test_bad_input(defense_mlp, breast_cancer_split, params, match):
    Xtr, _, ytr, _ = breast_cancer_split
    kw = {"teacher": defense_mlp(max_iter=2), **params}
    with pytest.raises(ValueError, match=match):
        DistilledClassifier(**kw).fit(Xtr, ytr)
