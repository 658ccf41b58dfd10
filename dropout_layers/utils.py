"""Helpers shared by the layers, with the names and semantics of ``lasagne.utils``.

Parameters and input variables use the library's float dtype,
:func:`dropout_layers.config.get_floatX`: PyTensor's ``floatX`` when the user
chose it, float32 otherwise. :func:`floatX` casts an array to it, as Lasagne's
``floatX`` does.

``as_theano_expression`` keeps Lasagne's name so that ported code runs with its
imports changed only; :func:`as_pytensor_expression` is the same function under
PyTensor's name.
"""
import inspect
import numbers

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable

from .config import get_floatX

__all__ = [
    "int_types", "floatX", "shared_empty", "as_pytensor_expression", "as_theano_expression",
    "collect_shared_vars", "one_hot", "unique", "as_tuple", "inspect_kwargs", "compute_norms",
    "create_param", "unroll_scan",
]

#: Types that count as integers in ``isinstance`` checks: Python and NumPy integers.
int_types = (numbers.Integral, np.integer)


def floatX(arr):
    """Return ``arr`` as a NumPy array of the library's float dtype, as Lasagne's ``floatX``.

    Parameters
    ----------
    arr : array_like

    Returns
    -------
    numpy.ndarray
        ``arr`` itself if it already is an array of that dtype.

    Examples
    --------
    >>> floatX([1, 2]).dtype
    dtype('float32')
    """
    return np.asarray(arr, dtype=get_floatX())


def shared_empty(dim=2, dtype=None):
    """Return a shared variable of ``dim`` dimensions holding zeros of shape ``(1,) * dim``.

    Parameters
    ----------
    dim : int
    dtype : dtype, optional
        Default :func:`~dropout_layers.config.get_floatX`.

    Examples
    --------
    >>> shared_empty(3).get_value().shape
    (1, 1, 1)
    """
    dtype = get_floatX() if dtype is None else dtype
    return pytensor.shared(np.zeros((1,) * dim, dtype=dtype))


def as_pytensor_expression(input):
    """Return ``input`` as a PyTensor expression, wrapping numbers and arrays as constants.

    Parameters
    ----------
    input : number, array_like or Variable

    Returns
    -------
    Variable

    Raises
    ------
    TypeError
        If ``input`` cannot be made a constant.

    Examples
    --------
    >>> as_pytensor_expression([1.0, 2.0]).eval()
    array([1., 2.])
    """
    if isinstance(input, Variable):
        return input
    try:
        return pt.constant(input)
    except Exception as error:
        raise TypeError(
            f"input of type {type(input).__name__} is not a PyTensor expression and cannot be "
            f"wrapped as a constant ({error})"
        ) from None


#: Lasagne's name of :func:`as_pytensor_expression`.
as_theano_expression = as_pytensor_expression


def collect_shared_vars(expressions):
    """Return the shared variables that the expression(s) depend on.

    Parameters
    ----------
    expressions : Variable or iterable of Variable

    Returns
    -------
    list of SharedVariable
        Without duplicates, in the order of a left-to-right depth-first walk
        of the expressions (as Lasagne's); shared variables among the
        expressions themselves are included.

    Examples
    --------
    >>> x, y = pytensor.shared(1.0, name="x"), pytensor.shared(2.0, name="y")
    >>> [v.name for v in collect_shared_vars(y * 2 + x)]
    ['y', 'x']
    """
    if isinstance(expressions, Variable):
        expressions = [expressions]
    found, seen = [], set()
    stack = list(reversed(list(expressions)))
    while stack:
        var = stack.pop()
        if var in seen:
            continue
        seen.add(var)
        if isinstance(var, SharedVariable):
            found.append(var)
        elif var.owner is not None:
            stack.extend(reversed(var.owner.inputs))
    return found


def one_hot(x, m=None):
    """Return the one-hot matrix of an integer vector.

    Parameters
    ----------
    x : integer vector (array or expression)
        Values in ``[0, m)``.
    m : int, optional
        Number of columns; default ``max(x) + 1``.

    Returns
    -------
    TensorVariable
        Shape ``(len(x), m)``, in the library's float dtype.

    Examples
    --------
    >>> one_hot([0, 2], 3).eval()
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    x = pt.cast(as_pytensor_expression(x), "int32")
    if m is None:
        m = pt.cast(pt.max(x) + 1, "int32")
    return pt.eye(m, dtype=get_floatX())[x]


def unique(items):
    """Return the items in order of first appearance, without duplicates.

    Examples
    --------
    >>> unique([3, 1, 3, 2, 1])
    [3, 1, 2]
    """
    seen = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _type_names(t):
    if t == int_types:
        return "int"
    if isinstance(t, tuple):
        return " or ".join(each.__name__ for each in t)
    return t.__name__


def as_tuple(x, n, t=None):
    """Return ``x`` as a tuple of length ``n``, repeating a single value.

    Parameters
    ----------
    x : value or iterable
    n : int
        Required length.
    t : type or tuple of types, optional
        Required type of every element.

    Raises
    ------
    TypeError
        If an element is not of type ``t``.
    ValueError
        If an iterable ``x`` does not have ``n`` elements.

    Examples
    --------
    >>> as_tuple(3, 2)
    (3, 3)
    """
    try:
        xs = tuple(x)
    except TypeError:
        xs = (x,) * n
    if t is not None and not all(isinstance(v, t) for v in xs):
        raise TypeError(f"expected a single value or an iterable of {_type_names(t)}, got {x!r}")
    if len(xs) != n:
        raise ValueError(f"expected a single value or an iterable with length {n}, got {x!r}")
    return xs


def inspect_kwargs(func):
    """Return the names of the arguments of ``func`` that have a default, in order.

    Examples
    --------
    >>> inspect_kwargs(lambda a, b=1, *, c=2, **kw: 0)
    ['b', 'c']
    """
    params = inspect.signature(func).parameters
    return [p.name for p in params.values() if p.default is not p.empty]


def _default_norm_axes(ndim):
    if ndim == 1:
        return ()
    if ndim == 2:
        return (0,)
    if ndim in (3, 4, 5):
        return tuple(range(1, ndim))
    raise ValueError(f"Unsupported tensor dimensionality {ndim}; specify norm_axes")


def compute_norms(array, norm_axes=None):
    """Return the norms of the incoming weight vectors of a weight array or expression.

    Parameters
    ----------
    array : numpy.ndarray or TensorVariable
    norm_axes : sequence of int, optional
        Axes to take the L2 norm over. By default ``()`` for a vector (the
        absolute values), ``(0,)`` for a matrix (a dense layer's
        ``(num_inputs, num_units)`` weights) and every axis but the first for
        3-, 4- and 5-D convolution kernels.

    Returns
    -------
    numpy.ndarray or TensorVariable
        Of the kind and dtype of ``array``.

    Raises
    ------
    RuntimeError
        If ``array`` is neither a NumPy array nor a PyTensor variable.
    ValueError
        If ``norm_axes`` is missing for an array of another rank.

    Examples
    --------
    >>> compute_norms(np.array([[3.0, 0.0], [4.0, 1.0]]))
    array([5., 1.])
    """
    if not isinstance(array, (Variable, np.ndarray)):
        raise RuntimeError(
            f"Unsupported type {type(array).__name__}: compute_norms takes a NumPy array or a "
            "PyTensor variable"
        )
    axes = tuple(norm_axes) if norm_axes is not None else _default_norm_axes(array.ndim)
    if isinstance(array, Variable):
        return abs(array) if not axes else pt.sqrt(pt.sum(pt.sqr(array), axis=axes))
    return abs(array) if not axes else np.sqrt(np.sum(array**2, axis=axes))


def _shared_from_array(value, shape, name):
    if value.shape != shape:
        raise ValueError(f"param {name!r}: the array has shape {value.shape}, expected {shape}")
    # Parameters keep their shape (set_all_param_values refuses another), so the
    # type says it: size-1 axes are broadcastable, as in Lasagne, and the rewrites
    # know every size. Without the sizes, the gradient of each dense layer under
    # dropout carries a SpecifyShape node, and the default Higgs network's train
    # step took 14% longer to compile on a first run.
    return pytensor.shared(value, name=name, shape=tuple(shape))


def _checked_variable(spec, shape, name, origin):
    if spec.ndim != len(shape):
        raise ValueError(
            f"param {name!r}: {origin} has {spec.ndim} dimensions, expected {len(shape)} "
            f"(shape {shape})"
        )
    if isinstance(spec, SharedVariable) and hasattr(spec.get_value(borrow=True), "shape"):
        value_shape = tuple(spec.get_value(borrow=True).shape)
        if value_shape != shape:
            raise ValueError(
                f"param {name!r}: {origin} has shape {value_shape}, expected {shape}"
            )
    if not spec.name:
        spec.name = name
    return spec


def create_param(spec, shape, name=None):
    """Turn a parameter specification into a shared variable or parameter expression.

    Parameters
    ----------
    spec : number, numpy array, Variable or callable
        * a number or array: copied into a new shared variable of the same
          dtype (use :func:`floatX` or an initializer for the library's float
          dtype), whose size-1 axes are broadcastable;
        * a shared variable or any PyTensor expression of the right number of
          dimensions: used as it is (a *parameter expression*, for example
          ``exp(log_sigma)``; :meth:`Layer.get_params` then returns the shared
          variables inside it);
        * a callable, such as an initializer from :mod:`dropout_layers.init`:
          called with ``shape``, and its result treated as above.
    shape : iterable of int
        The parameter's shape; every size must be positive.
    name : str, optional
        Given to a new shared variable, and to a given variable that has no
        name yet.

    Returns
    -------
    SharedVariable or TensorVariable

    Raises
    ------
    ValueError
        If a size is not positive, or the value's shape or rank differs from
        ``shape`` (an initializer returning one number for a non-scalar
        shape is refused, not broadcast).
    TypeError
        If ``spec`` (or what a callable returned) is none of the above.

    Examples
    --------
    >>> W = create_param(np.ones((1, 3), dtype="float32"), (1, 3), name="W")
    >>> W.dtype, W.broadcastable
    ('float32', (True, False))
    """
    shape = tuple(shape)
    if any(d <= 0 for d in shape):
        raise ValueError(f"cannot create param {name!r} with shape {shape}: sizes must be positive")
    origin = "the given value"
    if callable(spec) and not isinstance(spec, Variable):
        spec = spec(shape)
        origin = "the value returned by the initializer"
    if isinstance(spec, (numbers.Number, np.generic)) and np.asarray(spec).dtype.kind in "biufc":
        spec = np.asarray(spec)
    if isinstance(spec, np.ndarray):
        return _shared_from_array(spec, shape, name)
    if isinstance(spec, Variable):
        return _checked_variable(spec, shape, name, origin)
    raise TypeError(
        f"param {name!r}: {origin} is a {type(spec).__name__}, not a number, numpy array, "
        "PyTensor expression or callable"
    )


def unroll_scan(fn, sequences, outputs_info, non_sequences, n_steps, go_backwards=False):
    """Unroll a loop that :func:`pytensor.scan` would run, for a fixed ``n_steps``.

    Parameters
    ----------
    fn : callable
        Called as ``fn(*sequence_slices, *previous_outputs, *non_sequences)``;
        returns one expression or a list of them.
    sequences : TensorVariable or list of TensorVariable
        Iterated over their first axis.
    outputs_info : list
        Initial values of the recurrent outputs.
    non_sequences : list
        Passed to every step.
    n_steps : int
    go_backwards : bool
        Iterate from the last step to the first.

    Returns
    -------
    list of TensorVariable
        One per output, the step results stacked along a new first axis.

    Examples
    --------
    >>> a = pt.scalar("a")
    >>> powers = unroll_scan(lambda i, prev, a: prev * a, pt.arange(3), [1.0], [a], 3)
    >>> powers[0].eval({a: 2.0})
    array([2., 4., 8.])
    """
    if not isinstance(sequences, (list, tuple)):
        sequences = [sequences]
    steps = range(n_steps - 1, -1, -1) if go_backwards else range(n_steps)
    history = []
    previous = list(outputs_info)
    for step in steps:
        result = fn(*[s[step] for s in sequences], *previous, *non_sequences)
        previous = [result] if isinstance(result, Variable) else list(result)
        history.append(previous)
    return [pt.stack([outputs[i] for outputs in history]) for i in range(len(history[0]))]
