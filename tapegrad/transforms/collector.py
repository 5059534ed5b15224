"""Pausing Python's cyclic garbage collector while jit traces and compiles.

Layer 4 of tapegrad (``tapegrad/transforms``), used by :mod:`tapegrad.transforms.jit`.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

# The collector pause is shared by every thread that compiles: the first to
# enter turns the collector off (if it was on), the last to leave turns it
# back on. Reading gc.isenabled() and calling gc.disable() separately in
# each thread would let one thread record "off" while another's pause is
# on, and leave the collector off for good.
_PAUSE_LOCK = threading.Lock()
_pausers = 0
_resume = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while our own code runs, then restore it.

    Tracing and compiling create objects per record that all survive until
    the step is compiled: for a tape of a million records the collector
    would keep rescanning millions of live objects, which doubled the compile
    time or worse. The traced function and tapegrad's compiler run inside;
    reference counting still frees everything that is not a cycle, so only
    cyclic garbage the traced function makes waits until the pause ends. The
    collector's state is restored even if they fail, and when several
    threads compile at once. The switch is process-wide: code in other
    threads runs without collections meanwhile.
    """
    global _pausers, _resume
    with _PAUSE_LOCK:
        if _pausers == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pausers += 1
    try:
        yield
    finally:
        with _PAUSE_LOCK:
            _pausers -= 1
            if _pausers == 0 and _resume:
                gc.enable()
