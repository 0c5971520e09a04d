"""Reading stored results: a broken table is an error naming the file and the fix, never blanks."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from predefined_prototypes.reading.runs import load_results
from predefined_prototypes.reading.tables import ResultsError
from predefined_prototypes.storage.manifest import record_files
from predefined_prototypes.storage.results import REQUIRED_COLUMNS


@pytest.fixture
def results(tmp_path):
    shutil.copytree(REPO / "results" / "main-fsdd", tmp_path / "results" / "main-fsdd")
    return tmp_path / "results"


def test_full_profile_is_preferred_and_quick_is_the_fallback(results, tmp_path):
    from predefined_prototypes.storage.plans import Run, record_plan

    elsewhere = {"results_dir": results, "configs_dir": tmp_path}  # a sweep file kept elsewhere: its record counts
    assert set(load_results("main-fsdd", **elsewhere)["profile"]) == {"full"}
    full = pd.read_csv(results / "main-fsdd" / "full.csv", dtype={"run_id": str})
    quick = full.head(3).assign(profile="quick")
    quick.to_csv(results / "main-fsdd" / "quick.csv", index=False)
    planned = {
        p: [Run("main-fsdd", p, rid, {}, "") for rid in t["run_id"]] for p, t in (("quick", quick), ("full", full))
    }
    record_plan(results / "main-fsdd", b"a sweep file", planned)
    assert len(load_results("main-fsdd", "quick", **elsewhere)) == 3
    (results / "main-fsdd" / "full.csv").unlink()
    assert set(load_results("main-fsdd", **elsewhere)["profile"]) == {"quick"}


@pytest.mark.slow
def test_only_rows_of_the_current_plan_are_shown(results):
    path = results / "main-fsdd" / "full.csv"
    table = pd.read_csv(path, dtype={"run_id": str})
    stale = table.head(2).assign(run_id=["0123456789ab", "ba9876543210"], epochs=99)
    pd.concat([table, stale]).to_csv(path, index=False)
    record_files(path.parent, [path])  # as the store writes a table that keeps an earlier plan's rows
    shown = load_results("main-fsdd", results_dir=results)
    assert len(shown) == len(table) and 99 not in set(shown["epochs"])
    assert {"ce", "prototypes"} <= set(shown["method"])


@pytest.mark.slow
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
        load_results("main-fsdd", "full", results_dir=results)
    path.write_text("")
    with pytest.raises(ResultsError, match="full.csv is empty"):
        load_results("main-fsdd", results_dir=results)


def test_every_stored_table_has_the_required_columns():
    for table in sorted((REPO / "results").glob("*/*.csv")):
        columns = set(pd.read_csv(table, nrows=1).columns)
        assert set(REQUIRED_COLUMNS) <= columns, table


def constructed(shifts, seeds=3, noise=0.0):
    """6-fold results of 'ce' and 'p': 'p' beats 'ce' by shifts[f] on fold f, in every seed."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    for f, shift in enumerate(shifts):
        for seed in range(seeds):
            base = 0.6 + 0.05 * f + noise * rng.standard_normal()
            rows += [
                {"method": "ce", "fold": str(f), "seed": seed, "accuracy": base},
                {"method": "p", "fold": str(f), "seed": seed, "accuracy": base + shift},
            ]
    return pd.DataFrame(rows)


def test_fold_level_statistics_on_constructed_results():
    from predefined_prototypes.reading.stats import paired_by_fold

    better = paired_by_fold(constructed([0.04, 0.05, 0.06, 0.05, 0.04, 0.06]), "accuracy", "p", "ce")
    assert better["folds"] == 6 and better["seeds"] == 3 and better["wins"] == 6
    assert abs(better["mean"] - 0.05) < 1e-12 and 0 < better["low"] < 0.05 < better["high"]
    assert abs(better["p_wilcoxon"] - 0.03125) < 1e-9  # exact two-sided, 6 of 6 positive
    # Large seed-to-seed noise within each fold is averaged away, not counted as 18 pairs.
    mixed = paired_by_fold(constructed([0.05, -0.05, 0.04, -0.04, 0.05, -0.05], noise=0.05), "accuracy", "p", "ce")
    assert mixed["folds"] == 6 and mixed["low"] < 0 < mixed["high"] and mixed["p_wilcoxon"] > 0.5
    # Cells one method lacks are left out of both.
    partial = constructed([0.04, 0.05, 0.06, 0.05, 0.04, 0.06])
    partial = partial[~((partial["method"] == "p") & (partial["seed"] == 2))]
    assert paired_by_fold(partial, "accuracy", "p", "ce")["seeds"] == 2


def main_comparison(prototypes_gain, control_gain, noise=0.005, seeds=3):
    """6 folds of ce, zero_prototypes and prototypes with the given gains over ce (plus fold noise)."""
    import numpy as np

    rng = np.random.default_rng(1)
    rows = []
    for f in range(6):
        for seed in range(seeds):
            base = 0.6 + 0.03 * f
            for method, loss, protos, gain in (
                ("ce", "ce", "orthogonal", 0.0),
                ("zero_prototypes", "prototypes", "zero", control_gain),
                ("prototypes", "prototypes", "orthogonal", prototypes_gain),
            ):
                rows.append(
                    {
                        "method": method,
                        "loss": loss,
                        "prototypes": protos,
                        "fold": str(f),
                        "seed": seed,
                        "profile": "full",
                        "accuracy": base + gain + noise * rng.standard_normal(),
                    }
                )
    return pd.DataFrame(rows)


def test_claim1_parts_on_constructed_comparisons():
    from predefined_prototypes.reading.claims.claim1 import PLACEMENT_RULE, judge_parts

    def parts(prototypes_gain, control_gain, noise=0.005, seeds=3, train=0.99):
        runs = main_comparison(prototypes_gain, control_gain, noise, seeds).assign(train_accuracy=train)
        return judge_parts(runs, "toy", "constructed runs")

    pull, placement = parts(0.08, 0.0)
    assert (pull.claim, pull.outcome, placement.claim, placement.outcome) == (
        "Claim 1a", "reproduced", "Claim 1b", "reproduced"
    )  # fmt: skip
    pull, placement = parts(0.08, 0.08)  # the control explains the gain: the pull holds, the placement does not
    assert (pull.outcome, placement.outcome) == ("reproduced", "not reproduced")
    assert placement.rule == dict((o, c) for o, c, _ in PLACEMENT_RULE)["not reproduced"]
    assert parts(0.0, 0.05)[0].outcome == "not reproduced"  # equivalent to CE within 2 points
    assert [v.outcome for v in parts(-0.08, 0.0)] == ["contradicted", "contradicted"]
    noisy = parts(0.01, 0.0, noise=0.05)[0]  # too noisy to call equivalent: says what the design detects
    assert noisy.outcome == "undetermined" and "detects a difference of" in noisy.reason
    assert all(c.mdd > 0 and c.level == 1 - 0.05 / 2 and c.family == "Bonferroni over 2" for c in noisy.comparisons)
    under = parts(0.08, 0.0, train=0.9)  # an under-trained arm decides nothing, whatever its numbers
    assert [v.outcome for v in under] == ["undetermined", "undetermined"] and "under-trained" in under[0].reason


def test_recipe_design_pairs_within_a_recipe_and_never_chooses_below_the_floor():
    """Constructed recipe-design runs: CE gains 5 points from label smoothing, the pulls gain nothing
    from it; the prototypes' best-validating recipe ended under the training floor in every fold."""
    import numpy as np

    from predefined_prototypes.reading.claims.recipes import choose_recipes, within_recipe

    rng = np.random.default_rng(0)
    rows = []
    for f in range(8):
        for arm in ("ce", "zero_prototypes", "prototypes"):
            for recipe, gain in (("plain", 0.0), ("smoothed", 0.05 if arm == "ce" else 0.0)):
                under = arm == "prototypes" and recipe == "smoothed"
                rows.append(
                    {
                        "arm": arm,
                        "recipe": recipe,
                        "fold": str(f),
                        "seed": 0,
                        "accuracy": 0.6 + 0.02 * f + gain + 0.003 * rng.standard_normal(),
                        "validation_accuracy": 0.6 + gain + (0.1 if under else 0.0),
                        "validation_ece": 0.05,
                        "train_accuracy": 0.9 if under else 0.99,
                    }
                )
    runs = pd.DataFrame(rows)
    table = within_recipe(runs).set_index(["recipe", "comparison"])["outcome"]
    # within a recipe, pairs are that recipe's: CE's smoothing gain shows only at "smoothed"
    assert table[("plain", "prototypes − CE")] == "not met"
    assert table[("smoothed", "prototypes − CE")] == "contradicted"
    chosen = choose_recipes(runs).set_index("arm")
    assert set(chosen.loc["prototypes", "recipe"]) == {"plain"}  # the higher-validating run is under the floor
    assert set(chosen.loc["prototypes", "below_floor"]) == {1}
    assert set(chosen.loc["ce", "recipe"]) == {"smoothed"}


def stored_history(results, run_id, method, fold, tested_every, accuracies):
    """A stored run whose history tests every ``tested_every`` epochs."""
    import json

    import numpy as np

    folder = results / "s" / "runs" / run_id
    folder.mkdir(parents=True)
    history = [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "train_accuracy_running": a,
            **({"test_accuracy": a / 2} if e % tested_every == 0 else {}),
        }
        for e, a in enumerate(accuracies, 1)
    ]
    (folder / "metrics.json").write_text(json.dumps({"history": history}))
    np.savez(folder / "embeddings.npz", z=np.zeros((1, 2)))
    return {"run_id": run_id, "method": method, "fold": fold, "seed": 0}


def test_learning_curves_compare_test_accuracy_only_on_epochs_every_run_tested(tmp_path):
    from predefined_prototypes.experiments import derivations
    from predefined_prototypes.reading import stats
    from predefined_prototypes.reading import tables as report

    runs = pd.DataFrame(
        [
            stored_history(tmp_path, "a", "ce", "1", 1, [0.5, 0.9, 0.96, 0.99]),
            stored_history(tmp_path, "b", "prototypes", "1", 2, [0.6, 0.97, 0.98, 0.99]),
        ]
    )
    curves = report.learning_curves(runs, derivations.curves("s", runs, tmp_path))
    assert len(curves) == 8
    assert sorted(curves.dropna(subset=["test_accuracy"])["epoch"].unique()) == [2, 4]
    reached = stats.epochs_to_reach(curves, 0.95).set_index("method")["epochs"]
    assert reached.to_dict() == {"ce": 3.0, "prototypes": 2.0}


def test_against_reference_finds_a_constructed_shift_and_only_it():
    rows = []
    for fold in range(6):
        for seed in range(2):
            base = 0.6 + 0.05 * fold + 0.01 * seed
            rows += [
                {"setting": "reference", "fold": str(fold), "seed": seed, "accuracy": base, "train_accuracy": 1.0},
                {
                    "setting": "better",
                    "fold": str(fold),
                    "seed": seed,
                    "accuracy": base + 0.05 + 0.002 * fold,
                    "train_accuracy": 1.0,
                },
                {
                    "setting": "same",
                    "fold": str(fold),
                    "seed": seed,
                    "accuracy": base + (0.01 if fold % 2 else -0.01),
                    "train_accuracy": 1.0,
                },
            ]
    table = report_against(pd.DataFrame(rows))
    assert table.loc["reference", "difference, points"] == "reference"
    assert table.loc["better", "beyond fold noise"] == "higher"
    assert table.loc["better", "higher in"] == "6 of 6 folds"
    assert table.loc["same", "beyond fold noise"] == "no"
    assert (table["runs"] == 12).all()


def report_against(df):
    from predefined_prototypes.reading.stats import against_reference

    return against_reference(df, "setting", "reference").set_index("setting")


def test_training_speed_verdict_follows_constructed_epoch_counts():
    from predefined_prototypes.reading.claims.claim1 import speed_verdict

    def reached(shift):
        rows = [
            {
                "method": m,
                "fold": str(f),
                "seed": s,
                "epochs": 6.0 + f % 2 + (shift + 0.1 * f if m == "prototypes" else 0),
            }
            for m in ("prototypes", "learned_prototypes")
            for f in range(6)
            for s in range(2)
        ]
        return pd.DataFrame(rows)

    assert speed_verdict(reached(-2.0), True, "toy").outcome == "reproduced"
    assert speed_verdict(reached(+2.0), True, "toy").outcome == "contradicted"
    assert speed_verdict(reached(-0.25), True, "toy").outcome == "not reproduced"  # within ±1 epoch
    assert speed_verdict(reached(-2.0), False, "toy").outcome == "pending"


def test_a_partly_run_full_profile_gives_way_to_the_quick_one_until_complete(tmp_path):
    import yaml

    from predefined_prototypes.experiments.plan import load_sweep
    from predefined_prototypes.experiments.sweep import record_sweep_plan
    from predefined_prototypes.reading.runs import load_profile

    configs, results = tmp_path / "configs", tmp_path / "results"
    configs.mkdir()
    (results / "s").mkdir(parents=True)
    spec = {
        "base": {"dataset": "fsdd"},
        "grid": {"loss": ["ce", "prototypes"]},
        "profiles": {"quick": {"base": {"epochs": 1}}, "full": {"base": {"epochs": 2}}},
    }
    (configs / "s.yaml").write_text(yaml.safe_dump(spec))

    def table(profile, runs):
        write_stored_table(results / "s" / f"{profile}.csv", runs, profile, "fsdd", "theo", 0.5)

    record_sweep_plan(configs / "s.yaml", results)  # as the sweep does when it stores

    table("quick", load_sweep(configs / "s.yaml", "quick"))
    full = load_sweep(configs / "s.yaml", "full")
    table("full", full[:1])
    assert set(load_profile("s", results, configs)[0]["profile"]) == {"quick"}
    table("full", full)
    assert set(load_profile("s", results, configs)[0]["profile"]) == {"full"}


@pytest.mark.slow
def test_paper_and_gpu_sweeps_show_results_once_a_reader_stores_them(tmp_path):
    from predefined_prototypes.experiments.plan import load_sweep
    from predefined_prototypes.experiments.sweep import record_sweep_plan
    from predefined_prototypes.reading.tables import folder_sweeps_table

    assert set(folder_sweeps_table(results_dir=tmp_path)["results"]) == {"no results stored"}
    assert set(folder_sweeps_table("gpu", results_dir=tmp_path)["results"]) == {"no results stored"}
    sweep_file = REPO / "configs" / "paper" / "paper-esc50-ecapa.yaml"
    runs = load_sweep(sweep_file, "full")
    (tmp_path / "paper-esc50-ecapa").mkdir()
    write_stored_table(tmp_path / "paper-esc50-ecapa" / "full.csv", runs[:2], "full", "esc50", "1", 0.9)
    record_sweep_plan(sweep_file, tmp_path)
    table = folder_sweeps_table(results_dir=tmp_path)
    assert table.loc["paper-esc50-ecapa", "stored"] == f"2 of {len(runs)}"
    assert table.loc["paper-esc50-ecapa", "cross-entropy"] == "90.0"
    assert table.loc["paper-esc50-ecapa", "runs per hour (one worker)"] == round(3600 / 0.9, 1)
    assert table.loc["paper-esc50-ecapa", "device"] == "cuda"
    assert table.loc["paper-esc50-ast", "results"] == "no results stored"


def write_stored_table(path, runs, profile, dataset, fold, accuracy):
    """A results table holding ``runs`` (planned by a sweep), every metric at ``accuracy``, each
    row with a (placeholder) stored summary beside it."""
    for r in runs:
        (path.parent / "runs" / r.run_id).mkdir(parents=True, exist_ok=True)
        (path.parent / "runs" / r.run_id / "metrics.json").write_text("{}")
    rows = [
        {
            **dict.fromkeys(REQUIRED_COLUMNS, accuracy),
            "run_id": r.run_id,
            "profile": profile,
            "dataset": dataset,
            "loss": r.settings["loss"],
            "fold": fold,
            "seed": 0,
            "prototypes": "orthogonal",
            "scale": 1.0,
            "device": "cuda",
        }
        for r in runs
    ]
    pd.DataFrame(rows).to_csv(path, index=False)


def test_the_new_classes_answer_follows_constructed_cells():
    from predefined_prototypes.reading.claims.novel_classes import novel_answer

    rows = []
    for cell in range(10):
        for method, shift in [
            ("ce", 0.0),
            ("learned_prototypes", 0.05),
            ("zero_prototypes", 0.1),
            ("prototypes", 0.05),
        ]:
            value = 0.6 + 0.01 * cell + shift + (0.002 if cell % 2 else -0.002) * (method == "prototypes")
            rows.append(
                {
                    "method": method,
                    "fold": str(cell),
                    "seed": 0,
                    "profile": "full",
                    "accuracy": value,
                    "novel_few_shot_5_mean": value,
                }
            )
    df = pd.DataFrame(rows)
    answer = novel_answer(df, planned=40)
    assert "were better than cross-entropy (+5.0 (" in answer
    assert "not distinguishable from learned prototypes" in answer and "Bonferroni over 4" in answer
    assert "worse than the zero-prototype control (-5.0 (" in answer
    assert novel_answer(df, planned=41).startswith("No answer yet: 40 of the full profile's 41 runs")


def test_claim1_on_tuned_baselines_compares_validation_choices():
    from predefined_prototypes.reading.claims.claim1 import claim1_tuned_verdict
    from predefined_prototypes.reading.tables import tuned_choice

    rows = []
    for f in range(6):
        for seed in range(2):
            for family, knob, validation, test in [
                ("ce_weight_decay", 0.0, 0.70, 0.60),
                ("ce_weight_decay", 0.01, 0.80, 0.70),  # chosen on validation
                ("ce_label_smoothing", 0.1, 0.75, 0.95),  # best on test, never chosen
                ("zero_prototypes", 1.0, 0.80, 0.70),
                ("prototypes", 1.0, 0.70, 0.72),
                ("prototypes", 10.0, 0.85, 0.80),  # chosen
            ]:
                noise = 0.004 * ((f * 7 + seed * 3 + len(family)) % 5 - 2)
                column = "weight_decay" if family.startswith("ce_weight") else "label_smoothing"
                rows.append(
                    {
                        "family": family,
                        "fold": str(f),
                        "seed": seed,
                        "validation_accuracy": validation,
                        "accuracy": test + noise,
                        "ece": 0.1,
                        "validation_test_ece_scaled": 0.05,
                        "lam": knob,
                        column: knob,
                    }
                )
    chosen = tuned_choice(pd.DataFrame(rows))
    tuned_ce = chosen[chosen["family"] == "tuned_ce"]
    assert set(tuned_ce["knob"]) == {"ce_weight_decay=0.01"}  # validation, not test, decides
    assert set(chosen[chosen["family"] == "prototypes"]["knob"]) == {10.0}
    verdict = claim1_tuned_verdict(chosen, True, "toy")
    assert verdict.outcome == "reproduced", verdict
    assert claim1_tuned_verdict(chosen, False, "toy").outcome == "pending"


def test_calibration_reading_finds_a_constructed_ece_cost_and_its_removal_by_temperature():
    from predefined_prototypes.reading.pages.results import calibration_reading

    rng = np.random.default_rng(0)
    rows = []
    for fold in range(6):
        for family, before in (("ce_weight_decay", 0.10), ("prototypes", 0.25), ("zero_prototypes", 0.10)):
            rows.append(
                {
                    "family": family,
                    "fold": str(fold),
                    "ece": before + rng.normal(0, 0.01),
                    "validation_test_ece_scaled": 0.12 + rng.normal(0, 0.01),
                    "seeds": 2,
                }
            )
    reading = calibration_reading(pd.DataFrame(rows))
    prototypes, control = reading.split("Test ECE of the zero-prototype control")
    before, after = prototypes.split("after it")
    assert "worse calibrated than CE beyond" in before and "not distinguishable from CE" in after
    assert "Bonferroni over 4" in before
    assert "worse calibrated" not in control and "of 2 seeds" in control


def store_copies(plan, results):
    """Store a committed run's summary as each run of ``plan``, with that run's settings."""
    source = sorted((REPO / "results" / "main-fsdd" / "runs").iterdir())[0]
    for run in plan:
        record = json.loads((source / "metrics.json").read_text())
        record["config"] = {**record["config"], **run.settings}
        folder = results / run.sweep / "runs" / run.run_id
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(record))


def test_load_profile_falls_back_to_quick_when_the_full_table_holds_only_an_earlier_plan(tmp_path):
    import yaml

    from predefined_prototypes.experiments.plan import load_sweep
    from predefined_prototypes.experiments.sweep import record_sweep_plan
    from predefined_prototypes.reading.runs import load_profile, load_results
    from predefined_prototypes.storage.store import write_table

    configs, results = tmp_path / "configs", tmp_path / "results"
    configs.mkdir()
    spec = {
        "description": "one setting",
        "base": {"dataset": "fsdd", "epochs": 15},
        "grid": [{"loss": ["ce"]}],
        "profiles": {"quick": {"base": {"epochs": 1}}, "full": {"grid": {"seed": [0, 1]}}},
    }
    (configs / "one.yaml").write_text(yaml.safe_dump(spec))
    for profile in ("quick", "full"):
        plan = load_sweep(configs / "one.yaml", profile)
        store_copies(plan, results)
        write_table(plan, results)
    record_sweep_plan(configs / "one.yaml", results)
    table, complete = load_profile("one", results, configs)
    assert complete and len(table) == 2
    spec["base"]["epochs"] = 40  # a new full plan: the stored full runs are an earlier one's
    (configs / "one.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ResultsError, match=r"one.yaml changed after .*plan.json recorded its plan: record the new"):
        load_profile("one", results, configs)  # never read against the plan of an older file
    record_sweep_plan(configs / "one.yaml", results)  # as the sweep does when it runs the new plan
    table, complete = load_profile("one", results, configs)
    assert not complete and table["profile"].eq("quick").all()
    assert load_results("one", None, results, configs)["profile"].eq("quick").all()


def test_complete_settings_keeps_each_finished_setting_and_counts_the_rest(tmp_path):
    import yaml

    from predefined_prototypes.experiments.plan import load_sweep
    from predefined_prototypes.experiments.sweep import record_sweep_plan
    from predefined_prototypes.storage.results import complete_settings
    from predefined_prototypes.storage.store import write_table

    configs, results = tmp_path / "configs", tmp_path / "results"
    configs.mkdir()
    spec = {
        "description": "two settings",
        "base": {"dataset": "fsdd", "epochs": 1},
        "grid": [{"loss": ["ce"]}, {"loss": ["prototypes"], "lam": [3]}],
        "profiles": {"quick": {}, "full": {"grid": {"seed": [0, 1]}}},
    }
    (configs / "two.yaml").write_text(yaml.safe_dump(spec))
    plan = load_sweep(configs / "two.yaml", "full")
    store_copies(plan[:3], results)  # both CE runs, one of the two prototype runs
    write_table(plan, results)
    record_sweep_plan(configs / "two.yaml", results)
    table, status = complete_settings("two", ("loss", "lam"), results, configs)
    assert set(table["loss"]) == {"ce"} and len(table) == 2
    assert status[["loss", "stored", "planned", "complete"]].values.tolist() == [
        ["ce", 2, 2, True],
        ["prototypes", 1, 2, False],
    ]


def test_a_gap_between_the_arms_names_the_arm_that_moved_from_the_weaker_lambda():
    import numpy as np

    from predefined_prototypes.reading.claims.claim1 import placement_reading
    from predefined_prototypes.reading.tables import pull_strength

    def runs(control_drop, prototypes_gain):
        # 6 folds, 2 seeds; at lambda 30 and 100 (same epochs) the arms tie, at 100 one moves
        rng, rows = np.random.default_rng(0), []
        for lam in (30.0, 100.0):
            for f in range(6):
                for seed in (0, 1):
                    base = 0.7 + 0.02 * f + 0.005 * seed
                    for method, shift in (("prototypes", prototypes_gain), ("zero_prototypes", -control_drop)):
                        wobble = rng.normal(0, 0.005)
                        rows.append(
                            {"lam": lam, "epochs": 60, "method": method, "fold": str(f), "seed": seed,
                             "accuracy": base + wobble + (shift if lam == 100.0 else 0.0), "train_accuracy": 0.99,
                             "fit_distance": 0.01, "fit_nearest_prototype_accuracy": 0.99,
                             "fit_cosine_to_own_prototype": 0.9}
                        )  # fmt: skip
        return pd.DataFrame(rows)

    table = pull_strength(runs(control_drop=0.08, prototypes_gain=0.0))
    assert table["weaker_lam"].tolist()[1] == 30.0 and round(table["control_change"].iloc[1], 2) == -0.08
    text = placement_reading(table, True)
    assert round(table["difference"].iloc[1], 2) == 0.08 and table["differs"].tolist() == [False, True]
    assert "the control falling while the prototypes hold" in text
    text = placement_reading(pull_strength(runs(control_drop=0.0, prototypes_gain=0.08)), True)
    assert "the prototypes rising while the control holds" in text
    assert "gap comes from" not in placement_reading(pull_strength(runs(0.0, 0.0)), True)


def test_under_trained_at_names_exactly_the_settings_with_a_run_below_the_floor(tmp_path):
    from predefined_prototypes.reading.pages.results import under_trained_at

    table = pd.read_csv(REPO / "results" / "tuned-baselines" / "full.csv")
    table = table[table["epochs"] == 15].assign(train_accuracy=0.99)
    specaugment = table.index[table["specaugment"].astype(str) == "True"]
    table.loc[specaugment[0], "train_accuracy"] = 0.5  # one run of one setting under-trained
    (tmp_path / "tuned-baselines").mkdir()
    table.to_csv(tmp_path / "tuned-baselines" / "full.csv", index=False)
    words = under_trained_at("tuned-baselines", 15, results_dir=tmp_path)
    assert words == "at 15 epochs, runs of CE + SpecAugment (lowest 50.0 %) ended below 97 %"
    table.loc[specaugment[0], "train_accuracy"] = 0.97  # at the floor is trained
    table.to_csv(tmp_path / "tuned-baselines" / "full.csv", index=False)
    assert under_trained_at("tuned-baselines", 15, results_dir=tmp_path) == "at 15 epochs every run reached 97 %"
