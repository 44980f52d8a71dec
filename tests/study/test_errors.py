"""Bad input to skadv study: exit code 2 and one line naming the problem."""

import pytest

from skadv.cli import main

pd = pytest.importorskip("pandas")


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    return exc.value.code, err


@pytest.fixture(scope="module")
def bad_files(loans, tmp_path_factory):
    import joblib

    from .conftest import fit_pipeline

    folder, frame, _ = loans
    bad = tmp_path_factory.mktemp("bad")
    frame.assign(approved="yes").to_csv(bad / "one_class.csv", index=False)
    (bad / "not_a_model.joblib").write_text("this is not a pickle")
    joblib.dump(fit_pipeline(frame.rename(columns={"n_accounts": "accounts"})),
                bad / "other_columns.joblib")
    (bad / "unknown_column.toml").write_text('immutable = ["age", "salary"]\n')
    (bad / "unknown_key.toml").write_text('immutable = ["age"]\nfrozen = ["debt"]\n')
    (bad / "bad_relation.toml").write_text('relations = ["debt <= 2 * salary"]\n')
    (bad / "broken.csv").write_text('age,income,approved\n1,"2,yes\n3,4,no\n')
    return folder, bad


CASES = {
    "missing file": (["--data", "{bad}/nope.csv", "--target", "approved"],
                     "does not exist"),
    "unknown target": (["--data", "{data}/loans.csv", "--target", "approval"],
                       "unknown target column 'approval'"),
    "one class": (["--data", "{bad}/one_class.csv", "--target", "approved"],
                  "has one class"),
    "not a model": (["--data", "{data}/loans.csv", "--target", "approved", "--model",
                     "{bad}/not_a_model.joblib"], "is not a model file"),
    "missing model file": (["--data", "{data}/loans.csv", "--target", "approved",
                            "--model", "{bad}/nope.joblib"], "does not exist"),
    "other columns": (["--data", "{data}/loans.csv", "--target", "approved", "--model",
                       "{bad}/other_columns.joblib"], "['accounts']"),
    "unknown column": (["--data", "{data}/loans.csv", "--target", "approved",
                        "--constraints", "{bad}/unknown_column.toml"],
                       "unknown column(s) ['salary']"),
    "unknown key": (["--data", "{data}/loans.csv", "--target", "approved",
                     "--constraints", "{bad}/unknown_key.toml"], "unknown key(s) ['frozen']"),
    "relation column": (["--data", "{data}/loans.csv", "--target", "approved",
                         "--constraints", "{bad}/bad_relation.toml"], "'salary'"),
    "unparseable csv": (["--data", "{bad}/broken.csv", "--target", "approved"],
                        "cannot parse"),
    "no abbreviations": (["--datas", "breast_cancer"], "unrecognized arguments"),
    "target without data": (["--target", "approved"], "--target needs --data"),
    "data without target": (["--data", "{data}/loans.csv"], "--data needs --target"),
    "raw unit needs eps": (["--data", "{data}/loans.csv", "--target", "approved",
                            "--eps-unit", "raw"], "needs eps"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line(case, bad_files, capsys, tmp_path):
    folder, bad = bad_files
    argv, message = CASES[case]
    argv = [a.format(data=folder, bad=bad) for a in argv]
    code, err = _run(["study", *argv, "--quick", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and "Traceback" not in err
