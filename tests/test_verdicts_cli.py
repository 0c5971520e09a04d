"""``python -m predefined_prototypes verdicts``: every verdict from the stored results, without
torch, as the pages state them."""

import json
import subprocess
import sys

from predefined_prototypes.reading.claims import book_verdicts
from predefined_prototypes.reading.pages.intro import deciding, intro


def test_verdicts_json_agrees_with_the_book_and_needs_no_torch():
    code = (
        "import sys, runpy; sys.argv = ['p', 'verdicts', '--json'];"
        "exec(\"try:\\n runpy.run_module('predefined_prototypes', run_name='__main__')\\nexcept SystemExit: pass\");"
        "print('TORCH', 'torch' in sys.modules, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "TORCH False" in result.stderr
    printed = json.loads(result.stdout)
    book = book_verdicts()
    assert {k: v["outcome"] for k, v in printed.items()} == {k: v.outcome for k, v in book.items()}
    assert printed["fsdd_claim1"]["reason"] == book["fsdd_claim1"].reason
    assert all(c["mdd"] > 0 for c in printed["fsdd_claim1"]["comparisons"])
    for verdict in printed.values():  # every interval names its level and its family
        assert all(0.9 < c["level"] < 1 and c["family"] for c in verdict["comparisons"])
    cells = intro(book)  # the intro's table states the same outcomes
    assert all(cells[key].startswith(v["outcome"]) for key, v in printed.items())
    claim2 = book["emodb_claim2"]  # the intro names the comparison that decided it
    wanted = {
        "contradicted": "contradicted",
        "reproduced": "met",
        "partly reproduced": "met",
        "not reproduced": "not met",
    }
    if claim2.outcome in wanted:
        assert deciding(claim2).outcome == wanted[claim2.outcome]
