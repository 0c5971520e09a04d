"""The built book (_build/html, from `make book` or `make test`): chapters, numbers, figures."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup
from conftest import REPO

from predefined_prototypes.reading.runs import load_results
from predefined_prototypes.reading.tables import METHOD_NAMES, summary_table
from predefined_prototypes.storage.manifest import record_files
from predefined_prototypes.storage.results import complete_cells

HTML = REPO / "_build" / "html"
# Every test here reads a book built by `make test` (or builds one): not for `make unit`.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built():
    if not (HTML / "index.html").is_file():
        message = "no built book in _build/html: run `make book` first"
        if os.environ.get("PP_REQUIRE_BOOK"):
            pytest.fail(message)
        pytest.skip(message)
    return HTML


def page(name: str) -> BeautifulSoup:
    return BeautifulSoup((HTML / "book" / f"{name}.html").read_text(), "html.parser")


def chapters() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for c in toc["chapters"]]


def test_every_chapter_is_built_with_its_title(built):
    for chapter in chapters():
        source = (REPO / f"{chapter}.md").read_text()
        title = next(line[2:].strip() for line in source.splitlines() if line.startswith("# "))
        html = built / f"{chapter}.html"
        assert html.is_file(), f"{chapter} was not built"
        heading = BeautifulSoup(html.read_text(), "html.parser").find("h1")
        assert heading is not None and title.split(":")[0] in heading.get_text()


def test_no_execution_errors_or_unresolved_glue(built):
    for chapter in chapters():
        text = (built / f"{chapter}.html").read_text()
        assert "Traceback" not in text, f"{chapter} shows a Python traceback"
        assert "{glue:" not in text, f"{chapter} has an unresolved glue reference"


# Sentences a reviewer found stale once: each was true of an earlier state of the store.
STALE = (
    "two offline corpora",
    "Speech Commands were not run here",
    "given once every run is stored",
    "Stored so far: 96 of 96",
    "Stored so far: 150 of 150",
)


def test_no_stale_sentence_and_each_script_once(built):
    for chapter in chapters():
        html = (built / f"{chapter}.html").read_text()
        text = " ".join(BeautifulSoup(html, "html.parser").get_text(" ").split())
        assert not [s for s in STALE if s in text], f"{chapter} says something stale"
        scripts = [str(s) for s in BeautifulSoup(html, "html.parser").find_all("script")]
        assert len(scripts) == len(set(scripts)), f"{chapter} emits a script twice"
        assert html.count("const THEBE_JS_URL") <= 1


def test_results_table_matches_the_csv(built):
    """Every cell of the results page's table equals the table recomputed from results/ (same
    complete (fold, seed) cells, same formatting)."""
    table = page("results").find("table", class_="dataframe")
    assert table is not None, "the results table is missing"
    cells = [[td.get_text(strip=True) for td in tr.find_all(["th", "td"])] for tr in table.find_all("tr")]
    shown, dataset = {}, None
    for row in cells[2:]:  # two header rows (columns, then index names)
        if len(row) == 7:
            dataset, row = row[0], row[1:]
        shown[(dataset, row[0])] = row[1:]
    expected = {}
    for dataset, sweep in (("fsdd", "main-fsdd"), ("emodb", "main-emodb")):
        for r in summary_table(complete_cells(load_results(sweep))).to_dict("records"):
            method = r.pop("method")
            expected[(dataset, method)] = [str(v) for v in r.values()]
    assert shown == expected
    assert {method for _, method in shown} >= {METHOD_NAMES["ce"], METHOD_NAMES["prototypes"]}


def test_tables_speak_in_display_names_without_row_numbers(built):
    """No header is a code name (a word joined by an underscore, such as p_adjusted) and no table
    opens with row numbers 0, 1, 2: tables pass through ``tables.shown`` or name their columns."""
    for name in chapters():
        for number, table in enumerate(page(Path(name).name).find_all("table"), 1):
            headers = [th.get_text(" ", strip=True) for th in table.find_all("th")]
            code = [h for h in headers if re.search(r"[a-z]_[a-z]", h)]
            assert not code, f"{name}, table {number}: code names as headers {code[:4]}"
            first = [
                r.find(["th", "td"]).get_text(strip=True) for r in table.find_all("tr")[1:4] if r.find(["th", "td"])
            ]
            assert first != ["0", "1", "2"], f"{name}, table {number}: row numbers as its first column"


def test_every_figure_is_present(built):
    expected_figures = {
        "method": 1,
        "results": 1,
        "geometry": 2,
        "ablation-prototypes": 1,
        "ablation-factors": 1,
        "disentanglement": 2,
    }
    for name, minimum in expected_figures.items():
        images = page(name).find_all("img")
        assert len(images) >= minimum, f"{name}: {len(images)} figure(s)"
        for image in images:
            target = (built / "book" / image["src"]).resolve()
            assert target.is_file() and target.stat().st_size > 5000, f"{name}: missing figure {image['src']}"


def chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed")
    return browser


# A headless Chromium that reaches no network: every request but file:// fails.
OFFLINE = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]

# Before any script of the page: collect its errors (an uncaught exception, a script that fails
# to parse, such as a constant declared twice).
CATCH = (
    """<script>window.__errors = []; window.addEventListener("error", e => window.__errors.push(e.message));</script>"""
)

# After the page's scripts ran: the rendered text; the tables wider than a box that does not
# scroll; the elements that run past the viewport outside any scroll box; every image or table
# without a caption (MyST-NB's figure, or a table's own caption); and the errors caught.
PROBE = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const scrolls = el => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const inScrollBox = el => { for (let a = el.parentElement; a; a = a.parentElement) if (scrolls(a)) return true; return false; };
  const article = document.querySelector("article");
  const wide = [...article.querySelectorAll("table")].filter(t => {
    const box = t.closest(".output, .cell_output") || t.parentElement;
    return t.getBoundingClientRect().width > box.getBoundingClientRect().width + 1 && !inScrollBox(t);
  }).length;
  const overflow = [...article.querySelectorAll("*")].filter(el =>
    el.getBoundingClientRect().right > window.innerWidth + 1 && !inScrollBox(el)).map(el => el.tagName + "." + el.className).slice(0, 5);
  const captioned = el => { const f = el.closest("figure"); const c = f ? f.querySelector("figcaption") : el.querySelector(":scope > caption");
                            return c !== null && c.innerText.trim().length > 20; };
  const uncaptioned = [...article.querySelectorAll("img, table")].filter(el => !captioned(el)).map(el => el.tagName + " " + (el.alt || el.innerText.slice(0, 60)));
  const badAlt = [...article.querySelectorAll("img")].filter(el => !el.alt || /[.](png|svg|jpe?g)$|^[0-9a-f]{20,}/.test(el.alt)).length;
  document.title = JSON.stringify({text: article.innerText, wide, overflow, uncaptioned, badAlt, errors: window.__errors});
}, 4000));
</script>
"""


def rendered(page_html: Path, tmp_path: Path, width: int = 1280) -> dict:
    """Load a built page offline at ``width`` px (with CATCH and PROBE added) and return what
    PROBE measured."""
    import json

    probe = page_html.with_name(f".probe-{page_html.name}")
    html = page_html.read_text()
    probe.write_text(html.replace("<head>", "<head>" + CATCH, 1).replace("</body>", PROBE + "</body>"))
    try:
        dom = subprocess.run(
            [
                chromium(),
                *OFFLINE,
                f"--user-data-dir={tmp_path / 'profile'}",
                f"--window-size={width},2000",
                "--virtual-time-budget=15000",
                "--dump-dom",
                probe.as_uri(),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    finally:
        probe.unlink()
    title = BeautifulSoup(dom, "html.parser").title.string
    return json.loads(title)


@pytest.mark.parametrize("name", chapters())
def test_pages_render_math_and_fit_their_tables_offline(built, tmp_path, name):
    html = built / f"{name}.html"
    assert "cdn.jsdelivr" not in html.read_text() and (built / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
    shown = rendered(html, tmp_path)
    for delimiter in ("\\(", "\\)", "\\[", "$$"):
        assert delimiter not in shown["text"], f"{name}: raw TeX {delimiter} in the rendered page"
    assert shown["wide"] == 0, f"{name}: {shown['wide']} table(s) wider than the text column"
    assert not shown["errors"], f"{name}: console errors {shown['errors']}"
    assert not shown["uncaptioned"], f"{name}: figures or tables without a caption: {shown['uncaptioned']}"
    assert shown["badAlt"] == 0, f"{name}: {shown['badAlt']} image(s) whose alt text is a file name or empty"


@pytest.mark.parametrize("name", chapters())
def test_pages_fit_a_phone(built, tmp_path, name):
    """At 390 px (a phone) nothing runs past the screen but inside a box that scrolls."""
    shown = rendered(built / f"{name}.html", tmp_path, width=390)
    assert not shown["overflow"], f"{name}: wider than a phone outside a scroll box: {shown['overflow']}"
    assert shown["wide"] == 0, f"{name}: {shown['wide']} table(s) wider than their box at 390 px"


def test_results_page_screenshot(built, tmp_path):
    browser = chromium()
    shot = tmp_path / "results.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1280,2400",
            (built / "book" / "results.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2400, 1280)
    assert pixels.std() > 10, "the screenshot is blank"
    assert (pixels < 100).mean() > 0.005, "no text or figure rendered"


PROBE_PAGE = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  name: python3
---

# Probe

```{code-cell} ipython3
import uuid
from predefined_prototypes.reading.runs import load_results
print(f"ROWS={len(load_results('main-fsdd'))} RUN={uuid.uuid4().hex}")
```
"""


def test_pages_follow_their_tables_and_a_broken_table_fails_the_build(tmp_path):
    """The book's own configuration, on a one-page book reading a copy of results/: a page whose
    prose changed is read from the execution cache (the same execution); a changed table
    re-executes it (no stale numbers); a malformed one fails the build, naming it."""
    book = tmp_path / "book-root"
    shutil.copytree(REPO / "book" / "_ext", book / "book" / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "book" / "_static", book / "book" / "_static")
    shutil.copy(REPO / "_config.yml", book / "_config.yml")
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/probe\n")
    (book / "book" / "probe.md").write_text(PROBE_PAGE)
    results = book / "results"
    shutil.copytree(REPO / "results" / "main-fsdd", results / "main-fsdd")
    table = results / "main-fsdd" / "full.csv"
    env = {**os.environ, "PP_RESULTS_DIR": str(results)}
    jupyter_book = Path(sys.executable).parent / "jupyter-book"

    def build():
        done = subprocess.run(
            [str(jupyter_book), "build", str(book)], capture_output=True, text=True, env=env, timeout=300
        )
        html = book / "_build" / "html" / "book" / "probe.html"
        return done, html.read_text() if html.is_file() else ""

    def execution(html):
        return re.search(r"ROWS=(\d+) RUN=(\w+)", html).groups()

    rows = len(pd.read_csv(table))
    done, html = build()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    first = execution(html)
    assert first[0] == str(rows)
    page = book / "book" / "probe.md"
    page.write_text(page.read_text() + "\nMore prose.\n")  # the page is re-read, its code is not re-run
    done, html = build()
    assert done.returncode == 0 and "More prose." in html, done.stdout[-3000:]
    assert execution(html) == first
    pd.read_csv(table).head(7).to_csv(table, index=False)  # a table changes (as the store writes it: its
    record_files(table.parent, [table])  # digest recorded), the page does not
    done, html = build()
    assert done.returncode == 0, done.stdout[-3000:]
    assert execution(html)[0] == "7" and execution(html)[1] != first[1]
    pd.read_csv(table).drop(columns=["accuracy"]).to_csv(table, index=False)
    done, _ = build()  # malformed: named before its digest is checked
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "main-fsdd/full.csv lacks column(s) accuracy" in output, output[-3000:]


def test_case_study_page_builds_without_the_data(tmp_path):
    """The book reads only results/: where the datasets are absent, the case study still builds,
    its audio players replaced by a one-line note."""
    book = tmp_path / "book-root"
    shutil.copytree(REPO / "book" / "_ext", book / "book" / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "book" / "_static", book / "book" / "_static")
    shutil.copy(REPO / "_config.yml", book / "_config.yml")
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/disentanglement\n")
    shutil.copy(REPO / "book" / "disentanglement.md", book / "book" / "disentanglement.md")
    empty = tmp_path / "no-data"
    empty.mkdir()
    env = {**os.environ, "PP_DATA_DIR": str(empty), "PP_RESULTS_DIR": str(REPO / "results")}
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    done = subprocess.run([str(jupyter_book), "build", str(book)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    html = (book / "_build" / "html" / "book" / "disentanglement.html").read_text()
    assert "Traceback" not in html
    assert "Audio players need EmoDB" in html and "<audio" not in html


def test_case_study_plays_the_example_where_the_data_is(built):
    if not (Path(os.environ.get("PP_DATA_DIR", "")) / "emodb" / "wav").is_dir():
        pytest.skip("EmoDB is not under PP_DATA_DIR: the book was built without the audio")
    html = (built / "book" / "disentanglement.html").read_text()
    assert html.count("<audio") == 5  # the clip and its four edits
