"""Sphinx extension: a page is re-executed exactly when something it reads has changed.

Pages are executed through jupyter-cache (``execute_notebooks: cache``), whose key is a page's
code cells and their options. A page also reads ``results/``, the package, the sweep files, the
benchmark tables and the data reports, none of which is in that key: a cache keyed on the code
alone would keep showing old numbers after a sweep rewrote a table. So at the start of a build the digest of those inputs is
computed, and

- each page's first code cell gets one more option, ``inputs: <digest>``, so that the cache key
  changes with any input and a changed table re-executes the page;
- every page with code depends on a stamp file holding the digest, rewritten only when the digest
  changes, so Sphinx re-reads those pages (it otherwise re-reads only pages whose source changed).

An unchanged book is then read from the cache in seconds.
"""

import hashlib
import os
import re
from pathlib import Path

# What pages read besides their own source, relative to the book's root.
INPUTS = ("src/predefined_prototypes", "configs", "benchmarks", "reports")
FIRST_CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n", re.MULTILINE)


def results_dir(srcdir: str) -> Path:
    return Path(os.environ.get("PP_RESULTS_DIR") or Path(srcdir) / "results")  # as storage.results.RESULTS


def inputs_digest(srcdir: str) -> str:
    """A digest of every file the pages may read (names and bytes), in a fixed order."""
    root = Path(srcdir)
    folders = [results_dir(srcdir), *(root / name for name in INPUTS)]
    digest = hashlib.sha256()
    for folder in folders:
        files = sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix != ".pyc" and not p.name.startswith(".")
        )
        for path in files:
            digest.update(str(path.relative_to(folder.parent)).encode() + b"\0" + path.read_bytes())
    # Which datasets a build can read (the case study plays its example only where EmoDB is): a
    # page built without them must not be served from the cache to a build that has them.
    data = Path(os.environ.get("PP_DATA_DIR") or Path.home() / ".cache" / "predefined_prototypes")
    present = sorted(p.name for p in data.iterdir() if p.is_dir()) if data.is_dir() else []
    digest.update(f"data: {data} {present}".encode())
    return digest.hexdigest()[:16]


def note_inputs(app):
    app.page_inputs = inputs_digest(app.srcdir)
    stamp = Path(app.doctreedir) / "page-inputs.digest"
    if not stamp.exists() or stamp.read_text() != app.page_inputs:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(app.page_inputs)
    app.page_inputs_stamp = str(stamp)


def key_page_on_inputs(app, docname, source):
    if "{code-cell}" not in source[0]:
        return
    app.env.note_dependency(app.page_inputs_stamp)
    match = FIRST_CODE_CELL.search(source[0])
    at = match.end()
    if source[0][at : at + 4] == "---\n":  # options as a YAML block (a captioned output): one more key
        source[0] = f"{source[0][: at + 4]}inputs: {app.page_inputs}\n{source[0][at + 4 :]}"
    else:
        source[0] = f"{source[0][:at]}:inputs: {app.page_inputs}\n{source[0][at:]}"


def setup(app):
    app.connect("builder-inited", note_inputs)
    app.connect("source-read", key_page_on_inputs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
