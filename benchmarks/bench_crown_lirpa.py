"""skadv's IBP / CROWN / CROWN-IBP bounds vs auto_LiRPA's, to 1e-4, with times.

    python benchmarks/bench_crown_lirpa.py

The 12 small random ReLU MLPs of ``tests/data/crown_reference.npz`` (8 input
rows each; L∞ balls of radius 0.05 and 0.2, L2 balls of radius 0.3) are
bounded by skadv (:func:`skadv.verify.crown_bounds`) and compared, bound by
bound, with auto_LiRPA's ``compute_bounds(method=...)``.

auto_LiRPA (the reference implementation of CROWN and CROWN-IBP) needs an old
stack (torch 1.13, numpy < 2) that cannot be installed beside skadv. When it
imports, this script runs it live and times both libraries on the same nets;
when it does not, it compares with the bounds auto_LiRPA 0.3 computed for the
stored file and says so — the accuracy check then still holds, but there is
no auto_LiRPA time to compare with, and only skadv's time is printed.
"""

import time
from pathlib import Path

import numpy as np
import jax
import jax.numpy as jnp

from skadv.verify import crown_bounds, interval_bounds

from bench_certified import torch_model  # the same dense layers as a torch Sequential

REF_PATH = Path(__file__).parents[1] / "tests" / "data" / "crown_reference.npz"
CASES = [("linf", "0.05", "IBP"), ("linf", "0.05", "CROWN"), ("linf", "0.05", "CROWN-IBP"),
         ("linf", "0.2", "IBP"), ("linf", "0.2", "CROWN"), ("linf", "0.2", "CROWN-IBP"),
         ("l2", "0.3", "CROWN")]
REPEAT = 20


def nets(ref):
    for k in range(int(ref["n_nets"])):
        layers, j = [], 0
        while f"net{k}_W{j}" in ref:
            layers.append({"W": jnp.asarray(ref[f"net{k}_W{j}"]),
                           "b": jnp.asarray(ref[f"net{k}_b{j}"])})
            j += 1
        yield k, layers, jnp.asarray(ref[f"net{k}_x"])


def skadv_bounds(layers, x, norm, eps, method):
    eps = float(eps)
    if method == "IBP":
        return interval_bounds(layers, x - eps, x + eps)
    return crown_bounds(layers, x, eps, 2 if norm == "l2" else "inf", method=method.lower())


def lirpa_runner():
    """``run(layers, x, norm, eps, method) -> (lb, ub)`` by auto_LiRPA, or None."""
    try:
        import torch
        from auto_LiRPA import BoundedModule, BoundedTensor
        from auto_LiRPA.perturbations import PerturbationLpNorm
    except ImportError:
        return None
    cache = {}

    def run(k, layers, x, norm, eps, method):
        if k not in cache:
            xt = torch.from_numpy(np.asarray(x).copy())
            cache[k] = (BoundedModule(torch_model(layers), torch.empty_like(xt)), xt)
        model, xt = cache[k]
        ptb = PerturbationLpNorm(norm=np.inf if norm == "linf" else 2, eps=float(eps))
        lb, ub = model.compute_bounds(x=(BoundedTensor(xt, ptb),), method=method)
        return lb.detach().numpy(), ub.detach().numpy()

    return run


def timed(fn, repeat):
    fn()  # warm (compile / trace)
    t0 = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    jax.block_until_ready(out)
    return out, (time.perf_counter() - t0) / repeat


def main():
    ref = np.load(REF_PATH)
    lirpa = lirpa_runner()
    source = ("auto_LiRPA, run live" if lirpa is not None else
              f"auto_LiRPA 0.3's stored bounds ({REF_PATH.name}); auto_LiRPA is not "
              "importable here, so its time cannot be measured")
    print(f"Reference: {source}")
    header = (f"{'bounds':<20} {'cases':>5} {'max |skadv - ref|':>18} {'<= 1e-4':>8} "
              f"{'skadv ms/net':>13} {'auto_LiRPA ms/net':>18} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    all_ok = True
    for norm, eps, method in CASES:
        worst, t_ours, t_ref, count = 0.0, [], [], 0
        for k, layers, x in nets(ref):
            (lb, ub), t = timed(lambda: skadv_bounds(layers, x, norm, eps, method), REPEAT)
            t_ours.append(t)
            if lirpa is not None:
                (rlb, rub), t = timed(lambda: lirpa(k, layers, x, norm, eps, method), REPEAT)
                t_ref.append(t)
            else:
                key = f"net{k}_{norm}_{eps}_{method}"
                rlb, rub = ref[f"{key}_lb"], ref[f"{key}_ub"]
            worst = max(worst, float(np.max(np.abs(np.asarray(lb) - rlb))),
                        float(np.max(np.abs(np.asarray(ub) - rub))))
            count += 1
        ok = worst <= 1e-4
        all_ok &= ok
        ours_ms = 1e3 * np.mean(t_ours)
        if t_ref:
            ref_ms = 1e3 * np.mean(t_ref)
            timing = f"{ref_ms:>18.3f} {ref_ms / ours_ms:>5.1f}x"
        else:
            timing = f"{'n/a':>18} {'n/a':>6}"
        print(f"{norm + ' ' + eps + ' ' + method:<20} {count:>5} {worst:>18.2e} "
              f"{str(ok):>8} {ours_ms:>13.3f} {timing}")
    print(f"All bounds within 1e-4 of auto_LiRPA: {all_ok}. Times: mean per net of {REPEAT} "
          f"warm calls on 8 rows (skadv jitted, float32, CPU).")


if __name__ == "__main__":
    main()
