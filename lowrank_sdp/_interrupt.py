"""Ctrl-C during a solve: a flag read once per iteration, never an exception raised mid-kernel.

Python runs a signal handler between two bytecodes of the main thread, wherever they are. A
Numba-compiled kernel calls back into Python (``numba.core.serialize._numba_unpickle``) on its way
in or out; when the default handler raises KeyboardInterrupt there, the dispatcher returns its result
with that exception still set and CPython turns it into ``SystemError: CPUDispatcher(...) returned a
result with an exception set`` (measured: about half of the Ctrl-Cs on G81 with the default method).

So while a solve runs, SIGINT only sets a flag: the `Monitor` turns it into status INTERRUPTED at
the next iteration, and the front door returns the best point with its certificate. A second
Ctrl-C while the flag is pending hands the signal to the previous handler (KeyboardInterrupt by
default) for a user who insists: that abort is immediate, gives no result, and may surface as the
SystemError above (its ``__cause__`` is the KeyboardInterrupt).

The handler is installed only from the main thread (Python delivers signals nowhere else) and only
over a Python-level handler: SIG_IGN and SIG_DFL are left as the user set them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_pending = 0
"""Ctrl-Cs received while deferred (0: none)."""
_depth = 0
_previous = None


def requested() -> bool:
    """Has Ctrl-C been pressed during the current solve? (Always False outside the main thread.)"""
    return _pending > 0 and threading.current_thread() is threading.main_thread()


def insisted() -> bool:
    """Has Ctrl-C been pressed twice (the second one aborts)?"""
    return _pending > 1


def _handler(signum, frame) -> None:
    global _pending
    _pending += 1
    if _pending > 1 and callable(_previous):
        _previous(signum, frame)  # the user insists: KeyboardInterrupt by default


@contextmanager
def deferred() -> Iterator[None]:
    """Within this block SIGINT sets the flag read by `requested` (re-entrant; main thread only)."""
    global _depth, _previous, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _depth > 0:  # nested (maxcut around solve): the outer block owns the handler
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN / SIG_DFL / set outside Python: the user's choice stands
        yield
        return
    _previous, _pending, _depth = previous, 0, 1
    signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _previous, _pending, _depth = None, 0, 0
