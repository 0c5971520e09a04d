"""What a user installs: the method alone needs torch and numpy; the CI workflow is valid."""

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from conftest import REPO

LIGHT_IMPORT = "from predefined_prototypes import PrototypeLoss, FixedPrototypes, orthogonal_prototypes"
HEAVY = ("papermill", "dask", "transformers", "jupyter_book", "pandas", "sklearn", "torchaudio", "matplotlib")


def requirement_closure(names: list[str]) -> set[str]:
    """The installed distributions ``names`` need, recursively (extras and markers left out)."""
    seen, todo = set(), list(names)
    while todo:
        name = re.split(r"[ <>=!~;\[(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a requirement for another platform
        seen.add(name)
        todo += [r for r in dist.requires or [] if "extra ==" not in r]
    return seen


@pytest.mark.slow
def test_the_method_installs_and_imports_without_the_experiment_stack(tmp_path):
    base = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(re.split(r"[<>=]", r)[0] for r in base) == ["numpy", "torch"]
    # A fresh environment that sees only the base requirements (linked from this one, so nothing
    # is downloaded) and the package built from this checkout, without its dependencies.
    shim = tmp_path / "base-requirements"
    shim.mkdir()
    for name in requirement_closure(base):
        for top in {f.parts[0] for f in importlib.metadata.distribution(name).files or []}:
            source = importlib.metadata.distribution(name).locate_file(top)
            if source.exists() and not (shim / top).exists() and top != "..":
                (shim / top).symlink_to(source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "base-requirements.pth").write_text(f"{shim}\n")
    # Built from a copy, so the build leaves nothing in the checkout.
    source = tmp_path / "source"
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            *map(str, wheels.glob("*.whl")),
        ],
        check=True,
        capture_output=True,
    )
    check = (
        f"{LIGHT_IMPORT}\nimport importlib.util, sys, torch\n"
        f"missing = [m for m in {HEAVY!r} if importlib.util.find_spec(m) is None]\n"
        "assert missing == list(" + repr(HEAVY) + "), missing\n"
        "loss = PrototypeLoss(FixedPrototypes(orthogonal_prototypes(4, 8)))\n"
        "print(float(loss(torch.randn(2, 4), torch.randn(2, 8), torch.tensor([0, 3]))) > 0)"
    )
    result = subprocess.run([str(venv / "bin" / "python"), "-c", check], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr[-2000:]


def test_every_extra_is_pinned_by_the_lock_file():
    locked = {
        line.split("==")[0].lower() for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line
    }
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for requirements in extras.values():
        for requirement in requirements:
            name = re.split(r"[<>=\[]", requirement)[0].lower()
            assert name == "predefined-prototypes" or name in locked, f"{name} is not in constraints.txt"


@pytest.mark.skipif(
    shutil.which("actionlint") is None and not (REPO / ".venv/bin/actionlint").exists(),
    reason="actionlint is installed with the dev extra",
)
def test_the_ci_workflow_passes_actionlint_and_a_broken_one_does_not(tmp_path):
    actionlint = shutil.which("actionlint") or str(REPO / ".venv/bin/actionlint")
    workflow = REPO / ".github" / "workflows" / "ci.yml"
    good = subprocess.run([actionlint, str(workflow)], capture_output=True, text=True)
    assert good.returncode == 0, good.stdout
    broken = tmp_path / "broken.yml"
    broken.write_text(workflow.read_text().replace("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04", 1))
    assert subprocess.run([actionlint, str(broken)], capture_output=True).returncode != 0
