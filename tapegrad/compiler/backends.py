"""Turning a program into a Python function: the jit's back ends and their dispatch.

Layer 3 of tapegrad (``tapegrad/compiler``).

A back end turns a :class:`tapegrad.compiler.program.Program` into a
function ``replay(x)`` that takes the flat list of input values and returns
the flat list of outputs:

- :func:`to_source` writes Python source, one line per stored value
  (``r7 = r3 * r5``, or ``r9 = r4 + r7 * r8`` with a pasted product), and
  :func:`compile_source` compiles it. It works on every Python version and is easy to read, but
  CPython's compiler needs about 4 microseconds per operation, pasted or
  not, which for a training step of 190,000 records is most of a second.
- The assemblers (``bytecode310``, and ``bytecode311``, ``bytecode312``,
  ``bytecode313`` over the shared :mod:`tapegrad.compiler.assembler`) write
  the running version's bytecode directly, the same instructions the
  compiler would produce for that source, in a fraction of the time. Each
  is used on its own CPython version only, and :func:`make_replay` is the
  one place that knows they exist: any other Python takes the source.

Both back ends compute exactly what the eager forward rules compute (the
same float functions, in the same order), so a replay's values equal an
eager run's bit for bit. Its gradients equal the eager ones as numbers: the
eager sweep skips records whose adjoint is exactly zero, which the
straight-line replay multiplies through (see
:func:`tapegrad.interpret.sweep.reverse_sweep`).
"""

from __future__ import annotations

import functools
import math
import sys
from typing import Any, Optional

from tapegrad.compiler.lowering import lowering
from tapegrad.compiler.program import GuardFailed, Operand, Program, Replay
from tapegrad.core.batch import Batch, BoolBatch, evaluate_batch
from tapegrad.core.primitive import PRIMITIVES, VARIADIC, Primitive

# -- back end 1: Python source ---------------------------------------------------


def _source_template(prim: Primitive) -> str:
    """The forward rule as source with ``{0}``, ``{1}`` where the operands go."""
    low = lowering(prim)
    if low.kind == "binary":
        return f"{{0}} {low.op} {{1}}"
    if low.kind == "copy":
        return "{0}"
    if low.kind == "select":

        def side(v: Optional[float]) -> str:
            return "{0}" if v is None else repr(v)

        return f"{side(low.when_true)} if {{0}} {low.compare} {low.threshold!r} else {side(low.when_false)}"
    # A call: of the named float function, or of the primitive's own.
    return f"_p{prim.id}({', '.join(f'{{{k}}}' for k in range(prim.arity))})"


def to_source(program: Program) -> tuple[str, dict[str, Any]]:
    """Python source of ``replay(x)`` and the global namespace it needs."""
    namespace: dict[str, Any] = {"GuardFailed": GuardFailed}
    number = program.local_numbers()

    def text(a: Operand) -> str:
        if a >= 0:
            return f"r{number[a]}"
        v = program.consts[~a]
        if v.__class__ is float and math.isfinite(v):
            return repr(v)
        name = f"_k{len(namespace)}"
        namespace[name] = v
        return name

    templates: dict[int, str] = {}
    lines = ["def replay(x):", "    if x is None:", "        return None  # see _warm_up"]
    if program.inputs:
        lines.append(f"    {', '.join(text(r) for r in program.inputs)}, = x")
    # Pasted values (see Program) wait here as parenthesized text until
    # their one reader, which comes later in the body, takes them.
    inline_base = program.inline_base
    pending: dict[int, str] = {}
    take = pending.pop
    batched = program.batched or bytes(len(program.body))
    variadic = {p.id for p in PRIMITIVES if p.arity == VARIADIC}
    for ins, on_batch in zip(program.body, batched):
        if isinstance(ins, tuple):
            dest, pid, operands = ins
            texts = [take(a) if a >= inline_base else text(a) for a in operands]
            kind = lowering(PRIMITIVES[pid]).kind
            if on_batch and kind not in ("binary", "copy", "sum", "mean"):
                # Batches (vmap) go through their own operations; infix operators
                # (and sums written with them) work on batches as written.
                expr = f"{_batched_call(pid, namespace)}({', '.join(texts)})"
            elif pid in variadic:
                # How a variadic record is written depends on how many operands it has.
                if kind == "sum":
                    expr = " + ".join(texts)
                elif kind == "mean":
                    expr = f"({' + '.join(texts)}) / {float(len(texts))!r}"
                else:
                    namespace[f"_p{pid}"] = lowering(PRIMITIVES[pid]).fn
                    expr = f"_p{pid}({', '.join(texts)})"
            else:
                template = templates.get(pid)
                if template is None:
                    prim = PRIMITIVES[pid]
                    template = templates[pid] = _source_template(prim)
                    low = lowering(prim)
                    if low.fn is not None:
                        namespace[f"_p{pid}"] = low.fn
                expr = template.format(*texts)
            if dest >= inline_base:
                pending[dest] = f"({expr})"
            else:
                lines.append(f"    {text(dest)} = {expr}")
        else:
            test = f"{text(ins.a)} {ins.op} {text(ins.b)}"
            lines.append(f"    if {'not ' if ins.outcome else ''}({test}): raise GuardFailed({ins.number})")
    lines.append(f"    return [{', '.join(text(o) for o in program.outputs)}]")
    return "\n".join(lines) + "\n", namespace


def _batched_call(pid: int, namespace: dict[str, Any]) -> str:
    """The name of the function that applies primitive ``pid`` to batches (see tapegrad.core.batch)."""
    name = f"_b{pid}"
    if name not in namespace:
        prim = PRIMITIVES[pid]
        namespace[name] = prim.impl if prim.reduces else functools.partial(_apply_batched, prim)
    return name


def _apply_batched(prim: Primitive, *args: Any) -> Any:
    if any(isinstance(a, (Batch, BoolBatch)) for a in args):
        return evaluate_batch(prim, [a.mask if isinstance(a, BoolBatch) else a for a in args])
    return prim.evaluate(args)


def compile_source(program: Program, filename: str = "<tapegrad jit>") -> tuple[Replay, str]:
    """Compile the program through Python source; returns the function and the source."""
    source, namespace = to_source(program)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - generated from the tape
    fn: Replay = namespace["replay"]
    return fn, source


# The CPython versions with a bytecode assembler of their own. Each writes
# its version's instruction set and reads that interpreter's internals, so
# it is used on that version only; any other Python (a version newer than
# this code, or another implementation) compiles the portable source.
ASSEMBLED_VERSIONS = ((3, 10), (3, 11), (3, 12), (3, 13))
ASSEMBLER_AVAILABLE = sys.implementation.name == "cpython" and sys.version_info[:2] in ASSEMBLED_VERSIONS

# CPython 3.11 and later rewrite a function's bytecode into its faster,
# specializing form once the function has been called a few times.
_WARMUP_CALLS = 8


def _warm_up(fn: Replay) -> None:
    """Get the interpreter's specialization of ``fn`` done before the first real replay.

    A generated function runs its straight line once per call, so without
    this the first eight replays (a good part of a short training run) would
    run about 40% slower. Called with None, the function returns at once.
    """
    for _ in range(_WARMUP_CALLS):
        fn(None)  # type: ignore[arg-type]


_VARIADIC_IDS = frozenset(p.id for p in PRIMITIVES if p.arity == VARIADIC)


def _has_variadic(program: Program) -> bool:
    return any(isinstance(ins, tuple) and ins[1] in _VARIADIC_IDS for ins in program.body)


def make_replay(program: Program, backend: str = "auto") -> tuple[Replay, str]:
    """Compile ``program`` with the chosen back end ("auto", "bytecode" or "source").

    Returns the function and a description: the generated source for the
    source back end, or a note for the bytecode one (call :func:`to_source`
    to read the equivalent Python).
    """
    if backend not in ("auto", "bytecode", "source"):
        raise ValueError(f"backend must be 'auto', 'bytecode' or 'source', got {backend!r}")
    if any(program.batched) or _has_variadic(program):
        # Batches (vmap) go through their own operations, and a variadic
        # record's code depends on its operand count: the source back end
        # writes both; the assemblers know neither (yet).
        fn, description = compile_source(program)
    elif backend == "bytecode" or (backend == "auto" and ASSEMBLER_AVAILABLE):
        # Imported here, and only here: the rest of tapegrad never sees the
        # version-specific assemblers, and each version loads only its own.
        version = sys.version_info[:2]
        if not ASSEMBLER_AVAILABLE:
            raise RuntimeError(
                f"no bytecode assembler for {sys.implementation.name} {version[0]}.{version[1]} "
                f"(there are for CPython {', '.join(f'{a}.{b}' for a, b in ASSEMBLED_VERSIONS)}); use backend='source'"
            )
        if version == (3, 10):
            from tapegrad.compiler.bytecode310 import assemble
        elif version == (3, 11):
            from tapegrad.compiler.bytecode311 import assemble
        elif version == (3, 12):
            from tapegrad.compiler.bytecode312 import assemble
        else:
            from tapegrad.compiler.bytecode313 import assemble

        fn, description = assemble(program), "bytecode"
    else:
        fn, description = compile_source(program)
    _warm_up(fn)
    return fn, description
