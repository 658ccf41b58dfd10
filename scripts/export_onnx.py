#!/usr/bin/env python
"""Export a dropout_layers checkpoint as an ONNX model; see ``--help``.

The deterministic network is written (dropout left out) together with the
checkpoint's stored feature pipeline, if it has one, so that the model
takes raw events::

    python scripts/export_onnx.py higgs_out/model.h5 higgs_out/model.onnx
    python scripts/export_onnx.py model.h5 model.onnx --raw-dtype float32

A checkpoint that cannot be read or exported gives one line on stderr and
exit status 2; the output file is written atomically, so a failed export
leaves an existing file as it was.
"""
import argparse
import os
import sys

try:
    from dropout_layers.errors import DropoutLayersError
    from dropout_layers.export.onnx import IR_VERSION, OPSET, export_onnx
except ModuleNotFoundError as exc:
    sys.exit(f"export_onnx.py: error: {exc.name} is not installed; run pip install -e '.[onnx]' "
             "in the repository first")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="export_onnx.py",
        description=f"Write a checkpoint's deterministic network, with its preprocessing, as an "
                    f"ONNX model (opset {OPSET}, IR version {IR_VERSION}).")
    parser.add_argument("checkpoint", help="checkpoint file written by save_checkpoint")
    parser.add_argument("out", help="the .onnx file to write")
    parser.add_argument("--input-name", default="input", help="name of the graph input")
    parser.add_argument("--output-name", default="output", help="name of the graph output")
    parser.add_argument("--raw-dtype", choices=("float64", "float32"), default="float64",
                        help="dtype of the raw input and the preprocessing (float32 for "
                             "runtimes that compute in float only, such as SOFIE)")
    parser.add_argument("--key-env", metavar="VARIABLE",
                        help="environment variable holding the checkpoint's HMAC key")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    key = None
    if args.key_env is not None:
        key = os.environ.get(args.key_env)
        if key is None:
            print(f"export_onnx.py: error: environment variable {args.key_env} is not set",
                  file=sys.stderr)
            return 2
    try:
        export_onnx(args.checkpoint, args.out, input_name=args.input_name,
                    output_name=args.output_name, raw_dtype=args.raw_dtype, key=key)
    except (DropoutLayersError, OSError) as exc:
        print(f"export_onnx.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} (opset {OPSET}) from {args.checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
