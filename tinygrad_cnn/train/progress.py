"""Progress output of ``fit``: a tqdm bar per epoch on a terminal, one summary line per epoch."""

from __future__ import annotations

import sys


def _format_logs(logs: dict) -> str:
    parts = []
    for key, value in logs.items():
        if key == "time":
            continue
        parts.append(f"{key} {value:.3g}" if key == "lr" else f"{key} {value:.4f}")
    return "  ".join(parts)


class Progress:
    """Shows a bar while an epoch runs and prints a line when it ends.

    verbose=0: silent; verbose=1: bar (only when stderr is a terminal and tqdm is installed)
    plus one line per epoch on stdout; verbose=2: the lines only.
    """

    def __init__(self, verbose: int = 1, epochs: int = 1, stream=None):
        self.verbose = int(verbose)
        self.epochs = epochs
        self.stream = stream
        self._bar = None

    def _use_bar(self) -> bool:
        if self.verbose != 1 or not sys.stderr.isatty():
            return False
        try:
            import tqdm  # noqa: F401, PLC0415 - optional dependency
        except ImportError:
            return False
        return True

    def start_epoch(self, epoch: int, batches: int, done: int = 0) -> None:
        """Open the bar of epoch ``epoch`` (of ``batches`` steps, ``done`` of them already: a
        resumed epoch), when there is one."""
        if self._use_bar():
            from tqdm import tqdm  # noqa: PLC0415

            self._bar = tqdm(total=batches, initial=done, desc=f"epoch {epoch}/{self.epochs}",
                             unit="batch", leave=False, file=sys.stderr, dynamic_ncols=True)

    def update(self, running: dict) -> None:
        """One step done: advance the bar and show the ``running`` averages on it."""
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in running.items()}, refresh=False)

    def end_epoch(self, epoch: int, logs: dict, seconds: float) -> None:
        """Close the bar and print the epoch's line: its ``logs`` and ``seconds`` taken."""
        self.close()
        if self.verbose >= 1:
            print(f"epoch {epoch}/{self.epochs}  {_format_logs(logs)}  ({seconds:.1f}s)",
                  file=self.stream or sys.stdout, flush=True)

    def message(self, text: str) -> None:
        """Print ``text`` on a line of its own (closing the bar), unless verbose=0."""
        if self.verbose >= 1:
            self.close()
            print(text, file=self.stream or sys.stdout, flush=True)

    def close(self) -> None:
        """Remove the bar, if one is open; safe to call again."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
