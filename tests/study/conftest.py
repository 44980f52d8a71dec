"""A loans table (integer, float, binary, categorical string, constant and
immutable columns), its constraints file and a fitted Pipeline saved with joblib."""

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

CONSTRAINTS = """\
immutable = ["age"]
increase_only = ["income"]
decrease_only = ["debt"]
relations = ["debt <= 2 * income"]

[bounds]
income = [0, 300000]
"""


def make_loans(n=400, seed=0):
    rng = np.random.RandomState(seed)
    income = rng.uniform(20_000, 150_000, n).round(2)
    frame = pd.DataFrame({
        "age": rng.randint(21, 70, n),
        "income": income,
        "debt": (income * rng.uniform(0.0, 1.5, n)).round(2),
        "n_accounts": rng.randint(0, 12, n),
        "has_car": rng.randint(0, 2, n),
        "purpose": rng.choice(["car", "home", "study", "other"], n),
        "region": rng.choice(["north", "south", "east"], n),
        "currency": "EUR",
    })
    score = (frame.income / 50_000 - frame.debt / 40_000 + 0.2 * frame.n_accounts
             + (frame.purpose == "home") - 0.5 * (frame.region == "south")
             + rng.normal(0, 0.5, n))
    frame["approved"] = np.where(score > np.median(score), "yes", "no")
    return frame


def fit_pipeline(frame):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    X = frame.drop(columns="approved")
    pre = ColumnTransformer([("cat", OneHotEncoder(), ["purpose", "region", "currency"])],
                            remainder="passthrough")
    model = Pipeline([("pre", pre), ("hgb", HistGradientBoostingClassifier(
        max_iter=15, max_depth=3, random_state=0))])
    return model.fit(X, frame.approved)


@pytest.fixture(scope="session")
def loans(tmp_path_factory):
    import joblib

    folder = tmp_path_factory.mktemp("loans")
    frame = make_loans()
    frame.to_csv(folder / "loans.csv", index=False)
    (folder / "constraints.toml").write_text(CONSTRAINTS)
    model = fit_pipeline(frame)
    joblib.dump(model, folder / "model.joblib")
    return folder, frame, model
