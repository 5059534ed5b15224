"""Layer 4 of tapegrad: function transformations built on the interpreters.

- :mod:`~tapegrad.transforms.grad`: grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp, trace;
- :mod:`~tapegrad.transforms.signatures`: their static types (overloads, and the typed objects they return);
- :mod:`~tapegrad.transforms.arguments`: what every transform does around the function (traced inputs, output checks);
- :mod:`~tapegrad.transforms.custom`: user-defined primitives (``primitive``, ``defvjp``);
- :mod:`~tapegrad.transforms.jit`: trace once, replay many times;
- :mod:`~tapegrad.transforms.captures`: what a function reads from its closure and globals (jit warns);
- :mod:`~tapegrad.transforms.vmap`: one example's program run on whole batches.
"""
