"""Speed: skadv's fused PGD adversarial training against ART's AdversarialTrainerMadryPGD.

One epoch of PGD-AT (Madry et al. 2018) with a 10-step L-infinity PGD (one
random start, eps=0.1, step 0.025) on 20000 x 50 rows, 3 classes, an MLP
50-128-128-3 with ReLU, Adam (lr 1e-3), mini-batches of 128, in one run:

* skadv: ``AdversarialTrainingClassifier(MLPClassifier((128, 128)),
  attack=PGDAttack(...))``; the attack runs inside the compiled training step
  (one ``lax.scan`` per epoch);
* ART: ``AdversarialTrainerMadryPGD`` on a ``PyTorchClassifier`` of the same
  architecture (PyTorch CPU).

"cold" is the first fit in the process (skadv: including tracing and XLA
compilation; ART: including its first PyTorch calls), "warm" the best of the
next ``--repeat`` fits. The ratio is ART's warm time over skadv's; the floor
is 4x. As a check that both trained the same thing, the table also gives the
clean accuracy and the accuracy under a PGD-10 of each library on held-out
rows.

With ``--study`` it prints instead the robustness study of the defenses on
breast_cancer and a 3-class ``make_classification`` task (70/30 split,
standardised on the training part, L-inf eps=0.5): clean accuracy and
accuracy under AutoPGD (cross-entropy, then the margin loss), the adaptive
attack each masking defense calls for (BPDA, EOT), SquareAttack, and the
per-row worst case over all of them.

Run::

    python benchmarks/bench_defenses.py            # full size
    python benchmarks/bench_defenses.py --quick    # 4000 rows, a smoke test
    python benchmarks/bench_defenses.py --study    # the robustness study
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

# skadv is imported where it is used, so that ART's side of bench_cold_start.py
# runs in a process without JAX (as for a user of ART alone).

EPS, STEP, STEPS, BATCH, HIDDEN = 0.1, 0.025, 10, 128, (128, 128)
FLOOR = 4.0


def make_data(n, n_test=2000):
    X, y = make_classification(n_samples=n + n_test, n_features=50, n_informative=30,
                               n_redundant=10, n_classes=3, random_state=0)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    return X[:n], y[:n], X[n:], y[n:]


def skadv_fit(X, y):
    from skadv.attacks import PGDAttack
    from skadv.defenses import AdversarialTrainingClassifier
    from skadv.models import MLPClassifier

    model = AdversarialTrainingClassifier(
        MLPClassifier(hidden_layer_sizes=HIDDEN, max_iter=1, batch_size=BATCH,
                      learning_rate_init=1e-3, random_state=0),
        attack=PGDAttack(eps=EPS, steps=STEPS, step_size=STEP))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def art_fit(X, y):
    import torch
    from art.defences.trainer import AdversarialTrainerMadryPGD
    from art.estimators.classification import PyTorchClassifier

    torch.manual_seed(0)
    sizes = [X.shape[1], *HIDDEN, 3]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    clf = PyTorchClassifier(model, loss=torch.nn.CrossEntropyLoss(),
                            optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
                            input_shape=(X.shape[1],), nb_classes=3, device_type="cpu")
    trainer = AdversarialTrainerMadryPGD(clf, nb_epochs=1, batch_size=BATCH, eps=EPS,
                                         eps_step=STEP, max_iter=STEPS, num_random_init=1)
    trainer.fit(X, np.eye(3, dtype=np.float32)[y])
    return clf


def art_scores(clf, X, y):
    from art.attacks.evasion import ProjectedGradientDescent

    clean = float(np.mean(np.argmax(clf.predict(X), axis=1) == y))
    attack = ProjectedGradientDescent(clf, norm=np.inf, eps=EPS, eps_step=STEP,
                                      max_iter=STEPS, num_random_init=1, verbose=False)
    X_adv = attack.generate(X, y=np.eye(3, dtype=np.float32)[y])
    return clean, float(np.mean(np.argmax(clf.predict(X_adv), axis=1) == y))


def timed(fn, repeat):
    t0 = time.perf_counter()
    out = fn()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t0)
    return out, cold, min(warm)


STUDY_EPS = 0.5


def study_tasks():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X3, y3 = make_classification(n_samples=600, n_features=10, n_informative=6,
                                 n_redundant=2, n_classes=3, n_clusters_per_class=1,
                                 class_sep=1.5, random_state=0)
    for name, (X, y) in [("breast_cancer", load_breast_cancer(return_X_y=True)),
                         ("classification", (X3, y3))]:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0,
                                              stratify=y)
        scaler = StandardScaler().fit(Xtr)
        yield name, scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


def study_models():
    from skadv.attacks import PGDAttack
    from skadv.defenses import (AdversarialTrainingClassifier, DistilledClassifier,
                                GradientMaskingClassifier)
    from skadv.models import MLPClassifier

    def mlp():
        return MLPClassifier(hidden_layer_sizes=(32,), max_iter=60,
                             learning_rate_init=0.01, random_state=0)

    def at(**kw):
        return AdversarialTrainingClassifier(mlp(), attack=PGDAttack(eps=STUDY_EPS), **kw)

    return {
        "undefended": (mlp(), None),
        "PGD-AT": (at(), None),
        "FGSM-AT": (at(method="fgsm"), None),
        # beta trades clean for robust accuracy: a small grid
        **{f"TRADES beta={b:g}": (at(method="trades", beta=b), None)
           for b in (0.5, 1.0, 3.0, 6.0, 12.0)},
        "distilled T=20": (DistilledClassifier(mlp(), temperature=20.0), None),
        "masking quantize": (GradientMaskingClassifier(mlp(), quantization_step=0.25),
                             "BPDA"),
        "masking noise": (GradientMaskingClassifier(mlp(), method="noise",
                                                    noise_scale=3.0, random_state=0),
                          "EOT"),
    }


def study():
    from skadv.attacks import BPDA, EOT, AutoPGDAttack, SquareAttack

    def apgd(loss):
        return AutoPGDAttack(eps=STUDY_EPS, steps=50, restarts=3, loss=loss,
                             random_state=0)

    adapt = {"BPDA": lambda a: BPDA(a), "EOT": lambda a: EOT(a, n_samples=16)}
    header = (f"{'task':<15} {'defense':<17} {'clean':>6} {'APGD-CE':>8} {'APGD-CW':>8} "
              f"{'adaptive':>9} {'Square':>7} {'worst':>6}")
    print(f"Robust accuracy at L-inf eps={STUDY_EPS} (standardised features), "
          "held-out 30%")
    print(header)
    print("-" * len(header))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for task, Xtr, Xte, ytr, yte in study_tasks():
            for name, (model, adaptive) in study_models().items():
                model.fit(Xtr, ytr)
                attacks = {"ce": apgd("ce"), "cw": apgd("cw"),
                           "square": SquareAttack(eps=STUDY_EPS, max_queries=1000,
                                                  random_state=0)}
                if adaptive:
                    attacks["adaptive"] = adapt[adaptive](apgd("ce"))
                correct = {}
                for key, atk in attacks.items():
                    X_adv = atk.set_params(estimator=model).fit_transform(Xte, yte)
                    correct[key] = model.predict(X_adv) == yte
                worst = np.logical_and.reduce(list(correct.values()))
                cell = {k: f"{v.mean():.3f}" for k, v in correct.items()}
                print(f"{task:<15} {name:<17} {model.score(Xte, yte):>6.3f} "
                      f"{cell['ce']:>8} {cell['cw']:>8} {cell.get('adaptive', '-'):>9} "
                      f"{cell['square']:>7} {worst.mean():>6.3f}")


def main():
    from skadv.attacks import PGDAttack
    from skadv.metrics import robust_accuracy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4000 rows")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--study", action="store_true", help="the robustness study")
    args = parser.parse_args()
    if args.study:
        study()
        return
    n = 4000 if args.quick else 20000
    X, y, X_test, y_test = make_data(n)

    ours, s_cold, s_warm = timed(lambda: skadv_fit(X, y), args.repeat)
    theirs, a_cold, a_warm = timed(lambda: art_fit(X, y), args.repeat)

    s_clean = ours.score(X_test, y_test)
    s_robust = robust_accuracy(ours, X_test, y_test,
                               PGDAttack(eps=EPS, steps=STEPS, step_size=STEP,
                                         random_state=0))
    a_clean, a_robust = art_scores(theirs, X_test, y_test)

    print(f"One epoch of PGD-AT ({STEPS} steps, eps={EPS}), MLP 50-128-128-3, "
          f"{n} rows, batch {BATCH}")
    header = (f"{'library':<8} {'cold s':>8} {'warm s':>8} {'clean acc':>10} "
              f"{'PGD-10 acc':>11}")
    print(header)
    print("-" * len(header))
    print(f"{'skadv':<8} {s_cold:>8.2f} {s_warm:>8.2f} {s_clean:>10.3f} {s_robust:>11.3f}")
    print(f"{'ART':<8} {a_cold:>8.2f} {a_warm:>8.2f} {a_clean:>10.3f} {a_robust:>11.3f}")
    ratio = a_warm / s_warm
    print(f"\nART warm / skadv warm: {ratio:.1f}x (floor {FLOOR:g}x); "
          f"cold: {a_cold / s_cold:.1f}x")
    if ratio < FLOOR:
        raise SystemExit(f"below the {FLOOR:g}x floor")


if __name__ == "__main__":
    main()
