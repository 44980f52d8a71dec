"""The study runs on one OpenMP thread, which must change no number and leak no setting."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_info, threadpool_limits

import skadv

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore::skadv.evaluation.EvaluationWarning")


def _openmp_threads():
    return sorted(i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp")


def test_histgradientboosting_does_not_depend_on_the_openmp_thread_count():
    # What the study's one-thread limit relies on for unchanged results.
    X, y = load_breast_cancer(return_X_y=True)
    probas = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="openmp"):
            model = HistGradientBoostingClassifier(max_iter=20, max_depth=4,
                                                   early_stopping=False, random_state=0)
            probas.append(model.fit(X[:300], y[:300]).predict_proba(X[300:]))
    np.testing.assert_array_equal(probas[0], probas[1])


def test_study_restores_the_openmp_threads(tmp_path):
    if not _openmp_threads():
        pytest.skip("no OpenMP runtime loaded")
    with threadpool_limits(limits=2, user_api="openmp"), \
            open(tmp_path / "table.txt", "w") as stream:
        before = _openmp_threads()
        skadv.study(quick=True, defenses=["hgb"], attacks=["square"], eps=[0.1],
                    max_rows=20, stream=stream)
        assert _openmp_threads() == before == [2] * len(before)
