"""Progress bars that read the same live and in a saved notebook.

In a terminal a bar is plain ``tqdm`` on stderr. In a Jupyter kernel it is the same text bar, drawn
into one display output that is redrawn in place. That output is what the notebook saves, so a
notebook executed to the end keeps the finished bar (``2700/2700 [02:32<00:00, 17.7step/s]``). A widget
bar (``tqdm.auto``) would save only the text it had when it was first shown — ``0/2700`` — and
that frozen bar is what a reader of the committed notebook would see.
"""
from __future__ import annotations

import sys

from tqdm.std import tqdm

__all__ = ["progress_bar"]


class _DisplayLine:
    """A file-like object for tqdm: each line tqdm draws replaces one display output."""

    def __init__(self):
        from IPython.display import display
        self._handle = display({"text/plain": ""}, raw=True, display_id=True)

    def write(self, text: str) -> None:
        if text.strip("\n"):          # a closing newline only ends the line; spaces clear it
            self._handle.update({"text/plain": text.replace("\r", "").strip("\n").rstrip()}, raw=True)

    def flush(self) -> None:
        pass


def _in_jupyter_kernel() -> bool:
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def progress_bar(iterable=None, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)``, drawn into a display output that is redrawn in place in Jupyter.

    In a notebook every redraw replaces the same output, so a saved notebook carries one line, not the
    bar's history; redraws come at most once a second (``mininterval``) to keep the kernel's traffic low.
    """
    if _in_jupyter_kernel() and not kwargs.get("disable", False):
        kwargs.setdefault("mininterval", 1.0)
        kwargs.update(file=_DisplayLine(), ncols=100, dynamic_ncols=False)
    return tqdm(iterable, **kwargs)
