"""Package configuration: where compiled XLA programs persist between processes.

Most of a first call's time is JAX tracing the attack and XLA compiling it
(about 2.7 s of a 2.9 s first adversarial-training epoch on two cores); the
compiled program itself does not depend on the process. skadv therefore
turns on JAX's persistent compilation cache when it is imported, in a
per-user cache folder, so the second process that runs the same attack on
the same shapes loads the program from disk instead of compiling it.

- **Where.** ``$SKADV_CACHE_DIR`` if set; else ``platformdirs``' user cache
  folder when installed; else the platform's convention --
  ``%LOCALAPPDATA%\\skadv\\Cache`` on Windows, ``~/Library/Caches/skadv`` on
  macOS, ``$XDG_CACHE_HOME/skadv`` (``~/.cache/skadv``) elsewhere -- with
  the programs in its ``jax`` sub-folder.
- **Off.** ``SKADV_CACHE_DIR`` set to ``""``, ``0``, ``off``, ``false`` or
  ``none``, or ``skadv.set_config(cache_dir=None)``.
- **Yours first.** A cache folder already configured in JAX (the
  ``JAX_COMPILATION_CACHE_DIR`` environment variable, or
  ``jax.config.update("jax_compilation_cache_dir", ...)`` before skadv is
  imported) is left as it is, with its thresholds: skadv only reports it.
- **Never a wrong program.** The entries are JAX's own, keyed as JAX keys
  them: a hash of the lowered program, the compile options, the backend and
  device, and the jax/jaxlib versions, so a change to any of them misses
  the cache and compiles. Entries are compressed; a half-written entry that
  a concurrent process reads fails to decompress, JAX warns and compiles
  instead. Two processes writing the same key write the same program.
- **Small programs too.** JAX caches only programs that took at least a
  second to compile by default; most of skadv's CPU programs take 0.1-1 s,
  and together they are the first call's wait, so skadv caches every
  program it compiles (``jax_persistent_cache_min_compile_time_secs = 0``).

As JAX itself warns, the cache is trusted code: do not point it at a folder
that others can write to.

The import heap is frozen too. ``import skadv`` leaves about 200,000 objects
that Python's cyclic garbage collector tracks (modules, functions, classes of
NumPy, JAX, SciPy and scikit-learn), alive until the process exits. The
first full collection after the import comes due while the first attack is
traced and rescans them all: about 0.1 s of a 0.3 s first PGD call with a
warm cache. skadv therefore calls :func:`gc.freeze` once, at the end of its
import, so that collections skip them (objects created later are collected
as before). The price: an object that already existed before ``import
skadv`` and later becomes part of an unreachable reference cycle is not
freed (reference counting still frees everything else).
``SKADV_GC_FREEZE=0`` (or ``off``, ``false``, ...) skips the freeze.
"""

import gc
import os
import sys
from pathlib import Path

import jax

__all__ = ["get_config", "set_config", "default_cache_dir", "freeze_import_heap"]

_OFF = {"", "0", "off", "false", "no", "none"}
_ENV = "SKADV_CACHE_DIR"
_GC_ENV = "SKADV_GC_FREEZE"

# cache_dir: the folder skadv gave JAX (None: off, or the user's own);
# owner: "skadv" when skadv set JAX's folder, "jax" when the user had.
# gc_frozen: objects the import froze (0: not frozen).
_state = {"cache_dir": None, "owner": None, "gc_frozen": 0}


def default_cache_dir():
    """The per-user folder where skadv keeps compiled programs by default.

    Returns
    -------
    path : str
        ``<user cache folder>/skadv/jax`` following the platform's
        conventions (see the module docstring).
    """
    try:
        from platformdirs import user_cache_dir  # optional
    except ImportError:
        if sys.platform == "win32":
            base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
            root = base / "skadv" / "Cache"
        elif sys.platform == "darwin":
            root = Path.home() / "Library" / "Caches" / "skadv"
        else:
            base = os.environ.get("XDG_CACHE_HOME", "")
            # The XDG spec: a relative $XDG_CACHE_HOME is invalid and ignored.
            root = (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "skadv"
    else:
        root = Path(user_cache_dir("skadv", appauthor=False))
    return str(root / "jax")


def _resolve(cache_dir):
    if cache_dir is None or cache_dir is False:
        return None
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError("`cache_dir` must be a path (str or os.PathLike), None or False "
                        f"to turn the compilation cache off. Got {cache_dir!r} of type "
                        f"{type(cache_dir).__name__} instead.")
    path = os.fspath(cache_dir)
    if path.strip().lower() in _OFF:
        return None
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"`cache_dir` must be a folder. Got {path!r}, which is a file, "
                         "instead: pass another path, or None to turn the cache off.")
    return path


def _apply(path):
    """Point JAX's persistent cache at ``path`` (None: off), effective at once."""
    from jax._src import compilation_cache

    if path is not None:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    jax.config.update("jax_compilation_cache_dir", path)
    # JAX opens its cache once, at the first compilation: re-open it so a
    # change made after that takes effect for the next program compiled.
    compilation_cache.reset_cache()
    _state["cache_dir"] = path
    _state["owner"] = None if path is None else "skadv"


def setup_cache():
    """At import: turn the cache on as ``$SKADV_CACHE_DIR`` says, unless the
    user already configured a folder in JAX."""
    if jax.config.jax_compilation_cache_dir:
        _state["cache_dir"] = jax.config.jax_compilation_cache_dir
        _state["owner"] = "jax"
        return
    env = os.environ.get(_ENV)
    try:
        path = _resolve(default_cache_dir() if env is None else env)
    except ValueError as exc:
        import warnings

        warnings.warn(f"${_ENV}: {exc} The compilation cache is off.", RuntimeWarning,
                      stacklevel=2)
        path = None
    if path is not None:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:  # a read-only home: run without the cache
            path = None
    _apply(path)


def freeze_import_heap():
    """At the end of the import: :func:`gc.freeze` what the imports left, once,
    unless ``$SKADV_GC_FREEZE`` says off (see the module docstring)."""
    if _state["gc_frozen"] or os.environ.get(_GC_ENV, "1").strip().lower() in _OFF:
        return
    before = gc.get_freeze_count()
    gc.freeze()
    _state["gc_frozen"] = gc.get_freeze_count() - before


def set_config(*, cache_dir=...):
    """Set skadv's global configuration.

    Parameters
    ----------
    cache_dir : str, os.PathLike, None or False, optional
        Folder of the persistent compilation cache; ``None`` or ``False``
        (or ``""``, ``"0"``, ``"off"``) turns it off. Takes effect for the
        next program compiled; programs already compiled in this process
        stay in memory. Overrides a folder configured in JAX before.

    Raises
    ------
    TypeError
        If ``cache_dir`` is not a path, None or False.
    ValueError
        If ``cache_dir`` names an existing file.

    Examples
    --------
    >>> import skadv
    >>> before = skadv.get_config()["cache_dir"]
    >>> skadv.set_config(cache_dir=None)
    >>> skadv.get_config()["cache_dir"] is None
    True
    >>> skadv.set_config(cache_dir=before)
    """
    if cache_dir is not ...:
        path = _resolve(cache_dir)
        if path is not None:
            os.makedirs(path, exist_ok=True)
        _apply(path)


def get_config():
    """skadv's global configuration.

    Returns
    -------
    config : dict
        ``cache_dir``: the folder of JAX's persistent compilation cache
        (``None`` when off), whoever configured it. ``gc_frozen``: how many
        objects ``import skadv`` moved out of the garbage collector's reach
        (0 with ``SKADV_GC_FREEZE=0``; see :mod:`skadv._config`).
    """
    return {"cache_dir": _state["cache_dir"], "gc_frozen": _state["gc_frozen"]}
