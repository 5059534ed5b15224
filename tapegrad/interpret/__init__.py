"""Layer 3 of tapegrad: interpreters over a recorded tape.

- :mod:`~tapegrad.interpret.rules`: derivative rules as functions, and what a sweep does with one record;
- :mod:`~tapegrad.interpret.reverse_loops`: the reverse loops, GENERATED from the rule table
  by :mod:`~tapegrad.interpret.generate`;
- :mod:`~tapegrad.interpret.sweep`: the reference reverse sweep, the dispatch to the generated
  loops, and the forward sweep;

jit's compiler, which turns a tape into a Python function, is in :mod:`tapegrad.compiler`.
"""
