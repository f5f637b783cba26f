"""Student versions of the notebooks: a thin layer over nbgrader.

The notebooks in ``notebooks/`` are nbgrader *source* notebooks. An exercise is a code cell tagged
``exercise`` that nbgrader knows as a solution cell (cell metadata ``nbgrader.solution``); its answer
lies between a line ``# BEGIN SOLUTION`` and a line ``# END SOLUTION``. The cell after it is a locked,
autograded test cell (``nbgrader.grade``, with ``points``) that calls a checker from
``minilatte.checks``::

    def my_patchify(x, patch_size):              # solution cell, tagged "exercise"
        # BEGIN SOLUTION
        return rearrange(x, "b f c (nh p) (nw q) -> b f (nh nw) (p q c)", p=patch_size, q=patch_size)
        # END SOLUTION

    check_patchify(my_patchify)                  # test cell: 2 points when it runs without an error

A course that runs nbgrader uses ``nbgrader generate_assignment`` / ``autograde`` /
``generate_feedback`` on these notebooks (``notebooks/README.md``, "For instructors"). This module adds
only what nbgrader does not do:

* **plain student versions** with no course directory, gradebook or database:
  ``python -m minilatte.assignments --out student/`` runs nbgrader's own ``ClearSolutions`` over every
  notebook;
* **the pictures stay**: only the exercise and test cells lose their outputs, where nbgrader clears
  every output; the other outputs (from the ``cpu`` tier) stay as a reference;
* **stubs that name their exercise**: ``raise NotImplementedError("Exercise: patchify from scratch")``
  (the title of the markdown cell above), where nbgrader writes a bare ``NotImplementedError()``;
* **Run All goes on past an unsolved exercise**: test cells get the ``raises-exception`` tag, which
  JupyterLab and nbclient honour, so the cells after a failing check still run;
* a **check of these conventions** that names the notebook and cell: an exercise without markers or
  without nbgrader metadata, unbalanced markers, markers outside an exercise.

``NamedStubs``, ``ClearExerciseOutputs`` and ``ContinueAfterChecks`` are nbgrader preprocessors, so an
nbgrader course gets them too (``configure_nbgrader``; ``notebooks/README.md`` has the config file).

    python -m minilatte.assignments --out student/                 # every notebook in notebooks/
    python -m minilatte.assignments --out student/ notebooks/02_*.ipynb
"""
from __future__ import annotations

import argparse
import copy
import os
import re
import sys
from pathlib import Path

from nbgrader.preprocessors import ClearSolutions, NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
EXERCISE_TAG = "exercise"
CONTINUE_TAG = "raises-exception"


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _clean(line: str) -> str:
    """A markdown line without heading marks, emphasis, section numbers or an "Exercise 2 —" prefix."""
    text = re.sub(r"^[#>\s]*", "", line).strip().strip("*_").strip()
    text = re.sub(r"^\d+(\.\d+)*\.?\s+", "", text)                     # "3. ", "2.1 "
    text = re.sub(r"^(.*?\b)?Exercise\b\s*\d*\s*[:.—–-]?\s*", "", text)  # "How many? Exercise 2 — "
    return text.strip("*_ ").strip()


def _prompt(cells, index: int) -> str:
    """The exercise's title, from the nearest markdown cell above ``cells[index]``.

    The heading line that mentions "Exercise" if there is one (``### Exercise 1 — patchify from
    scratch`` gives "patchify from scratch"), otherwise the cell's first line.
    """
    for cell in reversed(cells[:index]):
        if cell.cell_type != "markdown":
            continue
        lines = [line for line in cell.source.splitlines() if line.strip()]
        headings = [line for line in lines if line.lstrip().startswith("#") and "Exercise" in line]
        for line in headings[-1:] + lines[:1]:
            if _clean(line):
                return _clean(line)
        break
    return "fill in the solution"


def check_markers(source: str, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` unless ``source`` has balanced, non-nested solution regions."""
    inside = found = False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"{where}: line {number} opens '{BEGIN}' inside another solution region")
            inside = found = True
        elif marker == END:
            if not inside:
                raise ValueError(f"{where}: line {number} has '{END}' without a '{BEGIN}' before it")
            inside = False
    if inside:
        raise ValueError(f"{where}: '{BEGIN}' is never closed by '{END}'")
    if not found:
        raise ValueError(f"{where} is tagged '{EXERCISE_TAG}' but has no '{BEGIN}' / '{END}' lines; "
                         "mark the solution lines (or remove the tag)")


def check_exercises(nb, name: str = "notebook") -> None:
    """The conventions above, as ``ValueError`` naming the notebook and the cell index."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = f"{name}, cell {index}"
        if EXERCISE_TAG in _tags(cell):
            check_markers(cell.source, where)
            if not is_solution(cell):
                raise ValueError(f"{where} is tagged '{EXERCISE_TAG}' but is not an nbgrader solution cell; "
                                 "set metadata nbgrader.solution (JupyterLab: Create Assignment panel)")
        elif any(line.strip() in (BEGIN, END) for line in cell.source.splitlines()):
            raise ValueError(f"{where} has solution markers but is not tagged '{EXERCISE_TAG}'; "
                             f"add the tag in the cell metadata")


class NamedStubs(ClearSolutions):
    """nbgrader's ``ClearSolutions`` with a stub that names the exercise: ``NotImplementedError("Exercise: …")``."""

    def preprocess(self, nb, resources):
        self._cells = nb.cells
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if is_solution(cell):
            message = "Exercise: " + _prompt(self._cells, index)
            self.code_stub = dict(self.code_stub, python=f"raise NotImplementedError({message!r})")
        return super().preprocess_cell(cell, resources, index)


class ContinueAfterChecks(NbGraderPreprocessor):
    """Tag every autograded test cell ``raises-exception``: Run All then goes on after a failing check."""

    def preprocess_cell(self, cell, resources, index):
        if is_grade(cell) and not is_solution(cell) and CONTINUE_TAG not in _tags(cell):
            cell.setdefault("metadata", {})["tags"] = _tags(cell) + [CONTINUE_TAG]
        return cell, resources


class ClearExerciseOutputs(NbGraderPreprocessor):
    """Clear the outputs of exercise and test cells only (nbgrader's ``ClearOutput`` clears every cell's)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and (is_solution(cell) or is_grade(cell)):
            cell.outputs = []
            cell.execution_count = None
        return cell, resources


def configure_nbgrader(c) -> None:
    """In an ``nbgrader_config.py``: ``generate_assignment`` with ``NamedStubs``, ``ContinueAfterChecks``
    and ``ClearExerciseOutputs`` in place of nbgrader's ``ClearSolutions`` and ``ClearOutput``.

    ::

        import os
        from minilatte.assignments import configure_nbgrader
        c = get_config()
        c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
        configure_nbgrader(c)
    """
    from nbgrader.converters import GenerateAssignment
    from nbgrader.preprocessors import ClearOutput

    steps = list(GenerateAssignment.class_traits()["preprocessors"].default())
    at = steps.index(ClearSolutions)
    steps[at:at + 1] = [NamedStubs, ContinueAfterChecks]
    steps[steps.index(ClearOutput)] = ClearExerciseOutputs
    c.GenerateAssignment.preprocessors = steps


def make_student_notebook(nb, name: str = "notebook"):
    """A copy of ``nb`` with every solution region replaced by ``raise NotImplementedError("Exercise: …")``.

    Exercise and test cells lose their outputs; every other output stays. Raises ``ValueError`` naming
    the notebook and cell index where the conventions of this module are broken.
    """
    check_exercises(nb, name)
    nb = copy.deepcopy(nb)
    for step in (NamedStubs(), ContinueAfterChecks(), ClearExerciseOutputs()):
        nb, _ = step.preprocess(nb, {})
    nb.metadata["minilatte"] = {"student_version": True}
    return nb


def make_student_versions(src_dir, out_dir, notebooks=None) -> list[Path]:
    """Write student copies of ``notebooks`` (default: every ``*.ipynb`` in ``src_dir``) to ``out_dir``.

    Each copy is written to a temporary file and renamed, so a crash leaves no half-written notebook.
    ``ValueError`` for a missing notebook, an empty ``src_dir``, or an ``out_dir`` that holds a source.
    """
    import nbformat

    src_dir, out_dir = Path(src_dir), Path(out_dir)
    paths = [Path(p) for p in notebooks] if notebooks else sorted(src_dir.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"no notebooks found in {src_dir}")
    for path in paths:
        if not path.is_file():
            raise ValueError(f"{path}: no such notebook")
        if path.parent.resolve() == out_dir.resolve():
            raise ValueError(f"--out {out_dir} holds the source {path.name}; write the student copies elsewhere")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        student = make_student_notebook(nbformat.read(path, as_version=4), path.name)
        target = out_dir / path.name
        partial = target.with_name(f".{target.name}.partial")
        nbformat.write(student, partial)
        os.replace(partial, target)
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minilatte.assignments",
                                     description="Write student versions of the notebooks (solutions removed), "
                                                 "without an nbgrader course directory.")
    parser.add_argument("notebooks", nargs="*", help="notebooks to convert (default: every notebook in --src)")
    parser.add_argument("--src", default="notebooks", help="folder of solution notebooks (default: notebooks)")
    parser.add_argument("--out", required=True, help="folder for the student notebooks")
    args = parser.parse_args(argv)
    try:
        written = make_student_versions(args.src, args.out, args.notebooks or None)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
