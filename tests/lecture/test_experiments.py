"""The lecture experiments (``kernbench.lecture``): each experiment's claim, on small settings."""

from __future__ import annotations

import math

import numpy as np
import pytest

import kernbench as kb
from kernbench import lecture
from kernbench.lecture import experiments as ex

BACKENDS = kb.available_backends()


# ------------------------------------------------------------------ 1. optimization landscape

@pytest.fixture(scope="module")
def landscape():
    return lecture.landscape_experiment(kappa=100.0, steps=100, kappas=(1, 100, 1000),
                                        max_steps=1500)


def test_adam_ends_below_sgd_at_kappa_100(landscape):
    assert landscape.final_loss("Adam") < landscape.final_loss("SGD")
    # every optimizer makes progress from L(1, 1) = 101 and none diverges
    for method, loss in landscape.losses.items():
        assert np.all(np.isfinite(loss)), method
        assert loss[-1] < 0.05 * loss[0], method


def test_trajectories_identical_across_backends(landscape):
    assert set(landscape.backend_trajectories) >= set(BACKENDS)
    ref = landscape.trajectories
    for b in BACKENDS:
        for method in lecture.LANDSCAPE_OPTIMIZERS:
            traj = landscape.backend_trajectories[b][method]
            assert traj.shape == (101, 2)
            np.testing.assert_allclose(traj, ref[method], rtol=1e-12, atol=1e-12,
                                       err_msg=f"{method} on {b}")


def test_momentum_lr_is_inside_both_stability_limits():
    mu, top = 0.9, 2 * 100.0
    assert lecture.MOMENTUM_LR * top < 2 * (1 + mu)                  # heavy ball
    assert lecture.MOMENTUM_LR * top < 2 * (1 + mu) / (1 + 2 * mu)   # Nesterov


def test_steps_to_target_table(landscape):
    table = landscape.steps_table
    adam = table["Adam (lr 0.1)"]
    sgd = table["SGD (lr 0.009)"]
    tuned = table["SGD (lr 1/(1+kappa))"]
    for k in (1, 100, 1000):
        assert adam[k][1] == "reached" and adam[k][0] <= 200
    assert sgd[1] == (273, "reached")
    assert sgd[1000][0] is None and sgd[1000][1].startswith("diverged")
    # the tuned lr needs more steps as kappa grows, and runs out of steps at 1000
    assert tuned[1][0] < tuned[100][0]
    assert tuned[1000] == (None, "not reached in 1500 steps")


def test_steps_to_target_counts_the_first_step_below():
    from kernbench.optim import SGD

    spec = (SGD, dict(lr=0.5))  # lr 1/(1+kappa) at kappa 1: the exact minimum in one step
    assert lecture.steps_to_target(spec, 1.0, "numpy") == (1, "reached")


# ------------------------------------------------------------------ 2. loops vs NumPy vs Numba

def test_sgd_timing_small():
    res = lecture.sgd_timing_experiment(d=2000, steps=40, python_steps=4, repeats=1)
    assert set(BACKENDS) <= set(res.seconds)
    assert {"lecture loop", "lecture numpy"} <= set(res.seconds)
    assert res.measured_steps["python"] == 4 and res.measured_steps["numpy"] == 40
    assert all(s > 0 for s in res.seconds.values())
    # speedups are ratios of the (scaled) times; how large they are is the report's business:
    # a wall-clock claim in a unit test fails on a loaded machine
    assert res.speedup("numpy") == res.seconds["python"] / res.seconds["numpy"]
    assert res.speedup("lecture numpy", "lecture loop") == (res.seconds["lecture loop"]
                                                            / res.seconds["lecture numpy"])


# ------------------------------------------------------------------ 3. temperature

def test_temperature_entropy_runs_from_zero_to_log4():
    res = lecture.temperature_experiment(num=41)
    assert res.high_limit == pytest.approx(math.log(4))
    assert res.entropies[0] == pytest.approx(0.0, abs=1e-12)
    assert res.entropies[-1] == pytest.approx(math.log(4), abs=1e-4)
    assert np.all(np.diff(res.entropies) >= -1e-12)  # monotone in T
    assert np.all(res.entropies <= math.log(4) + 1e-12)


# ------------------------------------------------------------------ 4. Gaussian KL

def test_gaussian_kl_closed_form_and_monte_carlo():
    res = lecture.gaussian_kl_experiment(ns=(1000, 100_000), repeats=2)
    assert res.closed_form == pytest.approx(2 - math.log(2), rel=1e-12)
    assert abs(res.estimate(100_000) - (2 - math.log(2))) < 0.05
    # the spread follows sigma / sqrt(N): well inside 5 standard errors at both sizes
    assert np.all(np.abs(res.estimates - res.closed_form) < 5 * res.predicted_error)


# ------------------------------------------------------------------ 5. maximum entropy

def test_max_entropy_is_uniform():
    res = lecture.max_entropy_experiment(ns=(2, 4, 16))
    for n in (2, 4, 16):
        assert res.success[n]
        np.testing.assert_allclose(res.distributions[n], np.full(n, 1.0 / n), rtol=0, atol=1e-5)
        assert res.entropies[n] == pytest.approx(math.log(n), abs=1e-8)
        assert res.histories[n][-1] >= res.histories[n][0]


# ------------------------------------------------------------------ 6. XOR

def test_xor_adamw_learns_on_every_backend():
    res = lecture.xor_experiment(steps=400)
    assert set(res.losses) == set(BACKENDS)
    for b in BACKENDS:
        assert res.final_loss[b] < 0.05, b
        np.testing.assert_array_equal(res.predictions[b] > 0.5, [False, True, True, False])
        assert res.step_seconds[b] > 0
    assert res.max_loss_diff < 1e-9


def test_xor_gradients_match_finite_differences():
    params = ex.xor_init(hidden=3, seed=1)
    _, grads = ex.xor_loss_and_grads(params)
    h = 1e-6
    for p, g in zip(params, grads):
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = ex.xor_loss_and_grads(params)[0]
            p[idx] = old - h
            down = ex.xor_loss_and_grads(params)[0]
            p[idx] = old
            assert g[idx] == pytest.approx((up - down) / (2 * h), abs=1e-7)


# ------------------------------------------------------------------ 7. source coding

def test_huffman_bound_holds():
    res = lecture.source_coding_experiment()
    assert res.all_bounds_hold
    for r in res.rows:
        assert r["entropy_bits"] <= r["mean_length"] + 1e-12
        assert r["mean_length"] < r["entropy_bits"] + 1
        assert r["kraft"] == pytest.approx(1.0)  # a full binary tree


def test_huffman_lengths_known_cases():
    assert lecture.huffman_code_lengths([0.5, 0.25, 0.125, 0.125]) == [1, 2, 3, 3]
    assert lecture.huffman_code_lengths([1, 1, 1, 1]) == [2, 2, 2, 2]
    assert sorted(lecture.huffman_code_lengths([0.4, 0.3, 0.2, 0.1])) == [1, 2, 3, 3]


# ------------------------------------------------------------------ 8. clipping

def test_clipping_example_and_run():
    res = lecture.clipping_experiment(steps=150)
    assert res.example_norm == pytest.approx(10.0)
    assert res.example_clipped_norm == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(res.example_clipped, [0.6, 0.8], atol=1e-6)
    assert res.pre_norms[0] > res.max_norm
    assert np.all(res.post_norms <= res.max_norm * (1 + 1e-9))
    assert np.all(np.isfinite(res.losses)) and res.losses[-1] < 1.0
    # the same lr without clipping diverges
    finite = res.unclipped_losses[np.isfinite(res.unclipped_losses)]
    assert finite.max() > 1e20
