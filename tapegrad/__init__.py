"""tapegrad: tape-based, functional automatic differentiation for Python scalars.

Write a function of floats (or of nested lists, tuples and dicts of floats),
and transform it: ``grad(f)(params)`` gives the gradient shaped like
``params``. Every operation on a traced scalar appends one immutable record
to an explicit Wengert tape; a reverse sweep over the records computes the
gradient. See the README for a tour.
"""

from tapegrad.custom import defvjp, primitive
from tapegrad.jit import Jitted, jit
from tapegrad.primitive import MissingRuleError, Primitive
from tapegrad.primitives import cos, exp, log, relu, sigmoid, sin, softplus, sqrt, stop_gradient, tanh
from tapegrad.tape import Arg, Guard, Lit, Record, Tape, TapeClosedError, Var, current_tape
from tapegrad.traced import Scalar, Traced, primal
from tapegrad.transforms import grad, hessian, hvp, jacobian, jvp, trace, value_and_grad, vjp
from tapegrad.tree import tree_map
from tapegrad.tree import tree_add, tree_dot, tree_flatten, tree_leaves, tree_scale, tree_sub, tree_unflatten, tree_zeros_like

from tapegrad import nn, testing  # noqa: E402  (submodules users reach as tapegrad.nn, tapegrad.testing)

__version__ = "0.1.0"

__all__ = [
    "Arg",
    "Guard",
    "Lit",
    "MissingRuleError",
    "Primitive",
    "Record",
    "Scalar",
    "Tape",
    "TapeClosedError",
    "Traced",
    "Var",
    "cos",
    "current_tape",
    "defvjp",
    "exp",
    "grad",
    "jit",
    "Jitted",
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
