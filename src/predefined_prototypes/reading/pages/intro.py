"""The introduction's glue: each verdict in one sentence."""

from __future__ import annotations

from IPython.display import Markdown


def intro(verdicts: dict) -> dict:
    """The intro's verdict table cells (bold outcome, with the deciding difference where there is
    one) as Markdown, and the evidence Claim 1 on FSDD rests on."""

    values = {}
    for key in ("fsdd_claim1", "emodb_claim1"):
        v = verdicts[key]
        values[key] = Markdown(f"**{v['verdict']}**" + (f" ({v['short']} points)" if v["short"] else ""))
    for key in ("fsdd_speed", "emodb_speed"):
        values[key] = Markdown(f"**{verdicts[key]['verdict']}**")
    claim2 = verdicts["emodb_claim2"]
    tests = claim2["tests"]
    met = ", ".join(f"{r.factor} {r.criterion}" for r in tests.itertuples() if r.met) or "none"
    values["emodb_claim2"] = Markdown(f"**{claim2['verdict']}** (criteria met: {met}; of {len(tests)})")
    values["fsdd_claim1_evidence"] = verdicts["fsdd_claim1"]["evidence"]
    values["fsdd_placement"] = verdicts["fsdd_claim1"]["placement"]
    values["emodb_claim2_evidence"] = claim2["evidence"]
    values["emodb_claim2_fit"] = claim2.get("fit", "")
    return values
