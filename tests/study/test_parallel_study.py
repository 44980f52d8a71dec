"""A study's models in joblib workers give the serial study's numbers."""

import io
import json

import numpy as np
import pandas as pd
import pytest

import skadv

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Boosted trees (greedy tree attack, Square and the clique certificate) and a
# network (white-box and Square) that certifies (IBP), listed lightest first:
# the workers start them heaviest first and finish in any order.
KW = dict(quick=True, defenses=["hgb", "ibp"], attacks=["pgd", "square", "greedy-tree"],
          eps=[0.1, 0.3], seed=0)


@pytest.fixture(scope="module")
def serial_and_parallel(tmp_path_factory):
    from skadv._study import _registry as reg

    with pytest.MonkeyPatch.context() as mp:
        # The network's Square in a worker of its own (split_off: two
        # workers fit the same model; one certifies).
        mp.setitem(reg.DEFENSES, "ibp", reg.DEFENSES["ibp"]._replace(
            weight=8.0, split_off=("square",)))
        return [skadv.study(**KW, n_jobs=n_jobs, stream=io.StringIO(),
                            out=str(tmp_path_factory.mktemp(f"jobs{n_jobs}")))
                for n_jobs in (1, 2)]


def test_two_workers_give_the_serial_report(serial_and_parallel):
    serial, parallel = serial_and_parallel
    keys = ["estimator", "eps", "attack"]
    assert list(serial.report[keys].itertuples(index=False)) == list(
        parallel.report[keys].itertuples(index=False))
    assert set(serial.report.estimator) == {"ibp", "hgb"}
    assert {"pgd", "square", "greedy-tree", "certified"} <= set(serial.report.attack)
    numbers = [c for c in serial.report.columns if c not in keys + ["time_s"]]
    pd.testing.assert_frame_equal(serial.report[numbers], parallel.report[numbers])
    pd.testing.assert_frame_equal(serial.examples, parallel.examples)
    pd.testing.assert_frame_equal(serial.columns, parallel.columns)
    # The study attacked something: the comparison is not of empty tables.
    assert len(serial.examples) > 0
    assert np.all(parallel.report.time_s.to_numpy() >= 0)
    # The unconstrained PGD check ran in a worker too.
    checks = [json.loads(open(r.paths["results.json"]).read())["unconstrained"]
              for r in (serial, parallel)]
    assert checks[0] is not None and checks[0] == checks[1]


@pytest.mark.parametrize("n_jobs", [0, 1.5, True, "2"])
def test_bad_n_jobs_is_refused(n_jobs):
    with pytest.raises(ValueError, match="n_jobs must be a non-zero integer"):
        skadv.study(**KW, n_jobs=n_jobs)
