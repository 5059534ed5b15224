"""Names people give values and stretches of a computation, for the views to print.

Layer 1 of tapegrad (``tapegrad/core``); it imports only the tape.

``tapegrad.name(h, "h1")`` returns ``h`` itself and writes the name into a
side table of the tape that recorded ``h`` (and of every open tape under it,
when tapes nest), keyed by the record's index. ``with tapegrad.name_scope("layer 1"):``
remembers which range of records the block appended, on every open tape.
The records themselves stay as they were: nothing is appended, no value
changes, and the sweeps, jit's programs and vmap never read the side tables,
so a name cannot change a number or a replay. The views do read them: a
named record prints as ``v5 (h1)`` in the tape's text, the evaluation-trace
tables, the DOT drawing and the explorer, which can also collapse a large
tape into its named scopes.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator, TypeVar

from tapegrad.core.tape import Handle, TapeClosedError, open_tapes

T = TypeVar("T")


class _Scopes(threading.local):
    """The names of the scopes open in this thread, outermost first."""

    def __init__(self) -> None:
        self.stack: list[str] = []


_SCOPES = _Scopes()


def _checked(label: object, where: str) -> str:
    if not isinstance(label, str):
        raise TypeError(f"{where}: a name must be a str, got {type(label).__name__} {label!r}")
    if not label.strip():
        raise ValueError(f"{where}: a name must not be empty or blank, got {label!r}")
    return label


def name(x: T, label: str) -> T:
    """Name the traced value ``x`` ``label`` on its tape, for every view to print; return ``x`` itself.

    The name is recorded beside the record that produced ``x`` (a later
    name for the same record replaces it); when tapes nest (grad of grad)
    the value underneath is named on the outer tapes too. A plain number or
    a batch outside any tape has no record, so it is returned as it is:
    the same code runs traced and untraced. Naming a value whose tape has
    closed raises :class:`tapegrad.TapeClosedError`.
    """
    label = _checked(label, "tapegrad.name")
    value: object = x
    outermost = True
    while isinstance(value, Handle):
        tape = value._t
        if tape._live is None:
            if outermost:
                raise TapeClosedError(
                    f"tapegrad.name({label!r}): v{value._i} belongs to {tape.name}, which has closed; "
                    "name values inside the function being traced"
                )
            break  # a tape further out has closed: its records can no longer change
        tape.set_name(value._i, label)
        value = value._v
        outermost = False
    return x


@contextlib.contextmanager
def name_scope(label: str) -> Iterator[None]:
    """Group every record appended inside the ``with`` block under ``label``, on each tape open at entry.

    Scopes nest; an inner scope's name is the path ``outer/inner``. The
    explorer's collapsed view draws one box per scope. Tapes opened inside
    the block (a ``grad`` called there) are not grouped: their records
    belong to their own tape.
    """
    label = _checked(label, "tapegrad.name_scope")
    path = "/".join([*_SCOPES.stack, label])
    starts = [(tape, len(tape)) for tape in open_tapes()]
    _SCOPES.stack.append(label)
    try:
        yield
    finally:
        _SCOPES.stack.pop()
        for tape, start in starts:
            if not tape.closed:
                tape.add_group(path, start, len(tape))


__all__ = ["name", "name_scope"]
