"""The READMEs stay in step with the files they describe: the notebook table and every "00 … NN" range
name exactly the notebooks in notebooks/; the ablation status, the results table and the committed
per-study tables say what the committed results hold."""
import json
import re
from pathlib import Path

import pytest

from minilatte.ablate import STUDIES, findings_table

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
COURSE_README = ROOT / "notebooks" / "README.md"
NUMBER_WORDS = {10: "ten", 11: "eleven", 12: "twelve", 13: "thirteen", 14: "fourteen", 15: "fifteen", 16: "sixteen"}


def notebooks() -> list[str]:
    return sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def course_table(text: str) -> list[str]:
    """The notebook files linked from the rows of README's table under "## The notebook course"."""
    section = text.split("## The notebook course", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| [")]
    return [m.group(1) for line in rows for m in [re.match(r"\| \[[^]]*\]\(notebooks/([^)]+\.ipynb)\)", line)] if m]


def ranges(text: str) -> list[tuple[str, str]]:
    """Every "00 … NN" / "01 … NN" / "00...NN" range of notebook numbers in the text."""
    return re.findall(r"(?<![\d.])(0[01]) ?(?:…|\.\.\.) ?(\d\d)(?![\d.])", text)


def stale_statements(text: str, names: list[str]) -> list[str]:
    """What a README says about the notebooks that the files contradict."""
    problems = []
    last = names[-1][:2]
    for first, end in ranges(text):
        if end != last:
            problems.append(f'"{first} … {end}" but the last notebook is {last}')
    for word in re.findall(r"\b(\w+) notebooks\b", text):
        counts = [n for n, w in NUMBER_WORDS.items() if w == word.lower()]
        if counts and counts[0] != len(names):
            problems.append(f'"{word} notebooks" but there are {len(names)}')
    for name in re.findall(r"\b\d\d_\w+\.ipynb\b", text):
        if name not in names:
            problems.append(f"{name} is named but does not exist")
    return problems


def test_readme_notebook_table_lists_every_notebook_once():
    names, table = notebooks(), course_table(README.read_text())
    assert names, "no notebooks found"
    assert sorted(table) == names, (f"README's notebook table: missing {sorted(set(names) - set(table))}, "
                                    f"no such notebook {sorted(set(table) - set(names))}, rows {table}")


@pytest.mark.parametrize("readme", [README, COURSE_README], ids=["README", "notebooks/README"])
def test_readme_ranges_counts_and_names_match_the_notebooks(readme):
    assert stale_statements(readme.read_text(), notebooks()) == []


def test_the_stale_checks_can_fail():
    names = ["00_a.ipynb", "01_b.ipynb", "02_c.ipynb"]
    text = "Go on with 01 … 01; twelve notebooks; see 03_d.ipynb; the course `notebooks/00…02`"
    assert len(stale_statements(text, names)) == 3
    assert course_table("## The notebook course\n| [x](notebooks/00_a.ipynb) | y |\n| [z](notebooks/09_q.ipynb) |\n"
                        "\n## Next\n| [w](notebooks/01_b.ipynb) |") == ["00_a.ipynb", "09_q.ipynb"]


def committed_cpu_studies() -> list[dict]:
    results = []
    for path in sorted((ROOT / "benchmarks" / "results" / "ablations").glob("*.json")):
        data = json.loads(path.read_text())
        results += [s for s in data.get("studies", [data]) if s.get("tier") == "cpu"]
    return results


def test_readme_ablation_table_and_status_match_the_committed_results():
    studies = committed_cpu_studies()
    text = README.read_text()
    assert findings_table(studies) in text, "README's 'Paper vs minilatte at CPU scale' table is not what " \
                                            "findings_table makes of benchmarks/results/ablations/*.json"
    status = next(line for line in text.splitlines() if line.startswith("| `minilatte/ablate/`"))
    done = {s["study"] for s in studies}
    if done == set(STUDIES):
        assert "not yet for all" not in status and "for some studies" not in status, status
    else:
        assert "not yet for all" in status, f"{status} (missing: {sorted(set(STUDIES) - done)})"


def test_committed_ablation_tables_are_what_their_json_makes():
    from minilatte.ablate import to_markdown
    for path in sorted((ROOT / "benchmarks" / "results" / "ablations").glob("*.json")):
        data = json.loads(path.read_text())
        assert path.with_suffix(".md").read_text() == to_markdown(data.get("studies", [data])), \
            f"{path.with_suffix('.md').name} is not to_markdown of {path.name}: regenerate it"
