"""Utilities. Internal (not public API), except :func:`dask_cluster`."""

from ._parallel import dask_cluster

__all__ = ["dask_cluster"]
