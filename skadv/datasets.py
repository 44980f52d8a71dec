"""Small tabular robustness studies built from data that ships with scikit-learn.

Each study is the data in its raw units, the :class:`FeatureConstraints` an
honest attacker must respect, and an eps grid in *standardised* units (attacks
use ``feature_scale="std"``, so ``eps=0.1`` moves a feature by a tenth of its
standard deviation). Nothing downloads at run time.
"""

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification
from sklearn.utils import Bunch

from .constraints import FeatureConstraints

__all__ = ["LENDING_RELATIONS", "STUDIES", "load_study"]


def _bunch(X, y, names, target_names, constraints, eps, descr):
    return Bunch(data=np.asarray(X, dtype=np.float64), target=np.asarray(y),
                 feature_names=np.asarray(names, dtype=object),
                 target_names=np.asarray(target_names), constraints=constraints,
                 eps=np.asarray(eps, dtype=np.float64), feature_scale="std", DESCR=descr)


def _breast_cancer():
    d = load_breast_cancer()
    # Measurements are non-negative; an attacker cannot fake a negative radius.
    fc = FeatureConstraints.from_data(d.data, integer=None, margin=0.05)
    fc.lower = np.maximum(fc.lower, 0.0)
    return _bunch(d.data, d.target, d.feature_names, d.target_names, fc,
                  [0.05, 0.1, 0.2, 0.3, 0.5],
                  "Breast cancer (Wisconsin), 569 x 30 cell measurements, two classes. "
                  "Bounds: the observed range widened by 5%, never negative.")


def _wine():
    d = load_wine()
    fc = FeatureConstraints.from_data(d.data, integer=None, margin=0.05)
    fc.lower = np.maximum(fc.lower, 0.0)
    return _bunch(d.data, d.target, d.feature_names, d.target_names, fc,
                  [0.05, 0.1, 0.2, 0.3, 0.5],
                  "Wine, 178 x 13 chemical measurements, three cultivars. Bounds: the "
                  "observed range widened by 5%, never negative.")


def _digits():
    d = load_digits()
    # Pixels are integer grey levels in [0, 16].
    fc = FeatureConstraints(lower=0.0, upper=16.0, integer=np.arange(64))
    return _bunch(d.data, d.target, d.feature_names, d.target_names, fc,
                  [0.1, 0.25, 0.5, 1.0, 2.0],
                  "Digits as a tabular task: 1797 x 64 integer pixels in [0, 16], ten "
                  "classes. Integer features: a budget below one grey level per pixel "
                  "(in standardised units) leaves many pixels unmovable.")


CREDIT_FEATURES = [
    "age", "income", "debt", "credit_lines", "delinquencies", "months_employed",
    "utilisation", "savings", "housing_own", "housing_rent", "housing_other",
]


def _credit(random_state=0):
    rng = np.random.default_rng(random_state)
    n = 3000
    Z, y = make_classification(n_samples=n, n_features=6, n_informative=5, n_redundant=1,
                               weights=[0.7, 0.3], class_sep=1.0, random_state=random_state)
    age = np.clip(np.round(40 + 12 * Z[:, 0] / Z[:, 0].std()), 18, 90)
    income = np.round(np.exp(10.5 + 0.45 * Z[:, 1] / Z[:, 1].std()), 0)
    debt = np.round(income * np.clip(0.35 + 0.15 * Z[:, 2] / Z[:, 2].std(), 0.0, 1.5), 0)
    lines = np.clip(np.round(5 + 2.5 * Z[:, 3] / Z[:, 3].std()), 0, 25)
    delinq = np.clip(np.round(np.abs(Z[:, 4]) * 1.2 * (y + 0.3)), 0, 10)
    months = np.clip(np.round((age - 18) * 12 * rng.uniform(0.1, 0.9, n)), 0, None)
    util = np.clip(0.3 + 0.15 * Z[:, 5] / Z[:, 5].std() + 0.1 * y, 0.0, 1.0)
    savings = np.round(np.clip(income * rng.gamma(1.0, 0.3, n) * (1.2 - y * 0.5), 0, None))
    housing = np.where(age > 45, rng.choice(3, n, p=[0.6, 0.3, 0.1]),
                       rng.choice(3, n, p=[0.25, 0.6, 0.15]))
    onehot = np.eye(3)[housing]
    X = np.column_stack([age, income, debt, lines, delinq, months, util, savings, onehot])
    fc = FeatureConstraints(
        lower=[18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        upper=[90, np.nan, np.nan, 40, 20, np.nan, 1, np.nan, 1, 1, 1],
        immutable=["age", "delinquencies"],
        integer=["age", "income", "debt", "credit_lines", "delinquencies",
                 "months_employed", "savings"],
        one_hot_groups=[["housing_own", "housing_rent", "housing_other"]],
        feature_names=CREDIT_FEATURES)
    return _bunch(X, y, CREDIT_FEATURES, np.array(["repaid", "default"]), fc,
                  [0.05, 0.1, 0.2, 0.3, 0.5],
                  "Synthetic credit scoring (make_classification, seeded), 3000 x 11: "
                  "age and past delinquencies are immutable, counts and amounts are "
                  "integers, housing is one-hot, utilisation lies in [0, 1].")


LENDING_FEATURES = [
    "age", "annual_income", "months_employed", "loan_amount", "term_months",
    "interest_rate", "monthly_payment", "debt", "debt_to_income", "credit_limit",
    "credit_used", "utilisation", "open_accounts", "total_accounts", "delinquencies",
    "savings_share", "checking_share", "investment_share",
]

LENDING_RELATIONS = {
    # linear: imposed exactly
    "employed since 18": "months_employed <= 12 * age - 216",
    "used within limit": "credit_used <= credit_limit",
    "open within total": "open_accounts <= total_accounts",
    "loan within 2 incomes": "loan_amount <= 2 * annual_income",
    "asset shares sum to 1": "savings_share + checking_share + investment_share == 1",
    # derived: recomputed from their inputs
    "payment formula":
        "monthly_payment == loan_amount * (1 + interest_rate * term_months / 12) / term_months",
    "utilisation formula": "utilisation == credit_used / credit_limit",
    "debt-to-income formula": "debt_to_income == (debt + 12 * monthly_payment) / annual_income",
}


def _lending(random_state=0):
    rng = np.random.default_rng(random_state)
    n = 4000
    age = rng.integers(21, 71, n).astype(float)
    income = np.round(np.exp(rng.normal(10.8, 0.45, n)))
    months = np.floor((12 * age - 216) * rng.uniform(0.05, 0.9, n))
    term = rng.choice([12.0, 24.0, 36.0, 48.0, 60.0], n)
    loan = np.round(np.minimum(income * rng.gamma(2.0, 0.2, n), 2 * income))
    rate = np.round(rng.uniform(0.04, 0.25, n), 4)
    payment = loan * (1 + rate * term / 12) / term
    debt = np.round(income * rng.gamma(1.5, 0.15, n))
    dti = (debt + 12 * payment) / income
    limit = np.round(rng.uniform(1_000, 40_000, n))
    used = np.round(limit * rng.beta(2, 3, n))
    util = used / limit
    total = rng.integers(1, 30, n).astype(float)
    open_ = np.floor(total * rng.uniform(0.2, 1.0, n))
    delinq = rng.poisson(0.4, n).astype(float)
    shares = rng.dirichlet([2.0, 3.0, 1.0], n)
    score = (1.8 * dti + 2.0 * util + 0.6 * delinq + 4.0 * rate - 0.01 * months / 12
             - 0.3 * shares[:, 0] - 0.3 * (income / 1e5) + 0.02 * (open_ - 0.5 * total))
    logit = 3.0 * (score - np.median(score)) + rng.normal(0, 0.6, n)
    y = (logit > np.quantile(logit, 0.7)).astype(int)
    X = np.column_stack([age, income, months, loan, term, rate, payment, debt, dti, limit,
                         used, util, open_, total, delinq, shares])
    fc = FeatureConstraints(
        lower=dict(zip(LENDING_FEATURES, [21, 0, 0, 0, 12, 0, 0, 0, 0, 500, 0, 0, 0, 1,
                                          0, 0, 0, 0])),
        upper={"age": 70, "term_months": 60, "utilisation": 1.0, "debt_to_income": 10.0,
               "savings_share": 1.0, "checking_share": 1.0, "investment_share": 1.0},
        immutable=["age", "interest_rate", "delinquencies", "term_months"],
        integer=["age", "annual_income", "months_employed", "loan_amount", "term_months",
                 "debt", "credit_limit", "credit_used", "open_accounts", "total_accounts",
                 "delinquencies"],
        # An applicant can report more income, not less history.
        increase_only=["annual_income"], decrease_only=[],
        relations=LENDING_RELATIONS, feature_names=LENDING_FEATURES)
    return _bunch(X, y, LENDING_FEATURES, np.array(["repaid", "default"]), fc,
                  [0.05, 0.1, 0.2, 0.3, 0.5],
                  "Synthetic lending (seeded), 4000 x 18, in the style of Lending Club "
                  "data: linear relations (open <= total accounts, credit used <= "
                  "limit, employment since 18, loan <= 2 incomes, asset shares sum to "
                  "1), derived features (monthly payment, utilisation, debt-to-income "
                  "recomputed from their inputs), integer counts and amounts, income "
                  "increase-only, age, interest rate, term and delinquencies immutable.")


STUDIES = {
    "breast_cancer": _breast_cancer,
    "wine": _wine,
    "digits": _digits,
    "credit": _credit,
    "lending": _lending,
}


def load_study(name="breast_cancer", *, as_frame=False):
    """Load a bundled robustness study.

    Parameters
    ----------
    name : {"breast_cancer", "wine", "digits", "credit", "lending"}, default="breast_cancer"
        Which study.
    as_frame : bool, default=False
        Return ``data`` as a pandas DataFrame with named columns.

    Returns
    -------
    study : sklearn.utils.Bunch
        ``data`` (raw units), ``target``, ``feature_names``, ``target_names``,
        ``constraints`` (:class:`~skadv.constraints.FeatureConstraints`),
        ``eps`` (a grid in standardised units), ``feature_scale`` (``"std"``:
        pass it to attacks so ``eps`` means the same on every feature) and
        ``DESCR``.

    Examples
    --------
    >>> from skadv.datasets import load_study
    >>> study = load_study("credit")
    >>> study.data.shape, study.eps.tolist()
    ((3000, 11), [0.05, 0.1, 0.2, 0.3, 0.5])
    >>> bool(study.constraints.is_satisfied(study.data, study.data).all())
    True
    """
    if name not in STUDIES:
        raise ValueError(
            f"Unknown study {name!r}; choose one of {sorted(STUDIES)}.")
    study = STUDIES[name]()
    if as_frame:
        import pandas as pd

        study.data = pd.DataFrame(study.data, columns=list(study.feature_names))
    return study
