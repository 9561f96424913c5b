"""Live progress on stderr: one line per phase and a progress bar for downloads."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from runtime.install.views import VERBS


class ConsoleReporter:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self._bar: Progress | None = None
        self._task: int | None = None

    def phase(self, plugin: str, version: str | None, operation: str, index: int, total: int,
              phase: str) -> None:
        self._close_bar()
        what = f"{plugin} {version}" if version else plugin
        self.console.print(f"{VERBS[operation]} {what} (phase {index}/{total}: {phase})",
                           highlight=False, markup=False)

    def download(self, done: int, total: int) -> None:
        if not self.console.is_terminal:
            return
        if self._bar is None:
            self._bar = Progress("  download", BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("download", total=total)
        assert self._task is not None
        self._bar.update(self._task, completed=done)  # type: ignore[arg-type]

    def done(self) -> None:
        self._close_bar()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self._task = None
