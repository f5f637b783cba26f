"""Progress bars: a notebook saved after a run keeps the finished bar, not the bar's first frame."""
import nbformat
from nbclient import NotebookClient

from minilatte.progress import progress_bar


def _run_cell(source: str, tmp_path) -> list[dict]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb.cells[0].outputs


def test_a_notebook_saves_the_finished_bar_as_one_text_output(tmp_path):
    outputs = _run_cell(
        "import time\nfrom minilatte.progress import progress_bar\n"
        "for _ in progress_bar(range(30), desc='steps', mininterval=0.05):\n    time.sleep(0.01)\n", tmp_path)
    assert len(outputs) == 1, outputs
    text = outputs[0]["data"]["text/plain"]
    assert "30/30" in text and text.startswith("steps: 100%"), text
    assert "application/vnd.jupyter.widget-view+json" not in outputs[0]["data"]


def test_a_bar_that_does_not_stay_is_cleared_when_it_closes(tmp_path):
    outputs = _run_cell("from minilatte.progress import progress_bar\n"
                        "for _ in progress_bar(range(5), desc='sampling', leave=False):\n    pass\n", tmp_path)
    assert [o["data"]["text/plain"] for o in outputs] == [""]


def test_outside_jupyter_the_bar_is_text_on_stderr(capsys):
    for _ in progress_bar(range(3), desc="steps"):
        pass
    captured = capsys.readouterr()
    assert "3/3" in captured.err and captured.out == ""
