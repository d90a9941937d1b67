"""The runners behind benchmarks/quantization_agreement.py measure what they claim.

Its reference must be the app's own float32 computation (else every |dp| it reports is off), and the XNNPACK flag
it uses for fp16 must really change the arithmetic (else the fp16 figures would be float32's).
"""

from __future__ import annotations

import numpy as np
import pytest

from osteo_desktop.training.quantize import XNNPACK_FLAG_FORCE_FP16, XNNPACK_FLAG_QS8, XNNPACK_FLAG_QU8, Runner


@pytest.fixture(scope="module")
def inputs(classifier):
    # Five hand-made inputs in the model's range [-1, 1]: smooth gradients and noise, not from the code under test.
    rng = np.random.default_rng(7)
    size = classifier.input_size
    ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    smooth = np.broadcast_to(ramp[None, :, None], (size, size, 3))
    batch = [smooth, smooth.transpose(1, 0, 2), -smooth] + [rng.uniform(-1, 1, (size, size, 3)) for _ in range(2)]
    return np.ascontiguousarray(np.stack(batch), dtype=np.float32)


def test_interpreter_runner_is_the_classifier_bit_for_bit(classifier, inputs):
    logits, features = Runner(classifier.card.verified_path("tflite"), micro_batch=4).run(inputs)
    ref_logits, ref_features = classifier.run(inputs)
    assert np.array_equal(logits, ref_logits)
    assert np.array_equal(features, ref_features)


def test_compiled_model_runner_float32_matches_and_forced_fp16_differs(classifier, inputs):
    path = classifier.card.verified_path("tflite")
    ref_logits, ref_features = classifier.run(inputs)
    logits, features = Runner(path, xnnpack_flags=XNNPACK_FLAG_QS8 | XNNPACK_FLAG_QU8, micro_batch=5).run(inputs)
    assert logits.shape == ref_logits.shape and features.shape == ref_features.shape
    assert np.max(np.abs(logits - ref_logits)) < 1e-3
    fp16_logits, fp16_features = Runner(path, xnnpack_flags=XNNPACK_FLAG_FORCE_FP16, micro_batch=5).run(inputs)
    assert np.all(np.isfinite(fp16_logits))
    # fp16 has an 11-bit significand: through 50-odd layers the activations must move by far more than float32
    # rounding (which leaves them within ~1e-5), or the flag did not take effect.
    assert np.max(np.abs(fp16_features - ref_features)) > 1e-2
