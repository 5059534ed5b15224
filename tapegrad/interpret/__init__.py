"""Layer 3 of tapegrad: interpreters over a recorded tape.

- :mod:`~tapegrad.interpret.rules`: derivative rules as functions, and what a sweep does with one record;
- :mod:`~tapegrad.interpret.reverse_loops`: the reverse loops, GENERATED from the rule table
  by :mod:`~tapegrad.interpret.generate`;
- :mod:`~tapegrad.interpret.sweep`: the reference reverse sweep, the dispatch to the generated
  loops, and the forward sweep;
- :mod:`~tapegrad.interpret.program`: a tape as a straight-line program over registers;
- :mod:`~tapegrad.interpret.codegen`: the jit's portable source back end, and the back-end dispatch;
- :mod:`~tapegrad.interpret.bytecode310`: the CPython 3.10 bytecode assembler;
- :mod:`~tapegrad.interpret.assembler`: the bytecode assembler of CPython 3.11 to 3.13, whose
  version modules :mod:`~tapegrad.interpret.bytecode311`, :mod:`~tapegrad.interpret.bytecode312`
  and :mod:`~tapegrad.interpret.bytecode313` each give their version's dialect.
"""
