"""The notebooks as a learner runs them: JupyterLab in a real browser, Run All, then the widgets.

nbval executes notebooks headless and never renders an output or a widget. Here a ``jupyter lab``
server on a free localhost port (with a token) serves copies of notebooks in the ``ci`` tier; the
system's Chromium, driven by Playwright, opens each one, runs every cell from the *Run* menu, waits
for the kernel to go idle and then checks what a learner sees: no cell failed, GIFs and plots are
images, the ipywidgets controls render and redraw their plot when moved. Notebook 03's check is
the attention explorer: another noise level must show another map.

Needs Chromium (Debian: ``apt-get install chromium``; ``$CHROMIUM`` names another binary) and the
``playwright`` Python package; no browser is downloaded. Screenshots go to ``test-artifacts/browser/``.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect, sync_playwright

from conftest import stop_process
from minilatte.assignments import make_student_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
RUN_ALL_TIMEOUT_S = 240
STUDENT = "05_positional_encodings.ipynb"                # its student version is run too


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is not installed: `apt-get install chromium` (Debian/Ubuntu), or set $CHROMIUM "
                    "to a Chromium binary; the browser test needs it and downloads nothing")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on copies of the notebooks, ci tier, its own settings; yields its base URL."""
    work = tmp_path_factory.mktemp("lab")
    served = work / "notebooks"
    served.mkdir()
    for path in NOTEBOOKS.glob("*.ipynb"):               # copies: autosave never touches the course
        shutil.copy(path, served)
    student = make_student_notebook(nbformat.read(NOTEBOOKS / STUDENT, as_version=4), STUDENT)
    nbformat.write(student, served / f"student-{STUDENT}")
    settings = work / "settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    env = dict(os.environ, MINILATTE_TIER="ci", JUPYTER_CONFIG_DIR=str(work / "config"),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"))
    port, token = free_port(), secrets.token_hex(16)
    log = (work / "lab.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
                               f"--port={port}", f"--IdentityProvider.token={token}",
                               f"--ServerApp.root_dir={served}", "--LabApp.expose_app_in_browser=True",
                               "--allow-root"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited with {server.returncode}:\n{(work / 'lab.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("jupyter lab did not answer within 60 s")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", token, served
    finally:
        stop_process(server, timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def pages(browser):
    """Pages opened by a test; afterwards their kernels are shut down and the pages closed."""
    opened = []
    yield opened
    for page in opened:
        try:
            page.evaluate("() => { window.jupyterapp.shell.currentWidget?.sessionContext.shutdown(); }")
        finally:
            page.close()


def menu(page, title, item):
    page.locator(".lm-MenuBar-itemLabel", has_text=title).first.click()
    entry = page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=item).first
    entry.wait_for()
    entry.click()
    expect(page.locator(".lm-Menu")).to_have_count(0)                 # the menu closed: the command ran


def run_all(pages, browser, lab, name):
    """Open ``name`` in JupyterLab, Run All from the menu, wait for the kernel to be idle; return the page."""
    url, token, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    pages.append(page)
    # A workspace of its own and a reset: no tab of an earlier test comes back.
    page.goto(f"{url}/lab/workspaces/{Path(name).stem}/tree/{name}?reset&token={token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)
    page.wait_for_function("""() => {                          // the kernel has started and is connected
        const kernel = window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel;
        return kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
    }""", timeout=90_000, polling=250)
    menu(page, "Edit", "Clear Outputs of All Cells")          # the committed outputs go, counts too
    menu(page, "Run", "Run All Cells")
    page.wait_for_function("""() => window.jupyterapp.shell.currentWidget.content.widgets.some(cell =>
        cell.model.type === 'code' && (cell.model.executionState === 'running' || cell.model.executionCount !== null))
    """, timeout=60_000, polling=250)                              # Run All has started
    # Done when no cell is queued or running and the kernel is idle; then every code cell must have run
    # (Run All stops at the first error: the cells after it keep no execution count).
    # The kernel is idle for a moment between two queued cells, and JupyterLab renders only the cells in
    # view, so "done" must also hold 3 s later with no new cell run (a loaded machine showed the gap).
    idle = """() => {
        const panel = window.jupyterapp.shell.currentWidget;
        const code = panel.content.widgets.filter(cell => cell.model.type === 'code');
        return code.some(cell => cell.model.executionCount !== null)
            && code.every(cell => cell.model.executionState !== 'running')
            && ![...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')].some(p => p.textContent.includes('*'))
            && panel.sessionContext.session.kernel.status === 'idle';
    }"""
    executed = """() => window.jupyterapp.shell.currentWidget.content.widgets
        .filter(cell => cell.model.type === 'code' && cell.model.executionCount !== null).length"""
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    try:
        while True:
            page.wait_for_function(idle, timeout=max(1.0, deadline - time.monotonic()) * 1000, polling=500)
            before = page.evaluate(executed)
            page.wait_for_timeout(3000)
            if page.evaluate(idle) and page.evaluate(executed) == before:
                break
    finally:
        page.screenshot(path=str(ARTIFACTS / f"{Path(name).stem}-after-run-all.png"))
    return page


def cell_errors(page):
    """{cell index: "ename: evalue"} of the cells with an error output, as JupyterLab holds the notebook."""
    return dict(page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
        .map((cell, index) => [index, cell.model.type === 'code' ? cell.model.outputs.toJSON() : []])
        .flatMap(([index, outputs]) => outputs.filter(o => o.output_type === 'error')
                                             .map(o => [index, `${o.ename}: ${o.evalue}`]))"""))


def assert_no_errors(page, name, allowed=()):
    """No cell but ``allowed`` has an error output, every code cell ran, no widget failed to render."""
    errors = {index: error for index, error in cell_errors(page).items() if index not in allowed}
    assert not errors, f"{name}: cells failed in JupyterLab:\n" + "\n".join(f"cell {i}: {e}" for i, e in errors.items())
    not_run = page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
        .map((cell, index) => [index, cell.model.type === 'code' && cell.model.executionCount === null])
        .filter(([index, missing]) => missing).map(([index]) => index)""")
    assert not not_run, f"{name}: Run All did not reach the code cells {not_run}"
    notebook = page.locator(".jp-Notebook")
    expect(notebook.get_by_text("Error displaying widget")).to_have_count(0)
    expect(notebook.get_by_text("Loading widget...")).to_have_count(0)


def code_cell(page, text):
    """The one code cell whose source contains ``text``, scrolled into view."""
    cell = page.locator(".jp-CodeCell").filter(has=page.locator(".jp-InputArea", has_text=text))
    expect(cell).to_have_count(1)
    cell.scroll_into_view_if_needed()
    return cell


def widget_plot(cell):
    """The plot that a widget cell draws, as <img> data."""
    image = cell.locator(".jp-OutputArea-output .jupyter-widgets img, .jp-OutputArea-output img").last
    expect(image).to_be_visible(timeout=30_000)
    return image.get_attribute("src")


def expect_redraw(page, cell, before, what):
    """Wait until the cell's widget plot differs from ``before`` and has settled (the kernel idle and the
    image unchanged for a second: a slider moved in steps redraws once per step); return the image data."""
    deadline, last, since = time.monotonic() + 60, None, time.monotonic()
    while time.monotonic() < deadline:
        images = cell.locator(".jp-OutputArea-output img")
        src = images.last.get_attribute("src") if images.count() else None
        if src != last:
            last, since = src, time.monotonic()
        idle = page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status")
        if last and last != before and idle == "idle" and time.monotonic() - since > 1.0:
            return last
        time.sleep(0.25)
    pytest.fail(f"{what}: the plot did not change")


def widget_cell(pages, browser, lab, name, text, shot):
    """Run All of ``name``, no errors; the widget cell whose source has ``text``, its plot and a screenshot."""
    page = run_all(pages, browser, lab, name)
    assert_no_errors(page, name)
    cell = code_cell(page, text)
    plot = widget_plot(cell)
    cell.screenshot(path=str(ARTIFACTS / shot))
    return page, cell, plot


def move_slider(cell, presses, readout):
    """Move the cell's (first) slider by ``presses`` steps with the keyboard, as a learner can."""
    handle = cell.locator(".widget-hslider .noUi-handle").first
    handle.focus()
    for _ in range(presses):
        handle.press("ArrowRight")
    expect(cell.locator(".widget-readout").first).to_have_text(readout)


def test_tour_in_jupyterlab(pages, browser, lab):
    """Notebook 00: the videos are GIFs, the plots PNGs, and the frame scrubber moves through the frames."""
    page = run_all(pages, browser, lab, "00_tour.ipynb")
    assert_no_errors(page, "00_tour.ipynb")
    outputs = page.locator(".jp-Notebook .jp-OutputArea-output")
    gifs = outputs.locator("img[src^='data:image/gif']")
    pngs = outputs.locator("img[src^='data:image/png']")
    assert gifs.count() >= 2, "the first videos and the denoising animation are shown as GIF images"
    assert pngs.count() >= 4, "filmstrips, the pipeline map and the trajectory are shown as PNG images"
    for index in range(gifs.count()):
        assert gifs.nth(index).evaluate("img => img.complete && img.naturalWidth > 0"), "a GIF did not decode"

    first = code_cell(page, "first_videos.gif")
    first.screenshot(path=str(ARTIFACTS / "00-first-videos.png"))
    scrubber = code_cell(page, "interactive_output(show_frame")
    expect(scrubber.locator(".widget-play, .jupyter-widgets button").first).to_be_visible()
    frame0 = widget_plot(scrubber)
    scrubber.screenshot(path=str(ARTIFACTS / "00-scrubber-frame-0.png"))
    move_slider(scrubber, 3, "3")
    expect_redraw(page, scrubber, frame0, "00: moving the frame scrubber to frame 3")
    scrubber.screenshot(path=str(ARTIFACTS / "00-scrubber-frame-3.png"))


def test_attention_explorer_in_jupyterlab(pages, browser, lab):
    """Notebook 03: after Run All the explorer recomputes the maps for another noise level."""
    page, explorer, at_300 = widget_cell(pages, browser, lab, "03_spatial_temporal_attention.ipynb",
                                         "interact(show_attention", "03-explorer-t300.png")
    explorer.locator(".widget-dropdown select").first.select_option("900")
    at_900 = expect_redraw(page, explorer, at_300, "03: the attention explorer at t=900 (stale maps from t=300?)")
    explorer.screenshot(path=str(ARTIFACTS / "03-explorer-t900.png"))
    explorer.locator(".widget-dropdown select").first.select_option("300")
    assert expect_redraw(page, explorer, at_900, "03: back to t=300") == at_300, "t=300 must show its maps again"


def test_timestep_slider_in_jupyterlab(pages, browser, lab):
    """Notebook 04: the timestep slider redraws the embedding of the chosen t."""
    page, cell, before = widget_cell(pages, browser, lab, "04_conditioning.ipynb", "interact(show_timestep",
                                     "04-timestep-500.png")
    move_slider(cell, 20, "700")
    expect_redraw(page, cell, before, "04: moving the timestep slider to 700")
    cell.screenshot(path=str(ARTIFACTS / "04-timestep-700.png"))



def test_student_version_runs_past_unsolved_exercises_in_jupyterlab(pages, browser, lab):
    """A student copy of notebook 05: Run All fails at each check and still runs every cell after it."""
    name = f"student-{STUDENT}"
    page = run_all(pages, browser, lab, name)
    student = nbformat.read(lab[2] / name, as_version=4)
    checks = [index for index, cell in enumerate(student.cells) if cell.metadata.get("nbgrader", {}).get("grade")]
    assert len(checks) >= 2
    errors = cell_errors(page)
    assert sorted(errors) == checks, f"only the checks fail: {errors}"
    assert all(error.startswith("NotImplementedError: Exercise: ") for error in errors.values()), errors
    assert_no_errors(page, name, allowed=checks)      # and every cell after them ran
