"""``python -m predefined_prototypes verdicts``: every verdict from the stored results, without
torch, as the pages state them."""

import json
import subprocess
import sys

import pytest

from predefined_prototypes.reading.claims import book_verdicts
from predefined_prototypes.reading.pages.intro import deciding, intro


@pytest.mark.slow
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
    assert printed["fsdd_claim1a"]["reason"] == book["fsdd_claim1a"].reason
    assert all(c["mdd"] > 0 for c in printed["fsdd_claim1a"]["comparisons"])
    for key in ("fsdd", "emodb", "speech_commands", "ravdess"):  # Claim 1 in two parts on every corpus
        assert printed[f"{key}_claim1a"]["claim"] == "Claim 1a" and printed[f"{key}_claim1b"]["claim"] == "Claim 1b"
    for verdict in printed.values():  # every interval names its level and its family, and decides
        assert verdict["standing"] in ("confirmatory", "exploratory", "unrecorded")
        for c in verdict["comparisons"]:
            assert 0.9 < c["level"] < 1 and c["family"]
            assert c["differs"] == (c["low"] > 0 or c["high"] < 0)  # one decision language
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
