"""A synthetic stand-in for the Kaggle Higgs training data.

:func:`generate_toy_higgs` simulates events of the ATLAS H -> tau tau
analysis in the lepton + hadronic-tau channel, at the level of detail the
challenge's 30 features need, and returns them in the Kaggle schema. It lets
the training pipeline run, and be tested, where the real data is absent.

The model
---------
Five processes, each a set of visible objects in the detector:

``ggF H``, ``VBF H`` (signal)
    A Higgs boson (125 GeV) decays to two taus; one tau decays to a lepton
    and two neutrinos, the other to hadrons (the visible "tau") and a
    neutrino. Vector-boson fusion adds two forward jets in opposite
    hemispheres with a large dijet mass.
``Z -> tau tau`` (background)
    The same decay chain from a Z boson (91.2 GeV, Breit-Wigner) or, in 20%
    of the events, from the falling Drell-Yan continuum (1/m^2 from 60 to
    250 GeV): the irreducible background, separable mostly by the mass.
``W + jets`` (background)
    A W boson decays to a lepton and a neutrino (in 70% of the events via
    W -> tau nu, tau -> lepton); a jet is misidentified as the hadronic tau.
    The transverse mass of the lepton and the missing momentum shows the
    W's Jacobian peak.
``ttbar`` (background)
    Like W + jets with harder kinematics, more jets, a second neutrino and
    a boson only partly balanced by the jets.

Tau decays use the collinear approximation: visible products and neutrinos
share the tau's direction, with the visible momentum fraction drawn from a
Beta distribution (mean ~0.6 for hadronic decays, ~0.4 for leptonic). Jets
have a pT spectrum falling exponentially above 30 GeV, and the boson
recoils against them. The detector measures the hadronic tau with a 15%
pT resolution, the lepton with 2% and jets with 15%; what is mismeasured
shows up in the missing transverse momentum, which also gets a resolution
of ``0.8 sqrt(sum E_T)`` per component (2.5 times that in 15% of the
events). Events must pass pT(tau) > 20 GeV, pT(lepton) > 26 GeV and
|eta| < 2.5 for both, as in the challenge data.

The "MMC" mass estimate is the resonance mass smeared by 25% (log-normal, so
its median is the mass) for the tau-pair processes, and a broad function of
the visible mass and missing momentum for the others; it fails (-999) in
5-30% of the events depending on the process. The derived (``DER_``)
features are computed from the primary (``PRI_``) ones with the challenge's
definitions [1]_, and the jet-dependent -999 pattern follows
``PRI_jet_num``. Values are rounded to three decimals, like the real files.

The resolutions, the Drell-Yan share and the W -> tau nu share are set (some
above their real values) so that the task is learnable but not easy: on
100,000 events, a 256-256 ReLU MLP reaches a test AUC of about 0.92, and no
single feature more than 0.8.

Weights are constant per signal process and vary by ~20% per background
event; each class is scaled to the Kaggle training totals, so a 250,000 event
toy has weights of the real data's size (~1e-3 signal, ~1 background).

References
----------
.. [1] C. Adam-Bourdarios et al., "Learning to discover: the Higgs boson
       machine learning challenge", documentation v1.8 (2014).
"""
import os

import numpy as np

from .data import KAGGLE_FEATURES, MISSING_VALUE, HiggsData, write_kaggle_csv
from .metrics import BACKGROUND_WEIGHT_TOTAL, SIGNAL_WEIGHT_TOTAL

__all__ = ["generate_toy_higgs", "write_toy_higgs", "PROCESSES", "FIRST_EVENT_ID"]

#: Process names, indexed by the process codes :func:`generate_toy_higgs` can return.
PROCESSES = ("ggF H->tautau", "VBF H->tautau", "Z->tautau", "W+jets", "ttbar")
#: EventId of the first event, as in the Kaggle training file.
FIRST_EVENT_ID = 100000

_GGF, _VBF, _Z, _W, _TTBAR = range(5)

# Share of each process within its class, by event count.
_SIGNAL_MIX = {_GGF: 0.8, _VBF: 0.2}
_BACKGROUND_MIX = {_Z: 0.52, _W: 0.33, _TTBAR: 0.15}
# Relative event weight of each process before normalisation to the class totals.
_RELATIVE_WEIGHT = {_GGF: 1.0, _VBF: 0.3, _Z: 1.0, _W: 2.0, _TTBAR: 0.4}
# P(0, 1, 2, >=3 jets) per process.
_JET_MULTIPLICITY = {
    _GGF: (0.45, 0.33, 0.15, 0.07),
    _VBF: (0.0, 0.15, 0.55, 0.30),
    _Z: (0.52, 0.30, 0.13, 0.05),
    _W: (0.40, 0.35, 0.17, 0.08),
    _TTBAR: (0.02, 0.13, 0.40, 0.45),
}
# Mean jet pT above the 30 GeV threshold, GeV.
_JET_PT_SCALE = {_GGF: 35.0, _VBF: 45.0, _Z: 28.0, _W: 30.0, _TTBAR: 50.0}
# Probability that the MMC fit fails (DER_mass_MMC = -999).
_MMC_FAILURE = {_GGF: 0.05, _VBF: 0.05, _Z: 0.08, _W: 0.30, _TTBAR: 0.20}

# Relative pT resolutions of the hadronic tau, the lepton and jets; missing
# momentum resolution per component in units of sqrt(sum E_T / GeV); MMC
# mass resolution (log-normal sigma).
_TAU_RESOLUTION, _LEPTON_RESOLUTION, _JET_RESOLUTION = 0.15, 0.02, 0.15
_MET_RESOLUTION = 0.8
_MET_TAIL_FRACTION, _MET_TAIL_SCALE = 0.15, 2.5
_W_TO_TAU_FRACTION = 0.7
_DRELL_YAN_FRACTION = 0.2
_TTBAR_BALANCE = 0.8
_MMC_RESOLUTION = 0.25
_HIGGS_MASS, _Z_MASS, _Z_WIDTH, _W_MASS, _W_WIDTH = 125.0, 91.19, 2.5, 80.4, 2.1
_MAX_JETS = 6
# Rough selection efficiency per process, to size the first batch.
_ACCEPTANCE_GUESS = {_GGF: 0.2, _VBF: 0.3, _Z: 0.1, _W: 0.35, _TTBAR: 0.45}
_TAU_PT_MIN, _LEP_PT_MIN, _ETA_MAX, _JET_ETA_MAX = 20.0, 26.0, 2.5, 4.5


def generate_toy_higgs(n_events=100_000, seed=0, signal_fraction=0.34, return_processes=False):
    """Simulate Higgs challenge events in the Kaggle training schema.

    Parameters
    ----------
    n_events : int
        Number of events.
    seed : int or numpy.random.Generator
        Seed of the simulation; equal seeds give identical data.
    signal_fraction : float in (0, 1)
        Fraction of signal events, by count: exactly
        ``round(n_events * signal_fraction)`` events are signal (0.34 as in
        the Kaggle training file).
    return_processes : bool
        Also return the process of each event (an index into :data:`PROCESSES`).

    Returns
    -------
    data : HiggsData
        ``X`` (float32, the 30 :data:`KAGGLE_FEATURES`), ``y``, ``weights``
        (each class summing to the Kaggle totals) and ``event_ids`` counting
        from 100000; ``format`` is ``'kaggle-train'``.
    processes : numpy.ndarray of int8
        Only with ``return_processes``.

    Notes
    -----
    Writing the events with :func:`write_toy_higgs` and reading them back
    with :func:`~dropout_layers_higgs.data.load_higgs` gives these arrays
    exactly. About 0.7 s per 100,000 events.
    """
    data, processes, _ = _simulate(n_events, seed, signal_fraction)
    return (data, processes) if return_processes else data


def write_toy_higgs(path, n_events=100_000, seed=0, signal_fraction=0.34, test=False):
    """Simulate events and write them as a Kaggle ``training.csv`` (or ``test.csv``).

    Parameters
    ----------
    path : str or os.PathLike
        Destination (``.gz`` for a compressed file).
    n_events, seed, signal_fraction
        As for :func:`generate_toy_higgs`.
    test : bool
        Write the ``test.csv`` schema, without the ``Weight`` and ``Label``
        columns.

    Returns
    -------
    HiggsData
        The events written, labels and weights included, as
        :func:`generate_toy_higgs` returns them.
    """
    data, _, features = _simulate(n_events, seed, signal_fraction)
    if test:
        write_kaggle_csv(path, data.event_ids, features)
    else:
        write_kaggle_csv(path, data.event_ids, features, data.weights, data.y)
    data.path = os.fspath(path)
    return data


# --------------------------------------------------------------------------

def _simulate(n_events, seed, signal_fraction):
    """Return (HiggsData, process codes, float64 features rounded to 1e-3)."""
    n_events = int(n_events)
    if n_events < 2:
        raise ValueError(f"generate_toy_higgs: n_events must be at least 2, got {n_events}")
    if not 0 < signal_fraction < 1:
        raise ValueError(f"generate_toy_higgs: signal_fraction must be in (0, 1), "
                         f"got {signal_fraction}")
    rng = np.random.default_rng(seed)
    n_signal = min(max(int(round(n_events * signal_fraction)), 1), n_events - 1)
    counts = {}
    for mix, n_class in ((_SIGNAL_MIX, n_signal), (_BACKGROUND_MIX, n_events - n_signal)):
        shares = rng.multinomial(n_class, list(mix.values()))
        counts.update(zip(mix.keys(), shares))

    blocks = [_simulate_process(rng, process, n) for process, n in counts.items() if n]
    features = np.concatenate([block for block, _ in blocks])
    weights = np.concatenate([w for _, w in blocks])
    processes = np.concatenate([np.full(n, process, dtype=np.int8)
                                for process, n in counts.items() if n])
    order = rng.permutation(n_events)
    features, weights, processes = features[order], weights[order], processes[order]
    y = (processes <= _VBF).astype(np.int8)
    weights[y == 1] *= SIGNAL_WEIGHT_TOTAL / weights[y == 1].sum()
    weights[y == 0] *= BACKGROUND_WEIGHT_TOTAL / weights[y == 0].sum()
    data = HiggsData(
        X=features.astype(np.float32), feature_names=KAGGLE_FEATURES, y=y, weights=weights,
        event_ids=np.arange(FIRST_EVENT_ID, FIRST_EVENT_ID + n_events, dtype=np.int64),
        format="kaggle-train",
    )
    return data, processes, features


def _simulate_process(rng, process, n_wanted):
    """``n_wanted`` selected events of one process: (features, relative weights)."""
    # Stage 1 draws what the selection looks at, in batches sized from the
    # acceptance seen so far; stage 2 completes only the selected events.
    parts, n_have, n_tried = [], 0, 0
    batch = int(1.1 * n_wanted / _ACCEPTANCE_GUESS[process]) + 256
    while n_have < n_wanted:
        event = _produce(rng, process, batch)
        keep = ((event["tau_pt"] > _TAU_PT_MIN) & (event["lep_pt"] > _LEP_PT_MIN)
                & (np.abs(event["tau_eta"]) < _ETA_MAX) & (np.abs(event["lep_eta"]) < _ETA_MAX))
        parts.append({key: value[keep] for key, value in event.items()})
        n_have += int(keep.sum())
        n_tried += batch
        efficiency = max(n_have / n_tried, 0.01)
        batch = int(1.1 * (n_wanted - n_have) / efficiency) + 256
    event = {key: np.concatenate([part[key] for part in parts])[:n_wanted] for key in parts[0]}
    _measure(rng, process, event)
    weights = np.full(n_wanted, _RELATIVE_WEIGHT[process])
    if process >= _Z:
        weights *= rng.lognormal(0.0, 0.2, n_wanted)
    return _kaggle_features(event), weights


def _produce(rng, process, n):
    """Stage 1: jets' pT and phi, the boson decay and the measured tau and lepton."""
    n_jets, jet_pt, jet_phi = _jets(rng, process, n)
    boson_px, boson_py, fake = _recoil(rng, process, jet_pt, jet_phi)
    rapidity = rng.normal(0.0, 1.0 if process in (_VBF, _TTBAR) else 1.3, n)
    if process in (_GGF, _VBF, _Z):
        mass, tau, lep, x_tau, x_lep = _tau_pair(rng, process, boson_px, boson_py, rapidity)
        nu = None
    else:
        mass = np.full(n, np.nan)  # no tau pair: the MMC is computed in stage 2
        tau = fake
        lep, nu, x_tau, x_lep = _w_decay(rng, boson_px, boson_py, rapidity)
    nu_px, nu_py = _neutrinos(rng, process, tau, lep, x_tau, x_lep, nu)
    nu_px, nu_py, tau_pt, tau_eta, tau_phi, lep_pt, lep_eta, lep_phi = _detector_response(
        rng, tau, lep, x_tau, x_lep, nu_px, nu_py)
    return dict(n_jets=n_jets, jet_pt=jet_pt, jet_phi=jet_phi, nu_px=nu_px, nu_py=nu_py,
                mass=mass, tau_pt=tau_pt, tau_eta=tau_eta, tau_phi=tau_phi, lep_pt=lep_pt,
                lep_eta=lep_eta, lep_phi=lep_phi)


def _jets(rng, process, n):
    """Draw the jet multiplicity, and pT (0 in unused slots) and phi of ``_MAX_JETS`` jets."""
    category = rng.choice(4, size=n, p=_JET_MULTIPLICITY[process])
    n_jets = np.minimum(np.where(category == 3, 2 + rng.geometric(0.6, n), category), _MAX_JETS)
    jet_pt = 30.0 + rng.exponential(_JET_PT_SCALE[process], (n, _MAX_JETS))
    if process == _VBF:
        jet_pt[:, :2] = 30.0 + rng.exponential(55.0, (n, 2))  # the two tagging jets
    jet_pt[np.arange(_MAX_JETS) >= n_jets[:, None]] = 0.0
    jet_phi = rng.uniform(-np.pi, np.pi, (n, _MAX_JETS))
    return n_jets, jet_pt, jet_phi


def _recoil(rng, process, jet_pt, jet_phi):
    """Return the boson's (px, py) and, in W + jets and ttbar, the fake tau's (px, py, pz)."""
    n = len(jet_pt)
    jet_px_sum = np.sum(jet_pt * np.cos(jet_phi), axis=1)
    jet_py_sum = np.sum(jet_pt * np.sin(jet_phi), axis=1)
    # The boson recoils against the jets plus soft radiation; in top decays
    # only partly, the rest of the recoil being the other top.
    balance = _TTBAR_BALANCE if process == _TTBAR else 1.0
    soft = 25.0 if process == _TTBAR else 8.0
    boson_px = -balance * jet_px_sum + rng.normal(0.0, soft, n)
    boson_py = -balance * jet_py_sum + rng.normal(0.0, soft, n)
    fake = None
    if process in (_W, _TTBAR):
        # A jet faking the hadronic tau; in W + jets the W recoils against it too.
        fake_pt = 20.0 + rng.exponential(30.0 if process == _TTBAR else 22.0, n)
        fake_eta = rng.normal(0.0, 1.3, n)
        fake_phi = rng.uniform(-np.pi, np.pi, n)
        fake = (fake_pt * np.cos(fake_phi), fake_pt * np.sin(fake_phi),
                fake_pt * np.sinh(fake_eta))
        if process == _W:
            boson_px, boson_py = boson_px - fake[0], boson_py - fake[1]
    return boson_px, boson_py, fake


def _tau_pair(rng, process, boson_px, boson_py, rapidity):
    """Decay a Higgs or a Z to a hadronic and a leptonic tau.

    Returns the boson mass, both taus' (px, py, pz) and the visible momentum
    fraction of each.
    """
    n = len(boson_px)
    if process == _Z:
        # The Z peak on top of the falling Drell-Yan (photon) continuum,
        # which reaches under the Higgs mass.
        mass = np.where(rng.random(n) < _DRELL_YAN_FRACTION,
                        _falling_mass(rng, 60.0, 250.0, n),
                        _breit_wigner(rng, _Z_MASS, _Z_WIDTH, 70.0, 115.0, n))
    else:
        mass = np.full(n, _HIGGS_MASS)
    first, second = _two_body_decay(rng, mass, boson_px, boson_py, rapidity)
    hadronic_first = rng.random(n) < 0.5
    tau = _choose(hadronic_first, first, second)
    lep = _choose(hadronic_first, second, first)
    x_tau = rng.beta(1.6, 1.1, n)
    x_lep = rng.beta(2.0, 3.0, n)
    return mass, tau, lep, x_tau, x_lep


def _w_decay(rng, boson_px, boson_py, rapidity):
    """Decay a W to a lepton (directly or through a tau) and a neutrino.

    Returns the lepton's (or its parent tau's) and the neutrino's
    (px, py, pz), and the visible momentum fractions of the (fake) tau and
    the lepton.
    """
    n = len(boson_px)
    w_mass = _breit_wigner(rng, _W_MASS, _W_WIDTH, 60.0, 100.0, n)
    lep, nu = _two_body_decay(rng, w_mass, boson_px, boson_py, rapidity)
    # W -> tau nu with tau -> lepton: the lepton keeps a fraction of the tau.
    x_lep = np.where(rng.random(n) < _W_TO_TAU_FRACTION, rng.beta(2.0, 3.0, n), 1.0)
    x_tau = np.ones(n)
    return lep, nu, x_tau, x_lep


def _neutrinos(rng, process, tau, lep, x_tau, x_lep, nu):
    """Return the true missing transverse momentum (px, py): the neutrinos'."""
    # Collinear tau decays: the neutrinos carry the rest of each tau.
    nu_px = (1 - x_tau) * tau[0] + (1 - x_lep) * lep[0]
    nu_py = (1 - x_tau) * tau[1] + (1 - x_lep) * lep[1]
    if process in (_W, _TTBAR):
        nu_px, nu_py = nu_px + nu[0], nu_py + nu[1]
    if process == _TTBAR:
        n = len(nu_px)
        extra_pt = rng.gamma(2.0, 20.0, n)  # the other W's neutrino
        extra_phi = rng.uniform(-np.pi, np.pi, n)
        nu_px, nu_py = nu_px + extra_pt * np.cos(extra_phi), nu_py + extra_pt * np.sin(extra_phi)
    return nu_px, nu_py


def _detector_response(rng, tau, lep, x_tau, x_lep, nu_px, nu_py):
    """Measure the visible tau and lepton.

    Returns the missing (px, py) and the measured tau's and lepton's pT,
    eta and phi.
    """
    # The visible tau and lepton are measured with a relative resolution,
    # and what they are mismeasured by shows up in the missing momentum
    # (which balances all measured objects).
    n = len(nu_px)
    tau_scale = x_tau * (1.0 + _TAU_RESOLUTION * rng.standard_normal(n))
    lep_scale = x_lep * (1.0 + _LEPTON_RESOLUTION * rng.standard_normal(n))
    nu_px = nu_px + (x_tau - tau_scale) * tau[0] + (x_lep - lep_scale) * lep[0]
    nu_py = nu_py + (x_tau - tau_scale) * tau[1] + (x_lep - lep_scale) * lep[1]
    tau_pt, tau_eta, tau_phi = _pt_eta_phi(*(tau_scale * c for c in tau))
    lep_pt, lep_eta, lep_phi = _pt_eta_phi(*(lep_scale * c for c in lep))
    return nu_px, nu_py, tau_pt, tau_eta, tau_phi, lep_pt, lep_eta, lep_phi


def _measure(rng, process, e):
    """Stage 2, in place: jets' eta and ordering, missing momentum, MMC mass."""
    n, n_slots = e["jet_pt"].shape
    eta = np.clip(rng.normal(0.0, 1.8, (n, n_slots)), -_JET_ETA_MAX, _JET_ETA_MAX)
    if process == _VBF:
        # The tagging jets go forward and backward.
        hemisphere = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        forward = np.clip(rng.normal(2.2, 0.8, (n, 2)), 0.3, _JET_ETA_MAX)
        eta[:, 0] = hemisphere * forward[:, 0]
        eta[:, 1] = -hemisphere * forward[:, 1]
    order = np.argsort(-e["jet_pt"], axis=1, kind="stable")
    pt = np.take_along_axis(e["jet_pt"], order, axis=1)
    phi = np.take_along_axis(e["jet_phi"], order, axis=1)
    eta = np.take_along_axis(eta, order, axis=1)
    error = _JET_RESOLUTION * rng.standard_normal((n, n_slots)) * pt
    e["jet_num"] = np.minimum(e["n_jets"], 3)
    e["jet_pt"], e["jet_eta"], e["jet_phi"] = pt[:, :2], eta[:, :2], phi[:, :2]
    e["jet_all_pt"] = pt.sum(axis=1)

    # A minority of events has badly measured missing momentum (pile-up,
    # cracks): a Gaussian core with wider tails.
    e["sum_et"] = e["tau_pt"] + e["lep_pt"] + e["jet_all_pt"] + rng.gamma(3.0, 30.0, n)
    resolution = _MET_RESOLUTION * np.sqrt(e["sum_et"]) * np.where(
        rng.random(n) < _MET_TAIL_FRACTION, _MET_TAIL_SCALE, 1.0)
    e["met_px"] = (e["nu_px"] + np.sum(error * np.cos(phi), axis=1)
                   + rng.standard_normal(n) * resolution)
    e["met_py"] = (e["nu_py"] + np.sum(error * np.sin(phi), axis=1)
                   + rng.standard_normal(n) * resolution)

    if process in (_W, _TTBAR):
        # The MMC of an event without a tau pair: a broad function of the
        # visible mass and the missing momentum.
        visible_mass = _mass_of_massless(e["tau_pt"], e["tau_eta"], e["tau_phi"],
                                         e["lep_pt"], e["lep_eta"], e["lep_phi"])
        met = np.hypot(e["met_px"], e["met_py"])
        mmc = (visible_mass * (1.0 + met / (e["tau_pt"] + e["lep_pt"])) ** 0.8
               * rng.lognormal(0.0, 0.12, n))
    else:
        mmc = e["mass"] * rng.lognormal(0.0, _MMC_RESOLUTION, n)
    e["mmc"] = np.where(rng.random(n) < _MMC_FAILURE[process], MISSING_VALUE, mmc)


def _kaggle_features(e):
    """Return the 30 Kaggle features of selected events, rounded to 1e-3, float64."""
    met = np.hypot(e["met_px"], e["met_py"])
    met_phi = np.arctan2(e["met_py"], e["met_px"])
    tau_px, tau_py = e["tau_pt"] * np.cos(e["tau_phi"]), e["tau_pt"] * np.sin(e["tau_phi"])
    lep_px, lep_py = e["lep_pt"] * np.cos(e["lep_phi"]), e["lep_pt"] * np.sin(e["lep_phi"])
    jet_num = e["jet_num"]
    has_leading, has_subleading = jet_num >= 1, jet_num >= 2
    jet_pt, jet_eta, jet_phi = e["jet_pt"], e["jet_eta"], e["jet_phi"]
    jet_px, jet_py = jet_pt * np.cos(jet_phi), jet_pt * np.sin(jet_phi)

    f = {}
    f["DER_mass_MMC"] = e["mmc"]
    f["DER_mass_transverse_met_lep"] = np.sqrt(np.maximum(
        2.0 * e["lep_pt"] * met * (1.0 - np.cos(e["lep_phi"] - met_phi)), 0.0))
    f["DER_mass_vis"] = _mass_of_massless(e["tau_pt"], e["tau_eta"], e["tau_phi"],
                                          e["lep_pt"], e["lep_eta"], e["lep_phi"])
    f["DER_pt_h"] = np.hypot(tau_px + lep_px + e["met_px"], tau_py + lep_py + e["met_py"])
    delta_eta_jj = np.abs(jet_eta[:, 0] - jet_eta[:, 1])
    f["DER_deltaeta_jet_jet"] = delta_eta_jj
    f["DER_mass_jet_jet"] = _mass_of_massless(jet_pt[:, 0], jet_eta[:, 0], jet_phi[:, 0],
                                              jet_pt[:, 1], jet_eta[:, 1], jet_phi[:, 1])
    f["DER_prodeta_jet_jet"] = jet_eta[:, 0] * jet_eta[:, 1]
    f["DER_deltar_tau_lep"] = np.hypot(e["tau_eta"] - e["lep_eta"],
                                       _wrap(e["tau_phi"] - e["lep_phi"]))
    f["DER_pt_tot"] = np.hypot(
        tau_px + lep_px + e["met_px"] + jet_px[:, 0] * has_leading + jet_px[:, 1] * has_subleading,
        tau_py + lep_py + e["met_py"] + jet_py[:, 0] * has_leading + jet_py[:, 1] * has_subleading)
    f["DER_sum_pt"] = e["tau_pt"] + e["lep_pt"] + e["jet_all_pt"]
    f["DER_pt_ratio_lep_tau"] = e["lep_pt"] / e["tau_pt"]
    f["DER_met_phi_centrality"] = _phi_centrality(e["lep_phi"], e["tau_phi"], met_phi)
    half_gap = np.maximum(delta_eta_jj, 1e-6)
    f["DER_lep_eta_centrality"] = np.exp(
        -4.0 / half_gap ** 2 * (e["lep_eta"] - 0.5 * (jet_eta[:, 0] + jet_eta[:, 1])) ** 2)
    f["PRI_tau_pt"], f["PRI_tau_eta"], f["PRI_tau_phi"] = e["tau_pt"], e["tau_eta"], e["tau_phi"]
    f["PRI_lep_pt"], f["PRI_lep_eta"], f["PRI_lep_phi"] = e["lep_pt"], e["lep_eta"], e["lep_phi"]
    f["PRI_met"], f["PRI_met_phi"], f["PRI_met_sumet"] = met, met_phi, e["sum_et"]
    f["PRI_jet_num"] = jet_num.astype(np.float64)
    f["PRI_jet_leading_pt"], f["PRI_jet_leading_eta"], f["PRI_jet_leading_phi"] = (
        jet_pt[:, 0], jet_eta[:, 0], jet_phi[:, 0])
    f["PRI_jet_subleading_pt"], f["PRI_jet_subleading_eta"], f["PRI_jet_subleading_phi"] = (
        jet_pt[:, 1], jet_eta[:, 1], jet_phi[:, 1])
    f["PRI_jet_all_pt"] = e["jet_all_pt"]
    return _feature_matrix(f, has_leading, has_subleading)


def _feature_matrix(f, has_leading, has_subleading):
    """Lay out the features ``f`` in Kaggle order, rounded, with the challenge's -999s."""
    n = len(has_leading)
    features = np.empty((n, len(KAGGLE_FEATURES)))
    for j, name in enumerate(KAGGLE_FEATURES):
        features[:, j] = f[name]
    # Rounding to 1e-3 as k / 1000 gives the double nearest to the decimal
    # k/1000, which is what a parser returns for the written text.
    features = np.rint(features * 1000.0) / 1000.0
    undefined_without_two_jets = [KAGGLE_FEATURES.index(name) for name in (
        "DER_deltaeta_jet_jet", "DER_mass_jet_jet", "DER_prodeta_jet_jet",
        "DER_lep_eta_centrality", "PRI_jet_subleading_pt", "PRI_jet_subleading_eta",
        "PRI_jet_subleading_phi")]
    undefined_without_jets = [KAGGLE_FEATURES.index(name) for name in (
        "PRI_jet_leading_pt", "PRI_jet_leading_eta", "PRI_jet_leading_phi")]
    features[np.ix_(~has_subleading, undefined_without_two_jets)] = MISSING_VALUE
    features[np.ix_(~has_leading, undefined_without_jets)] = MISSING_VALUE
    features[f["DER_mass_MMC"] == MISSING_VALUE, 0] = MISSING_VALUE
    return features


# --------------------------------------------------------------------------
# Kinematics

def _breit_wigner(rng, mass, width, low, high, n):
    """Non-relativistic Breit-Wigner (Cauchy) masses truncated to [low, high]."""
    # Inverse CDF on the truncated range: no rejection loop needed.
    lo = np.arctan(2.0 * (low - mass) / width)
    hi = np.arctan(2.0 * (high - mass) / width)
    return mass + 0.5 * width * np.tan(rng.uniform(lo, hi, n))


def _falling_mass(rng, low, high, n):
    """Masses with density proportional to 1 / m**2 on [low, high]."""
    u = rng.random(n)
    return 1.0 / (1.0 / low - u * (1.0 / low - 1.0 / high))


def _two_body_decay(rng, mass, px, py, rapidity):
    """Massless two-body decay of a boson, isotropic in its rest frame.

    Returns the (px, py, pz) of both daughters in the lab frame.
    """
    n = len(mass)
    energy_t = np.sqrt(mass ** 2 + px ** 2 + py ** 2)
    energy, pz = energy_t * np.cosh(rapidity), energy_t * np.sinh(rapidity)
    cos_theta = rng.uniform(-1.0, 1.0, n)
    sin_theta = np.sqrt(1.0 - cos_theta ** 2)
    phi = rng.uniform(-np.pi, np.pi, n)
    half = 0.5 * mass
    rest = (half * sin_theta * np.cos(phi), half * sin_theta * np.sin(phi), half * cos_theta)
    beta = (px / energy, py / energy, pz / energy)
    beta_sq = beta[0] ** 2 + beta[1] ** 2 + beta[2] ** 2
    gamma = energy / mass
    daughters = []
    for sign in (1.0, -1.0):
        p = tuple(sign * c for c in rest)
        beta_dot_p = beta[0] * p[0] + beta[1] * p[1] + beta[2] * p[2]
        # p_lab = p + ((gamma - 1) (beta.p) / beta^2 + gamma E*) beta
        scale = np.where(beta_sq > 0, (gamma - 1.0) * beta_dot_p / np.maximum(beta_sq, 1e-300),
                         0.0) + gamma * half
        daughters.append(tuple(p[i] + scale * beta[i] for i in range(3)))
    return daughters[0], daughters[1]


def _choose(condition, a, b):
    return tuple(np.where(condition, x, y) for x, y in zip(a, b))


def _pt_eta_phi(px, py, pz):
    pt = np.hypot(px, py)
    return pt, np.arcsinh(pz / np.maximum(pt, 1e-9)), np.arctan2(py, px)


def _mass_of_massless(pt1, eta1, phi1, pt2, eta2, phi2):
    """Invariant mass of two massless objects."""
    return np.sqrt(np.maximum(2.0 * pt1 * pt2 * (np.cosh(eta1 - eta2) - np.cos(phi1 - phi2)), 0.0))


def _wrap(angle):
    """Angle difference mapped to [-pi, pi)."""
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def _phi_centrality(lep_phi, tau_phi, met_phi):
    """DER_met_phi_centrality: sqrt(2) when the MET points between lepton and tau."""
    sign = np.sign(np.sin(tau_phi - lep_phi))
    a = np.sin(met_phi - lep_phi) * sign
    b = np.sin(tau_phi - met_phi) * sign
    norm = np.sqrt(a ** 2 + b ** 2)
    return np.where(norm > 0, (a + b) / np.maximum(norm, 1e-12), 0.0)
