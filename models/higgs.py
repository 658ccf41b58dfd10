"""Networks for the Higgs Boson Machine Learning Challenge.

Both networks end in one sigmoid unit giving the probability that an event
is signal.
"""
import contextlib

from dropout_layers import nonlinearities
from dropout_layers.layers import DenseLayer, InputLayer, ReLUDenseLayer, SwitchDropoutLayer
from dropout_layers.random import seeded

__all__ = ["build_seed_network", "build_higgs_mlp"]


def build_seed_network(input_size, hidden_size=600, p=0.5, input_var=None, rng=None):
    """Build the 2014 blog post's one-hidden-layer dropout network, done right.

    The post shared one mask of shape ``(hidden,)`` across the whole batch
    and applied the 0.5 scaling at test time; here every example draws its
    own mask and inverted dropout leaves the test-time network unscaled.

    Parameters
    ----------
    input_size : int
        Number of input features.
    hidden_size : int
    p : float
        Dropout probability after the hidden layer.
    input_var : TensorVariable, optional
    rng : int, sequence of int or numpy generator, optional
        As for :func:`build_higgs_mlp`.

    Returns
    -------
    Layer
        The sigmoid output layer.
    """
    return build_higgs_mlp(input_size, hidden=(hidden_size,), p=p, input_var=input_var, rng=rng)


def build_higgs_mlp(input_size, hidden=(600, 600, 600), p=0.5, input_p=0.0, leakiness=0.0,
                    input_var=None, rng=None):
    """Build a rectifier MLP with dropout, close to the challenge winner's network.

    Gábor Melis won with a bag of networks of three hidden layers of 600
    rectified units and dropout 0.5 after each.

    Parameters
    ----------
    input_size : int
        Number of input features.
    hidden : sequence of int
        Units of each hidden layer.
    p : float
        Dropout probability after each hidden layer.
    input_p : float
        Dropout probability on the inputs (0 for none).
    leakiness : float
        Slope of the rectifiers for negative inputs.
    input_var : TensorVariable, optional
    rng : int, sequence of int or numpy generator, optional
        Where the initial weights and the dropout layers' seeds come from:
        a seed (or a sequence of seeds, such as ``[run_seed, member]``) or a
        NumPy generator, as :func:`dropout_layers.random.seeded` takes it.
        Equal values build equal networks. None draws from the library's
        global generator, as Lasagne does.

    Returns
    -------
    Layer
        The sigmoid output layer. Layers are named ``input``,
        ``input_dropout``, ``hidden<i>``, ``dropout<i>`` and ``output``.

    References
    ----------
    .. [1] G. Melis (2014): Dissecting the winning solution of the HiggsML
       challenge. JMLR W&CP 42, 57-67.

    Examples
    --------
    >>> from dropout_layers.layers import get_all_param_values
    >>> first = build_higgs_mlp(4, hidden=(3,), rng=7)
    >>> again = build_higgs_mlp(4, hidden=(3,), rng=7)
    >>> all((a == b).all() for a, b in zip(get_all_param_values(first),
    ...                                    get_all_param_values(again)))
    True
    """
    hidden = tuple(int(h) for h in hidden)
    if int(input_size) <= 0:
        raise ValueError(f"input_size must be positive, got {input_size}")
    if not hidden or any(h <= 0 for h in hidden):
        raise ValueError(f"hidden layer sizes must be positive integers, got {hidden}")
    # The initialisers and the dropout layers draw from the library's global
    # generator; seeded() lends it ``rng`` for the build and puts it back.
    with seeded(rng) if rng is not None else contextlib.nullcontext():
        return _build(int(input_size), hidden, p, input_p, leakiness, input_var)


def _build(input_size, hidden, p, input_p, leakiness, input_var):
    layer = InputLayer((None, input_size), input_var=input_var, name="input")
    if input_p > 0:
        layer = SwitchDropoutLayer(layer, p=input_p, name="input_dropout")
    for i, units in enumerate(hidden, start=1):
        layer = ReLUDenseLayer(layer, units, leakiness=leakiness, name=f"hidden{i}")
        if p > 0:
            layer = SwitchDropoutLayer(layer, p=p, name=f"dropout{i}")
    return DenseLayer(layer, 1, nonlinearity=nonlinearities.sigmoid, name="output")
