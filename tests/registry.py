"""The one registry of attacks the tests run: every public attack, small settings.

``make_attack(name, ...)`` builds a fresh attack (a ``RandomState`` is
consumed by a run); ``WHITE_BOX``, ``QUERY`` and ``TREE`` name the kinds. A
test picks the names it needs; a new attack is added here once and every
registry test (valid rows under random constraints, serial equals split,
parameter checks) covers it.
"""

import numpy as np
from sklearn.linear_model import LogisticRegression

from skadv.attacks import (
    BPDA,
    EOT,
    AutoPGDAttack,
    CarliniWagnerL2Attack,
    ConstrainedAdaptiveAttack,
    DeepFoolAttack,
    ExactTreeAttack,
    FGSMAttack,
    GreedyTreeAttack,
    HopSkipJumpAttack,
    PGDAttack,
    SquareAttack,
    TransferAttack,
)

# name -> class of the white-box attacks (differentiable victims only)
WHITE_BOX = {"fgsm": FGSMAttack, "pgd": PGDAttack, "apgd": AutoPGDAttack,
             "cw": CarliniWagnerL2Attack, "deepfool": DeepFoolAttack}
# attacks that only query the victim (any classifier)
QUERY = ("square", "hsj", "transfer")
# attacks on tree ensembles
TREE = ("greedy_tree", "exact_tree")
# attacks around other attacks
WRAPPERS = ("caa", "eot", "bpda")
NAMES = (*WHITE_BOX, *QUERY, *TREE, *WRAPPERS)


def make_attack(name, gradient, query, tree=None, *, eps=0.3, steps=5):
    """A fresh attack ``name`` on the right victim.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.
    gradient : fitted classifier
        The victim of the white-box attacks and wrappers (differentiable).
    query : fitted classifier
        The victim of the query attacks.
    tree : fitted tree ensemble, default=None
        The victim of the tree attacks (``query`` when None).
    eps : float, default=0.3
    steps : int, default=5
    """
    tree = query if tree is None else tree
    factories = {
        "fgsm": lambda: FGSMAttack(gradient, eps=eps, random_start=True, random_state=0),
        "pgd": lambda: PGDAttack(gradient, eps=eps, steps=steps, restarts=2,
                                 random_state=0),
        "apgd": lambda: AutoPGDAttack(gradient, eps=eps, steps=steps, random_state=0),
        "cw": lambda: CarliniWagnerL2Attack(gradient, steps=steps, binary_search_steps=2),
        "deepfool": lambda: DeepFoolAttack(gradient, steps=steps),
        "square": lambda: SquareAttack(query, eps=eps, max_queries=30, random_state=0),
        "hsj": lambda: HopSkipJumpAttack(query, max_queries=40, n_references=50,
                                         random_state=0),
        "transfer": lambda: TransferAttack(query, eps=eps, surrogate=LogisticRegression(),
                                           attack=PGDAttack(steps=steps),
                                           random_state=np.random.RandomState(0)),
        "greedy_tree": lambda: GreedyTreeAttack(tree, steps=steps, n_references=50,
                                                random_state=0),
        "exact_tree": lambda: ExactTreeAttack(tree, eps=eps + 0.2),
        # Stages configured as the entries above: their compiled code is reused.
        "caa": lambda: ConstrainedAdaptiveAttack(
            gradient, eps=eps, random_state=0,
            attacks=[PGDAttack(steps=steps, restarts=2), SquareAttack(max_queries=30)]),
        "eot": lambda: EOT(PGDAttack(eps=eps, steps=steps, random_state=0),
                           estimator=gradient, n_samples=2),
        "bpda": lambda: BPDA(PGDAttack(eps=eps, steps=steps, random_state=0),
                             estimator=gradient),
    }
    return factories[name]()
