"""The workload registry: every record makes a case that validates, sizes, seeds, presets."""

from __future__ import annotations

import numpy as np

from kernbench.bench.workloads import MODEL_SHAPES, WORKLOADS


def test_every_workload_makes_a_case_that_validates_on_numpy():
    for wl in WORKLOADS.values():
        size = wl.sizes("quick")[0] if wl.layout == "model" else wl.shape_for(1000)
        case = wl.make(size, wl.dtypes[0], seed=1)
        value = case.check_value("numpy")
        assert np.all(np.isfinite(value)), wl.name
        assert wl.bytes_moved(case.shape, wl.dtypes[0]) > 0 and wl.flops(case.shape) > 0
        assert wl.sizes("full") == sorted(wl.sizes("full"), key=wl.elements)


def test_workloads_cover_the_issue_and_the_model_is_transformer_shaped():
    wanted = {"sgd_step", "adam_step", "adamw_step", "clip_grad_norm", "entropy",
              "cross_entropy", "kl_divergence", "js_divergence", "mutual_information",
              "conditional_entropy", "softmax", "log_softmax", "cross_entropy_logits",
              "perplexity", "gaussian_kl", "gaussian_entropy", "cosine_schedule", "adam_model"}
    assert wanted <= set(WORKLOADS)
    assert 140 <= len(MODEL_SHAPES) <= 160
    assert 9e6 <= WORKLOADS["adam_model"].elements(WORKLOADS["adam_model"].sizes()[0]) <= 12e6
    assert (64, 50257) in WORKLOADS["cross_entropy_logits"].sizes("full")


def test_same_seed_same_inputs():
    a = WORKLOADS["kl_divergence"].make(1000, "float32", seed=3)
    b = WORKLOADS["kl_divergence"].make(1000, "float32", seed=3)
    np.testing.assert_array_equal(a.inputs["p"], b.inputs["p"])


def test_gpu_preset_reaches_1e8_and_a_training_batch_of_logits():
    from kernbench.bench.workloads import GPT2_BATCH_LOGITS

    assert (100_000_000,) in WORKLOADS["adam_step"].sizes("gpu")
    assert GPT2_BATCH_LOGITS in WORKLOADS["cross_entropy_logits"].sizes("gpu")
    assert GPT2_BATCH_LOGITS not in WORKLOADS["cross_entropy_logits"].sizes("full")
    assert not [s for s in WORKLOADS["entropy"].sizes("gpu") if len(s) != 1]
