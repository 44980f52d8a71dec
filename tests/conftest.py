"""Shared pytest fixtures: small, seeded data sets."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, make_classification
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
