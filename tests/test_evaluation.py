"""skadv.evaluation: gradient-masking diagnostic flags masked models, not robust ones."""

import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import jax

from skadv import as_differentiable
from skadv.attacks import AutoPGDAttack, PGDAttack
from skadv.defenses import (
    AdversarialTrainingClassifier,
    DistilledClassifier,
    GradientMaskingClassifier,
)
from skadv.evaluation import EvaluationWarning, _warn_unreliable, check_gradient_masking
from skadv.models import Differentiable, MLPClassifier
from skadv.models._differentiable import Chain

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

EPS = 0.5


def diagnose(model, X, y, **kw):
    # The same AutoPGD as the defense tests (its compiled code is shared).
    attack = AutoPGDAttack(eps=EPS, steps=50, restarts=3, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = check_gradient_masking(model, X, y, EPS, attack=attack, random_state=0,
                                       **kw)
    return table, [w for w in caught if issubclass(w.category, EvaluationWarning)]


@pytest.mark.parametrize("make, expected", [
    (lambda mlp: GradientMaskingClassifier(mlp(), quantization_step=0.25),
     {"zero_gradients", "unbounded_attack_fails", "black_box_beats_white_box",
      "random_search_beats_gradient"}),
    (lambda mlp: GradientMaskingClassifier(mlp(), method="noise", noise_scale=3.0,
                                       random_state=0),
     {"black_box_beats_white_box"}),
    (lambda mlp: DistilledClassifier(mlp(), temperature=20.0),
     {"zero_gradients", "black_box_beats_white_box"}),
], ids=["quantize", "gradient-noise", "distillation"])
def test_flags_masked_models(defense_mlp, breast_cancer_split, make, expected):
    Xtr, Xte, ytr, yte = breast_cancer_split
    table, caught = diagnose(make(defense_mlp).fit(Xtr, ytr), Xte, yte)
    fired = set(table.index[table["fired"] == True])  # noqa: E712 (None = not applicable)
    assert expected <= fired, table
    assert any("gradient masking" in str(w.message) for w in caught)


def test_does_not_flag_adversarial_training(defense_mlp, breast_cancer_split):
    Xtr, Xte, ytr, yte = breast_cancer_split
    clf = AdversarialTrainingClassifier(defense_mlp(), attack=PGDAttack(eps=EPS)).fit(
        Xtr, ytr)
    table, caught = diagnose(clf, Xte, yte)
    assert not table["fired"].any(), table
    assert not caught
    # The numbers behind the verdicts: FGSM is weaker than AutoPGD, SquareAttack
    # no stronger, an unbounded attack wins everywhere.
    assert table.loc["one_step_beats_iterative", "value"] >= table.loc[
        "one_step_beats_iterative", "reference"]
    assert table.loc["unbounded_attack_fails", "value"] == 0.0
    assert set(table.columns) == {"fired", "value", "reference", "detail"}


class _Randomised(MLPClassifier):
    """Predictions that change from call to call (a randomised defense)."""

    def predict(self, X):
        pred = super().predict(X)
        flip = np.random.default_rng().random(len(pred)) < 0.2
        other = self.classes_[::-1][np.searchsorted(self.classes_, pred)]
        return np.where(flip, other, pred)


@dataclass(frozen=True)
class _Softmax:
    def __call__(self, params, X):
        return jax.nn.softmax(X, axis=-1)


class _Probabilities(MLPClassifier):
    """A view that returns probabilities where logits belong."""

    def __skadv_differentiable__(self):
        d = super().__skadv_differentiable__()
        return Differentiable(Chain((d.fn, _Softmax())), (d.params, None), d.classes_,
                              d.n_features_in_, estimator=self)


def test_warns_about_randomised_predictions(breast_cancer_split):
    Xtr, Xte, ytr, yte = breast_cancer_split
    model = _Randomised(hidden_layer_sizes=(32,), max_iter=60, learning_rate_init=0.01,
                        random_state=0).fit(Xtr, ytr)
    _, caught = diagnose(model, Xte, yte)
    assert any("randomised" in str(w.message) for w in caught)


def test_warns_about_probabilities_in_place_of_logits(defense_mlp, breast_cancer_split):
    # The check on the view alone (the whole diagnostic is wired as above).
    Xtr, Xte, ytr, _ = breast_cancer_split
    model = _Probabilities(hidden_layer_sizes=(32,), max_iter=60, learning_rate_init=0.01,
                           random_state=0).fit(Xtr, ytr)
    with pytest.warns(EvaluationWarning, match="probabilities"):
        _warn_unreliable(model, as_differentiable(model), Xte, {})
    plain = defense_mlp().fit(Xtr, ytr)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EvaluationWarning)
        _warn_unreliable(plain, as_differentiable(plain), Xte, {})


def test_dict_without_pandas(defense_mlp, breast_cancer_split, monkeypatch):
    Xtr, Xte, ytr, yte = breast_cancer_split
    model = defense_mlp().fit(Xtr, ytr)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    table, _ = diagnose(model, Xte, yte)
    assert isinstance(table, dict) and set(table) >= {"zero_gradients",
                                                      "one_step_beats_iterative"}
    assert table["zero_gradients"]["fired"] is False
