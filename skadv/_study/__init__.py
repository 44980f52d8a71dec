"""``skadv study``: robustness studies of bundled data sets or of the user's data and model.

:mod:`._data` reads the user's table and infers its constraints,
:mod:`._models` loads the user's model, :mod:`._problem` makes the rows the
models take, :mod:`._registry` lists the models and attacks, :mod:`._run`
runs a :class:`Study` and :mod:`._write` writes its outputs.
"""

from ._data import StudyInputError
from ._registry import ATTACKS, DEFENSES
from ._run import Study, StudyResult, study

__all__ = ["ATTACKS", "DEFENSES", "Study", "StudyInputError", "StudyResult", "run_study",
           "study"]


def run_study(dataset="breast_cancer", *, defenses=None, attacks=None, eps=None, out=None,
              seed=0, quick=False, progress=False, train_eps=None, test_size=0.3,
              stream=None):
    """The study of a bundled data set; returns its report (see :class:`Study`)."""
    return Study(dataset=dataset, defenses=defenses, attacks=attacks, eps=eps, out=out,
                 seed=seed, quick=quick, progress=progress, train_eps=train_eps,
                 test_size=test_size, max_rows=None, stream=stream).run().report
