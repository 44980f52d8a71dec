"""Robustness curves with scikit-learn's Display API."""

import numpy as np

__all__ = ["RobustnessCurveDisplay"]


def _accuracy_curve(y_true, y_pred_by_eps):
    y_true = np.asarray(y_true)
    preds = np.asarray(y_pred_by_eps)
    if preds.ndim != 2 or preds.shape[1] != len(y_true):
        raise ValueError(
            f"y_pred must have shape (n_eps, n_samples) = (*, {len(y_true)}). "
            f"Got {preds.shape} instead.")
    return (preds == y_true[None, :]).mean(axis=1)


def certified_accuracy_curve(y_true, y_pred, radius, radii):
    """Fraction of rows predicted correctly with a certified radius >= r, per r.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True labels and the certified classifier's predictions (abstentions
        never equal a true label).
    radius : array-like of shape (n_samples,)
        Certified radius per row (negative where it abstains).
    radii : array-like of shape (n_radii,)

    Returns
    -------
    accuracy : ndarray of shape (n_radii,)
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    radius = np.asarray(radius, dtype=np.float64)
    ok = (y_pred == y_true) & (radius >= 0)
    return np.array([np.mean(ok & (radius >= r)) for r in np.asarray(radii)])


class RobustnessCurveDisplay:
    """Accuracy against the perturbation budget, one line per estimator and attack.

    Empirical curves (accuracy under attack at each ``eps``) are upper bounds on
    the true robust accuracy; certified curves (fraction of rows certified
    correct at radius ``r``) are lower bounds. Both can share an axis.

    Use :meth:`from_estimator` or :meth:`from_predictions` to create one.

    Parameters
    ----------
    curves : list of dict
        Each ``{"label": str, "eps": array, "accuracy": array, "kind":
        "empirical" | "certified"}``.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
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
    >>> disp.curves[0]["accuracy"].tolist()
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
            _, ax = plt.subplots()
        self.lines_ = []
        for curve in self.curves:
            style = {"marker": "o"} if curve.get("kind", "empirical") == "empirical" else {
                "linestyle": "--", "drawstyle": "steps-post"}
            style.update(kwargs)
            (line,) = ax.plot(curve["eps"], curve["accuracy"], label=curve["label"],
                              **style)
            self.lines_.append(line)
        ax.set_xlabel("perturbation budget eps / certified radius")
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
                   "accuracy": _accuracy_curve(y_true, y_pred), "kind": "empirical"}]
        if certified_radius is not None:
            r = eps if radii is None else np.asarray(radii, dtype=np.float64)
            curves.append({
                "label": f"{name or 'model'} / certified", "eps": r,
                "accuracy": certified_accuracy_curve(y_true, certified_pred,
                                                     certified_radius, r),
                "kind": "certified"})
        disp = cls(curves)
        return disp.plot(ax=ax) if plot else disp
