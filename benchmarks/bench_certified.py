"""Randomized smoothing CERTIFY: skadv vs a per-row loop (Cohen et al.'s code) vs ART.

    python benchmarks/bench_certified.py [--rows 200] [--n 10000]

One noise-trained MLP (skadv, ReLU, 20 features, 3 classes), copied weight for
weight into torch. CERTIFY with n0=100, n=10000, alpha=0.001, sigma=0.25 on
200 test rows by

- skadv: ``CertifiedClassifier.certify`` — every draw and forward pass of a
  batch of rows in one compiled ``lax.scan``; timed cold (first call, with
  compilation) and warm;
- a per-row loop as in Cohen et al.'s reference ``core.py``: for each row,
  batches of 1000 noisy copies through the torch model under ``no_grad``,
  counts, Clopper–Pearson, radius;
- ART's ``PyTorchRandomizedSmoothing.certify`` (also a loop over rows), when
  ``adversarial-robustness-toolbox`` (and statsmodels, which its bound needs)
  is installed.

All three run the same procedure with different random draws, so their
certificates agree in distribution, not row by row: the table shows the mean
radius and the certified accuracy at a few radii next to the times. A second
table times skadv's deterministic certificates (IBP / CROWN-IBP / CROWN radius
by bisection; exact MILP radii of a narrower net for comparison) and how
often CROWN or IBP gives the tighter margin bound, on naturally, IBP- and
CROWN-IBP-trained twins.
"""

import argparse
import time
import warnings

import numpy as np
from scipy import stats
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skadv.defenses import CertifiedClassifier
from skadv.metrics import certified_accuracy
from skadv.models import MLPClassifier

SIGMA, N0, ALPHA = 0.25, 100, 0.001
RADII = (0.0, 0.25, 0.5)


def data():
    X, y = make_classification(n_samples=3000, n_features=20, n_informative=10, n_redundant=0,
                               n_classes=3, n_clusters_per_class=2, class_sep=1.5,
                               random_state=0)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    return train_test_split(X, y, test_size=0.2, random_state=0)


def torch_model(params):
    import torch

    layers = []
    for i, layer in enumerate(params):
        W, b = np.asarray(layer["W"]), np.asarray(layer["b"])
        linear = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b.copy()))
        layers.append(linear)
        if i < len(params) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def per_row_certify(model, X, n, batch=1000):
    """Cohen et al.'s CERTIFY, one row at a time (their ``Smooth.certify``)."""
    import torch

    def counts(x, num):
        out = np.zeros(model[-1].out_features, np.int64)
        with torch.no_grad():
            remaining = num
            while remaining > 0:
                this = min(batch, remaining)
                remaining -= this
                rows = x.repeat(this, 1)
                pred = model(rows + torch.randn_like(rows) * SIGMA).argmax(1)
                out += np.bincount(pred.numpy(), minlength=len(out))
        return out

    prediction, radius = np.zeros(len(X), int), np.zeros(len(X))
    for i, x in enumerate(torch.from_numpy(X)):
        top = int(np.argmax(counts(x[None], N0)))
        n_a = counts(x[None], n)[top]
        p = stats.beta.ppf(ALPHA, n_a, n - n_a + 1) if n_a > 0 else 0.0
        prediction[i], radius[i] = top, SIGMA * stats.norm.ppf(p) if p >= 0.5 else -1.0
    return prediction, radius


def art_certify(model, X, n, n_classes):
    try:
        import torch
        from art.estimators.certification.randomized_smoothing import (
            PyTorchRandomizedSmoothing)
        import statsmodels  # noqa: F401  (ART's Clopper-Pearson bound)
    except ImportError as exc:
        return None, f"skipped ({exc.name} not installed)"
    smoothed = PyTorchRandomizedSmoothing(
        model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=(X.shape[1],),
        nb_classes=n_classes, sample_size=N0, scale=SIGMA, alpha=ALPHA, device_type="cpu")
    prediction, radius = smoothed.certify(X, n=n, batch_size=1000)
    return (prediction, np.where(prediction < 0, -1.0, radius)), None


def summary(prediction, radius, y):
    ok = (prediction == y) & (radius >= 0)
    accs = " ".join(f"{np.mean(ok & (radius >= r)):.3f}" for r in RADII)
    mean_r = np.mean(np.where(radius >= 0, radius, 0.0))
    return f"{np.mean(radius < 0):>8.3f} {mean_r:>8.3f}  {accs}"


def smoothing_table(X_tr, X_te, y_tr, y_te, n):
    clf = CertifiedClassifier(
        MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=60, learning_rate_init=0.003,
                      random_state=0),
        method="smoothing", sigma=SIGMA, n0=N0, n=n, alpha=ALPHA, random_state=0)
    clf.fit(X_tr, y_tr)
    classes = clf.classes_
    print(f"\nSmoothing CERTIFY, {len(X_te)} rows, n0={N0}, n={n}, sigma={SIGMA}, "
          f"alpha={ALPHA}; MLP (64, 64), 20 features, 3 classes")
    header = (f"{'implementation':<34} {'time s':>8} {'ratio':>7} {'abstain':>8} "
              f"{'mean r':>8}  cert. acc at r={RADII}")
    print(header)
    print("-" * len(header))
    t0 = time.perf_counter()
    pred, radius = clf.certify(X_te)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred, radius = clf.certify(X_te[::-1])
    warm = time.perf_counter() - t0
    pred, radius = pred[::-1], radius[::-1]
    assert np.allclose(certified_accuracy(clf, X_te, y_te, RADII),
                       [np.mean((pred == y_te) & (radius >= r)) for r in RADII])
    print(f"{'skadv certify (warm)':<34} {warm:>8.2f} {1.0:>6.1f}x {summary(pred, radius, y_te)}")
    print(f"{'skadv certify (cold, incl. compile)':<34} {cold:>8.2f} {cold / warm:>6.1f}x")

    model = torch_model(clf.estimator_.params_)
    import torch

    torch.manual_seed(0)
    t0 = time.perf_counter()
    p_loop, r_loop = per_row_certify(model, X_te, n)
    t_loop = time.perf_counter() - t0
    print(f"{'per-row loop (torch, as Cohen et al.)':<34} {t_loop:>8.2f} {t_loop / warm:>6.1f}x "
          f"{summary(classes[p_loop], r_loop, y_te)}")

    t0 = time.perf_counter()
    art, why = art_certify(model, X_te, n, len(classes))
    t_art = time.perf_counter() - t0
    if art is None:
        print(f"{'ART PyTorchRandomizedSmoothing':<34} {why}")
    else:
        p_art, r_art = art
        shown = np.where(p_art >= 0, classes[np.maximum(p_art, 0)], -1)
        print(f"{'ART PyTorchRandomizedSmoothing':<34} {t_art:>8.2f} {t_art / warm:>6.1f}x "
              f"{summary(shown, r_art, y_te)}")
    print("ratio = time / skadv warm time. Same procedure, independent draws: abstain rate, "
          "mean radius and certified accuracy agree up to sampling noise.")


def bounds_table(X_tr, X_te, y_tr, y_te):
    import jax
    import jax.numpy as jnp
    from skadv.verify import crown_bounds, margin_matrix, min_adversarial_linf

    eps = 0.1
    print(f"\nDeterministic certificates (L-inf), {len(X_te)} rows; MLP (64, 64); "
          f"IBP training eps={eps}")
    header = f"{'model / certificate':<48} {'time s':>8} {'cert. acc at eps':>17}"
    print(header)
    print("-" * len(header))
    nets = {}
    for name, method, e in (("natural", "ibp", 0.0), ("IBP-trained", "ibp", eps),
                            ("CROWN-IBP-trained", "crown-ibp", eps)):
        clf = CertifiedClassifier(
            MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=60, learning_rate_init=0.003,
                          random_state=0), method=method, eps=e, ramp=20).fit(X_tr, y_tr)
        clf.certify(X_te)  # compile (the three nets share the compiled bisection)
        t0 = time.perf_counter()
        acc = certified_accuracy(clf, X_te, y_te, eps)
        t = time.perf_counter() - t0
        print(f"{name + ': best of IBP/CROWN-IBP/CROWN':<48} {t:>8.2f} {acc:>17.3f}")
        nets[name] = clf
    # Exact radii by MILP, to see how tight the bounds are; MILP is exponential
    # in the unstable ReLUs, so on a narrower IBP-trained net (one hidden layer of 16).
    small = CertifiedClassifier(
        MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.003,
                      random_state=0), method="ibp", eps=eps, ramp=20).fit(X_tr, y_tr)
    rows = X_te[:10]
    _, bound = small.certify(rows)
    label = np.searchsorted(small.classes_, small.predict(rows))
    t0 = time.perf_counter()
    exact = np.array([min_adversarial_linf(small.layers_, x, int(k), max_eps=1.0)[0]
                      for x, k in zip(np.float64(rows), label)])
    t_milp = time.perf_counter() - t0
    print(f"{'IBP-trained (16,): exact MILP radius, 10 rows':<48} {t_milp:>8.2f}")
    print(f"  bound radius / exact MILP radius on those rows: min {np.min(bound / exact):.3f}, "
          f"mean {np.mean(bound / exact):.3f} (a sound bound is never above 1)")
    assert np.all(bound <= exact * (1 + 1e-6))
    for name, clf in nets.items():
        label = np.searchsorted(clf.classes_, clf.predict(X_te))
        with jax.enable_x64(True):
            layers = [{k: jnp.asarray(v) for k, v in layer.items()} for layer in clf.layers_]
            C = margin_matrix(label, len(clf.classes_)).astype(jnp.float64)
            crown, ibp = (np.asarray(crown_bounds(layers, np.float64(X_te), eps, C=C,
                                                  method=m)[0]) for m in ("crown", "ibp"))
        print(f"  {name}: CROWN tighter on {np.mean(crown > ibp + 1e-6):.1%}, IBP tighter on "
              f"{np.mean(ibp > crown + 1e-6):.1%} of {crown.size} margin lower bounds")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    X_tr, X_te, y_tr, y_te = data()
    X_te, y_te = X_te[:args.rows], y_te[:args.rows]
    smoothing_table(X_tr, X_te, y_tr, y_te, args.n)
    bounds_table(X_tr, X_te, y_tr, y_te)


if __name__ == "__main__":
    main()
