"""pyproject.toml and environment.yml must ask for the same packages."""
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _normalise(requirement: str) -> str:
    return requirement.replace(" ", "").replace("'", '"').lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert "minilatte[course]" in extras["dev"], "the dev extra includes the course"
    wanted = project["dependencies"] + extras["course"] + [r for r in extras["dev"] if not r.startswith("minilatte[")]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    listed = [r for r in pip_lists[0] if not r.startswith("-e")]
    assert sorted(map(_normalise, listed)) == sorted(map(_normalise, wanted))


def test_torch_keeps_an_upper_bound():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_req = next(r for r in project["dependencies"] if r.startswith("torch"))
    assert "<" in torch_req, "an open torch range installs a multi-GB CUDA build on CPU machines"


def test_ci_runs_exactly_the_readme_test_command():
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    command = next(line for line in readme.splitlines() if line.startswith("python3 -m venv") and "pytest" in line)
    assert command in (root / ".ci" / "run").read_text()
    assert "--nbval-lax notebooks/" in command
