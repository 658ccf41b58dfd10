"""Builders of every layer of the dropout family, for the tests that run them all."""
import dropout_layers as dl

#: name -> builder(inc, **extra) of a layer on a (None, 40) input.
LAYERS = {
    "switch": lambda inc, **kw: dl.SwitchDropoutLayer(inc, p=kw.get("p", 0.5)),
    "multiply": lambda inc, **kw: dl.DropoutLayer(inc, p=kw.get("p", 0.3)),
    "gaussian_noise": lambda inc, **kw: dl.GaussianNoiseLayer(inc, sigma=kw.get("p", 0.1)),
    "gaussian_dropout": lambda inc, **kw: dl.GaussianDropoutLayer(inc, p=kw.get("p", 0.3)),
    "alpha": lambda inc, **kw: dl.AlphaDropoutLayer(inc, p=kw.get("p", 0.2)),
    "dropconnect": lambda inc, **kw: dl.DropConnectDenseLayer(inc, 10, p=kw.get("p", 0.5)),
    "dropconnect_example": lambda inc, **kw: dl.DropConnectDenseLayer(
        inc, 10, p=kw.get("p", 0.5), mask="example"),
    "concrete": lambda inc, **kw: dl.ConcreteDropoutLayer(inc, init_p=0.3),
}

#: The layers whose rate may be a shared variable (all but concrete dropout, which learns it).
SCHEDULABLE = [name for name in LAYERS if name != "concrete"]
