"""The static types of the grad family: what mypy sees of grad, value_and_grad, vjp, jvp, jacobian and hessian.

Layer 4 of tapegrad (``tapegrad/transforms``).

:mod:`tapegrad.transforms.grad` holds what the transforms do; this module
holds only their types, so that the transforms read as short functions over
the tape. It has two parts:

- the classes of the objects the transforms return (:class:`Gradient`,
  :class:`ValueAndGradient`, :class:`Jacobian`, :class:`Hessian`, ...), whose
  ``__call__`` overloads type a gradient like the argument actually passed;
- one signature per transform (:class:`GradSignature`, ...): a protocol
  whose overloaded ``__call__`` is the transform's typed signature, given to
  the plain function in ``grad.py`` by :func:`typed_as`.

At run time nothing here does any work: the classes only call the
implementation they wrap, and the signatures are never instantiated.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Concatenate, Generic, Literal, Optional, ParamSpec, Protocol, Sequence, TypeVar, Union, cast, final, overload

from tapegrad.core.traced import Scalar, Traced

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A")
F = TypeVar("F")

Argnums = Union[int, Sequence[int]]

# -- the types of what grad and value_and_grad return ---------------------------------
#
# The gradient has the structure of the argument actually passed, with floats
# at its leaves. A plain ``Callable[Concatenate[T, P], T]`` would type it with
# f's declared parameter type instead (``Sequence[Scalar]``), so a user who
# passes a ``list[float]`` would get back ``Sequence[float | Traced]`` and
# could not update a ``list[float]`` with it. These classes give ``__call__``
# overloads that follow the argument: a float gives a float, a traced scalar a
# traced scalar (under an outer transform), any sequence its own type, and
# anything else f's declared type. The ``self`` annotations select the
# overloads that f's parameter type allows; T is contravariant, so
# ``Gradient[Sequence[Scalar], P]`` is usable where ``Gradient[list[float], P]``
# is expected, just as a function of a Sequence accepts a list.

T_contra = TypeVar("T_contra", contravariant=True)
A_co = TypeVar("A_co", covariant=True)
X = TypeVar("X")
S = TypeVar("S", bound=Sequence[Scalar])


class _Transformed:
    """A transformed function: calls the implementation, and looks like ``f`` (name, doc, signature)."""

    def __init__(self, impl: Callable[..., Any], f: Callable[..., Any], name: str) -> None:
        functools.update_wrapper(cast(Any, self), f)
        self.__name__ = self.__qualname__ = name
        self._impl = impl

    def __repr__(self) -> str:
        return f"<{self.__name__}>"


class Gradient(_Transformed, Generic[T_contra, P]):
    """What ``grad(f)`` returns: call it like ``f`` to get the gradient, shaped like the first argument."""

    @overload
    def __call__(self: Gradient[float, P], x: float, /, *args: P.args, **kwargs: P.kwargs) -> float: ...
    @overload
    def __call__(self: Gradient[Traced, P], x: Traced, /, *args: P.args, **kwargs: P.kwargs) -> Traced: ...
    @overload
    def __call__(self: Gradient[Sequence[Scalar], P], x: S, /, *args: P.args, **kwargs: P.kwargs) -> S: ...
    @overload
    def __call__(self: Gradient[X, P], x: X, /, *args: P.args, **kwargs: P.kwargs) -> X: ...
    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        return self._impl(x, *args, **kwargs)


class GradientWithAux(_Transformed, Generic[T_contra, P, A_co]):
    """What ``grad(f, has_aux=True)`` returns: ``(gradient, aux)``."""

    @overload
    def __call__(self: GradientWithAux[float, P, A_co], x: float, /, *args: P.args, **kwargs: P.kwargs) -> tuple[float, A_co]: ...
    @overload
    def __call__(self: GradientWithAux[Traced, P, A_co], x: Traced, /, *args: P.args, **kwargs: P.kwargs) -> tuple[Traced, A_co]: ...
    @overload
    def __call__(self: GradientWithAux[Sequence[Scalar], P, A_co], x: S, /, *args: P.args, **kwargs: P.kwargs) -> tuple[S, A_co]: ...
    @overload
    def __call__(self: GradientWithAux[X, P, A_co], x: X, /, *args: P.args, **kwargs: P.kwargs) -> tuple[X, A_co]: ...
    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        return self._impl(x, *args, **kwargs)


class ValueAndGradient(_Transformed, Generic[T_contra, P]):
    """What ``value_and_grad(f)`` returns: ``(value, gradient)``."""

    @overload
    def __call__(self: ValueAndGradient[float, P], x: float, /, *args: P.args, **kwargs: P.kwargs) -> tuple[float, float]: ...
    # (A traced argument means an outer transform is tracing: the value is traced
    # then too, where the general overload says float.)
    @overload
    def __call__(  # type: ignore[overload-overlap]
        self: ValueAndGradient[Traced, P], x: Traced, /, *args: P.args, **kwargs: P.kwargs) -> tuple[Scalar, Traced]: ...
    @overload
    def __call__(self: ValueAndGradient[Sequence[Scalar], P], x: S, /, *args: P.args, **kwargs: P.kwargs) -> tuple[float, S]: ...
    @overload
    def __call__(self: ValueAndGradient[X, P], x: X, /, *args: P.args, **kwargs: P.kwargs) -> tuple[float, X]: ...
    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        return self._impl(x, *args, **kwargs)


class ValueAndGradientWithAux(_Transformed, Generic[T_contra, P, A_co]):
    """What ``value_and_grad(f, has_aux=True)`` returns: ``((value, aux), gradient)``."""

    @overload
    def __call__(
        self: ValueAndGradientWithAux[float, P, A_co], x: float, /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[tuple[float, A_co], float]: ...
    @overload
    def __call__(  # type: ignore[overload-overlap]  # as in ValueAndGradient
        self: ValueAndGradientWithAux[Traced, P, A_co], x: Traced, /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[tuple[Scalar, A_co], Traced]: ...
    @overload
    def __call__(
        self: ValueAndGradientWithAux[Sequence[Scalar], P, A_co], x: S, /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[tuple[float, A_co], S]: ...
    @overload
    def __call__(
        self: ValueAndGradientWithAux[X, P, A_co], x: X, /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[tuple[float, A_co], X]: ...
    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        return self._impl(x, *args, **kwargs)


@final
class _TypedAny:
    """Never instantiated. A function typed ``Any`` matches the overloads on it as
    well as the first ones, and when an Any argument matches overloads with
    different results, mypy answers Any; without it, mypy would infer
    ``Gradient[Never, ...]``, which nothing can be passed to. A lambda does not
    match it (it is not a _TypedAny), so ``grad(lambda x: ...)`` stays a Gradient."""


class Jacobian(_Transformed, Generic[T_contra, P]):
    """What ``jacobian(f)`` returns for ``f`` typed to return a list: one row per output, shaped like the argument."""

    @overload
    def __call__(self: Jacobian[float, P], x: float, /, *args: P.args, **kwargs: P.kwargs) -> list[float]: ...
    @overload
    def __call__(self: Jacobian[Sequence[Scalar], P], x: S, /, *args: P.args, **kwargs: P.kwargs) -> list[S]: ...
    @overload
    def __call__(self: Jacobian[X, P], x: X, /, *args: P.args, **kwargs: P.kwargs) -> list[X]: ...
    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        return self._impl(x, *args, **kwargs)


class Hessian(_Transformed, Generic[T_contra, P]):
    """What ``hessian(f)`` returns: a float for a float argument, a list of lists for a list."""

    @overload
    def __call__(self: Hessian[float, P], x: float, /, *args: P.args, **kwargs: P.kwargs) -> float: ...
    @overload
    def __call__(self: Hessian[list[float], P], x: list[float], /, *args: P.args, **kwargs: P.kwargs) -> list[list[float]]: ...
    @overload
    def __call__(self: Hessian[X, P], x: X, /, *args: P.args, **kwargs: P.kwargs) -> Any: ...
    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        return self._impl(x, *args, **kwargs)


# -- the signatures of the transforms ------------------------------------------------
#
# A transform's typed signature is a protocol with an overloaded ``__call__``;
# :func:`typed_as` gives it to the plain function that implements the
# transform, which keeps the overloads out of the code that does the work.


def typed_as(signature: Callable[..., F]) -> Callable[[Callable[..., Any]], F]:
    """Type the decorated function as ``signature`` says, and return it unchanged.

    ``signature`` is one of the protocols below. The function itself takes
    and returns ``Any``, so it is compatible with every overload.
    """

    def give(function: Callable[..., Any]) -> F:
        return cast(F, function)

    return give


# replaced by their values), so those overloads say float; any other aux type
# is kept as declared (still true: a float is a Scalar). An int aux is
# matched first: for mypy an int is a float, but it comes back as the int.


class ValueAndGradSignature(Protocol):
    """The type of :func:`~tapegrad.transforms.grad.value_and_grad`."""

    @overload
    def __call__(
        self, f: Callable[Concatenate[T, P], Scalar], argnums: Literal[0] = 0, has_aux: Literal[False] = False
    ) -> ValueAndGradient[T, P]: ...
    @overload
    def __call__(
        self, f: Callable[Concatenate[T, P], tuple[Scalar, int]], argnums: Literal[0] = 0, *, has_aux: Literal[True]
    ) -> ValueAndGradientWithAux[T, P, int]: ...
    @overload
    def __call__(
        self, f: Callable[Concatenate[T, P], tuple[Scalar, Scalar]], argnums: Literal[0] = 0, *, has_aux: Literal[True]
    ) -> ValueAndGradientWithAux[T, P, float]: ...
    @overload
    def __call__(
        self, f: Callable[Concatenate[T, P], tuple[Scalar, A]], argnums: Literal[0] = 0, *, has_aux: Literal[True]
    ) -> ValueAndGradientWithAux[T, P, A]: ...
    @overload
    def __call__(self, f: Callable[P, Any], argnums: Argnums, has_aux: bool = False) -> Callable[P, Any]: ...
    @overload
    def __call__(self, f: _TypedAny, argnums: Argnums = 0, has_aux: bool = False) -> Any: ...


class GradSignature(Protocol):
    """The type of :func:`~tapegrad.transforms.grad.grad`."""

    @overload
    def __call__(self, f: Callable[Concatenate[T, P], Scalar], argnums: Literal[0] = 0, has_aux: Literal[False] = False) -> Gradient[T, P]: ...
    @overload
    def __call__(
        self, f: Callable[Concatenate[T, P], tuple[Scalar, int]], argnums: Literal[0] = 0, *, has_aux: Literal[True]
    ) -> GradientWithAux[T, P, int]: ...
    @overload
    def __call__(
        self, f: Callable[Concatenate[T, P], tuple[Scalar, Scalar]], argnums: Literal[0] = 0, *, has_aux: Literal[True]
    ) -> GradientWithAux[T, P, float]: ...
    @overload
    def __call__(
        self, f: Callable[Concatenate[T, P], tuple[Scalar, A]], argnums: Literal[0] = 0, *, has_aux: Literal[True]
    ) -> GradientWithAux[T, P, A]: ...
    @overload
    def __call__(self, f: Callable[P, Any], argnums: Argnums, has_aux: bool = False) -> Callable[P, Any]: ...
    @overload
    def __call__(self, f: _TypedAny, argnums: Argnums = 0, has_aux: bool = False) -> Any: ...


# The first overload of vjp, jvp, jacobian and hessian takes the result of
# another transform (grad(f), ...): its __call__ is overloaded, and mypy would
# otherwise match it by its first overload alone (a float argument), however

class VjpSignature(Protocol):
    """The type of :func:`~tapegrad.transforms.grad.vjp`."""

    @overload
    def __call__(self, f: _Transformed, *primals: Any, argnums: Optional[Argnums] = None, has_aux: bool = False) -> Any: ...
    @overload
    def __call__(self, f: Callable[[T], Scalar], primal: T, /) -> tuple[float, Callable[[Scalar], tuple[T]]]: ...
    @overload
    def __call__(self, f: Callable[[T], list[Scalar]], primal: T, /) -> tuple[list[float], Callable[[Sequence[Scalar]], tuple[T]]]: ...
    @overload
    def __call__(self, f: Callable[[T], Scalar], primal: T, /, *, argnums: Literal[0]) -> tuple[float, Callable[[Scalar], T]]: ...
    @overload
    def __call__(
        self, f: Callable[[T], list[Scalar]], primal: T, /, *, argnums: Literal[0]
    ) -> tuple[list[float], Callable[[Sequence[Scalar]], T]]: ...
    @overload
    def __call__(self, f: Callable[..., Any], *primals: Any, argnums: Optional[Argnums] = None, has_aux: bool = False) -> Any: ...


class JvpSignature(Protocol):
    """The type of :func:`~tapegrad.transforms.grad.jvp`."""

    @overload
    def __call__(
        self, f: _Transformed, primals: Sequence[Any], tangents: Sequence[Any], argnums: Optional[Argnums] = None, has_aux: bool = False
    ) -> Any: ...
    @overload
    def __call__(self, f: Callable[..., Scalar], primals: Sequence[Any], tangents: Sequence[Any], argnums: Optional[Argnums] = None) -> tuple[float, float]: ...
    @overload
    def __call__(
        self, f: Callable[..., list[Scalar]], primals: Sequence[Any], tangents: Sequence[Any], argnums: Optional[Argnums] = None
    ) -> tuple[list[float], list[float]]: ...
    @overload
    def __call__(
        self, f: Callable[..., tuple[Scalar, A]], primals: Sequence[Any], tangents: Sequence[Any], argnums: Optional[Argnums] = None, *, has_aux: Literal[True]
    ) -> tuple[float, float, A]: ...
    @overload
    def __call__(
        self, f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], argnums: Optional[Argnums] = None, has_aux: bool = False
    ) -> Any: ...


class JacobianSignature(Protocol):
    """The type of :func:`~tapegrad.transforms.grad.jacobian`."""

    @overload
    def __call__(self, f: _Transformed, argnums: Argnums = 0, mode: str = "auto", has_aux: bool = False) -> Callable[..., Any]: ...
    @overload
    def __call__(self, f: Callable[Concatenate[T, P], Scalar], argnums: Literal[0] = 0, mode: str = "auto") -> Gradient[T, P]: ...
    @overload
    def __call__(self, f: Callable[Concatenate[T, P], list[Scalar]], argnums: Literal[0] = 0, mode: str = "auto") -> Jacobian[T, P]: ...
    @overload
    def __call__(self, f: Callable[P, Any], argnums: Argnums = 0, mode: str = "auto", has_aux: bool = False) -> Callable[P, Any]: ...
    @overload
    def __call__(self, f: _TypedAny, argnums: Argnums = 0, mode: str = "auto", has_aux: bool = False) -> Any: ...


class HessianSignature(Protocol):
    """The type of :func:`~tapegrad.transforms.grad.hessian`."""

    @overload
    def __call__(self, f: _Transformed, argnums: Argnums = 0, has_aux: bool = False) -> Callable[..., Any]: ...
    @overload
    def __call__(self, f: Callable[Concatenate[T, P], Scalar], argnums: Literal[0] = 0) -> Hessian[T, P]: ...
    @overload
    def __call__(
        self, f: Callable[Concatenate[T, P], tuple[Scalar, A]], argnums: Literal[0] = 0, *, has_aux: Literal[True]
    ) -> Callable[Concatenate[T, P], tuple[Any, A]]: ...
    @overload
    def __call__(self, f: Callable[P, Any], argnums: Argnums = 0, has_aux: bool = False) -> Callable[P, Any]: ...
    @overload
    def __call__(self, f: _TypedAny, argnums: Argnums = 0, has_aux: bool = False) -> Any: ...
