"""Every notebook opens with the same "Run this notebook" cell: nothing to do in a clone, and in a fresh
kernel without minilatte it clones the repository and installs the package from it.

The fresh kernel is a new virtual environment without minilatte; the repository URL is replaced by
this checkout, so the repository is not downloaded. The install skips minilatte's dependencies (not what
is tested here); pip fetches only the build backend (setuptools) from the package index, as any install does.
"""
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TAG = "run-this-notebook"
URL_LINE = re.compile(r'^REPOSITORY = "(?P<url>[^"]+)"$', re.MULTILINE)


def opening_cell(path):
    nb = nbformat.read(path, as_version=4)
    first_code = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert TAG in first_code.metadata.get("tags", []), f"{path.name}: the first code cell must be the '{TAG}' cell"
    return first_code.source


def pointed_at(source, repository):
    assert len(URL_LINE.findall(source)) == 1, "one REPOSITORY constant"
    return URL_LINE.sub(f"REPOSITORY = {str(repository)!r}", source)


def test_every_notebook_opens_with_the_same_cell():
    assert NOTEBOOKS
    sources = {path.name: opening_cell(path) for path in NOTEBOOKS}
    assert len(set(sources.values())) == 1, f"the opening cells differ: {sorted(sources)}"
    assert URL_LINE.search(next(iter(sources.values())))["url"].startswith("https://")


def test_in_a_clone_it_does_nothing(tmp_path):
    source = pointed_at(opening_cell(NOTEBOOKS[0]), tmp_path / "no-such-repository")
    result = subprocess.run([sys.executable, "-c", source], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and list(tmp_path.iterdir()) == [], "nothing is cloned or written"


def test_in_a_fresh_kernel_it_installs_minilatte_from_the_repository(tmp_path):
    """Clones this checkout's committed history (a git checkout is needed, as in CI)."""
    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=True)
    python = fresh / "bin" / "python"
    env = dict(os.environ, PIP_NO_DEPS="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    missing = subprocess.run([python, "-c", "import minilatte"], cwd=tmp_path, capture_output=True, text=True,
                             env=env)
    assert missing.returncode != 0, "the fresh environment must not see minilatte"
    kernel = tmp_path / "kernel"
    kernel.mkdir()
    source = pointed_at(opening_cell(NOTEBOOKS[0]), ROOT)
    check = ("\nfrom minilatte.assets import DATA_SAMPLES\n"
             "print(minilatte.__file__)\nprint(DATA_SAMPLES.is_dir())\n")
    result = subprocess.run([python, "-c", source + check], cwd=kernel, capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    location, has_samples = result.stdout.split()[-2:]
    assert Path(location).is_relative_to(kernel / "minilatte-repository"), location
    assert has_samples == "True", "the notebooks need the clone's data_samples/"
    again = subprocess.run([python, "-c", "import minilatte; print(minilatte.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, env=env)
    assert again.returncode == 0 and again.stdout.strip() == location, "a restarted kernel finds it installed"
