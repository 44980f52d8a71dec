"""What a study can train and how it attacks: name -> factory.

Models and defenses are ``DEFENSES[name] = Entry(factory, kind)`` where
``factory(settings, quick)`` returns an unfitted estimator and ``kind`` is
``"network"`` (attacked white box, black box and adaptively) or ``"trees"``
(attacked with the tree attacks and black box, and certified by the
clique bound). Attacks are ``ATTACKS``: name -> ``(kind, factory(quick,
seed, n_classes))``.
"""

from typing import Callable, NamedTuple

__all__ = ["ATTACKS", "ATTACK_APPLIES", "ATTACK_KIND", "DEFENSES", "DEFAULT_ATTACKS",
           "QUICK_ATTACKS", "QUICK_DEFENSES", "USER_DEFENSES", "attack_factories",
           "default_defenses", "tree_models_installed"]


class Entry(NamedTuple):
    factory: Callable
    kind: str  # "network" or "trees"
    # The order of a parallel study, heaviest first: smoothing (its every
    # query is 100 noisy copies), then the networks, then the trees, which
    # compile little and even out the end (robust boosting, whose fit
    # searches every split's worst case, and LightGBM and HGB, whose predict
    # Square queries 500 times, first). The order of the rest barely counts:
    # networks before or after the trees measured the same cold study
    # (45.0-45.8 s against 45.7 s, when smoothing still split off its Square).
    weight: float = 1.0
    # Attacks that a parallel study runs in a worker of their own, beside the
    # model's other attacks: for a model one of whose attacks outweighs the
    # rest of the study. Each worker fits the model, so none in the default
    # study: since smoothing's Square picks its noise from a bank (4-5 s, no
    # longer 16 s), splitting it off made the cold study slower (45-46 s
    # against 41-42 s: the second fit compiles the same programs at once).
    split_off: tuple = ()


def _mlp(settings, quick):
    from ..models import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(32,), max_iter=40 if quick else 100,
                         learning_rate_init=0.01, random_state=settings["seed"])


def _scaled(model):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), model)


def _undefended(s, quick):
    return _scaled(_mlp(s, quick))


def _adversarial(method, **kw):
    def make(s, quick):
        from ..attacks import PGDAttack
        from ..defenses import AdversarialTrainingClassifier

        attack = PGDAttack(eps=s["train_eps"], steps=5 if quick else 10,
                           random_state=s["seed"])
        return _scaled(AdversarialTrainingClassifier(_mlp(s, quick), attack=attack,
                                                     method=method, **kw))
    return make


def _distillation(s, quick):
    from ..defenses import DistilledClassifier

    return _scaled(DistilledClassifier(_mlp(s, quick), temperature=20.0))


def _masking(s, quick):
    from ..defenses import GradientMaskingClassifier

    return _scaled(GradientMaskingClassifier(_mlp(s, quick), method="quantize",
                                             quantization_step=0.25))


def _smoothing(s, quick):
    from ..defenses import CertifiedClassifier

    return _scaled(CertifiedClassifier(
        _mlp(s, quick), method="smoothing", sigma=0.25, n0=100,
        n=1000 if quick else 10_000, alpha=0.001, random_state=s["seed"]))


def _ibp(s, quick):
    from ..defenses import CertifiedClassifier

    return _scaled(CertifiedClassifier(
        _mlp(s, quick), method="ibp", eps=s["train_eps"], ramp=10 if quick else 30,
        random_state=s["seed"]))


# Gradient-boosted trees, undefended. Small (the clique bound certifies them
# in seconds) and single-threaded (the machine's cores go to the attacks).
def _hgb(s, quick):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=20 if quick else 50, max_depth=4,
                                          early_stopping=False, random_state=s["seed"])


def _xgboost(s, quick):
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=20 if quick else 50, max_depth=4, n_jobs=1,
                         random_state=s["seed"])


def _lightgbm(s, quick):
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_estimators=20 if quick else 50, max_depth=4, num_leaves=15,
                          n_jobs=1, verbose=-1, random_state=s["seed"])


def _robust_boosting(s, quick):
    from ..defenses import RobustBoostingClassifier

    # Trained at the study's training budget, in the units its attacks use.
    return RobustBoostingClassifier(n_estimators=20 if quick else 30, max_depth=4,
                                    learning_rate=0.3, eps=s["train_eps"],
                                    feature_scale=s.get("scale"))


DEFENSES = {
    "undefended": Entry(_undefended, "network"),
    "pgd-at": Entry(_adversarial("pgd"), "network"),
    "fgsm-at": Entry(_adversarial("fgsm"), "network"),
    "trades": Entry(_adversarial("trades", beta=6.0), "network"),
    "distillation": Entry(_distillation, "network"),
    "masking": Entry(_masking, "network"),
    "smoothing": Entry(_smoothing, "network", weight=8.0),
    "ibp": Entry(_ibp, "network"),
    "hgb": Entry(_hgb, "trees", weight=0.9),
    "xgboost": Entry(_xgboost, "trees", weight=0.8),
    "lightgbm": Entry(_lightgbm, "trees", weight=0.9),
    "robust-boosting": Entry(_robust_boosting, "trees", weight=0.95),
}


def tree_models_installed():
    """The tree models whose library is importable (scikit-learn's always is)."""
    import importlib.util

    names = ["hgb"]
    for name, module in (("xgboost", "xgboost"), ("lightgbm", "lightgbm")):
        if importlib.util.find_spec(module) is not None:
            names.append(name)
    return names


NETWORK_DEFENSES = ("undefended", "pgd-at", "trades", "distillation", "masking",
                    "smoothing", "ibp")


def default_defenses():
    """The bundled study's models: every defense but FGSM-AT, the tree models and robust boosting."""
    return NETWORK_DEFENSES + tuple(tree_models_installed()) + ("robust-boosting",)


QUICK_DEFENSES = ("undefended", "pgd-at", "masking", "ibp")
# On the user's data: the plain network, its adversarially trained version
# and boosted trees, plain and robustly trained -- a first look in under a minute.
USER_DEFENSES = ("undefended", "pgd-at", "hgb", "robust-boosting")


def _apgd(loss, quick, seed, n_classes):
    from ..attacks import AutoPGDAttack

    if loss == "margin":
        loss = "dlr" if n_classes >= 3 else "cw"
    return AutoPGDAttack(steps=25 if quick else 100, restarts=1 if quick else 2,
                         loss=loss, random_state=seed)


def attack_factories():
    """name -> factory(quick, seed, n_classes) -> attack template."""
    from ..attacks import (
        BPDA,
        EOT,
        ConstrainedAdaptiveAttack,
        ExactTreeAttack,
        FGSMAttack,
        GreedyTreeAttack,
        HopSkipJumpAttack,
        PGDAttack,
        SquareAttack,
    )

    return {
        "fgsm": lambda q, s, k: FGSMAttack(),
        "pgd": lambda q, s, k: PGDAttack(steps=20 if q else 50, restarts=1 if q else 3,
                                         random_state=s),
        "apgd": lambda q, s, k: _apgd("ce", q, s, k),
        "apgd-margin": lambda q, s, k: _apgd("margin", q, s, k),
        "square": lambda q, s, k: SquareAttack(max_queries=300 if q else 500,
                                               random_state=s),
        "hsj": lambda q, s, k: HopSkipJumpAttack(norm="inf", max_queries=300 if q else 1000,
                                                 random_state=s),
        "bpda": lambda q, s, k: BPDA(_apgd("ce", q, s, k)),
        "eot": lambda q, s, k: EOT(_apgd("ce", q, s, k), n_samples=8 if q else 16),
        "caa": lambda q, s, k: ConstrainedAdaptiveAttack(
            attacks=[("apgd", _apgd("ce", q, s, k)),
                     ("square", SquareAttack(max_queries=300 if q else 1000))],
            random_state=s),
        "greedy-tree": lambda q, s, k: GreedyTreeAttack(
            steps=20 if q else 50, restarts=1 if q else 3, random_state=s),
        # Exact, but one MILP per row and budget: capped per problem.
        "exact-tree": lambda q, s, k: ExactTreeAttack(time_limit=0.2 if q else 1.0),
    }


# name -> which models it attacks
ATTACK_APPLIES = {"fgsm": "white-box", "pgd": "white-box", "apgd": "white-box",
                  "apgd-margin": "white-box", "square": "black-box", "hsj": "black-box",
                  "bpda": "white-box", "eot": "white-box", "caa": "white-box",
                  "greedy-tree": "trees", "exact-tree": "small-trees"}
ATTACKS = tuple(ATTACK_APPLIES)
ATTACK_KIND = {"fgsm": "white-box", "pgd": "white-box", "apgd": "white-box",
               "apgd-margin": "white-box", "square": "black-box", "hsj": "black-box",
               "bpda": "adaptive", "eot": "adaptive",
               "caa": "constrained adaptive: AutoPGD, then Square on the rows it missed",
               "greedy-tree": "tree ensembles, fast upper bound",
               "exact-tree": "small tree ensembles, MILP with a time limit"}
# exact-tree is not among them: on breast_cancer's trees it adds ~19 s to
# the study, while the clique bound is already within one row (0.6%) of the
# other attacks' worst case at every budget.
DEFAULT_ATTACKS = ("pgd", "apgd", "apgd-margin", "square", "bpda", "eot", "greedy-tree")
QUICK_ATTACKS = ("pgd", "square", "bpda", "greedy-tree")
