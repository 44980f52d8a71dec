"""Speed: skadv's PGD against ART's ProjectedGradientDescent, in one run.

PGD-20, L-infinity, one random start, the same eps and step size, on the same
fitted victims:

* a scikit-learn ``LogisticRegression`` on 20000 x 50, 3 classes (ART wraps it
  with its ``SklearnClassifier``, whose gradients are NumPy formulas);
* an MLP 50-128-128-3 (a fitted scikit-learn ``MLPClassifier``; ART attacks a
  PyTorch copy with the very same weights through ``PyTorchClassifier``).

"cold" is the first call in the process (skadv: including tracing and XLA
compilation), "warm" the best of the next ``--repeat`` calls, skadv's and
ART's calls interleaved so that a change of load on a shared machine hits
both. skadv runs at its default ``batch_size`` (1024 rows per compiled call,
two calls in flight on two cores); ART with its default ``batch_size=32``
and with ``--art-batch-size`` (4096, its fastest setting here: 2048 to 8192
are within noise, 1024 and 20000 slower). The ratios are ART's time over
skadv's (warm; "cold" compares first calls); the floors (>= 15x on the
linear victim, >= 3x on the MLP) are checked against ART at 4096. The last
table estimates the fraction of this machine's float32 matmul peak the MLP
attack reaches: FLOPs of the forward and backward-to-the-input passes it
must do, over its warm time, against a large ``jnp`` matmul timed in the
same run.

Run::

    python benchmarks/bench_attacks.py            # full size
    python benchmarks/bench_attacks.py --quick    # 4000 rows, a smoke test
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

# jax and skadv are imported where they are used, so that ART's side of
# bench_cold_start.py runs in a process without them (no JAX objects for its
# garbage collector to scan, as for a user of ART alone).

STEPS = 20


def make_data(n):
    X, y = make_classification(n_samples=n, n_features=50, n_informative=30,
                               n_redundant=10, n_classes=3, random_state=0)
    return StandardScaler().fit_transform(X).astype(np.float32), y


def fit_victims(X, y):
    linear = LogisticRegression(max_iter=1000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(128, 128), max_iter=15,
                            random_state=0).fit(X, y)
    return linear, mlp


def art_classifier(clf, n_features, n_classes):
    """ART's wrapper: SklearnClassifier, or PyTorch with the MLP's weights."""
    from art.estimators.classification import PyTorchClassifier, SklearnClassifier

    if isinstance(clf, LogisticRegression):
        return SklearnClassifier(clf)
    import torch

    layers = []
    for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        lin = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(W.T, dtype=torch.float32))
            lin.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
        layers.append(lin)
        if i < len(clf.coefs_) - 1:
            layers.append(torch.nn.ReLU())
    if clf.coefs_[-1].shape[1] == 1:
        # Binary: one output unit f; the logits of the two classes are [0, f].
        two = torch.nn.Linear(1, 2)
        with torch.no_grad():
            two.weight.copy_(torch.tensor([[0.0], [1.0]]))
            two.bias.zero_()
        layers.append(two)
    model = torch.nn.Sequential(*layers).eval()
    return PyTorchClassifier(model, loss=torch.nn.CrossEntropyLoss(),
                             input_shape=(n_features,), nb_classes=n_classes,
                             device_type="cpu")


def timed(fns, repeat):
    """Cold and best warm time of each of ``fns``, the warm calls interleaved."""
    outs, cold, warm = [], [], [[] for _ in fns]
    for fn in fns:
        t0 = time.perf_counter()
        outs.append(fn())
        cold.append(time.perf_counter() - t0)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            warm[i].append(time.perf_counter() - t0)
    return outs, cold, [min(w) for w in warm]


def matmul_peak(n=2048, repeat=5):
    """float32 FLOP/s of a large jitted matmul (the machine's practical peak)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    f = jax.jit(lambda u, v: u @ v)
    f(a, a).block_until_ready()
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        f(a, a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def mlp_attack_flops(clf, n_rows, steps):
    """FLOPs skadv's PGD spends on the MLP: ``steps + 1`` evaluated points,
    each a forward and a backward to the input (each 2 * sum(d_in * d_out)
    per row), plus the forward at the clean rows. Bias, ReLU and softmax are
    not counted."""
    per_pass = 2.0 * sum(W.shape[0] * W.shape[1] for W in clf.coefs_)
    return n_rows * ((steps + 1) * 2 * per_pass + per_pass)


def main():
    import jax

    from skadv.attacks import PGDAttack
    from skadv.utils._jax import host_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4000 rows")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="skadv's batch_size (default: the attack's default)")
    parser.add_argument("--art-batch-size", type=int, default=4096)
    parser.add_argument("--eps", type=float, default=0.1)
    args = parser.parse_args()

    from art.attacks.evasion import ProjectedGradientDescent

    n = 4000 if args.quick else 20000
    X, y = make_data(n)
    victims = dict(zip(("LogisticRegression", "MLP 50-128-128-3"), fit_victims(X, y)))
    eps, step = args.eps, 2.5 * args.eps / STEPS
    kw = {} if args.batch_size is None else {"batch_size": args.batch_size}
    abs_ = args.art_batch_size
    Y = np.eye(3, dtype=np.float32)[y]
    rows, ratios, flops = [], {}, None
    for name, clf in victims.items():
        attack = PGDAttack(clf, eps=eps, steps=STEPS, step_size=step, random_state=0,
                           **kw).fit(X)
        art_clf = art_classifier(clf, X.shape[1], 3)

        def art(batch_size):
            return ProjectedGradientDescent(art_clf, norm=np.inf, eps=eps, eps_step=step,
                                            max_iter=STEPS, num_random_init=1,
                                            batch_size=batch_size, verbose=False)

        big, small = art(abs_), art(32)
        (X_adv, X_art), (cold, a_cold), (warm, a_warm) = timed(
            [lambda: attack.transform(X, y), lambda: big.generate(X, y=Y)], args.repeat)
        (X_32,), (a_cold32,), (a_warm32,) = timed([lambda: small.generate(X, y=Y)], 1)
        rows += [(name, f"skadv (batch {attack.batch_size})", cold, warm, clf.score(X_adv, y)),
                 (name, "ART (batch 32)", a_cold32, a_warm32, clf.score(X_32, y)),
                 (name, f"ART (batch {abs_})", a_cold, a_warm, clf.score(X_art, y))]
        ratios[name] = (a_warm / warm, a_warm32 / warm, a_cold / cold)
        if name.startswith("MLP"):
            flops = mlp_attack_flops(clf, n, STEPS) / warm

    print(f"\nPGD-{STEPS} L-inf, eps={eps}, step={step:g}, {n} x 50, 3 classes, "
          f"{jax.device_count()} JAX CPU device(s), {host_threads()} core(s)\n")
    print(f"{'victim':<20} {'library':<18} {'cold s':>8} {'warm s':>8} {'robust acc':>11}")
    for name, lib, cold, warm, acc in rows:
        print(f"{name:<20} {lib:<18} {cold:8.3f} {warm:8.3f} {acc:11.4f}")
    floors = {"LogisticRegression": 15.0, "MLP 50-128-128-3": 3.0}
    print(f"\n{'victim':<20} {'ART/skadv warm':>15} {'(ART bs 32)':>12} "
          f"{'cold':>6} {'floor':>6} {'met':>5}")
    for name, (ratio, ratio32, ratio_cold) in ratios.items():
        print(f"{name:<20} {ratio:15.1f} {ratio32:12.1f} {ratio_cold:6.1f} "
              f"{floors[name]:6.0f} {str(ratio >= floors[name]):>5}")
    peak = matmul_peak()
    print(f"\nmatmul peak (2048^3 float32 jnp): {peak / 1e9:7.1f} GFLOP/s")
    print(f"MLP attack (fwd + bwd-to-input):  {flops / 1e9:7.1f} GFLOP/s "
          f"= {100 * flops / peak:.0f}% of peak")


if __name__ == "__main__":
    main()
