"""Layer 3 of tapegrad: jit's compiler, from a recorded tape to a Python function.

- :mod:`~tapegrad.compiler.program`: a tape as a straight-line program over registers, built by
  named passes (liveness and pasting, register allocation and emission);
- :mod:`~tapegrad.compiler.lowering`: how a primitive's forward rule becomes code, read once
  for every back end;
- :mod:`~tapegrad.compiler.backends`: the portable source back end, and the back-end dispatch
  ``make_replay``;
- :mod:`~tapegrad.compiler.bytecode310`: the CPython 3.10 bytecode assembler;
- :mod:`~tapegrad.compiler.assembler`: the bytecode assembler of CPython 3.11 to 3.13, whose
  version modules :mod:`~tapegrad.compiler.bytecode311`, :mod:`~tapegrad.compiler.bytecode312`
  and :mod:`~tapegrad.compiler.bytecode313` each give their version's dialect.

The compiler reads the core (tapes, primitives, batch classes) and nothing of the interpreters
beside it in ``tapegrad/interpret``; :mod:`tapegrad.transforms.jit` drives it.
"""
