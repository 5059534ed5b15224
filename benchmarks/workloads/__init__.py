"""The code the benchmark times, one module per competitor or scenario.

Competitors of the moons training step (each builds a
:class:`harness.timing.Competitor` for a :class:`workloads.common.Problem`):

* :mod:`workloads.micrograd_demo` -- micrograd 0.1.0 as its demo notebook runs it;
* :mod:`workloads.eager_user` -- tapegrad eager, a network written like micrograd's ``Neuron``;
* :mod:`workloads.eager_nn` -- tapegrad eager with :mod:`tapegrad.nn`;
* :mod:`workloads.tapegrad_jit` -- ``tapegrad.jit`` replaying a compiled step;
* :mod:`workloads.handwritten` -- the step written by hand with floats and lists.

Scenarios:

* :mod:`workloads.moons_step` -- verify the competitors against each other, then time them in paired rounds;
* :mod:`workloads.training` -- the full 100-step training of ``examples/moons.py``, eager and jit;
* :mod:`workloads.scale` -- a million-operation chain, a bigger network, where micrograd breaks;
* :mod:`workloads.memory` -- tracemalloc peaks per tape record and per micrograd node;
* :mod:`workloads.probe` -- the small measurement run under each interpreter of ``--python``.

Only the public API is used: ``import tapegrad as tg``, :mod:`tapegrad.nn`,
:mod:`tapegrad.datasets` and :mod:`tapegrad.core.tree` (and ``Jitted.stats``).
"""
