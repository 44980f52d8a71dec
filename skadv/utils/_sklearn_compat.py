"""The one place skadv imports scikit-learn's private helpers.

scikit-learn moves its private helpers between releases; importing them here
only keeps a future move to a one-line change.
"""

from sklearn.base import _fit_context
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.metrics._scorer import _cached_call, _Scorer
from sklearn.utils.multiclass import _ovr_decision_function
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    Options,
    RealNotInt,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    _num_samples,
    check_is_fitted,
    validate_data,
)

__all__ = [
    "HasMethods",
    "Hidden",
    "Interval",
    "LinearClassifierMixin",
    "Options",
    "RealNotInt",
    "StrOptions",
    "_Scorer",
    "_cached_call",
    "_check_sample_weight",
    "_fit_context",
    "_num_samples",
    "_ovr_decision_function",
    "check_is_fitted",
    "column_transformer_indices",
    "validate_data",
    "validate_params",
]


def column_transformer_indices(column_transformer):
    """Input column indices of each fitted transformer of a ``ColumnTransformer``.

    scikit-learn resolves names, masks, slices and callables into these indices
    at fit but keeps them private (``_transformer_to_input_indices``).
    """
    return dict(getattr(column_transformer, "_transformer_to_input_indices", {}))
