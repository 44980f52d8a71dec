"""skadv study on the user's CSV, fitted Pipeline and constraints file."""

import json

import numpy as np
import pytest

import skadv
from skadv.cli import main

pd = pytest.importorskip("pandas")

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore::skadv.evaluation.EvaluationWarning")

FEATURES = ["age", "income", "debt", "n_accounts", "has_car", "purpose", "region",
            "currency"]


@pytest.fixture(scope="module")
def model_study(loans, tmp_path_factory):
    folder, frame, model = loans
    out = tmp_path_factory.mktemp("model_study")
    code = main(["study", "--data", str(folder / "loans.csv"), "--target", "approved",
                 "--model", str(folder / "model.joblib"), "--constraints",
                 str(folder / "constraints.toml"), "--quick", "--eps", "0.1,0.3",
                 "--out", str(out)])
    assert code == 0
    return out, frame, model


def test_adversarial_rows_are_valid_rows_of_the_table(model_study):
    out, frame, _ = model_study
    ex = pd.read_csv(out / "adversarial_examples.csv")
    assert len(ex) > 0
    clean = frame.iloc[ex["row"].to_numpy()].reset_index(drop=True)
    # Categories are the training set's strings; integers stay integers.
    for col in ("purpose", "region", "currency"):
        assert set(ex[col]) <= set(frame[col])
    for col in ("age", "n_accounts", "has_car"):
        assert ex[col].dtype.kind == "i"
        assert ex[col].between(frame[col].min(), frame[col].max()).all()
    assert set(ex["has_car"]) <= {0, 1}
    # Immutable (from the file) and constant (inferred) columns unchanged.
    assert (ex["age"].to_numpy() == clean["age"].to_numpy()).all()
    assert (ex["currency"] == "EUR").all()
    # Monotone directions and bounds, and the relation.
    assert (ex["income"].to_numpy() >= clean["income"].to_numpy() - 1e-9).all()
    assert (ex["debt"].to_numpy() <= clean["debt"].to_numpy() + 1e-9).all()
    assert ex["income"].between(0, 300_000).all()
    assert ex["debt"].between(frame["debt"].min(), frame["debt"].max()).all()
    assert (ex["debt"] <= 2 * ex["income"] + 1e-6).all()
    # Budgets in training standard deviations: no numeric column moved farther.
    assert (ex["perturbation"] <= ex["eps"] + 1e-9).all()


def test_prediction_after_is_the_models_own_prediction(model_study):
    out, frame, model = model_study
    ex = pd.read_csv(out / "adversarial_examples.csv")
    X_adv = ex[FEATURES]
    assert (model.predict(X_adv) == ex["prediction_after"].to_numpy()).all()
    clean = frame.iloc[ex["row"].to_numpy()][FEATURES]
    assert (model.predict(clean) == ex["prediction_before"].to_numpy()).all()
    assert (ex["prediction_before"] != ex["prediction_after"]).all()


def test_report_of_the_users_model(model_study):
    out, _, _ = model_study
    payload = json.loads((out / "results.json").read_text())
    assert payload["models"] == ["model.joblib"]
    rec = pd.DataFrame(payload["records"])
    attacks = set(rec.attack)
    # A Pipeline of one-hot encoding and boosted trees: no gradients, but the
    # tree attacks, the black-box ones and a certificate apply.
    assert {"clean", "square", "greedy-tree", "worst case", "certified"} <= attacks
    assert "pgd" not in attacks
    for _, g in rec.groupby("eps"):
        acc = dict(zip(g.attack, g.accuracy))
        assert acc["certified"] <= acc["worst case"] <= min(acc["square"],
                                                            acc["greedy-tree"])
    md = (out / "report.md").read_text()
    assert "## Columns the worst case moved" in md
    moves = pd.DataFrame(payload["columns"])
    assert moves.set_index("column").loc["age", "moved"] == 0.0


def test_report_html_holds_the_table_and_the_plots(model_study):
    out, _, _ = model_study
    html = (out / "report.html").read_text()
    assert "<table" in html and "<img" in html and "worst case" in html


def test_python_entry_point_fits_the_default_models(loans, tmp_path):
    folder, frame, _ = loans
    result = skadv.study(folder / "loans.csv", target="approved",
                         constraints=folder / "constraints.toml", quick=True,
                         defenses=["undefended", "hgb"], attacks=["pgd", "square",
                                                                   "greedy-tree"],
                         eps=[0.3], eps_unit="range", out=str(tmp_path), max_rows=60)
    report = result.report
    assert set(report.estimator) == {"undefended", "hgb"}
    by = {(r.estimator, r.attack): r.accuracy for r in report.itertuples()}
    # White box for the network, tree attacks and a certificate for the trees.
    assert np.isfinite(by[("undefended", "pgd")]) and ("undefended", "greedy-tree") not in by
    assert ("hgb", "pgd") not in by and ("hgb", "certified") in by
    assert set(result.paths) >= {"report.md", "results.json", "adversarial_examples.csv"}
    ex = result.examples
    assert list(ex.columns[-len(FEATURES):]) == FEATURES
    assert set(ex["purpose"]) <= set(frame["purpose"])
    assert (ex["currency"] == "EUR").all()
    assert result.paths["adversarial_examples.csv"].endswith("adversarial_examples.csv")
    # eps_unit="range": no numeric column moved farther than eps times its range.
    clean = frame.iloc[ex["row"].to_numpy()].reset_index(drop=True)
    for col in ("income", "debt", "n_accounts"):
        span = frame[col].max() - frame[col].min()
        moved = np.abs(ex[col].to_numpy(float) - clean[col].to_numpy(float))
        assert (moved <= ex["eps"].to_numpy() * span * (1 + 1e-9)).all()


def test_held_out_file_rows_are_indexed_in_that_file(loans, tmp_path):
    folder, frame, model = loans
    frame.iloc[:300].to_csv(tmp_path / "train.csv", index=False)
    test = frame.iloc[300:].reset_index(drop=True)
    test.to_csv(tmp_path / "test.csv", index=False)
    result = skadv.study(tmp_path / "train.csv", test=tmp_path / "test.csv",
                         target="approved", model=folder / "model.joblib",
                         attacks=["square"], eps=[0.5], quick=True, max_rows=None)
    clean = result.report[result.report.attack == "clean"]
    assert clean.n_samples.iloc[0] == len(test)
    assert clean.accuracy.iloc[0] == pytest.approx(
        np.mean(model.predict(test[FEATURES]) == test.approved))
    ex = result.examples
    assert len(ex) > 0 and ex["row"].max() < len(test)
    back = test.iloc[ex["row"].to_numpy()]
    assert (model.predict(back[FEATURES]) == ex["prediction_before"].to_numpy()).all()


def test_parquet_input(loans, tmp_path):
    folder, frame, _ = loans
    try:
        frame.to_parquet(tmp_path / "loans.parquet")
    except ImportError:
        (tmp_path / "loans.parquet").write_bytes(b"PAR1")
        with pytest.raises(skadv._study.StudyInputError, match="Parquet"):
            skadv.study(tmp_path / "loans.parquet", target="approved")
        return
    result = skadv.study(tmp_path / "loans.parquet", target="approved",
                         model=folder / "model.joblib", attacks=["square"], eps=[0.3],
                         quick=True, max_rows=30)
    assert set(result.report.estimator) == {"model.joblib"}


@pytest.mark.parametrize("library", ["xgboost", "lightgbm", "catboost"])
def test_boosting_model_files(library, loans, tmp_path):
    lib = pytest.importorskip(library)
    _, frame, _ = loans
    data = frame[["age", "income", "debt", "n_accounts", "has_car"]].assign(
        approved=(frame.approved == "yes").astype(int))
    data.to_csv(tmp_path / "numeric.csv", index=False)
    X, y = data.drop(columns="approved"), data.approved
    if library == "xgboost":
        model = lib.XGBClassifier(n_estimators=10, max_depth=3).fit(X, y)
        path = tmp_path / "model.json"
        model.save_model(path)
    elif library == "lightgbm":
        model = lib.LGBMClassifier(n_estimators=10, max_depth=3, verbose=-1).fit(X, y)
        path = tmp_path / "model.txt"
        model.booster_.save_model(path)
    else:
        model = lib.CatBoostClassifier(iterations=10, depth=3, verbose=0,
                                       allow_writing_files=False).fit(X, y)
        path = tmp_path / "model.cbm"
        model.save_model(str(path))
    result = skadv.study(tmp_path / "numeric.csv", target="approved", model=path,
                         attacks=["square", "greedy-tree"], eps=[0.3], quick=True,
                         max_rows=40, out=str(tmp_path / "out"))
    acc = dict(zip(result.report.attack, result.report.accuracy))
    assert acc["certified"] <= acc["worst case"] <= acc["clean"]
    ex = result.examples
    # The file's model predicts the written rows as the CSV says.
    assert (model.predict(ex[list(X.columns)]) == ex.prediction_after.to_numpy()).all()


def test_html_writer_gets_the_table_the_curves_and_the_column_moves(loans, tmp_path,
                                                                    monkeypatch):
    from skadv import _html_report

    calls = []

    def write_html_report(path, *, title, sections):
        calls.append((path, title, sections))
        with open(path, "w") as fh:
            fh.write("<html></html>")

    monkeypatch.setattr(_html_report, "write_html_report", write_html_report)
    folder, _, _ = loans
    result = skadv.study(folder / "loans.csv", target="approved",
                         model=folder / "model.joblib", attacks=["square"], eps=[0.3],
                         quick=True, max_rows=30, out=str(tmp_path))
    assert result.paths["report.html"] == str(tmp_path / "report.html")
    (path, title, sections), = calls
    assert path == str(tmp_path / "report.html") and "loans.csv" in title
    items = {heading: body for heading, body in sections}
    frames = [i for i in items["Accuracy"] if isinstance(i, pd.DataFrame)]
    assert "worst case" in frames[0].columns and "certified" in frames[0].columns
    # Each figure is rendered once: the page embeds the PNG files' own bytes.
    images = [i for i in items["Accuracy"] if isinstance(i, _html_report.PNGImage)]
    assert [i.png for i in images] == [(tmp_path / "worst_case.png").read_bytes()]
    curves = items["Robustness curves"]
    files = sorted(tmp_path.glob("curves_*.png"))
    assert len(curves) == len(files) >= 1
    assert {i.png for i in curves} == {f.read_bytes() for f in files}
    moves = [i for i in items["Columns the worst case moved"] if isinstance(i, pd.DataFrame)]
    assert set(moves[0].column) == set(FEATURES)
    for body in items.values():
        assert all(isinstance(i, (str, pd.DataFrame, _html_report.PNGImage)) for i in body)
