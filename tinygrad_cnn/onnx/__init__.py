"""ONNX export: ``tc.onnx.export(model, example_input, "model.onnx")`` (see docs/interop.md).

Importing this package needs nothing; ``export`` needs the ``onnx`` package (the onnx extra).
"""

from tinygrad_cnn.onnx.export import OnnxExportError, export

__all__ = ["OnnxExportError", "export"]
