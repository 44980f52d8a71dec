"""Differentiable views of fitted scikit-learn classifiers.

:func:`sklearn_differentiable` reads the fitted arrays of a scikit-learn
estimator and returns the same function written in JAX. Nothing is refitted or
approximated: the logits equal the estimator's ``decision_function`` (or the log
of its ``predict_proba``) up to float32 rounding, which the tests check.

Conversion runs in two passes. The first looks only at the estimator's types and
constructor parameters, so an unsupported estimator raises ``TypeError`` whether
or not it is fitted (fitting it would not help). The second reads the fitted
arrays, so a supported but unfitted estimator raises ``NotFittedError``.

Every preprocessing step supported here is a per-column affine map, possibly
after a column gather; a whole chain of them folds into one :class:`Affine`,
so a pipeline costs one gather and one fused multiply-add before the model.
"""

from dataclasses import dataclass

import numpy as np
import jax.numpy as jnp
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
)
from sklearn.svm import SVC, NuSVC

from ..utils._sklearn_compat import LinearClassifierMixin, check_is_fitted
from ._views import (BLACK_BOX_HINT, Affine, Chain, Differentiable,
                     NotDifferentiableError, _dense)

__all__ = ["KernelSVC", "sklearn_differentiable"]

_SUPPORTED = (
    "Supported: fitted linear classifiers (LogisticRegression, LinearSVC, "
    "SGDClassifier, RidgeClassifier, Perceptron, ...), a OneVsRestClassifier of "
    "linear classifiers, MLPClassifier, SVC or NuSVC with a 'linear', 'poly', "
    "'rbf' or 'sigmoid' kernel, and Pipelines of those after StandardScaler, "
    "MinMaxScaler, MaxAbsScaler, RobustScaler, 'passthrough' or a "
    "ColumnTransformer of those scalers."
)

_SCALERS = (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler)
_SVC_KERNELS = ("linear", "poly", "rbf", "sigmoid")


def _unsupported(what, reason=""):
    """The one error for an estimator with no differentiable form."""
    reason = f" ({reason})" if reason else ""
    return NotDifferentiableError(
        f"{what} has no differentiable form in skadv{reason}. {_SUPPORTED} "
        f"{BLACK_BOX_HINT}"
    )


def _name(obj):
    return type(obj).__name__


def _is_passthrough(step):
    # Pipeline accepts both spellings for a skipped step; a ColumnTransformer
    # stores "passthrough" as a FunctionTransformer without a function once fitted.
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return True
    return isinstance(step, FunctionTransformer) and step.func is None


def _is_drop(trans):
    return isinstance(trans, str) and trans == "drop"


# --------------------------------------------------------------------------
# Kernel SVC
# --------------------------------------------------------------------------


def _gram(kernel, degree, params, X):
    """Kernel matrix ``K(X, support_vectors)`` of shape (n_samples, n_SV), as libsvm."""
    if kernel == "rbf":
        # Distances are shift invariant: both sides are centred on the support
        # vectors' mean so the float32 expansion |x|^2 + |s|^2 - 2 x.s does not
        # cancel catastrophically on uncentred data.
        Xc = X - params["center"]
        S = params["support_vectors"]
        d2 = (
            jnp.sum(Xc * Xc, axis=1)[:, None]
            + jnp.sum(S * S, axis=1)[None, :]
            - 2.0 * Xc @ S.T
        )
        return jnp.exp(-params["gamma"] * jnp.maximum(d2, 0.0))
    inner = params["gamma"] * (X @ params["support_vectors"].T) + params["coef0"]
    if kernel == "poly":
        return inner**degree
    return jnp.tanh(inner)


def _ovr_from_ovo(dec, n_classes):
    """scikit-learn's one-vs-rest scores from pairwise decision values, in JAX.

    Mirrors ``sklearn.utils.multiclass._ovr_decision_function(dec < 0, -dec,
    n_classes)``: votes plus confidences squashed into (-1/3, 1/3) so they only
    break ties. The votes are piecewise constant and carry no gradient; the
    confidence term does, so gradients point along the pairwise margins.
    """
    first, second = np.triu_indices(n_classes, k=1)  # the (i, j) order of libsvm
    eye = np.eye(n_classes, dtype=np.float32)
    to_first, to_second = eye[first], eye[second]  # (n_pairs, n_classes)
    first_wins = (dec >= 0).astype(dec.dtype)
    votes = first_wins @ to_first + (1.0 - first_wins) @ to_second
    confidence = dec @ (to_first - to_second)
    return votes + confidence / (3.0 * (jnp.abs(confidence) + 1.0))


@dataclass(frozen=True)
class KernelSVC:
    """A fitted libsvm classifier (``SVC``, ``NuSVC``) as a pure function.

    ``params`` holds ``"support_vectors"`` (n_SV, n_features), ``"dual_coef"``
    (n_SV, n_pairs) with one column per pair of classes, ``"intercept"``
    (n_pairs,), ``"gamma"`` and ``"coef0"`` (scalars) and, for ``"rbf"``,
    ``"center"`` (n_features,) subtracted from both sides before distances. A
    linear kernel is folded into ``"W"`` (n_features, n_pairs) and
    ``"intercept"``: one matrix product instead of two.

    Binary: logits ``[0, f]`` with ``f`` scikit-learn's ``decision_function``.
    Multiclass: scikit-learn's one-vs-rest scores built from the one-vs-one
    decisions (votes plus tie-breaking confidences), whatever the estimator's
    ``decision_function_shape``: logits must have one column per class, and
    ``"ovo"`` only changes how scikit-learn reports the same pairwise values.
    ``argmax`` is ``predict`` with ``break_ties=True``; with the default
    ``break_ties=False`` libsvm gives a tied vote to the lowest class index, so
    the two can differ on rows with tied votes.

    Parameters
    ----------
    kernel : {"linear", "poly", "rbf", "sigmoid"}
        As in libsvm.
    n_classes : int
        Number of classes; the pairs are ``(i, j)``, ``i < j``, in row-major order.
    degree : int
        Degree of the ``"poly"`` kernel; static, so ``x ** degree`` is an exact
        integer power (negative bases included).
    """

    kernel: str = "rbf"
    n_classes: int = 2
    degree: int = 3

    def __call__(self, params, X):
        if self.kernel == "linear":
            dec = X @ params["W"] + params["intercept"]
        else:
            gram = _gram(self.kernel, self.degree, params, X)
            dec = gram @ params["dual_coef"] + params["intercept"]
        if self.n_classes == 2:
            return jnp.concatenate([jnp.zeros_like(dec), dec], axis=1)
        return _ovr_from_ovo(dec, self.n_classes)


def _pairwise_dual_coef(dual_coef, n_support):
    """libsvm's packed ``(n_classes - 1, n_SV)`` coefficients as ``(n_SV, n_pairs)``.

    For the pair ``(i, j)``, ``i < j``, libsvm weighs the support vectors of
    class ``i`` by row ``j - 1`` and those of class ``j`` by row ``i``; every
    other support vector has weight zero in that pair.
    """
    n_classes = len(n_support)
    starts = np.concatenate([[0], np.cumsum(n_support)])
    pairs = list(zip(*np.triu_indices(n_classes, k=1)))
    out = np.zeros((dual_coef.shape[1], len(pairs)))
    for p, (i, j) in enumerate(pairs):
        rows_i = slice(starts[i], starts[i + 1])
        rows_j = slice(starts[j], starts[j + 1])
        out[rows_i, p] = dual_coef[j - 1, rows_i]
        out[rows_j, p] = dual_coef[i, rows_j]
    return out


def _f32(a):
    return jnp.asarray(np.asarray(a, dtype=np.float64), dtype=jnp.float32)


def _dense_array(a):
    return a.toarray() if sparse.issparse(a) else np.asarray(a)


# --------------------------------------------------------------------------
# Classifiers: type check (no fitted state needed), then build from fitted arrays
# --------------------------------------------------------------------------


def _is_linear(est):
    return isinstance(est, LinearClassifierMixin)


def _check_classifier(est):
    """Raise ``TypeError`` unless ``est``'s type has a differentiable form."""
    if _is_linear(est) or isinstance(est, MLPClassifier):
        return
    if hasattr(est, "__skadv_differentiable__"):
        # skadv models and defenses at the end of a scaler Pipeline.
        return
    if isinstance(est, OneVsRestClassifier):
        if not _is_linear(est.estimator):
            raise _unsupported(
                f"OneVsRestClassifier({_name(est.estimator)})",
                "only a OneVsRestClassifier of linear classifiers is supported",
            )
        return
    if isinstance(est, (SVC, NuSVC)):
        if not (isinstance(est.kernel, str) and est.kernel in _SVC_KERNELS):
            raise _unsupported(
                f"{_name(est)}(kernel={est.kernel!r})",
                "a precomputed or callable kernel is not a function of X that "
                "skadv can differentiate",
            )
        return
    raise _unsupported(_name(est))


def _check_single_label(est):
    # A multilabel model predicts an indicator matrix, not one class per row:
    # there is no single set of logits whose argmax is its prediction.
    binarizer = getattr(est, "_label_binarizer", None)
    y_type = getattr(binarizer, "y_type_", "")
    if getattr(est, "multilabel_", False) or y_type.startswith("multilabel"):
        raise _unsupported(f"multilabel {_name(est)}")


def _linear_params(est):
    coef = _dense_array(est.coef_).reshape(-1, est.n_features_in_)
    # fit_intercept=False leaves a scalar 0.0 in some estimators (LinearSVC).
    intercept = np.broadcast_to(np.asarray(est.intercept_, dtype=np.float64), coef.shape[:1])
    return coef, intercept


def _build_classifier(est):
    """``(fn, params)`` for a classifier that passed :func:`_check_classifier`."""
    hook = getattr(est, "__skadv_differentiable__", None)
    if hook is not None:
        diff = hook()
        return diff.fn, diff.params
    check_is_fitted(est)
    _check_single_label(est)
    n_classes = len(est.classes_)
    if _is_linear(est):
        coef, intercept = _linear_params(est)
        # A binary linear model has one row of coef_: its score is the logit of
        # classes_[1], which DenseNet(binary=True) pairs with a zero for classes_[0].
        return _dense([coef.T], [intercept], "identity", coef.shape[0] == 1)

    if isinstance(est, OneVsRestClassifier):
        for sub in est.estimators_:
            if not _is_linear(sub):
                raise _unsupported(
                    f"OneVsRestClassifier with a fitted {_name(sub)}",
                    "a class seen in every or no training row leaves a "
                    "constant predictor that has no coefficients",
                )
        coef, intercept = zip(*(_linear_params(sub) for sub in est.estimators_))
        coef, intercept = np.vstack(coef), np.concatenate(intercept)
        # One binary problem when there are two classes, as in decision_function.
        return _dense([coef.T], [intercept], "identity", len(est.estimators_) == 1)

    if isinstance(est, MLPClassifier):
        # The output activation (logistic or softmax) is left off: the logits
        # are what goes into it, and log_softmax([0, f]) = log([1 - s(f), s(f)]).
        return _dense(est.coefs_, est.intercepts_, est.activation, n_classes == 2)

    return _build_svc(est)


def _build_svc(est):
    n_classes = len(est.classes_)
    sv = _dense_array(est.support_vectors_).astype(np.float64)
    # The private _dual_coef_/_intercept_ are libsvm's own, unflipped arrays;
    # the public ones are negated in the binary case.
    dual = _dense_array(est._dual_coef_).astype(np.float64)
    intercept = np.asarray(est._intercept_, dtype=np.float64)
    if n_classes == 2:
        # scikit-learn reports -(libsvm decision) so that positive means classes_[1].
        dual_coef, intercept = -dual.T, -intercept
    else:
        dual_coef = _pairwise_dual_coef(dual, est.n_support_)
    fn = KernelSVC(kernel=est.kernel, n_classes=n_classes, degree=int(est.degree))
    if est.kernel == "linear":
        return fn, {"W": _f32(sv.T @ dual_coef), "intercept": _f32(intercept)}
    params = {
        "dual_coef": _f32(dual_coef),
        "intercept": _f32(intercept),
        # gamma="scale"/"auto" is resolved from the training data at fit time
        # and stored only in _gamma.
        "gamma": _f32(est._gamma),
        "coef0": _f32(est.coef0),
    }
    if est.kernel == "rbf":
        center = sv.mean(axis=0)
        params["center"] = _f32(center)
        sv = sv - center
    params["support_vectors"] = _f32(sv)
    return fn, params


# --------------------------------------------------------------------------
# Preprocessing: every supported transformer is an affine map (index, scale, offset)
# --------------------------------------------------------------------------


def _check_transformer(trans, where):
    """Raise ``TypeError`` unless ``trans`` (fitted or not) is an affine map."""
    if _is_passthrough(trans):
        return
    if isinstance(trans, (MinMaxScaler, MaxAbsScaler)) and getattr(trans, "clip", False):
        raise _unsupported(
            f"{where} {_name(trans)}(clip=True)",
            "clipping is flat outside the training range, so its gradient is "
            "zero there and white-box attacks stall; refit with clip=False",
        )
    if isinstance(trans, _SCALERS):
        return
    if isinstance(trans, Pipeline):
        for name, step in trans.steps:
            _check_transformer(step, f"{where} step {name!r}")
        return
    if isinstance(trans, ColumnTransformer):
        parts = [(name, sub) for name, sub, _ in trans.transformers]
        for name, sub in parts + [("remainder", trans.remainder)]:
            if not _is_drop(sub):
                _check_transformer(sub, f"{where} transformer {name!r}")
        return
    raise _unsupported(f"{where} {_name(trans)}")


def _identity(n):
    return np.arange(n), np.ones(n), np.zeros(n)


def _then(first, second):
    """The affine map ``second(first(x))``; ``None`` is the identity."""
    if first is None:
        return second
    if second is None:
        return first
    index, scale, offset = first
    index2, scale2, offset2 = second
    return index[index2], scale[index2] * scale2, offset[index2] * scale2 + offset2


# x -> (x - centre) / divisor, each part applied only when its flag is set (a
# missing flag means always). The flags decide, not the attributes:
# StandardScaler(with_mean=False) still stores a mean_ it never subtracts.
_CENTRE_DIVISOR = (
    (StandardScaler, ("mean_", "with_mean"), ("scale_", "with_std")),
    (RobustScaler, ("center_", "with_centering"), ("scale_", "with_scaling")),
    (MaxAbsScaler, (None, None), ("scale_", None)),
)


def _scaler_affine(trans):
    check_is_fitted(trans)
    index, scale, offset = _identity(trans.n_features_in_)
    if isinstance(trans, MinMaxScaler):
        return index, np.asarray(trans.scale_, np.float64), np.asarray(trans.min_, np.float64)
    for cls, (centre, centre_flag), (divisor, divisor_flag) in _CENTRE_DIVISOR:
        if isinstance(trans, cls):
            break
    if centre is not None and getattr(trans, centre_flag):
        offset = -np.asarray(getattr(trans, centre), dtype=np.float64)
    if divisor_flag is None or getattr(trans, divisor_flag):
        scale = 1.0 / np.asarray(getattr(trans, divisor), dtype=np.float64)
    return index, scale, offset * scale


def _column_transformer_affine(ct):
    check_is_fitted(ct)
    # Output columns come in the order of transformers_ (remainder last);
    # output_indices_ says where each block lands, _transformer_to_input_indices
    # which input columns fed it (column names already resolved to positions).
    n_out = max((s.stop for s in ct.output_indices_.values()), default=0)
    index = np.zeros(n_out, dtype=np.int64)
    scale, offset = np.zeros(n_out), np.zeros(n_out)
    weights = ct.transformer_weights or {}
    filled = np.zeros(n_out, dtype=bool)
    for name, trans, _ in ct.transformers_:
        block = ct.output_indices_[name]
        if _is_drop(trans) or block.stop == block.start:
            continue
        columns = np.asarray(ct._transformer_to_input_indices[name], dtype=np.int64)
        sub = _transformer_affine(trans)
        sub_index, sub_scale, sub_offset = _identity(len(columns)) if sub is None else sub
        if len(sub_index) != block.stop - block.start:
            raise _unsupported(f"ColumnTransformer transformer {name!r} ({_name(trans)})")
        weight = weights.get(name, 1.0)
        index[block] = columns[sub_index]
        scale[block] = sub_scale * weight
        offset[block] = sub_offset * weight
        filled[block] = True
    if not filled.all():
        raise _unsupported("ColumnTransformer", "its output columns could not be traced")
    return index, scale, offset


def _transformer_affine(trans):
    """The fitted ``trans`` as ``(index, scale, offset)``, or ``None`` if it is the identity."""
    if _is_passthrough(trans):
        return None
    if isinstance(trans, Pipeline):
        affine = None
        for _, step in trans.steps:
            affine = _then(affine, _transformer_affine(step))
        return affine
    if isinstance(trans, ColumnTransformer):
        return _column_transformer_affine(trans)
    return _scaler_affine(trans)


def _flat_steps(pipe):
    # A Pipeline nested in a Pipeline is the same composition, flattened.
    for name, step in pipe.steps:
        if isinstance(step, Pipeline):
            yield from _flat_steps(step)
        else:
            yield name, step


def _n_features_in(pipe):
    # Pipeline.n_features_in_ asks the first step, which may be "passthrough".
    for _, step in _flat_steps(pipe):
        if not _is_passthrough(step):
            return step.n_features_in_
    return pipe.n_features_in_


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def sklearn_differentiable(estimator):
    """Return the :class:`Differentiable` view of a fitted scikit-learn classifier.

    Parameters
    ----------
    estimator : fitted scikit-learn classifier or Pipeline
        One of:

        - a linear classifier (any ``LinearClassifierMixin`` with ``coef_`` and
          ``intercept_``: ``LogisticRegression``, ``LinearSVC``,
          ``SGDClassifier``, ``RidgeClassifier``, ``Perceptron``, ...), as
          :class:`DenseNet` with one identity layer;
        - a ``OneVsRestClassifier`` whose fitted estimators are all linear, as
          one layer stacking their coefficients;
        - an ``MLPClassifier`` (any activation), as :class:`DenseNet` without
          the output softmax/logistic;
        - an ``SVC`` or ``NuSVC`` with a ``"linear"``, ``"poly"``, ``"rbf"``
          or ``"sigmoid"`` kernel, as :class:`KernelSVC`;
        - a ``Pipeline`` of one of those after any number of
          ``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``,
          ``RobustScaler``, ``"passthrough"``/``None`` steps and
          ``ColumnTransformer`` steps of those (``"drop"`` allowed, remainder
          ``"drop"``, ``"passthrough"`` or a scaler), as
          ``Chain((Affine(), model))``: consecutive scalers fold into one
          :class:`Affine`.

    Returns
    -------
    diff : Differentiable
        Logits of shape ``(n_samples, n_classes)`` in the order of
        ``classes_``. Binary classifiers give ``[0, decision_function]``;
        multiclass ones give ``decision_function`` (for ``SVC``, its one-vs-rest
        form whatever ``decision_function_shape``; see :class:`KernelSVC`), and
        ``MLPClassifier`` the pre-softmax activations, so that
        ``log_softmax(logits) == log(predict_proba)``. Parameters are float32
        (column indices int32). Inputs are arrays whose columns are in the
        order the estimator was fitted on (a DataFrame's column order).

    Raises
    ------
    TypeError
        If the estimator, or a step of the pipeline, has no differentiable form
        (trees, forests, nearest neighbours, naive Bayes, encoders, clipping
        scalers, precomputed kernels, multilabel models, non-estimators). The
        message names it and the black-box attacks to use instead. Raised
        whether or not the estimator is fitted.
    NotFittedError
        If a supported estimator is not fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.svm import SVC
    >>> from skadv.models._adapters import sklearn_differentiable
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), SVC()).fit(X, y)
    >>> diff = sklearn_differentiable(clf)
    >>> diff.fn
    Chain(fns=(Affine(), KernelSVC(kernel='rbf', n_classes=3, degree=3)))
    >>> bool(np.allclose(diff.logits(X), clf.decision_function(X), atol=1e-4))
    True
    """
    if not isinstance(estimator, BaseEstimator):
        raise NotDifferentiableError(
            f"Expected a fitted scikit-learn classifier. Got {estimator!r} of type "
            f"{_name(estimator)} instead. {BLACK_BOX_HINT}"
        )

    if isinstance(estimator, Pipeline):
        steps = list(_flat_steps(estimator))
        if not steps:
            raise _unsupported("An empty Pipeline")
        *pre, (_, last) = steps
        for name, step in pre:
            _check_transformer(step, f"Pipeline step {name!r}:")
        if _is_passthrough(last):
            raise _unsupported(f"Pipeline ending in {last!r}")
        _check_classifier(last)
        check_is_fitted(estimator)

        affine = None
        for _, step in pre:
            affine = _then(affine, _transformer_affine(step))
        fn, params = _build_classifier(last)
        if affine is not None:
            index, scale, offset = affine
            affine_params = {
                "index": jnp.asarray(index, dtype=jnp.int32),
                "scale": _f32(scale),
                "offset": _f32(offset),
            }
            fn, params = Chain((Affine(), fn)), (affine_params, params)
        n_features_in = _n_features_in(estimator)
    else:
        _check_classifier(estimator)
        fn, params = _build_classifier(estimator)
        n_features_in = estimator.n_features_in_

    return Differentiable(
        fn,
        params,
        classes=estimator.classes_,
        n_features_in=n_features_in,
        estimator=estimator,
        feature_names_in=getattr(estimator, "feature_names_in_", None),
    )
