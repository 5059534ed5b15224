"""tapegrad: tape-based, functional automatic differentiation for Python scalars.

Write a function of floats (or of nested lists, tuples and dicts of floats),
and transform it: ``grad(f)(params)`` gives the gradient shaped like
``params``. Every operation on a traced scalar appends one immutable record
to an explicit Wengert tape; a reverse sweep over the records computes the
gradient. See the README for a tour.

The package is layered; each layer imports only the ones below it:
``tapegrad/core`` (primitives, the rule table, the tape, traced values),
``tapegrad/interpret`` (the sweeps and the jit's code generation),
``tapegrad/transforms`` (grad and its family, jit), and on top the views
(``tables``, ``dot``) and the library (``nn``, ``datasets``, ``testing``).
"""

from tapegrad.core.functions import cos, exp, log, relu, sigmoid, sign, sin, softplus, sqrt, stop_gradient, tanh
from tapegrad.core.primitive import MissingRuleError, Primitive
from tapegrad.core.records import Arg, Guard, Lit, Record, Var
from tapegrad.core.tape import Tape, TapeClosedError, current_tape
from tapegrad.core.traced import Scalar, Traced, primal
from tapegrad.core.tree import (
    tree_add,
    tree_dot,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_scale,
    tree_sub,
    tree_unflatten,
    tree_zeros_like,
)
from tapegrad.transforms.custom import PrimitiveFunction, defvjp, primitive
from tapegrad.transforms.grad import (
    Gradient,
    GradientWithAux,
    Hessian,
    Jacobian,
    ValueAndGradient,
    ValueAndGradientWithAux,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    trace,
    value_and_grad,
    vjp,
)
from tapegrad.transforms.jit import Jitted, JitWarning, jit

from tapegrad import nn, testing  # noqa: E402  (submodules users reach as tapegrad.nn, tapegrad.testing)

__version__ = "0.1.0"

__all__ = [
    "Arg",
    "Gradient",
    "GradientWithAux",
    "Guard",
    "Hessian",
    "Jacobian",
    "Lit",
    "MissingRuleError",
    "Primitive",
    "PrimitiveFunction",
    "Record",
    "Scalar",
    "Tape",
    "TapeClosedError",
    "Traced",
    "ValueAndGradient",
    "ValueAndGradientWithAux",
    "Var",
    "cos",
    "current_tape",
    "defvjp",
    "exp",
    "grad",
    "jit",
    "Jitted",
    "JitWarning",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "log",
    "nn",
    "primal",
    "primitive",
    "relu",
    "sigmoid",
    "sign",
    "sin",
    "softplus",
    "sqrt",
    "stop_gradient",
    "tanh",
    "testing",
    "trace",
    "tree_add",
    "tree_dot",
    "tree_flatten",
    "tree_leaves",
    "tree_map",
    "tree_scale",
    "tree_sub",
    "tree_unflatten",
    "tree_zeros_like",
    "value_and_grad",
    "vjp",
]
