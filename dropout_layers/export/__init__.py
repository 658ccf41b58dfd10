"""Writing networks in formats that other tools read.

:mod:`~dropout_layers.export.onnx` writes the deterministic network (and a
checkpoint's stored preprocessing) as an ONNX graph, which onnxruntime,
ROOT's TMVA SOFIE and most inference servers run. It needs the ``onnx``
extra; this package imports nothing optional, and
:func:`dropout_layers.export_onnx` imports the module when it is called.

Modules: :mod:`~.onnx_builder` (nodes, constants and names of one graph),
:mod:`~.onnx_layers` (one conversion per layer type),
:mod:`~.onnx_steps` (one per preprocessing step), :mod:`~.onnx`
(:func:`~dropout_layers.export.onnx.export_onnx`).
"""
