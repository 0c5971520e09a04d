"""Re-execute the notebooks here and keep only the outputs that nbval compares.

    PP_DATA_DIR=../shared/data python notebooks/refresh_outputs.py

Cells marked ``# NBVAL_CHECK_OUTPUT`` keep their (stdout) outputs; every other output, and all
execution counts of other cells and timing metadata, are dropped so the committed notebooks stay small and
stable.
"""

from pathlib import Path

import nbformat
import papermill

HERE = Path(__file__).resolve().parent


def refresh(path: Path) -> None:
    executed = papermill.execute_notebook(str(path), None, kernel_name="python3", progress_bar=False, cwd=str(HERE))
    source = nbformat.read(path, as_version=4)
    for cell, ran in zip(source.cells, executed.cells):
        if cell.cell_type != "code":
            continue
        checked = cell.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT")
        cell.outputs = [o for o in ran.outputs if o.get("name") == "stdout"] if checked else []
        cell.execution_count = ran.execution_count if checked else None  # nbval skips unrun cells
        cell.metadata.pop("execution", None)
    nbformat.write(source, path)
    print(f"refreshed {path.name}")


if __name__ == "__main__":
    for notebook in sorted(HERE.glob("*.ipynb")):
        refresh(notebook)
