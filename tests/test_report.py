"""robustness_report and RobustnessCurveDisplay: the numbers and their invariants."""


import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skadv import NotDifferentiableError, as_differentiable
from skadv.attacks import (BPDA, CarliniWagnerL2Attack, ExactTreeAttack, FGSMAttack,
                           PGDAttack, SquareAttack)
from skadv.attacks._budget import attack_norm
from skadv.defenses import CertifiedClassifier
from skadv.evaluation import (
    EvaluationWarning,
    RobustnessReport,
    report_to_markdown,
    robustness_report,
)
from skadv.plotting import RobustnessCurveDisplay

EPS = [0.05, 0.2, 0.4]


@pytest.fixture(scope="module")
def setup(breast_cancer):
    X, y = breast_cancer
    X, y = X[::3].astype(np.float64), y[::3]
    lr = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    cert = CertifiedClassifier(LogisticRegression(), method="linear").fit(X, y)
    attacks = {"FGSM": FGSMAttack(), "PGD": PGDAttack(steps=10, random_state=0),
               "Square": SquareAttack(max_queries=100, random_state=0)}
    report, preds = robustness_report({"LR": lr, "certified LR": cert}, X, y,
                                      attacks=attacks, eps=EPS, return_predictions=True)
    return X, y, report, preds


def test_worst_case_is_the_per_row_conjunction(setup):
    X, y, report, preds = setup
    for (est, e), group in report.groupby(["estimator", "eps"]):
        acc = dict(zip(group.attack, group.accuracy))
        attacks = [a for a in acc if a not in ("clean", "worst case", "certified")]
        assert acc["worst case"] <= min(acc[a] for a in attacks) + 1e-12
        assert acc["worst case"] <= acc["clean"]
        rows = np.logical_and.reduce([preds[(est, e, a)] == y for a in attacks])
        assert acc["worst case"] <= rows.mean() + 1e-12


def test_certified_accuracy_is_a_lower_bound_of_the_attacks(setup):
    _, _, report, _ = setup
    cert = report[report.estimator == "certified LR"]
    for e, group in cert.groupby("eps"):
        acc = dict(zip(group.attack, group.accuracy))
        assert acc["certified"] <= acc["worst case"] + 1e-12
        # exact certificates of a linear model: PGD reaches the bound
        assert acc["certified"] >= acc["PGD"] - 1.0 / group.n_samples.iloc[0] - 1e-12
    assert "certified" not in set(report[report.estimator == "LR"].attack)


def test_markdown_and_display_carry_the_numbers(setup):
    _, _, report, _ = setup
    md = report_to_markdown(report)
    header = md.splitlines()[0]
    assert header.startswith("| estimator | eps | clean | FGSM | PGD | Square | worst case")
    row = report[(report.estimator == "LR") & (report.eps == 0.2)]
    pgd = float(row[row.attack == "PGD"].accuracy.iloc[0])
    assert "| LR | 0.2 | " in md and f"{pgd:.3f}" in md

    disp = RobustnessCurveDisplay.from_report(report, estimator="certified LR")
    labels = [line.get_label() for line in disp.lines_]
    assert "certified LR / worst case" in labels and "certified LR / certified" in labels
    for line in disp.lines_:
        attack = line.get_label().split(" / ")[1]
        sel = report[(report.estimator == "certified LR") & (report.attack == attack)]
        np.testing.assert_allclose(line.get_ydata(), sel.accuracy.to_numpy())
        np.testing.assert_allclose(line.get_xdata(), EPS)
    assert disp.figure_ is disp.ax_.figure
    with pytest.raises(ValueError, match="Unknown estimator"):
        RobustnessCurveDisplay.from_report(report, estimator="SVC")


def test_from_estimator_matches_the_report(breast_cancer):
    X, y = breast_cancer
    X, y = X[:120], y[:120]
    clf = LogisticRegression().fit(X, y)
    disp = RobustnessCurveDisplay.from_estimator(
        clf, X, y, attacks=[PGDAttack(random_state=0)], eps=[0.1, 0.3])
    report = robustness_report(clf, X, y, attacks=[PGDAttack(random_state=0)],
                               eps=[0.1, 0.3])
    sel = report[report.attack == "PGD"]
    np.testing.assert_allclose(disp.lines_[0].get_ydata(), sel.accuracy.to_numpy())


def test_inapplicable_attack_is_reported_not_crashed(breast_cancer):
    X, y = breast_cancer
    forest = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    with pytest.warns(EvaluationWarning, match="PGD does not apply"):
        report = robustness_report(forest, X[:40], y[:40], eps=[0.3],
                                   attacks=[PGDAttack(), SquareAttack(max_queries=50,
                                                                      random_state=0)])
    acc = dict(zip(report.attack, report.accuracy))
    assert np.isnan(acc["PGD"]) and acc["worst case"] <= acc["Square"]


def test_without_pandas_returns_arrays(breast_cancer, monkeypatch):
    X, y = breast_cancer
    clf = LogisticRegression().fit(X, y)
    monkeypatch.setattr("skadv.evaluation._pandas", lambda: None)
    report = robustness_report(clf, X[:50], y[:50], attacks=FGSMAttack(), eps=0.1)
    assert isinstance(report, RobustnessReport)
    assert list(report["attack"]) == ["clean", "FGSM", "worst case"]
    assert "| LogisticRegression | 0.1 |" in report.to_markdown()


@pytest.mark.parametrize("eps", [[], [-0.1], ["a"], [np.nan]])
def test_bad_eps_and_mixed_norms(breast_cancer, eps):
    X, y = breast_cancer
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="eps must be"):
        robustness_report(clf, X[:20], y[:20], attacks=FGSMAttack(), eps=eps)
    with pytest.raises(ValueError, match="share a norm"):
        robustness_report(clf, X[:20], y[:20], attacks=[FGSMAttack(), FGSMAttack(norm=2)],
                          eps=0.1)


def test_an_attack_of_one_norm_counts_in_the_norm_check(breast_cancer):
    # CarliniWagnerL2Attack's norm is a class attribute, not a parameter: it
    # used to be read as L-inf and pass beside an L-inf PGD.
    X, y = breast_cancer
    clf = LogisticRegression().fit(X, y)
    assert attack_norm(CarliniWagnerL2Attack()) == 2
    assert attack_norm(BPDA(CarliniWagnerL2Attack())) == 2
    with pytest.raises(ValueError, match="share a norm"):
        robustness_report(clf, X[:20], y[:20], eps=0.1,
                          attacks=[PGDAttack(), CarliniWagnerL2Attack()])


class _BuggyAttack(FGSMAttack):
    """An attack with a bug: a TypeError deep in its run."""

    def _generate(self, U, y_idx, key, rows):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")


def test_only_an_inapplicable_attack_becomes_a_nan_row(breast_cancer):
    # Every TypeError used to become "not applicable": a NaN row and a warning.
    X, y = breast_cancer
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(TypeError, match="unsupported operand"):
        robustness_report(clf, X[:20], y[:20], attacks=_BuggyAttack(), eps=0.1)
    forest = RandomForestClassifier(n_estimators=3, max_depth=2, random_state=0).fit(X, y)
    with pytest.raises(NotDifferentiableError, match="SquareAttack"):
        as_differentiable(forest)
    assert issubclass(NotDifferentiableError, TypeError)


def test_a_tree_attack_on_a_network_is_not_applicable(breast_cancer):
    X, y = breast_cancer
    clf = LogisticRegression().fit(X, y)
    with pytest.warns(EvaluationWarning, match="ExactTree does not apply"):
        report = robustness_report(clf, X[:20], y[:20], eps=0.1,
                                   attacks=[ExactTreeAttack(), FGSMAttack()])
    acc = dict(zip(report.attack, report.accuracy))
    assert np.isnan(acc["ExactTree"]) and acc["worst case"] <= acc["FGSM"]


def test_adversarial_rows_are_the_ones_scored(breast_cancer):
    X, y = breast_cancer
    X, y = X[::4].astype(np.float64), y[::4]
    lr = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    report, preds, advs = robustness_report(
        {"LR": lr}, X, y, attacks={"PGD": PGDAttack(steps=10, random_state=0)},
        eps=[0.1, 0.5], feature_scale="std", return_predictions=True,
        return_adversarial=True)
    assert set(advs) == set(preds)
    scale = X.std(axis=0)
    for (est, e, atk), X_adv in advs.items():
        assert X_adv.shape == X.shape
        assert (lr.predict(X_adv) == preds[(est, e, atk)]).all()
        assert np.abs((X_adv - X) / scale).max() <= e * (1 + 1e-6)
    only, adv_only = robustness_report({"LR": lr}, X, y, attacks=[FGSMAttack()], eps=0.1,
                                       return_adversarial=True)
    assert list(adv_only) == [("LR", 0.1, "FGSM")]


def test_a_run_equal_to_an_earlier_one_is_reused(breast_cancer):
    from skadv.defenses import GradientMaskingClassifier
    from skadv.models import LogisticRegression as JaxLR

    X, y = breast_cancer
    X, y = X[::4].astype(np.float64), y[::4]
    lr = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    masked = make_pipeline(StandardScaler(), GradientMaskingClassifier(
        JaxLR(), quantization_step=0.5)).fit(X, y)
    attacks = {"PGD": PGDAttack(steps=10, random_state=0),
               "BPDA": BPDA(PGDAttack(steps=10, random_state=0)),
               "seed 1": PGDAttack(steps=10, random_state=1),
               "unseeded": PGDAttack(steps=10)}
    report, advs = robustness_report({"LR": lr, "masked": masked}, X, y, attacks=attacks,
                                     eps=[0.1, 0.5], feature_scale="std",
                                     return_adversarial=True)
    seconds = report.set_index(["estimator", "eps", "attack"]).time_s
    for e in (0.1, 0.5):
        # Nothing for BPDA to replace in a logistic regression: PGD's run, reused.
        assert seconds[("LR", e, "BPDA")] == 0.0 < seconds[("LR", e, "PGD")]
        np.testing.assert_array_equal(advs[("LR", e, "BPDA")], advs[("LR", e, "PGD")])
        # Another seed, no seed, or a rounding to see through: runs of their own.
        assert seconds[("LR", e, "seed 1")] > 0 and seconds[("LR", e, "unseeded")] > 0
        assert seconds[("masked", e, "BPDA")] > 0
    # The reused rows are the ones a standalone BPDA run returns.
    alone = BPDA(PGDAttack(eps=0.5, steps=10, feature_scale="std", random_state=0),
                 estimator=lr).fit(X, y)
    np.testing.assert_array_equal(alone.transform(X, y), advs[("LR", 0.5, "BPDA")])
