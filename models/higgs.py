"""Networks for the Higgs Boson Machine Learning Challenge.

Both networks end in one sigmoid unit giving the probability that an event
is signal.
"""
from dropout_layers import nonlinearities
from dropout_layers.layers import DenseLayer, InputLayer, ReLUDenseLayer, SwitchDropoutLayer

__all__ = ["build_seed_network", "build_higgs_mlp"]


def build_seed_network(input_size, hidden_size=600, p=0.5, input_var=None):
    """The 2014 blog post's one-hidden-layer dropout network, done right.

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

    Returns
    -------
    Layer
        The sigmoid output layer.
    """
    return build_higgs_mlp(input_size, hidden=(hidden_size,), p=p, input_var=input_var)


def build_higgs_mlp(input_size, hidden=(600, 600, 600), p=0.5, input_p=0.0, leakiness=0.0, input_var=None):
    """A rectifier MLP with dropout, close to the challenge winner's network.

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

    Returns
    -------
    Layer
        The sigmoid output layer. Layers are named ``input``,
        ``input_dropout``, ``hidden<i>``, ``dropout<i>`` and ``output``.

    References
    ----------
    .. [1] G. Melis (2014): Dissecting the winning solution of the HiggsML
       challenge. JMLR W&CP 42, 57-67.
    """
    hidden = tuple(int(h) for h in hidden)
    if int(input_size) <= 0:
        raise ValueError(f"input_size must be positive, got {input_size}")
    if not hidden or any(h <= 0 for h in hidden):
        raise ValueError(f"hidden layer sizes must be positive integers, got {hidden}")
    layer = InputLayer((None, int(input_size)), input_var=input_var, name="input")
    if input_p > 0:
        layer = SwitchDropoutLayer(layer, p=input_p, name="input_dropout")
    for i, units in enumerate(hidden, start=1):
        layer = ReLUDenseLayer(layer, units, leakiness=leakiness, name=f"hidden{i}")
        if p > 0:
            layer = SwitchDropoutLayer(layer, p=p, name=f"dropout{i}")
    return DenseLayer(layer, 1, nonlinearity=nonlinearities.sigmoid, name="output")
