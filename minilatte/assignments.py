"""Student versions of the notebooks: one master copy with solutions, stripped for the release.

The notebooks in ``notebooks/`` are the *solution* notebooks (they run under nbval). An exercise is
a code cell tagged ``exercise`` (cell metadata ``tags``) whose solution lies between a line
``# BEGIN SOLUTION`` and a line ``# END SOLUTION``; the cell ends with a call to a checker from
``minilatte.checks``::

    def patchify(x, p):
        # BEGIN SOLUTION
        return rearrange(x, "b f c (nh p) (nw q) -> b f (nh nw) (p q c)", p=p, q=p)
        # END SOLUTION

    check_patchify(patchify)

The student copy replaces each solution region (markers included) by
``raise NotImplementedError("Exercise: <prompt>")`` at the marker's indentation, where the prompt
is the title of the markdown cell just above the exercise (its heading that mentions "Exercise", else
its first line), and clears the cell's outputs.

Convention that keeps a student notebook usable: **exercise cells are self-contained** — they
define a function and check it, and no later cell uses what an exercise defines (later cells use
the minilatte version). An unsolved exercise then fails alone and the rest of the notebook runs.

    python -m minilatte.assignments --out student/                 # every notebook in notebooks/
    python -m minilatte.assignments --out student/ notebooks/02_*.ipynb
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
EXERCISE_TAG = "exercise"


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


def strip_solution(source: str, message: str, where: str) -> str:
    """Replace every ``# BEGIN SOLUTION`` … ``# END SOLUTION`` region of ``source`` by a raise."""
    out: list[str] = []
    inside = False
    found = False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"{where}: line {number} opens '{BEGIN}' inside another solution region")
            inside = found = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError({('Exercise: ' + message)!r})")
        elif marker == END:
            if not inside:
                raise ValueError(f"{where}: line {number} has '{END}' without a '{BEGIN}' before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{BEGIN}' is never closed by '{END}'")
    if not found:
        raise ValueError(f"{where} is tagged '{EXERCISE_TAG}' but has no '{BEGIN}' / '{END}' lines; "
                         "mark the solution lines (or remove the tag)")
    return "\n".join(out)


def make_student_notebook(nb, name: str = "notebook"):
    """A copy of ``nb`` with every exercise's solution replaced by ``raise NotImplementedError``.

    ``name`` appears in error messages. Raises ``ValueError`` naming the notebook and cell index for
    an exercise cell without markers, unbalanced markers, or markers in a cell not tagged exercise.
    """
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = f"{name}, cell {index}"
        if EXERCISE_TAG in _tags(cell):
            cell.source = strip_solution(cell.source, _prompt(nb.cells, index), where)
            cell.outputs = []
            cell.execution_count = None
        elif any(line.strip() in (BEGIN, END) for line in cell.source.splitlines()):
            raise ValueError(f"{where} has solution markers but is not tagged '{EXERCISE_TAG}'; "
                             f"add the tag in the cell metadata")
    nb.metadata["minilatte"] = {"student_version": True}
    return nb


def make_student_versions(src_dir, out_dir, notebooks=None) -> list[Path]:
    """Write student copies of ``notebooks`` (default: every ``*.ipynb`` in ``src_dir``) to ``out_dir``."""
    import nbformat   # a Jupyter dependency: imported here so the rest of minilatte never needs it

    src_dir, out_dir = Path(src_dir), Path(out_dir)
    paths = [Path(p) for p in notebooks] if notebooks else sorted(src_dir.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"no notebooks found in {src_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        target = out_dir / path.name
        nbformat.write(make_student_notebook(nb, path.name), target)
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minilatte.assignments",
                                     description="Write student versions of the notebooks (solutions removed).")
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
