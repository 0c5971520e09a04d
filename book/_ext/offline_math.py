"""Sphinx extension: math typeset by a MathJax copied into the built book, so its pages render
formulas with no network (a reviewer's laptop offline, an archived copy). ``_config.yml`` points
``mathjax_path`` at ``_static/mathjax/tex-mml-chtml.js``; the files come from the
``sphinx-mathjax-offline`` package (MathJax 3, a pinned dependency of the book extra).
"""

import importlib.util
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util.fileutil import copy_asset

PACKAGE = "sphinx-mathjax-offline"  # its import name has hyphens: found by spec, not imported


def mathjax_folder() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ExtensionError(f"the book's MathJax comes from the {PACKAGE} package: pip install -e '.[book]'")
    return Path(spec.origin).parent / "static" / "mathjax"


def copy_mathjax(app, exception):
    if exception is None and app.builder.format == "html":
        copy_asset(str(mathjax_folder()), str(Path(app.outdir) / "_static" / "mathjax"))


def setup(app):
    mathjax_folder()  # fail at the start of a build, not after it
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
