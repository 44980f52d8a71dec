"""The persistent compilation cache: on by default, movable, off on request, shared safely."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jax

import skadv
from skadv import _config

# A child process: configure (through the environment), run one small PGD,
# report where the cache is and how many programs it compiled or loaded.
CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    from jax import monitoring
    counts = {}
    monitoring.register_event_listener(
        lambda name, **kw: counts.__setitem__(name, counts.get(name, 0) + 1))
    import jax, skadv
    from sklearn.linear_model import LogisticRegression
    from skadv.attacks import PGDAttack
    rng = np.random.RandomState(0)
    X = rng.randn(64, 5).astype(np.float32)
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    victim = LogisticRegression().fit(X, y)
    X_adv = PGDAttack(victim, eps=0.3, steps=5, random_state=0).fit_transform(X, y)
    np.save(sys.argv[1], X_adv)
    print(json.dumps({
        "skadv": skadv.get_config()["cache_dir"],
        "jax": jax.config.jax_compilation_cache_dir,
        "hits": counts.get("/jax/compilation_cache/cache_hits", 0),
        "misses": counts.get("/jax/compilation_cache/cache_misses", 0)}))
""")


def run_child(tmp_path, name, **env):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    environ = {k: v for k, v in os.environ.items()
               if k not in ("SKADV_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR")}
    environ.update(env)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / f"{name}.npy")],
                         capture_output=True, text=True, env=environ, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1]), np.load(tmp_path / f"{name}.npy")


def entries(path):
    return sorted(p for p in os.listdir(path) if p.endswith("-cache"))


def test_a_second_process_loads_every_program_and_gets_identical_results(tmp_path):
    cache = tmp_path / "cache"
    first, X1 = run_child(tmp_path, "first", SKADV_CACHE_DIR=str(cache))
    assert first["skadv"] == first["jax"] == str(cache)
    written = entries(cache)
    # Every program it compiled was written, the attack's included, however
    # quick to compile.
    assert first["misses"] > 0 and first["hits"] == 0
    assert len(written) == first["misses"]
    assert any(name.startswith("jit__run-") for name in written)
    second, X2 = run_child(tmp_path, "second", SKADV_CACHE_DIR=str(cache))
    assert second["misses"] == 0 and second["hits"] == first["misses"]
    assert entries(cache) == written
    np.testing.assert_array_equal(X1, X2)


def test_two_processes_filling_one_cache_at_once_agree(tmp_path):
    cache = tmp_path / "cache"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    environ = dict(os.environ, SKADV_CACHE_DIR=str(cache))
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / f"p{i}.npy")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=environ) for i in range(2)]
    outs = [p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    third, X3 = run_child(tmp_path, "third", SKADV_CACHE_DIR=str(cache))
    assert third["misses"] == 0 and third["hits"] > 0
    for i in range(2):
        np.testing.assert_array_equal(np.load(tmp_path / f"p{i}.npy"), X3)


def test_the_environment_variable_turns_the_cache_off(tmp_path):
    out, _ = run_child(tmp_path, "off", SKADV_CACHE_DIR="off")
    assert out["skadv"] is None and out["jax"] is None
    assert out["hits"] == 0 and out["misses"] == 0


@pytest.mark.parametrize("off", ["", "0", "off", "OFF", " none ", "False", None, False])
def test_the_words_that_mean_off(off):
    assert _config._resolve(off) is None


def test_a_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _config._resolve("rel") == str(tmp_path / "rel")


def test_the_default_folder_follows_the_platform_convention(tmp_path):
    out, _ = run_child(tmp_path, "default", XDG_CACHE_HOME=str(tmp_path / "xdg"),
                       HOME=str(tmp_path / "home"), LOCALAPPDATA=str(tmp_path / "local"))
    assert out["skadv"] == out["jax"]
    assert out["skadv"].startswith(str(tmp_path)) and os.path.isdir(out["skadv"])
    assert entries(out["skadv"])


def test_a_folder_configured_in_jax_is_left_alone(tmp_path):
    mine = tmp_path / "mine"
    out, _ = run_child(tmp_path, "jax", JAX_COMPILATION_CACHE_DIR=str(mine),
                       SKADV_CACHE_DIR=str(tmp_path / "skadv"))
    assert out["skadv"] == out["jax"] == str(mine)
    assert not (tmp_path / "skadv").exists()


@pytest.fixture
def restore_config():
    before = skadv.get_config()["cache_dir"]
    yield
    skadv.set_config(cache_dir=before)


def test_set_config_moves_the_cache_for_the_next_compilation(tmp_path, restore_config):
    skadv.set_config(cache_dir=tmp_path / "moved")
    assert skadv.get_config()["cache_dir"] == str(tmp_path / "moved")
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "moved")
    # A program this process has never compiled (a constant unique to this test).
    jax.jit(lambda x: x * 3.25 + 17.0)(np.arange(7.0, dtype=np.float32)).block_until_ready()
    assert entries(tmp_path / "moved")
    skadv.set_config(cache_dir=None)
    assert skadv.get_config()["cache_dir"] is None
    assert jax.config.jax_compilation_cache_dir is None


def test_set_config_without_arguments_changes_nothing(restore_config):
    before = skadv.get_config()
    skadv.set_config()
    assert skadv.get_config() == before


@pytest.mark.parametrize("bad, error, match", [
    (3, TypeError, "`cache_dir` must be a path"),
    (True, TypeError, "`cache_dir` must be a path"),
    (["/tmp"], TypeError, "Got \\['/tmp'\\] of type list"),
])
def test_set_config_rejects_what_is_not_a_path(bad, error, match, restore_config):
    before = skadv.get_config()
    with pytest.raises(error, match=match):
        skadv.set_config(cache_dir=bad)
    assert skadv.get_config() == before


def test_set_config_rejects_a_file(tmp_path, restore_config):
    path = tmp_path / "a-file"
    path.write_text("")
    with pytest.raises(ValueError, match="must be a folder.*which is a file"):
        skadv.set_config(cache_dir=path)


def test_default_cache_dir_without_platformdirs(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "platformdirs", None)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _config.default_cache_dir() == str(tmp_path / "skadv" / "jax")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _config.default_cache_dir() == str(tmp_path / "home" / ".cache" / "skadv" / "jax")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert _config.default_cache_dir() == str(
        tmp_path / "home" / "Library" / "Caches" / "skadv" / "jax")
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert _config.default_cache_dir() == str(tmp_path / "local" / "skadv" / "Cache" / "jax")


# The import heap: frozen out of the cyclic collector's reach, unless told not to.
def _dropped_cycle_is_freed():
    """A reference cycle made now, then dropped: does the collector free it?"""
    import gc
    import weakref

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    freed = []
    weakref.finalize(a, freed.append, True)
    del a, b
    gc.collect()
    return bool(freed)


@pytest.mark.skipif(os.environ.get("SKADV_GC_FREEZE") is not None,
                    reason="the test run sets SKADV_GC_FREEZE itself")
def test_the_import_heap_is_frozen_and_later_cycles_still_collected():
    import gc

    # This process imported skadv with the default: what NumPy, JAX and
    # scikit-learn's imports left is frozen, far more than a few objects.
    assert skadv.get_config()["gc_frozen"] > 50_000
    assert gc.get_freeze_count() >= skadv.get_config()["gc_frozen"] * 0.9
    assert _dropped_cycle_is_freed()


GC_CHILD = textwrap.dedent("""
    import gc, json, sys
    sys.path.insert(0, sys.argv[1])
    import skadv
    from test_config import _dropped_cycle_is_freed
    print(json.dumps({"frozen": gc.get_freeze_count(),
                      "reported": skadv.get_config()["gc_frozen"],
                      "cycle_freed": _dropped_cycle_is_freed()}))
""")


def test_the_environment_variable_skips_the_freeze(tmp_path):
    script = tmp_path / "gc_child.py"
    script.write_text(GC_CHILD)
    environ = dict(os.environ, SKADV_GC_FREEZE="off")
    out = subprocess.run([sys.executable, str(script), os.path.dirname(__file__)],
                         capture_output=True, text=True, env=environ, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r == {"frozen": 0, "reported": 0, "cycle_freed": True}
