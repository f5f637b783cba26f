"""Student notebooks: solutions stripped from the one master copy, every exercise raises until solved."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from minilatte.assignments import BEGIN, END, make_student_notebook, make_student_versions

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# The notebook executed end to end: small and quick in the ci tier.
EXECUTED = "05_positional_encodings.ipynb"


def exercise(source):
    return new_code_cell(source, metadata={"tags": ["exercise"]})


def toy_notebook():
    return new_notebook(cells=[
        new_markdown_cell("### Exercise 1: add one\nWrite `add_one`."),
        exercise(f"def add_one(x):\n    {BEGIN}\n    y = x + 1\n    return y\n    {END}\n\nassert add_one(1) == 2"),
        new_code_cell("print('later cells stay')"),
        new_markdown_cell("**Double it**"),
        exercise(f"{BEGIN}\nz = 2 * 3\n{END}\nprint(z)"),
    ])


def test_solution_regions_become_not_implemented_at_their_indentation():
    nb = toy_notebook()
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="ok")]
    nb.cells[1].execution_count = 3
    student = make_student_notebook(nb, "toy.ipynb")
    assert student.cells[1].source == ("def add_one(x):\n    raise NotImplementedError('Exercise: add one')\n"
                                       "\nassert add_one(1) == 2")
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert student.cells[2].source == nb.cells[2].source
    assert student.cells[4].source == "raise NotImplementedError('Exercise: Double it')\nprint(z)"
    assert BEGIN in nb.cells[1].source, "the master copy must not be modified"
    with pytest.raises(NotImplementedError, match="Exercise: add one"):
        exec(student.cells[1].source, {})


@pytest.mark.parametrize("markdown,message", [
    ("## 6. How many tokens? Exercise 2 — the token-count formula\n\nWrite it.", "the token-count formula"),
    ("Some words first.\n\n### Exercise 1 — patchify from scratch\n\nWrite it.", "patchify from scratch"),
    ("**Double it**\n\nmore", "Double it"),
    ("## 3. Forward process", "Forward process"),
])
def test_the_message_is_the_exercise_title(markdown, message):
    nb = new_notebook(cells=[new_markdown_cell(markdown), exercise(f"{BEGIN}\nx = 1\n{END}")])
    assert make_student_notebook(nb).cells[1].source == f"raise NotImplementedError('Exercise: {message}')"


@pytest.mark.parametrize("source,message", [
    ("def f():\n    return 1\ncheck(f)", r"bad\.ipynb, cell 1 is tagged 'exercise' but has no"),
    (f"{BEGIN}\nx = 1\n", r"bad\.ipynb, cell 1: '# BEGIN SOLUTION' is never closed"),
    (f"x = 1\n{END}\n", r"bad\.ipynb, cell 1: line 2 has '# END SOLUTION' without"),
    (f"{BEGIN}\n{BEGIN}\n{END}\n", r"bad\.ipynb, cell 1: line 2 opens"),
])
def test_bad_exercise_cells_are_clear_errors(source, message):
    nb = new_notebook(cells=[new_markdown_cell("# x"), exercise(source)])
    with pytest.raises(ValueError, match=message):
        make_student_notebook(nb, "bad.ipynb")


def test_markers_outside_an_exercise_cell_are_an_error():
    nb = new_notebook(cells=[new_code_cell(f"{BEGIN}\nx = 1\n{END}")])
    with pytest.raises(ValueError, match=r"bad\.ipynb, cell 0 has solution markers but is not tagged"):
        make_student_notebook(nb, "bad.ipynb")


def test_command_line_writes_student_copies(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(toy_notebook(), src / "toy.ipynb")
    result = subprocess.run([sys.executable, "-m", "minilatte.assignments", "--src", str(src),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "toy.ipynb").exists()
    nbformat.write(new_notebook(cells=[exercise("x = 1")]), src / "zbad.ipynb")
    result = subprocess.run([sys.executable, "-m", "minilatte.assignments", "--src", str(src),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2 and "zbad.ipynb, cell 0" in result.stderr


def test_every_course_notebook_has_a_student_version(tmp_path):
    masters = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert masters, f"no course notebooks in {NOTEBOOKS}: they are part of the repository (restore notebooks/*.ipynb)"
    written = make_student_versions(NOTEBOOKS, tmp_path)
    assert [p.name for p in written] == [p.name for p in masters]
    for path in written:
        student = nbformat.read(path, as_version=4)
        text = "\n".join(cell.source for cell in student.cells)
        assert BEGIN not in text and END not in text, path.name
        for cell in student.cells:
            if "exercise" in cell.metadata.get("tags", []):
                assert "raise NotImplementedError(" in cell.source and cell.outputs == [], path.name


def test_student_notebook_runs_and_only_exercises_fail(tmp_path, monkeypatch):
    """Executed in the ci tier: each exercise cell stops at NotImplementedError, every other cell runs."""
    from nbclient import NotebookClient

    assert (NOTEBOOKS / EXECUTED).exists(), f"{NOTEBOOKS / EXECUTED} is missing: this test executes its student version"
    monkeypatch.setenv("MINILATTE_TIER", "ci")
    nb = make_student_notebook(nbformat.read(NOTEBOOKS / EXECUTED, as_version=4), EXECUTED)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    exercises = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if "exercise" in cell.metadata.get("tags", []):
            exercises += 1
            assert [e.ename for e in errors] == ["NotImplementedError"], f"cell {index}"
            assert errors[0].evalue.startswith("Exercise: ")
        else:
            assert not errors, f"cell {index} failed in the student version: {errors[0].ename}: {errors[0].evalue}"
    assert exercises >= 2
