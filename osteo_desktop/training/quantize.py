"""Reduced-precision exports of the shipped network (issue 13): the same Keras model, converted with fewer bits.

Three conversions of ``osteo_mobilenetv2.keras`` (the exact model the float32 ``.tflite`` was exported from):

- ``dynamic``: dynamic-range quantisation, int8 weights, activations quantised per batch at run time;
- ``int8``: full-integer quantisation (int8 weights and activations, float32 input and output), calibrated on a
  representative set of model inputs;
- ``fp16``: float16 weights; XNNPACK runs it in float32 unless told to force fp16 arithmetic (LiteRT's
  ``CpuOptions.xnnpack_flags``), so it is measured both ways by ``benchmarks/quantization.py``.

LiteRT has no bfloat16 model type, so a bf16 backbone cannot be produced this way.

The representative inputs come from the one preprocessing path (:func:`osteo_desktop.core.pipeline.film.prepare_film`
on shared knee radiographs: the whole film, each knee region and its mirror image, exactly what the interpreter is
given), never from labels.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

log = logging.getLogger(__name__)

MODES = ("dynamic", "int8", "fp16")


def representative_inputs(paths: Iterable[Path], limit: int = 200) -> np.ndarray:
    """The interpreter inputs of ``paths`` (film, knees, mirrors) as the app makes them, at most ``limit``."""
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.pipeline.film import prepare_film
    from osteo_desktop.core.reading.reader import read_radiograph

    classifier = Classifier.load()
    inputs: list[np.ndarray] = []
    for path in paths:
        work = prepare_film(read_radiograph(path), classifier)
        inputs += work.inputs(classifier.knee_head)
        if len(inputs) >= limit:
            break
    if not inputs:
        raise ValueError("no representative inputs: no film was in scope")
    return np.stack(inputs[:limit]).astype(np.float32)


def convert(keras_path: Path, mode: str, out_path: Path, representative: np.ndarray | None = None) -> Path:
    """Convert the Keras model at ``keras_path`` to a ``.tflite`` in ``mode`` (one of :data:`MODES`)."""
    import keras
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    model = keras.models.load_model(keras_path, compile=False)
    with tempfile.TemporaryDirectory() as saved_model_dir:
        # Through a SavedModel, as export.export_tflite does (a concrete function drops Keras 3 variables).
        model.export(saved_model_dir, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        elif mode == "int8":
            if representative is None or len(representative) == 0:
                raise ValueError("full-integer quantisation needs representative inputs")

            def samples():
                for sample in representative:
                    yield [sample[None].astype(np.float32)]

            converter.representative_dataset = samples
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            # float32 in and out: the app's preprocessing and heads stay as they are.
            converter.inference_input_type = tf.float32
            converter.inference_output_type = tf.float32
        out_path = Path(out_path)
        out_path.write_bytes(converter.convert())
    log.info("wrote %s (%s, %.1f MB)", out_path, mode, out_path.stat().st_size / 1e6)
    return out_path


# XNNPACK's delegate flags (tensorflow/lite/delegates/xnnpack/xnnpack_delegate.h): int8 kernels, and fp16
# arithmetic for float32 operators (fp16 storage of activations; on CPUs with AVX512-FP16 it runs natively).
XNNPACK_FLAG_QS8 = 0x1
XNNPACK_FLAG_QU8 = 0x2
XNNPACK_FLAG_FORCE_FP16 = 0x4


class Runner:
    """A ``.tflite`` run the way the app runs it: (N, S, S, 3) float32 in, (logits (N,), out_relu (N, h, w, C)) out.

    ``xnnpack_flags`` None uses LiteRT's ``Interpreter`` (what :class:`~osteo_desktop.core.model.runtime.Classifier`
    uses); a number uses the ``CompiledModel`` API, the only Python entry point that passes XNNPACK flags. Inputs run
    in micro-batches of ``micro_batch`` images, as the Classifier does.
    """

    def __init__(self, path: Path, threads: int = 2, xnnpack_flags: int | None = None, micro_batch: int = 4) -> None:
        self.path = Path(path)
        self.threads = threads
        self.flags = xnnpack_flags
        self.micro_batch = micro_batch
        self._batch = 0
        if xnnpack_flags is None:
            from ai_edge_litert.interpreter import Interpreter

            self._interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
            self._input = self._interpreter.get_input_details()[0]["index"]
            by_rank = {len(d["shape"]): d["index"] for d in self._interpreter.get_output_details()}
            self._logit, self._features = by_rank[2], by_rank[4]
        else:
            from ai_edge_litert.compiled_model import CompiledModel
            from ai_edge_litert.cpu_options import CpuOptions
            from ai_edge_litert.hardware_accelerator import HardwareAccelerator
            from ai_edge_litert.options import Options

            options = Options(HardwareAccelerator.CPU, cpu_options=CpuOptions(num_threads=threads, xnnpack_flags=xnnpack_flags))
            self._model = CompiledModel.from_file(str(self.path), options=options)

    def _resize(self, batch: int) -> None:
        if batch == self._batch:
            return
        if self.flags is None:
            self._interpreter.resize_tensor_input(self._input, [batch, 224, 224, 3], strict=False)
            self._interpreter.allocate_tensors()
        else:
            self._model.resize_input_tensor(0, [batch, 224, 224, 3], strict=False)
            self._inputs = self._model.create_input_buffers(0)
            self._outputs = self._model.create_output_buffers(0)
            details = self._model.get_output_tensor_details(next(iter(self._model.get_signature_list())))
            self._shapes = [tuple(d["shape"]) for d in details.values()]
            if batch != self._shapes[0][0]:
                raise RuntimeError(f"CompiledModel kept batch {self._shapes[0][0]}, asked for {batch}")
        self._batch = batch

    def invoke(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._resize(chunk.shape[0])
        if self.flags is None:
            self._interpreter.set_tensor(self._input, chunk)
            self._interpreter.invoke()
            return (self._interpreter.get_tensor(self._logit).reshape(-1),
                    self._interpreter.get_tensor(self._features))
        self._inputs[0].write(chunk)
        self._model.run_by_index(0, self._inputs, self._outputs)
        values = [buffer.read(int(np.prod(shape)), np.float32).reshape(shape) for buffer, shape in zip(self._outputs, self._shapes)]
        by_rank = {len(shape): value for shape, value in zip(self._shapes, values)}
        return by_rank[2].reshape(-1), by_rank[4]

    def run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inputs = np.ascontiguousarray(inputs, np.float32)
        parts = [self.invoke(inputs[i : i + self.micro_batch]) for i in range(0, len(inputs), self.micro_batch)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
