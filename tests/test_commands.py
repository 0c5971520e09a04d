"""Every command a reader is told to type works: each Makefile target in dry-run form, the Python
each target runs inline, and each README command with ``--help`` or ``--dry-run``. A moved module
or a renamed option breaks this test, not a reader."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = "python -m predefined_prototypes"


def makefile_targets() -> list[str]:
    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.M)
    return phony.group(1).split()


def readme_commands() -> list[str]:
    """The package's commands in the README's code blocks, comments stripped."""
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(CLI)]


def as_check(command: str) -> list[str]:
    """The command in a form that runs nothing: a sweep with ``--dry-run``, any other with
    ``--help`` after its subcommand words (the options it was given are the parser's to check)."""
    words = shlex.split(command)[len(CLI.split()) :]
    if words[0] == "sweep":
        return [*words, "--dry-run"]
    subcommand = [w for w in words[:2] if "=" not in w and not w.startswith("-") and "/" not in w]
    return [*subcommand, "--help"]


def test_the_readme_names_the_commands_this_test_checks():
    commands = readme_commands()
    assert {shlex.split(c)[3] for c in commands} >= {"train", "sweep", "store", "verdicts"}, commands


@pytest.mark.slow
@pytest.mark.parametrize("target", makefile_targets())
def test_each_makefile_target_runs_in_dry_run_form(target):
    dry = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    # The Python a target runs inline (``python -c '...'``) is run for real: it only lists names.
    for snippet in re.findall(r"python -c '([^']*)'", dry.stdout):
        ran = subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True)
        assert ran.returncode == 0 and ran.stdout.split(), f"make {target}: {snippet}\n{ran.stderr}"
        if "SWEEP_ORDER" in snippet:  # make sweeps: each name a sweep file
            missing = [n for n in ran.stdout.split() if not (ROOT / "configs" / f"{n}.yaml").is_file()]
            assert not missing, f"make sweeps names sweeps without a file: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("command", readme_commands())
def test_each_readme_command_answers_its_help_or_dry_run(command, tmp_path):
    args = as_check(command)
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "predefined_prototypes",
            *args,
            *(["--runs", str(tmp_path)] if "--dry-run" in args else []),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, f"{command} -> {' '.join(args)}:\n{ran.stderr[-2000:]}"


def test_a_command_is_checked_without_running_it():
    assert as_check(f"{CLI} train dataset=fsdd fold=theo epochs=15") == ["train", "--help"]
    assert as_check(f"{CLI} store check") == ["store", "check", "--help"]
    assert as_check(f"{CLI} sweep configs/main-fsdd.yaml --profile quick") == [
        "sweep",
        "configs/main-fsdd.yaml",
        "--profile",
        "quick",
        "--dry-run",
    ]
