"""Layers 1 and 2 of tapegrad: the data model, which knows nothing of transforms.

- :mod:`~tapegrad.core.primitive`: what a primitive is, and the registry of rules;
- :mod:`~tapegrad.core.float_math`: float functions the forward rules call that math lacks;
- :mod:`~tapegrad.core.numpy_math`: their NumPy forms, for vmap's numpy back end;
- :mod:`~tapegrad.core.batch`: batches, the values under vmap (one number per example);
- :mod:`~tapegrad.core.rule_table`: the rule table, one row per built-in primitive;
- :mod:`~tapegrad.core.records`: the frozen public view of a record, and its text;
- :mod:`~tapegrad.core.tape`: the Wengert tape;
- :mod:`~tapegrad.core.traced`: traced scalars, and ``bind``, which turns an
  operation into a record;
- :mod:`~tapegrad.core.functions`: the public math functions;
- :mod:`~tapegrad.core.tree`: parameter trees (flatten, unflatten, their shapes), and vmap's BatchedResult;
- :mod:`~tapegrad.core.tree_utils`: the public leaf-wise utilities (``tree_map``, ``tree_add``, ...).

Each module imports only the ones listed before it (tests/test_layers.py checks).
"""
