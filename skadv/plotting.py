"""Robustness curves with scikit-learn's Display API."""

import numpy as np

from .evaluation import CERTIFIED, CLEAN, _columns, _estimator_name, robustness_report
from .metrics import certified_curve

__all__ = ["RobustnessCurveDisplay"]

_EMPIRICAL, _CERTIFIED = "empirical", "certified"


def _accuracy_curve(y_true, y_pred_by_eps):
    y_true = np.asarray(y_true)
    preds = np.asarray(y_pred_by_eps)
    if preds.ndim != 2 or preds.shape[1] != len(y_true):
        raise ValueError(
            f"y_pred must have shape (n_eps, n_samples) = (*, {len(y_true)}). "
            f"Got {preds.shape} instead.")
    return (preds == y_true[None, :]).mean(axis=1)


class RobustnessCurveDisplay:
    """Accuracy against the perturbation budget, one line per estimator and attack.

    Empirical curves (accuracy under attack at each ``eps``) are upper bounds on
    the true robust accuracy; certified curves (fraction of rows certified
    correct at radius ``r``, dashed) are lower bounds. The truth lies between.

    Create one with :meth:`from_estimator`, :meth:`from_report` or
    :meth:`from_predictions`; :meth:`plot` draws it.

    Parameters
    ----------
    curves : list of dict
        Each ``{"label": str, "eps": array, "accuracy": array, "kind":
        "empirical" | "certified"}``, optionally ``"group"``: curves of one
        group share a colour.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One per curve, in order; ``get_ydata()`` is the accuracy.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skadv.plotting import RobustnessCurveDisplay
    >>> y = np.array([0, 1, 1, 0])
    >>> preds = np.array([[0, 1, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]])
    >>> disp = RobustnessCurveDisplay.from_predictions(
    ...     y, preds, eps=[0.0, 0.1, 0.2], name="MLP", attack_name="PGD")
    >>> disp.lines_[0].get_ydata().tolist()
    [1.0, 0.75, 0.25]
    """

    def __init__(self, curves):
        self.curves = curves

    def plot(self, ax=None, *, title=None, **kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            New figure and axes when None.
        title : str, default=None
        **kwargs : dict
            Passed to every ``ax.plot`` call.

        Returns
        -------
        display : RobustnessCurveDisplay
            ``self``, with ``ax_``, ``figure_`` and ``lines_`` set.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 4.4))
        self.lines_ = []
        colors = {}
        for curve in self.curves:
            if curve.get("kind", _EMPIRICAL) == _EMPIRICAL:
                style = {"marker": "o"}
            else:
                # Certified accuracy falls with the radius, so between two grid
                # points the value at the larger one is the honest lower bound.
                style = {"linestyle": "--", "drawstyle": "steps-pre"}
            group = curve.get("group")
            if group is not None and group in colors:
                style["color"] = colors[group]
            style.update(kwargs)
            (line,) = ax.plot(curve["eps"], curve["accuracy"], label=curve["label"],
                              **style)
            if group is not None:
                colors.setdefault(group, line.get_color())
            self.lines_.append(line)
        ax.set_xlabel("budget eps (attacks) / radius (certified)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        if title:
            ax.set_title(title)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_report(cls, report, *, estimator=None, attacks=None, ax=None, plot=True):
        """Curves from a :func:`~skadv.evaluation.robustness_report`.

        Parameters
        ----------
        report : pandas.DataFrame or RobustnessReport
        estimator : str or list of str, default=None
            Which estimators to draw (all when None).
        attacks : list of str, default=None
            Which attack columns to draw (default: every attack, the worst
            case and the certified accuracy; the clean accuracy is the curve's
            value at ``eps = 0`` when the grid has it).
        ax : matplotlib Axes, default=None
        plot : bool, default=True

        Returns
        -------
        display : RobustnessCurveDisplay
        """
        cols = _columns(report)
        names = list(dict.fromkeys(cols["estimator"].tolist()))
        if estimator is not None:
            wanted = [estimator] if isinstance(estimator, str) else list(estimator)
            unknown = set(wanted) - set(names)
            if unknown:
                raise ValueError(f"Unknown estimator(s) {sorted(unknown)}; the report "
                                 f"has {names}.")
            names = wanted
        curves = []
        for name in names:
            rows = cols["estimator"] == name
            kinds = [a for a in dict.fromkeys(cols["attack"][rows].tolist()) if a != CLEAN]
            for attack in kinds if attacks is None else attacks:
                sel = rows & (cols["attack"] == attack)
                if not np.any(sel):
                    continue
                curves.append({
                    "label": f"{name} / {attack}", "eps": cols["eps"][sel],
                    "accuracy": cols["accuracy"][sel],
                    "kind": _CERTIFIED if attack == CERTIFIED else _EMPIRICAL,
                    "group": name if attacks is not None and len(attacks) <= 2 else None})
        disp = cls(curves)
        return disp.plot(ax=ax) if plot else disp

    @classmethod
    def from_estimator(cls, estimator, X, y, *, attacks, eps, name=None,
                       constraints=None, feature_scale=None, ax=None, plot=True):
        """Attack ``estimator`` at every budget and draw its curves.

        One curve per attack, one for the per-row worst case over the attacks
        and, when the estimator certifies, its certified accuracy.

        Parameters
        ----------
        estimator : fitted classifier
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        attacks : attack, list or dict of name -> attack
        eps : array-like of float
        name : str, default=None
            Legend name of the estimator.
        constraints, feature_scale : as in :func:`~skadv.evaluation.robustness_report`
        ax : matplotlib Axes, default=None
        plot : bool, default=True

        Returns
        -------
        display : RobustnessCurveDisplay
        """
        name = name or _estimator_name(estimator)
        report = robustness_report({name: estimator}, X, y, attacks=attacks, eps=eps,
                                   constraints=constraints, feature_scale=feature_scale)
        return cls.from_report(report, ax=ax, plot=plot)

    @classmethod
    def from_predictions(cls, y_true, y_pred, *, eps, name=None, attack_name=None,
                         certified_pred=None, certified_radius=None, radii=None,
                         ax=None, plot=True):
        """Curves from predictions already computed on adversarial rows.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
        y_pred : array-like of shape (n_eps, n_samples)
            Predictions on the adversarial rows made at each ``eps``.
        eps : array-like of shape (n_eps,)
        name, attack_name : str, default=None
            Used in the legend.
        certified_pred, certified_radius : array-like of shape (n_samples,), default=None
            Predictions and certified radii (negative = abstain) of a certified
            classifier; adds a certified-accuracy curve.
        radii : array-like, default=None
            Radii at which to evaluate the certified curve (default: ``eps``).
        ax : matplotlib Axes, default=None
        plot : bool, default=True
            Draw immediately.

        Returns
        -------
        display : RobustnessCurveDisplay
        """
        eps = np.asarray(eps, dtype=np.float64)
        label = " / ".join(s for s in (name, attack_name) if s) or "accuracy"
        curves = [{"label": label, "eps": eps,
                   "accuracy": _accuracy_curve(y_true, y_pred), "kind": _EMPIRICAL}]
        if certified_radius is not None:
            r = eps if radii is None else np.asarray(radii, dtype=np.float64)
            curves.append({
                "label": f"{name or 'model'} / certified", "eps": r,
                "accuracy": certified_curve(y_true, certified_pred, certified_radius, r),
                "kind": _CERTIFIED})
        disp = cls(curves)
        return disp.plot(ax=ax) if plot else disp
