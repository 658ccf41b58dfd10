"""TrainingGuard: a run that diverges, stalls or stays at chance fails with one line."""
import numpy as np
import pytest

import dropout_layers as dl
from dropout_layers.metrics import roc_auc
from dropout_layers.training import Trainer, TrainingFailed, TrainingGuard
from dropout_layers_higgs.member import CHANCE_UPDATES, chance_epoch
from dropout_layers_higgs.options import PipelineOptions


def _network(n_inputs, units=8, seed=0):
    with dl.random.seeded(seed):
        layer = dl.layers.InputLayer((None, n_inputs))
        layer = dl.layers.DenseLayer(layer, units, nonlinearity=dl.nonlinearities.rectify)
        return dl.layers.DenseLayer(layer, 1, nonlinearity=dl.nonlinearities.sigmoid)


def _data(n, signal=True, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.float32)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    if signal:
        X[:, 0] += 2.0 * y
    return X, y


AUC = {"auc": lambda y, scores, weights: roc_auc(y, scores)}


def test_a_loss_that_blows_up_stops_training_at_that_batch():
    X, y = _data(256)
    X *= 1e3
    trainer = Trainer(_network(4), update="sgd", learning_rate=1e6)
    guard = TrainingGuard(advice="lower the learning rate (now 1e+06)")
    with pytest.raises(TrainingFailed, match=r"^the training loss became (nan|inf) in epoch 1, "
                                             r"batch \d+; lower the learning rate \(now 1e\+06\)$"):
        trainer.fit(X, y, epochs=3, batch_size=32, callbacks=[guard], verbose=False)
    assert len(trainer.history) == 0


def test_a_loss_that_does_not_fall_fails_after_stall_epochs():
    X, y = _data(64, signal=False)
    X[:] = 0.0
    trainer = Trainer(_network(4), learning_rate=1e-3)
    guard = TrainingGuard(stall_epochs=4, advice="")
    with pytest.raises(TrainingFailed, match=r"^the training loss has not fallen in 4 epochs "
                                             r"\(0\.69\d\d at epoch 1, at best 0\.69\d\d\)$"):
        trainer.fit(X, y, epochs=10, batch_size=16, callbacks=[guard], verbose=False)
    assert len(trainer.history) == 4


def test_a_validation_auc_at_chance_fails_from_by_epoch():
    X, y = _data(600, signal=False, seed=1)
    Xv, yv = _data(2000, signal=False, seed=2)
    trainer = Trainer(_network(4), learning_rate=1e-3)
    # Three standard errors of a guess's AUC on these validation events.
    n1 = yv.sum()
    margin = 3 * np.sqrt((len(yv) + 1) / (12 * n1 * (len(yv) - n1)))
    guard = TrainingGuard(monitor="valid_auc", margin=margin, by_epoch=3, stall_epochs=100)
    with pytest.raises(TrainingFailed, match=r"^valid_auc stays near chance \(0\.5\d+ at best "
                                             r"after 3 epochs; chance 0\.5 \+- 0\.039\)"):
        trainer.fit(X, y, valid=(Xv, yv), epochs=10, batch_size=64, metrics=AUC,
                    callbacks=[guard], verbose=False)
    assert len(trainer.history) == 3


def test_a_constant_output_is_a_dead_network():
    X, y = _data(200)
    network = _network(4)
    # Every rectifier dead: the output is the sigmoid of the output bias alone.
    hidden = dl.layers.get_all_layers(network)[1]
    hidden.b.set_value(np.full(8, -1e3, dtype=hidden.b.dtype))
    trainer = Trainer(network, learning_rate=1e-3)
    guard = TrainingGuard(monitor="valid_auc", dead_epochs=2, stall_epochs=100, advice="x")
    with pytest.raises(TrainingFailed, match=r"^the network gives every event the same score "
                                             r"\(valid_auc exactly 0\.5 in epochs 1-2\): its "
                                             r"units died; x$"):
        trainer.fit(X, y, valid=(X, y), epochs=5, batch_size=50, metrics=AUC,
                    callbacks=[guard], verbose=False)


def test_a_healthy_run_passes_every_check():
    X, y = _data(400)
    Xv, yv = _data(400, seed=3)
    trainer = Trainer(_network(4), learning_rate=1e-2)
    guard = TrainingGuard(monitor="valid_auc", margin=0.1, by_epoch=2, stall_epochs=3)
    history = trainer.fit(X, y, valid=(Xv, yv), epochs=4, batch_size=32, metrics=AUC,
                          callbacks=[guard], verbose=False)
    assert len(history) == 4 and history[-1]["valid_auc"] > 0.8


def _feed(guard, losses):
    """Epoch rows straight into the guard, as the fit loop would send them."""
    guard.on_train_begin(type("FreshTrainer", (), {"history": []})())
    for epoch, loss in enumerate(losses, start=1):
        guard.on_epoch_end(None, epoch, {"epoch": epoch, "train_loss": loss})


def test_a_falling_loss_far_above_the_ceiling_is_a_diverged_run():
    # Falls by half (passes min_drop) but stays at 1e27: Adam at a rate of 1e6.
    losses = [9e27, 6e27, 5e27, 5.5e27, 4.5e27]
    _feed(TrainingGuard(stall_epochs=5), losses)  # no ceiling: passes
    with pytest.raises(TrainingFailed, match=r"diverged: 4\.5e\+27 at best in 5 epochs, "
                                             r"above 1\.386"):
        _feed(TrainingGuard(stall_epochs=5, loss_ceiling=2 * np.log(2)), losses)


def test_a_loss_below_the_ceiling_by_stall_epochs_passes():
    guard = TrainingGuard(stall_epochs=3, loss_ceiling=1.0)
    _feed(guard, [3.0, 2.0, 0.99, 0.9])
    with pytest.raises(TrainingFailed, match="above 1"):
        _feed(TrainingGuard(stall_epochs=3, loss_ceiling=1.0), [3.0, 2.0, 1.01])


@pytest.mark.parametrize("n_train, batch_size, patience, epoch", [
    (80_000, 128, 40, 10),     # 391 updates an epoch: ten epochs are plenty
    (4_000, 128, 40, 40),      # 32 updates an epoch: 47 wanted, patience caps it
    (4_000, 128, 100, 47),
    (12_800, 128, 40, 15),     # 100 updates an epoch
    (500_000, 128, 40, 10),    # epoch_events caps an epoch at 50,000 events
    (4_000, 128, 5, 10),       # never before epoch ten
])
def test_the_chance_check_waits_for_enough_updates(n_train, batch_size, patience, epoch):
    options = PipelineOptions(batch_size=batch_size, patience=patience)
    assert chance_epoch(options, n_train) == epoch
    updates = epoch * -(-min(n_train, options.epoch_events) // batch_size)
    assert updates >= CHANCE_UPDATES or epoch in (10, patience)
