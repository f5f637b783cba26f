"""Captioned real videos, WebVid-style: an index file of (video path, caption) rows next to the videos.

The index is a CSV with a header that has the columns ``path`` and ``caption`` (other columns are
ignored), or a JSONL file with one ``{"path": ..., "caption": ...}`` object per line. Paths are
relative to the index file's folder (or absolute); a path may be a video file or a folder of frames.
Clips go through ``VideoFolder``'s pipeline (temporal crop, resize and centre crop, flip, [-1, 1])
and its bad-input handling: a row whose file is missing, unreadable, corrupt or too short, whose
caption is empty, or which repeats an earlier row's path is skipped with one warning and listed in
``skipped`` as (path or row, reason); a file that breaks after the probe is replaced by the next
usable clip. An index without the two columns, or with no usable row, is an error.

Item = {"video": (F, 3, S, S) in [-1, 1], "label": 0, "path": str, "caption": str}.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from ..files import read_text
from .video_folder import VideoFolder

INDEX_FORMATS = (".csv", ".jsonl")


class CaptionedVideoFolder(VideoFolder):
    """The videos listed in ``index`` (a .csv or .jsonl file of path + caption), with their captions.

    Other arguments as for ``VideoFolder`` (no ``layout``: the index says which files are clips).
    """

    def __init__(self, index: str | os.PathLike, num_frames: int = 16, frame_interval: int = 3,
                 image_size: int = 256, train: bool = True, seed: int = 0, flip: bool | None = None):
        if not isinstance(index, (str, os.PathLike)):
            raise TypeError(f"index must be the path of a .csv or .jsonl file, got {type(index).__name__}")
        self.index = Path(index)
        if self.index.suffix not in INDEX_FORMATS:
            raise ValueError(f"index={str(index)!r} is not a .csv or .jsonl file")
        if not self.index.is_file():
            raise FileNotFoundError(f"caption index {str(index)!r} does not exist")
        self.captions: dict[str, str] = {}
        super().__init__(self.index.parent, num_frames, frame_interval, image_size, None, train, seed, flip)

    def _find_clips(self) -> list[Path]:
        """The index's rows, in order: each usable row's path, its caption kept in ``captions``."""
        paths = []
        for where, path, text in self._rows():
            if not isinstance(path, str) or not path.strip():
                self._skip(where, "no path")
                continue
            full = self.root / path                       # an absolute path stays as it is
            if not isinstance(text, str) or not text.strip():
                self._skip(full, "empty caption")
            elif str(full) in self.captions:
                self._skip(where, f"{path} is listed twice; its first caption is kept")
            elif not full.exists():
                self._skip(full, "missing")
            else:
                self.captions[str(full)] = text.strip()
                paths.append(full)
        return paths

    def _rows(self):
        """(where, path, caption) for every row of the index; ``where`` names the row for warnings."""
        # UTF-8, with or without a byte-order mark (as spreadsheet programs save CSV); anything else is
        # one line naming the file.
        with io.StringIO(read_text(self.index, "caption index"), newline="") as file:
            if self.index.suffix == ".csv":
                reader = csv.DictReader(file)
                if not {"path", "caption"} <= set(reader.fieldnames or ()):
                    raise ValueError(f"index {str(self.index)!r} needs a header with the columns path and caption; "
                                     f"got {reader.fieldnames}")
                for line, row in enumerate(reader, start=2):
                    yield f"{self.index.name}:{line}", row["path"], row["caption"]
                return
            for line, text in enumerate(file, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as err:
                    self._skip(f"{self.index.name}:{line}", f"not JSON ({err.msg})")
                    continue
                if not isinstance(row, dict):
                    self._skip(f"{self.index.name}:{line}", "not a JSON object with path and caption")
                    continue
                yield f"{self.index.name}:{line}", row.get("path"), row.get("caption")

    def _expects(self) -> str:
        return f"the index {self.index.name} lists no usable video file or frame folder with a caption"

    def __repr__(self) -> str:
        return (f"CaptionedVideoFolder({str(self.index)!r}, {len(self.clips)} clips, {len(self.skipped)} skipped, "
                f"{self.num_frames} frames every ~{self.frame_interval} at {self.image_size}²)")

    def __getitem__(self, index: int) -> dict:
        item = super().__getitem__(index)
        return {**item, "caption": self.captions[item["path"]]}
