"""scikit-learn's common checks over every public estimator, with tiny settings.

Add each new public estimator, attack and defense to ``ESTIMATORS``; a check
that cannot pass goes into ``EXPECTED_FAILED`` with the reason.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skadv.models import LogisticRegression, MLPClassifier

# float32 training: fitting with weights equals fitting on repeated rows to
# ~2e-6 relative (tests/models/test_models.py asserts it at float32
# tolerance), but this check compares at rtol=1e-7, a float64 tolerance.
_FLOAT32_WEIGHTS = {
    "check_sample_weight_equivalence_on_dense_data":
        "float32 training: equivalent only to float32 precision (tested there)",
}

ESTIMATORS = [
    LogisticRegression(),
    MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, learning_rate_init=0.01,
                  random_state=0),
]

EXPECTED_FAILED = {
    "LogisticRegression": _FLOAT32_WEIGHTS,
    "MLPClassifier": _FLOAT32_WEIGHTS,
}


def _expected_failed(estimator):
    return EXPECTED_FAILED.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed)
def test_sklearn_compatible(estimator, check):
    check(estimator)
