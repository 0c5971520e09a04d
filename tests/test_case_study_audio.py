"""The case study's players play each version of the clip at its own level."""

import pytest
from conftest import shared_dataset

from predefined_prototypes.data.audio import read_audio
from predefined_prototypes.reading.case_study import level_db, players
from predefined_prototypes.run.interventions import apply_edit
from predefined_prototypes.run.schema import EDITS


@pytest.mark.slow
def test_each_edit_plays_at_its_stated_level_against_the_original():
    path = sorted((shared_dataset("emodb") / "wav").glob("*.wav"))[0]
    wave = read_audio(path)[:48000]
    versions = {"original": wave} | {edit.name: apply_edit(wave, edit)[:48000] for edit in EDITS}
    played = players(versions)
    original = level_db(played["original"])
    for edit in EDITS:
        stated = edit.amount if edit.factor == "loudness" else 0.0  # a pitch shift keeps the level
        assert level_db(played[edit.name]) - original == pytest.approx(stated, abs=0.5), edit.name
