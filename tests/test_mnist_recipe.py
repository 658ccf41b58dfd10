"""Lasagne's examples/mnist.py recipe, ported the way a Lasagne user would: imports only.

The three models (``build_mlp``, ``build_custom_mlp``, ``build_cnn``), the
minibatch iterator and the training and validation functions are written here
as the recipe writes them with Lasagne and Theano, the two imports changed:
``import dropout_layers as lasagne`` and ``import pytensor as theano``. The
data are scikit-learn's 8x8 digits instead of MNIST's 28x28 images (shipped
with scikit-learn, nothing is downloaded), so the input shape is
``(None, 1, 8, 8)`` and the convolutions are 3x3 with 'same' padding where
the recipe's 5x5 valid ones would not fit; widths are smaller to keep the
test quick, and with 26 batches per epoch instead of 100, eight epochs need a
learning rate of 0.05 instead of 0.01. The split, the epochs and the
thresholds are fixed in advance;
each model must beat chance (10%) by far on validation data it never trained
on.
"""
import numpy as np
import pytensor as theano
import pytensor.tensor as T
import pytest

import dropout_layers as lasagne

sklearn_datasets = pytest.importorskip("sklearn.datasets")


def load_dataset():
    digits = sklearn_datasets.load_digits()
    X = (digits.images / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    y = digits.target.astype(np.int32)
    order = np.random.RandomState(0).permutation(len(X))
    train, val = order[:1297], order[1297:]
    return X[train], y[train], X[val], y[val]


def build_mlp(input_var=None):
    l_in = lasagne.layers.InputLayer(shape=(None, 1, 8, 8), input_var=input_var)
    l_in_drop = lasagne.layers.DropoutLayer(l_in, p=0.2)
    l_hid1 = lasagne.layers.DenseLayer(
        l_in_drop, num_units=100, nonlinearity=lasagne.nonlinearities.rectify,
        W=lasagne.init.GlorotUniform())
    l_hid1_drop = lasagne.layers.DropoutLayer(l_hid1, p=0.5)
    l_hid2 = lasagne.layers.DenseLayer(
        l_hid1_drop, num_units=100, nonlinearity=lasagne.nonlinearities.rectify)
    l_hid2_drop = lasagne.layers.DropoutLayer(l_hid2, p=0.5)
    return lasagne.layers.DenseLayer(
        l_hid2_drop, num_units=10, nonlinearity=lasagne.nonlinearities.softmax)


def build_custom_mlp(input_var=None, depth=2, width=100, drop_input=.2, drop_hidden=.5):
    network = lasagne.layers.InputLayer(shape=(None, 1, 8, 8), input_var=input_var)
    if drop_input:
        network = lasagne.layers.dropout(network, p=drop_input)
    nonlin = lasagne.nonlinearities.rectify
    for _ in range(depth):
        network = lasagne.layers.DenseLayer(network, width, nonlinearity=nonlin)
        if drop_hidden:
            network = lasagne.layers.dropout(network, p=drop_hidden)
    softmax = lasagne.nonlinearities.softmax
    return lasagne.layers.DenseLayer(network, 10, nonlinearity=softmax)


def build_cnn(input_var=None):
    network = lasagne.layers.InputLayer(shape=(None, 1, 8, 8), input_var=input_var)
    network = lasagne.layers.Conv2DLayer(
        network, num_filters=16, filter_size=(3, 3), pad="same",
        nonlinearity=lasagne.nonlinearities.rectify, W=lasagne.init.GlorotUniform())
    network = lasagne.layers.MaxPool2DLayer(network, pool_size=(2, 2))
    network = lasagne.layers.Conv2DLayer(
        network, num_filters=16, filter_size=(3, 3), pad="same",
        nonlinearity=lasagne.nonlinearities.rectify)
    network = lasagne.layers.MaxPool2DLayer(network, pool_size=(2, 2))
    network = lasagne.layers.DenseLayer(
        lasagne.layers.dropout(network, p=.5), num_units=64,
        nonlinearity=lasagne.nonlinearities.rectify)
    return lasagne.layers.DenseLayer(
        lasagne.layers.dropout(network, p=.5), num_units=10,
        nonlinearity=lasagne.nonlinearities.softmax)


def iterate_minibatches(inputs, targets, batchsize, shuffle=False):
    assert len(inputs) == len(targets)
    if shuffle:
        indices = np.arange(len(inputs))
        np.random.shuffle(indices)
    for start_idx in range(0, len(inputs) - batchsize + 1, batchsize):
        excerpt = (indices[start_idx:start_idx + batchsize] if shuffle
                   else slice(start_idx, start_idx + batchsize))
        yield inputs[excerpt], targets[excerpt]


def train_and_validate(model, num_epochs, **model_args):
    """The recipe's main(): compile train_fn and val_fn, train, return validation figures."""
    X_train, y_train, X_val, y_val = load_dataset()
    input_var = T.tensor4('inputs')
    target_var = T.ivector('targets')
    network = {"mlp": build_mlp, "custom_mlp": build_custom_mlp, "cnn": build_cnn}[model](
        input_var, **model_args)

    prediction = lasagne.layers.get_output(network)
    loss = lasagne.objectives.categorical_crossentropy(prediction, target_var).mean()
    params = lasagne.layers.get_all_params(network, trainable=True)
    updates = lasagne.updates.nesterov_momentum(loss, params, learning_rate=0.05, momentum=0.9)

    test_prediction = lasagne.layers.get_output(network, deterministic=True)
    test_loss = lasagne.objectives.categorical_crossentropy(test_prediction, target_var).mean()
    test_acc = T.mean(T.eq(T.argmax(test_prediction, axis=1), target_var),
                      dtype=theano.config.floatX)
    train_fn = theano.function([input_var, target_var], loss, updates=updates)
    val_fn = theano.function([input_var, target_var], [test_loss, test_acc])

    def validate():
        figures = [val_fn(x, t) for x, t in iterate_minibatches(X_val, y_val, 100)]
        return tuple(np.mean(figures, axis=0))

    start_loss, _ = validate()
    for _ in range(num_epochs):
        for inputs, targets in iterate_minibatches(X_train, y_train, 50, shuffle=True):
            train_fn(inputs, targets)
    val_loss, val_acc = validate()
    # A plain function of the training output, as a user would compile it.
    stochastic_fn = theano.function([input_var], prediction)
    return start_loss, val_loss, val_acc, stochastic_fn(X_val[:50]), stochastic_fn(X_val[:50])


# The 500 validation digits bound the noise of these thresholds: at chance (p = 0.1) the
# accuracy's standard deviation is sqrt(0.1 * 0.9 / 500) = 0.013, so 0.85 lies 56 of them above
# chance; a model whose true accuracy is 0.95 falls below 0.85 with probability under 1e-20
# (its standard deviation is 0.0097).
@pytest.mark.parametrize("model, model_args, min_accuracy", [
    ("mlp", {}, 0.9),
    # The recipe's custom_mlp:DEPTH,WIDTH,DROP_IN,DROP_HID, here 3,64,0.1,0.3.
    ("custom_mlp", dict(depth=3, width=64, drop_input=0.1, drop_hidden=0.3), 0.85),
    # About 30 s of CPU, most of it compiling the convolutions.
    pytest.param("cnn", {}, 0.85, marks=pytest.mark.slow),
])
def test_recipe_models_learn(model, model_args, min_accuracy):
    np.random.seed(0)  # seeds Lasagne's initialisers and the shuffling, as with Lasagne
    start_loss, val_loss, val_acc, first, second = train_and_validate(model, 8, **model_args)
    assert start_loss > 2.0  # untrained: about log(10) = 2.3
    assert val_loss < 0.5 * start_loss
    assert val_acc >= min_accuracy
    # Each call of a plain compiled function draws fresh dropout masks.
    assert not np.allclose(first, second)
