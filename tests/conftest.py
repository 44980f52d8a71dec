"""Shared pytest fixtures: small, seeded data sets."""

import os

# The suite's time goes mostly to XLA compiling hundreds of small programs,
# each once; LLVM's cheapest optimisation level compiles them about a third
# faster, and XLA's legacy CPU fusion emitters in less than half the time of
# its MLIR ones (suite: 5 min 27 s -> 3 min 49 s on 2 cores). Neither changes
# semantics (no fast-math either way). They are set before JAX starts, here
# and, through the environment, in the subprocesses and joblib/dask workers
# the tests start. A user's XLA_FLAGS win.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 "
                                   "--xla_llvm_disable_expensive_passes=true "
                                   "--xla_cpu_use_fusion_emitters=false")

# The persistent compilation cache (skadv/_config.py) in a fresh folder per
# test process, removed at exit: every run starts cold, as in CI from a fresh
# clone, and tests never read or fill the user's own cache. Subprocesses the
# tests start inherit it. A SKADV_CACHE_DIR set by the caller wins.
if "SKADV_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["SKADV_CACHE_DIR"] = tempfile.mkdtemp(prefix="skadv-test-cache-")
    atexit.register(shutil.rmtree, os.environ["SKADV_CACHE_DIR"], ignore_errors=True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

try:  # plots render without a display server
    import matplotlib

    matplotlib.use("Agg")
except ImportError:  # pragma: no cover - the plot extra is optional
    pass


@pytest.fixture(scope="session")
def breast_cancer():
    """Standardised breast_cancer (569 x 30, two classes)."""
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


@pytest.fixture(scope="session")
def blobs3():
    """A small three-class problem (300 x 6), standardised."""
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4,
                               n_redundant=0, n_classes=3, n_clusters_per_class=1,
                               class_sep=1.5, random_state=0)
    return StandardScaler().fit_transform(X).astype(np.float32), y


def _split_standardised(X, y):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    return (scaler.transform(Xtr).astype(np.float32),
            scaler.transform(Xte).astype(np.float32), ytr, yte)


@pytest.fixture(scope="session")
def split_standardised():
    """``(X, y) -> (X_train, X_test, y_train, y_test)``: 70/30, stratified, seeded,
    standardised on the training part (the defense tests' held-out evaluation)."""
    return _split_standardised


@pytest.fixture(scope="session")
def breast_cancer_split(breast_cancer):
    """breast_cancer as ``split_standardised`` splits it (398 / 171 rows)."""
    return _split_standardised(*breast_cancer)


@pytest.fixture(scope="session")
def defense_mlp():
    """Factory of the small skadv MLP the defense tests train.

    One network for all of them, so one compiled training epoch and one
    compiled attack per data shape serve every test file.
    """
    from skadv.models import MLPClassifier

    def make(**kw):
        params = dict(hidden_layer_sizes=(32,), max_iter=60, learning_rate_init=0.01,
                      random_state=0)
        params.update(kw)
        return MLPClassifier(**params)

    return make

