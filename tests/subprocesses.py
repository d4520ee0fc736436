"""Helpers for tests that start Python subprocesses."""

import signal


def sigint_default() -> None:
    """``preexec_fn`` for a child that the test interrupts with SIGINT: a suite started in the
    background (``pytest ... &``) runs with SIGINT ignored, which the child would inherit, and
    Python (and ``fit``, which respects an ignored SIGINT) would then never see the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
