"""The course on nbgrader: generate the student version, autograde three submissions, write feedback.

Runs the real ``nbgrader`` commands in a temporary course directory on notebook 05 (two exercises,
seconds in the ci tier), with the ``nbgrader_config.py`` of the instructor guide (``notebooks/README.md``):
the reference solutions get full marks, the untouched student version zero, a submission with one
plausible mistake partial marks, and its feedback shows the checker's hint. No command may warn about
the config.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from minilatte.assignments import CONTINUE_TAG

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
GUIDE = NOTEBOOKS / "README.md"
NOTEBOOK = "05_positional_encodings.ipynb"
ASSIGNMENT = "positions"
RIGHT = "torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)"
WRONG = "torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)"     # sin and cos halves swapped


def nbgrader(course, *args):
    env = dict(os.environ, MINILATTE_TIER="ci")
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line and "config" in line.lower()
                or "not absolute" in line]
    assert not warnings, f"nbgrader {' '.join(args)} warns about the guide's config:\n" + "\n".join(warnings)
    return result


def guide_config() -> str:
    """The ``nbgrader_config.py`` that the instructor guide writes with ``cat > nbgrader_config.py <<'END'``."""
    found = re.search(r"cat > nbgrader_config\.py <<'END'\n(.*?)\nEND\n", GUIDE.read_text(), re.DOTALL)
    assert found, f"{GUIDE} no longer shows the nbgrader_config.py heredoc this test runs"
    return found.group(1) + "\n"


def submit(course, student, nb):
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / NOTEBOOK)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    # nbgrader runs the `alembic` command of its environment (also inside Gradebook): as in an activated one
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{path}"
    try:
        yield make_course(tmp_path_factory.mktemp("course"))
    finally:
        os.environ["PATH"] = path


def make_course(course):
    (course / "nbgrader_config.py").write_text(guide_config())
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(NOTEBOOKS / NOTEBOOK, course / "source" / ASSIGNMENT)
    for student in ("reference", "untouched", "mistake"):
        nbgrader(course, "db", "student", "add", student)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")

    release = nbformat.read(course / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    source = nbformat.read(course / "source" / ASSIGNMENT / NOTEBOOK, as_version=4)
    solved = nbformat.from_dict(release)        # the student version with every answer filled in
    for cell, answer in zip(solved.cells, source.cells):
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "\n".join(line for line in answer.source.splitlines()
                                    if line.strip() not in ("# BEGIN SOLUTION", "# END SOLUTION"))
    mistake = nbformat.from_dict(solved)
    (wrong_cell,) = [cell for cell in mistake.cells if RIGHT in cell.source]
    wrong_cell.source = wrong_cell.source.replace(RIGHT, WRONG)
    submit(course, "reference", solved)
    submit(course, "untouched", release)
    submit(course, "mistake", mistake)
    nbgrader(course, "autograde", ASSIGNMENT, "--force")
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--force")
    return course


def scores(course, student):
    """(points scored, points possible) of each autograded test cell of the student's notebook."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(NOTEBOOK[:-len(".ipynb")], ASSIGNMENT, student)
        return {grade.name: (grade.score, grade.max_score) for grade in notebook.grades}


def test_student_version_has_no_answers_and_runs_past_a_failing_check(course):
    release = nbformat.read(course / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    text = "\n".join(cell.source for cell in release.cells)
    assert "BEGIN SOLUTION" not in text and "torch.sin(angles)" not in text
    assert "raise NotImplementedError('Exercise: the 1D sin-cos table')" in text
    checks = [cell for cell in release.cells if cell.metadata.get("nbgrader", {}).get("grade")]
    assert len(checks) == 2 and all(CONTINUE_TAG in cell.metadata["tags"] for cell in checks)


def test_student_version_keeps_the_pictures_but_not_the_exercise_outputs(course):
    release = nbformat.read(course / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    source = nbformat.read(NOTEBOOKS / NOTEBOOK, as_version=4)
    code = [(mine, theirs) for mine, theirs in zip(release.cells, source.cells) if mine.cell_type == "code"]
    graded = [mine for mine, _ in code if mine.metadata.get("nbgrader", {}).get("grade")
              or mine.metadata.get("nbgrader", {}).get("solution")]
    assert len(graded) == 4 and all(cell.outputs == [] for cell in graded)
    kept = [(mine, theirs) for mine, theirs in code if mine not in graded]
    assert any(o.output_type == "display_data" and "image/png" in o.data for _, theirs in kept for o in theirs.outputs)
    assert all(mine.outputs == theirs.outputs for mine, theirs in kept)


def test_reference_solutions_get_full_marks(course):
    grades = scores(course, "reference")
    assert len(grades) == 2 and all(score == possible > 0 for score, possible in grades.values()), grades


def test_untouched_student_version_gets_zero(course):
    grades = scores(course, "untouched")
    assert len(grades) == 2 and all(score == 0 for score, _ in grades.values()), grades


def test_one_mistake_gets_partial_marks_and_the_hint(course):
    grades = scores(course, "mistake")
    assert grades["nb05_ex1_check"][0] == 0 and grades["nb05_ex2_check"][0] == grades["nb05_ex2_check"][1] > 0
    feedback = (course / "feedback" / "mistake" / ASSIGNMENT / NOTEBOOK.replace(".ipynb", ".html")).read_text()
    assert "halves are swapped" in feedback, "the checker's hint must reach the student's feedback"
