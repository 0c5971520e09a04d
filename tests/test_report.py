"""Reading stored results: a broken table is an error naming the file and the fix, never blanks."""

import pandas as pd
import pytest

from conftest import REPO
from predefined_prototypes.report import REQUIRED_COLUMNS, ResultsError, load_results


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results" / "main-fsdd"
    folder.mkdir(parents=True)
    (folder / "full.csv").write_bytes((REPO / "results" / "main-fsdd" / "full.csv").read_bytes())
    return tmp_path / "results"


def test_full_profile_is_preferred_and_quick_is_the_fallback(results):
    assert set(load_results("main-fsdd", results_dir=results)["profile"]) == {"full"}
    quick = pd.read_csv(results / "main-fsdd" / "full.csv").head(3).assign(profile="quick")
    quick.to_csv(results / "main-fsdd" / "quick.csv", index=False)
    assert len(load_results("main-fsdd", "quick", results_dir=results)) == 3
    (results / "main-fsdd" / "full.csv").unlink()
    assert set(load_results("main-fsdd", results_dir=results)["profile"]) == {"quick"}


def test_missing_empty_and_malformed_tables_name_the_file(results):
    path = results / "main-fsdd" / "full.csv"
    with pytest.raises(ResultsError, match=r"no results table at .*main-emodb/quick.csv: run python -m"):
        load_results("main-emodb", results_dir=results)
    table = pd.read_csv(path)
    table.drop(columns=["accuracy", "seed"]).to_csv(path, index=False)
    with pytest.raises(ResultsError, match=r"main-fsdd/full.csv lacks column\(s\) seed, accuracy: rebuild it with"):
        load_results("main-fsdd", results_dir=results)
    table.head(0).to_csv(path, index=False)
    with pytest.raises(ResultsError, match="full.csv has no rows"):
        load_results("main-fsdd", results_dir=results)
    path.write_text("")
    with pytest.raises(ResultsError, match="full.csv is empty"):
        load_results("main-fsdd", results_dir=results)


def test_every_stored_table_has_the_required_columns():
    for table in sorted((REPO / "results").glob("*/*.csv")):
        columns = set(pd.read_csv(table, nrows=1).columns)
        assert set(REQUIRED_COLUMNS) <= columns, table
