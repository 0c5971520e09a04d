"""Stored results as the book reads them: the store's loaders (``storage.results``) with each run's
method (``methods.with_methods``), and the methods a sweep plans. Pages and verdicts load runs here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..storage import results
from ..storage.results import CONFIGS, RESULTS
from .methods import method_of, with_methods


def load_results(
    sweep: str, profile: str | None = None, results_dir: str | Path = RESULTS, configs_dir: str | Path = CONFIGS
) -> pd.DataFrame:
    """``results.load_results`` with a ``method`` column."""
    return with_methods(results.load_results(sweep, profile, results_dir, configs_dir))


def load_profile(
    sweep: str, results_dir: str | Path = RESULTS, configs_dir: str | Path = CONFIGS
) -> tuple[pd.DataFrame, bool]:
    """``results.load_profile`` with a ``method`` column."""
    table, complete = results.load_profile(sweep, results_dir, configs_dir)
    return with_methods(table), complete


def complete_settings(
    sweep: str, keys: tuple[str, ...], results_dir: str | Path = RESULTS, configs_dir: str | Path = CONFIGS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``results.complete_settings`` with a ``method`` column."""
    table, status = results.complete_settings(sweep, keys, results_dir, configs_dir)
    return with_methods(table), status


def planned_methods(sweep: str, profile: str = "full") -> set[str]:
    """The methods (``methods.method_of``) the sweep's profile plans runs of, from its recorded plan."""
    return {method_of(run.settings) for run in results.planned(sweep, profile)}
