"""What every command shows besides its result: the progress bar on stderr and the one error line."""

from __future__ import annotations

import sys

from pipeline.errors import BadInput, StudioError


class ProgressBar:
    """A tqdm bar on stderr showing the whole job's progress and the current stage."""

    def __init__(self) -> None:
        from tqdm import tqdm

        # Only on a terminal: a script reading stderr gets nothing but the one error line.
        self._bar = tqdm(total=100, file=sys.stderr, unit="%", leave=False, disable=not sys.stderr.isatty(),
                         bar_format="{desc:<10} {bar} {n:.0f}% [{elapsed}]")

    def __call__(self, fraction: float, message: str) -> None:
        self._bar.set_description_str(message, refresh=False)
        self._bar.n = round(fraction * 100, 1)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def fail(error: StudioError) -> int:
    """Say what went wrong in one line on stderr; the exit code: 2 for bad input, else 1."""
    print(f"error: {error}", file=sys.stderr)
    return 2 if isinstance(error, BadInput) else 1
