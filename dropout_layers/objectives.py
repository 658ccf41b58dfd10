"""Loss functions and metrics, as in Lasagne.

Each loss returns one value per example (or per element); reduce it to the
scalar to minimise with :func:`aggregate`, which also applies per-example
weights::

    prediction = get_output(network)                 # (N, 1) probabilities
    loss = binary_crossentropy(prediction[:, 0], target_var)
    loss = aggregate(loss, weights=weight_var, mode='normalized_sum')

As in Lasagne, the cross-entropies take the logarithm of the probabilities
as they are, unclipped. On probabilities straight from a sigmoid or softmax
this is still exact: PyTensor's stabilising rewrites turn ``log(sigmoid(z))``
and ``log(1 - sigmoid(z))`` into softplus terms when the graph is compiled
(``mode='FAST_COMPILE'`` skips them). Where probabilities come from anywhere
else (an ensemble average, a clipped output), pass ``eps=1e-7`` to clip them.
The numerically safe path for a model's own training is ``from_logits=True``
on the output of a linear last layer: the loss is then computed in a form that
stays finite and exact for any logit, and its gradient never vanishes on
saturated units.

Dtypes are preserved: targets and weights are cast to the dtype of the
predictions, and constants are created in that dtype, so float32 predictions
give float32 losses.

A column of predictions of shape ``(N, 1)`` with a target vector of shape
``(N,)`` is aligned (as Lasagne's ``align_targets`` does), giving a loss of
shape ``(N, 1)``. Take ``prediction[:, 0]`` (or ``.flatten()``) instead when
per-example weights of shape ``(N,)`` follow: ``(N, 1) * (N,)`` broadcasts
to ``(N, N)``.
"""
import numbers

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax

from .config import get_floatX

__all__ = [
    "align_targets",
    "binary_crossentropy",
    "categorical_crossentropy",
    "squared_error",
    "binary_hinge_loss",
    "multiclass_hinge_loss",
    "huber_loss",
    "aggregate",
    "binary_accuracy",
    "categorical_accuracy",
]

_AGGREGATE_MODES = ("mean", "sum", "normalized_sum")


def _constant(value, dtype):
    return pt.constant(np.asarray(value, dtype=dtype))


def _float_dtype(variable):
    """Return the float dtype that computations on ``variable`` should use."""
    return variable.dtype if variable.dtype.startswith("float") else get_floatX()


def _cast(variable, dtype):
    return variable if variable.dtype == dtype else pt.cast(variable, dtype)


def _prepare(predictions, targets):
    """Make both tensors, cast targets to the predictions' float dtype, align."""
    predictions = pt.as_tensor_variable(predictions)
    predictions = _cast(predictions, _float_dtype(predictions))
    targets = _cast(pt.as_tensor_variable(targets), predictions.dtype)
    return align_targets(predictions, targets)


def _check_eps(eps):
    if not isinstance(eps, numbers.Real) or not 0 <= eps < 0.5:
        raise ValueError(f"eps must be a number in [0, 0.5), got {eps!r}")


def align_targets(predictions, targets):
    """Match a target vector to a column of predictions.

    If ``predictions`` is 2-D with one column (or a column count unknown
    until run time) and ``targets`` is 1-D, the targets become a column of
    shape ``(N, 1)``. Otherwise both are returned unchanged.

    Parameters
    ----------
    predictions : TensorVariable
    targets : TensorVariable

    Returns
    -------
    predictions, targets : TensorVariable
    """
    if predictions.ndim == 2 and targets.ndim == 1 and predictions.type.shape[1] in (1, None):
        targets = targets.dimshuffle(0, "x")
    return predictions, targets


def binary_crossentropy(predictions, targets, from_logits=False, eps=0.0):
    """Binary cross-entropy between predictions and 0/1 (or soft) targets.

    ``-(t * log(p) + (1 - t) * log(1 - p))``

    Parameters
    ----------
    predictions : TensorVariable
        Probabilities in [0, 1], or logits when ``from_logits=True``.
    targets : TensorVariable
        Targets in [0, 1], cast to the predictions' dtype.
    from_logits : bool
        Compute from logits ``z`` as ``softplus(z) - t * z``, which is exact
        and finite for any ``z``.
    eps : float
        Clip probabilities to ``[eps, 1 - eps]`` so the loss stays finite
        (ignored with ``from_logits``); ``1e-7`` suits float32, whose spacing
        just below 1 is 6e-8. The default ``0``, no clipping, is Lasagne's.

    Returns
    -------
    TensorVariable
        Element-wise loss.

    Notes
    -----
    Clipping zeroes the gradient of predictions beyond the clip range; a
    saturated sigmoid output then stops learning. Training from logits does
    not have this problem, nor do unclipped probabilities straight from a
    sigmoid (see the module notes).
    """
    _check_eps(eps)
    predictions, targets = _prepare(predictions, targets)
    dtype = predictions.dtype
    if from_logits:
        return pt.softplus(predictions) - targets * predictions
    if eps > 0:
        predictions = pt.clip(predictions, _constant(eps, dtype), _constant(1 - eps, dtype))
    one = _constant(1, dtype)
    return -(targets * pt.log(predictions) + (one - targets) * pt.log1p(-predictions))


def categorical_crossentropy(predictions, targets, from_logits=False, eps=0.0):
    """Categorical cross-entropy between predicted distributions and targets.

    Parameters
    ----------
    predictions : TensorVariable
        Class probabilities (rows summing to one), or unnormalised logits
        when ``from_logits=True``; classes along the last axis.
    targets : TensorVariable
        Either integer class indices, one per row of a 2-D ``predictions``,
        or a distribution (for example one-hot) of the same shape as
        ``predictions``.
    from_logits : bool
        Compute ``-log_softmax(z)`` by the log-sum-exp formulation, exact
        and finite for any logits.
    eps : float
        Raise probabilities below ``eps`` to ``eps`` (ignored with
        ``from_logits``). The default ``0``, no clipping, is Lasagne's.

    Returns
    -------
    TensorVariable
        One loss per row: ``-sum(t * log(p), axis=-1)``.

    Raises
    ------
    TypeError
        If the ranks of ``predictions`` and ``targets`` do not fit, or class
        indices are not integers.
    """
    _check_eps(eps)
    predictions = pt.as_tensor_variable(predictions)
    predictions = _cast(predictions, _float_dtype(predictions))
    targets = pt.as_tensor_variable(targets)
    dtype = predictions.dtype
    if from_logits:
        log_p = log_softmax(predictions, axis=-1)
    elif eps > 0:
        log_p = pt.log(pt.maximum(predictions, _constant(eps, dtype)))
    else:
        log_p = pt.log(predictions)
    if targets.ndim == predictions.ndim:
        return -pt.sum(_cast(targets, dtype) * log_p, axis=-1)
    if targets.ndim == predictions.ndim - 1 and predictions.ndim == 2:
        if not targets.dtype.startswith(("int", "uint")):
            raise TypeError(
                f"class-index targets must have an integer dtype, got {targets.dtype}"
            )
        return -log_p[pt.arange(log_p.shape[0]), targets]
    raise TypeError(
        f"rank mismatch between targets ({targets.ndim}-D) and predictions "
        f"({predictions.ndim}-D): targets must be class indices for 2-D predictions "
        f"or have the predictions' rank"
    )


def squared_error(a, b):
    """Element-wise squared difference ``(a - b) ** 2``.

    Parameters
    ----------
    a, b : TensorVariable
        ``b`` is cast to the dtype of ``a`` and aligned as by
        :func:`align_targets`.

    Returns
    -------
    TensorVariable
    """
    a, b = _prepare(a, b)
    return pt.sqr(a - b)


def binary_hinge_loss(predictions, targets, delta=1, log_odds=None, binary=True):
    """Binary hinge loss ``max(0, delta - t * z)``.

    Parameters
    ----------
    predictions : TensorVariable
        Log odds (``log_odds=True``) or probabilities (``log_odds=False``),
        which are converted to log odds first.
    targets : TensorVariable
        In {0, 1} when ``binary=True`` (mapped to {-1, 1}), else in {-1, 1}.
    delta : float
        The margin.
    log_odds : bool
        Whether ``predictions`` are log odds. Required: as in Lasagne, the
        function does not guess.
    binary : bool
        Whether targets are in {0, 1}.

    Returns
    -------
    TensorVariable
        Element-wise loss.
    """
    if log_odds is None:
        raise ValueError(
            "binary_hinge_loss needs log_odds=True (predictions are log odds) "
            "or log_odds=False (predictions are probabilities)"
        )
    predictions, targets = _prepare(predictions, targets)
    dtype = predictions.dtype
    one = _constant(1, dtype)
    if not log_odds:
        predictions = pt.log(predictions / (one - predictions))
    if binary:
        targets = _constant(2, dtype) * targets - one
    return pt.maximum(_constant(0, dtype), _constant(delta, dtype) - predictions * targets)


def multiclass_hinge_loss(predictions, targets, delta=1):
    """Multi-class hinge loss ``max(0, delta + max_{j != t} p_j - p_t)`` (Crammer and Singer).

    Parameters
    ----------
    predictions : TensorVariable
        Scores, one row per example, classes along axis 1.
    targets : TensorVariable
        Class indices (a vector) or one-hot rows of the predictions' shape.
    delta : float
        The margin.

    Returns
    -------
    TensorVariable
        One loss per example.

    Raises
    ------
    TypeError
        If the ranks of ``predictions`` and ``targets`` do not fit.

    References
    ----------
    .. [1] Crammer and Singer (2001): On the algorithmic implementation of
       multiclass kernel-based vector machines. JMLR 2.
    """
    predictions = pt.as_tensor_variable(predictions)
    predictions = _cast(predictions, _float_dtype(predictions))
    targets = pt.as_tensor_variable(targets)
    if predictions.ndim != 2 or targets.ndim not in (1, 2):
        raise TypeError(
            f"rank mismatch between targets ({targets.ndim}-D) and predictions "
            f"({predictions.ndim}-D): predictions must be a matrix, targets class indices or "
            "one-hot rows"
        )
    dtype = predictions.dtype
    if targets.ndim == 1:
        is_target = pt.eq(pt.arange(predictions.shape[1])[None, :], targets[:, None])
    else:
        is_target = pt.neq(targets, 0)
    correct = pt.sum(pt.switch(is_target, predictions, _constant(0, dtype)), axis=1)
    others = pt.max(pt.switch(is_target, _constant(-np.inf, dtype), predictions), axis=1)
    return pt.maximum(_constant(0, dtype), others - correct + _constant(delta, dtype))


def huber_loss(predictions, targets, delta=1):
    """Huber loss: squared near zero, absolute far out.

    ``0.5 * d ** 2`` where ``|d| <= delta``, else ``delta * (|d| - delta / 2)``,
    with ``d = predictions - targets``.

    Parameters
    ----------
    predictions, targets : TensorVariable
        ``targets`` is cast to the predictions' dtype and aligned as by
        :func:`align_targets`.
    delta : float
        Where the loss turns from quadratic to linear.

    Returns
    -------
    TensorVariable
        Element-wise loss.

    References
    ----------
    .. [1] Huber (1964): Robust estimation of a location parameter. Annals of
       Mathematical Statistics 35(1).
    """
    predictions, targets = _prepare(predictions, targets)
    dtype = predictions.dtype
    abs_diff = abs(predictions - targets)
    quadratic = _constant(0.5, dtype) * pt.sqr(abs_diff)
    linear = _constant(delta, dtype) * (abs_diff - _constant(delta / 2.0, dtype))
    return pt.switch(pt.le(abs_diff, _constant(delta, dtype)), quadratic, linear)


def aggregate(loss, weights=None, mode="mean"):
    """Reduce an element-wise loss to a scalar, optionally weighted.

    Parameters
    ----------
    loss : TensorVariable
        Element-wise loss.
    weights : TensorVariable or array_like, optional
        Weights broadcastable to ``loss`` (for example one weight per
        example), cast to the loss's dtype.
    mode : {'mean', 'sum', 'normalized_sum'}
        ``'mean'``: ``mean(loss * weights)``; ``'sum'``:
        ``sum(loss * weights)``; ``'normalized_sum'``:
        ``sum(loss * weights) / sum(weights)``, which needs ``weights``.

    Returns
    -------
    TensorVariable
        Scalar.

    Raises
    ------
    ValueError
        For an unknown ``mode``, or ``'normalized_sum'`` without weights.

    Notes
    -----
    ``'mean'`` with weights divides by the number of elements, not by the
    sum of the weights; use ``'normalized_sum'`` for a weighted average.
    """
    if mode not in _AGGREGATE_MODES:
        raise ValueError(f"mode must be 'mean', 'sum' or 'normalized_sum', got {mode!r}")
    if mode == "normalized_sum" and weights is None:
        raise ValueError("mode='normalized_sum': require weights to normalise by")
    loss = pt.as_tensor_variable(loss)
    loss = _cast(loss, _float_dtype(loss))
    if weights is not None:
        weights = _cast(pt.as_tensor_variable(weights), loss.dtype)
        loss = loss * weights
    if mode == "mean":
        return pt.mean(loss)
    if mode == "sum":
        return pt.sum(loss)
    return pt.sum(loss) / pt.sum(weights)


def binary_accuracy(predictions, targets, threshold=0.5):
    """Element-wise correctness of thresholded binary predictions.

    Parameters
    ----------
    predictions : TensorVariable
        Probabilities (use ``threshold=0`` for logits).
    targets : TensorVariable
        Targets in {0, 1}.
    threshold : float
        Predictions ``>= threshold`` count as class 1.

    Returns
    -------
    TensorVariable
        1 where the thresholded prediction equals the target, else 0, in the
        predictions' dtype (Lasagne gives int8) so that ``.mean()`` stays
        float32; reduce with :func:`aggregate` or ``.mean()``.
    """
    predictions, targets = _prepare(predictions, targets)
    dtype = predictions.dtype
    predicted_class = pt.ge(predictions, _constant(threshold, dtype))
    return _cast(pt.eq(_cast(predicted_class, dtype), targets), dtype)


def categorical_accuracy(predictions, targets, top_k=1):
    """Element-wise correctness of categorical predictions.

    Parameters
    ----------
    predictions : TensorVariable
        Scores or probabilities, classes along the last axis.
    targets : TensorVariable
        Class indices (one rank less than ``predictions``) or a one-hot /
        probability array of the predictions' shape, whose argmax is used.
    top_k : int
        A prediction is correct when the target is among the ``top_k``
        highest scores.

    Returns
    -------
    TensorVariable
        1 or 0 per example, in the predictions' dtype.

    Raises
    ------
    TypeError
        If the ranks do not fit.
    ValueError
        If ``top_k`` is not a positive integer.
    """
    if not isinstance(top_k, numbers.Integral) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    predictions = pt.as_tensor_variable(predictions)
    targets = pt.as_tensor_variable(targets)
    dtype = _float_dtype(predictions)
    if targets.ndim == predictions.ndim:
        targets = pt.argmax(targets, axis=-1)
    elif targets.ndim != predictions.ndim - 1:
        raise TypeError(
            f"rank mismatch between targets ({targets.ndim}-D) and predictions "
            f"({predictions.ndim}-D)"
        )
    if top_k == 1:
        correct = pt.eq(pt.argmax(predictions, axis=-1), targets)
    else:
        top = pt.argsort(predictions, axis=-1)[..., -top_k:]
        correct = pt.any(pt.eq(top, pt.shape_padright(targets)), axis=-1)
    return _cast(correct, dtype)
