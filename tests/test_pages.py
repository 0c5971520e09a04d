"""The book's pages stay thin: prose and a few calls into the package, linted like the package."""

import ast
import subprocess
import sys

import nbformat
import pytest
from conftest import REPO
from myst_nb.core.read import read_myst_markdown_notebook
from myst_parser.config.main import MdParserConfig

PAGES = sorted((REPO / "book").glob("*.md"))
PAGE_CODE_LINES = 200  # across all pages


def page_notebook(page):
    notebook = read_myst_markdown_notebook(page.read_text(), MdParserConfig())
    notebook.metadata["language_info"] = {"name": "python"}  # ruff skips a notebook not marked Python
    return notebook


def code_lines(page) -> list[str]:
    cells = [c.source for c in page_notebook(page).cells if c.cell_type == "code"]
    return [line for source in cells for line in source.splitlines() if line.strip()]


def test_pages_hold_little_code_and_define_nothing():
    lines = {page.name: code_lines(page) for page in PAGES}
    assert sum(map(len, lines.values())) <= PAGE_CODE_LINES, {name: len(code) for name, code in lines.items()}
    defined = [(name, line) for name, code in lines.items() for line in code if line.startswith(("def ", "class "))]
    assert not defined, f"define these in src/predefined_prototypes, not on a page: {defined}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_code_passes_the_package_linter(page, tmp_path):
    notebook = tmp_path / f"{page.stem}.ipynb"
    nbformat.write(page_notebook(page), notebook)
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--config", str(REPO / "pyproject.toml"), str(notebook)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# Pages that compute with torch, and why; every other page reads tables only, so its kernel
# starts without loading torch (seconds per page on a cold build).
TORCH_PAGES = {
    "method": "draws the prototype constructions themselves",
    "disentanglement": "splits margins with each run's classifier and edits the example's audio",
}


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_a_page_that_reads_tables_does_not_load_torch(page):
    cells = [c.source for c in page_notebook(page).cells if c.cell_type == "code"]
    imports = [ast.unparse(n) for c in cells for n in ast.parse(c).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    probe = "\n".join([*imports, "import sys", "print('torch' in sys.modules)"])
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO / "book")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(page.stem in TORCH_PAGES), (page.stem, TORCH_PAGES.get(page.stem))


def test_every_figure_the_book_shows_passes_the_legibility_check():
    # figures.show refuses a figure whose smallest text reads under 9 pt in the book's column; a
    # plain plt.show() anywhere on the reading side would skip that check.
    reading = sorted((REPO / "src" / "predefined_prototypes" / "reading").rglob("*.py"))
    plain = [p.name for p in [*PAGES, *reading] if "plt.show()" in p.read_text() and p.name != "figures.py"]
    assert not plain, f"call figures.show() instead of plt.show() in {plain}"
    assert sum("figures.show()" in "\n".join(code_lines(page)) for page in PAGES) >= 8


def test_the_legibility_check_refuses_small_text_and_passes_the_book_sizes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from predefined_prototypes.reading import figures

    fig, ax = plt.subplots(figsize=(figures.WIDTH, 3))
    ax.set_xlabel("at the book's sizes")
    figures.show(fig)  # passes: 9.5-pt ticks read as 9.9 pt
    fig, ax = plt.subplots(figsize=(figures.WIDTH, 3))
    ax.set_title("a small title", fontsize=8)
    with pytest.raises(ValueError, match="'a small title' at 8.3 pt"):
        figures.show(fig)
    fig, ax = plt.subplots(figsize=(2 * figures.WIDTH, 3))  # scaled to half in the column
    ax.set_xlabel("twice as wide")
    with pytest.raises(ValueError, match="enlarge its font or narrow the figure"):
        figures.show(fig)
    plt.close("all")
