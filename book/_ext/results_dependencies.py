"""Sphinx extension: a page that runs code is rebuilt whenever a results table changes.

Sphinx re-reads only the pages whose own source changed, so after a sweep wrote new rows a page
that reads ``results/`` would keep showing the old numbers. Each page with code cells is made to
depend on every table under ``results/`` and on each sweep's folder (whose time changes when a
table is added or atomically replaced).
"""

import os
from pathlib import Path


def note_results_tables(app, docname, source):
    if "{code-cell}" not in source[0]:
        return
    results = Path(os.environ.get("PP_RESULTS_DIR") or Path(app.srcdir) / "results")  # as report.RESULTS
    for path in sorted([*results.glob("*/"), *results.glob("*/*.csv")]):
        app.env.note_dependency(str(path))


def setup(app):
    app.connect("source-read", note_results_tables)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
