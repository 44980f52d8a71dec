"""The study command end to end: table, JSON, report, plots, errors."""

import json
import math
import os
import subprocess
import sys

import pytest

from skadv import __version__
from skadv.cli import main, run_study

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    report = run_study("breast_cancer", quick=True, out=str(out),
                       defenses=["undefended", "masking", "ibp"], eps=[0.1, 0.3])
    return out, report


def test_json_numbers_equal_the_report(quick_study):
    out, report = quick_study
    payload = json.loads((out / "results.json").read_text())
    assert payload["eps"] == [0.1, 0.3] and payload["skadv_version"] == __version__
    records = payload["records"]
    assert len(records) == len(report)
    for rec, (_, row) in zip(records, report.iterrows()):
        assert (rec["estimator"], rec["eps"], rec["attack"]) == (
            row.estimator, row.eps, row.attack)
        for col in ("accuracy", "median_perturbation", "mean_queries"):
            if isinstance(row[col], float) and math.isnan(row[col]):
                assert rec[col] is None
            else:
                assert rec[col] == pytest.approx(row[col], abs=0)


def test_worst_case_below_every_attack_and_outputs_written(quick_study):
    out, report = quick_study
    for _, group in report.groupby(["estimator", "eps"]):
        acc = dict(zip(group.attack, group.accuracy))
        attacks = [a for a in acc if a not in ("clean", "worst case", "certified")]
        assert acc["worst case"] <= min(acc[a] for a in attacks)
        if "certified" in acc:
            assert acc["certified"] <= acc["worst case"]
    # The masked model's gradient attack is fooled; the adaptive one is not.
    masked = report[(report.estimator == "masking") & (report.eps == 0.3)]
    acc = dict(zip(masked.attack, masked.accuracy))
    assert acc["bpda"] < acc["pgd"] - 0.05
    md = (out / "report.md").read_text()
    assert "| estimator | eps | clean | pgd | square | bpda | worst case | certified |" in md
    for name in ("worst_case.png", "curves_masking.png", "curves_ibp.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["study", "--dataset", "adult"], "invalid choice: 'adult'"),
    (["study", "--defenses", "undefended,magic"], "unknown defense ['magic']"),
    (["study", "--attacks", "pgd,fgm"], "unknown attack ['fgm']"),
    (["study", "--eps", "0.1,abc"], "--eps must be comma-separated numbers"),
    (["study", "--eps", "-0.1"], "--eps must be non-negative"),
])
def test_bad_arguments_exit_nonzero_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code != 0
    assert message in capsys.readouterr().err


def test_console_entry_points():
    out = subprocess.run([sys.executable, "-m", "skadv", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"skadv {__version__}"
    out = subprocess.run([sys.executable, "-m", "skadv", "study", "--help"],
                         capture_output=True, text=True, check=True)
    assert "--defenses" in out.stdout and "--quick" in out.stdout


def test_relational_study_reports_why_constraints_matter(tmp_path):
    report = run_study("lending", quick=True, out=str(tmp_path), defenses=["undefended"],
                       attacks=["caa"], eps=[0.3], test_size=0.05)
    payload = json.loads((tmp_path / "results.json").read_text())
    check = payload["unconstrained"]
    # PGD without the constraints turns rows, most of which cannot exist.
    assert check["n_adversarial"] > 0 and check["valid"] < 0.5
    assert check["broken"]["asset shares sum to 1"] > 0.5
    valid = dict(zip(report.attack, report.valid_before_repair))
    # The search stage of the adaptive attack queries valid points only.
    assert valid["caa"] == 1.0
    acc = dict(zip(report.attack, report.accuracy))
    assert acc["worst case"] <= acc["caa"] < acc["clean"]
    md = (tmp_path / "report.md").read_text()
    assert "## Why the constraints matter" in md and "valid before its final repair" in md


def test_boosted_trees_get_the_tree_attacks_and_a_certificate(tmp_path):
    report = run_study("breast_cancer", quick=True, defenses=["hgb", "undefended"],
                       eps=[0.3], out=str(tmp_path))
    trees = report[report.estimator == "hgb"]
    acc = dict(zip(trees.attack, trees.accuracy))
    # No gradients: the white-box attacks are not run on the trees, the tree
    # and black-box ones are, and the clique bound certifies.
    assert set(acc) == {"clean", "square", "greedy-tree", "worst case", "certified"}
    assert acc["certified"] <= acc["worst case"] <= min(acc["square"], acc["greedy-tree"])
    assert acc["worst case"] < acc["clean"]
    net = set(report[report.estimator == "undefended"].attack)
    assert "greedy-tree" not in net and "pgd" in net
    md = (tmp_path / "report.md").read_text()
    assert "| hgb | 0.3 |" in md and "greedy-tree" in md


def test_the_bundled_study_compiles_light_unless_told_or_too_late(monkeypatch):
    from jax._src import xla_bridge

    from skadv import cli

    monkeypatch.setattr(xla_bridge, "backends_are_initialized", lambda: False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=1")
    cli._compile_light()
    assert os.environ["XLA_FLAGS"] == ("--xla_backend_optimization_level=1 "
                                       "--xla_cpu_use_fusion_emitters=false")
    # The user's choice wins.
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")
    cli._compile_light()
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_use_fusion_emitters=true"
    # A started backend has read XLA_FLAGS already: nothing to change.
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.setattr(xla_bridge, "backends_are_initialized", lambda: True)
    cli._compile_light()
    assert "XLA_FLAGS" not in os.environ
