#!/usr/bin/env python
"""Print what a dropout_layers checkpoint holds: attributes, layout, metadata, architecture.

Reads the file with h5py after the library's checks (header, digest,
format version, the audit of links and storage, the architecture's
structure); it does not rebuild the network, so it needs no layer code and
works for checkpoints with custom layers too.

Example::

    python scripts/inspect_checkpoint.py higgs_out/model.h5
    python scripts/inspect_checkpoint.py model.h5 --no-layout

A file that cannot be read gives one line on stderr and exit status 2.
"""
import argparse
import json
import os
import sys

try:
    import h5py

    from dropout_layers.checkpoint import CheckpointError
    from dropout_layers.checkpoint.read import (
        check_params,
        file_kind,
        json_attr,
        open_checkpoint,
        python_value,
        read_architecture,
        require,
    )
except ModuleNotFoundError as exc:
    sys.exit(f"inspect_checkpoint.py: error: {exc.name} is not installed; run pip install -e . in "
             "the repository first")


def _format_value(value, width=100):
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def describe_layout(h5file):
    """Lines describing every group and dataset, indented by depth."""
    lines = []

    def visit(name, obj):
        depth = name.count("/")
        label = name.rsplit("/", 1)[-1]
        if isinstance(obj, h5py.Dataset):
            filters = [f for f in (obj.compression, "shuffle" if obj.shuffle else None) if f]
            extra = f"  [{', '.join(filters)}]" if filters else ""
            lines.append(f"{'  ' * depth}{label}: {obj.dtype} {obj.shape}{extra}")
        else:
            attrs = (", ".join(sorted(obj.attrs)) if name.split("/")[-1] != "rng"
                     else f"{len(obj.attrs)} RNG states")
            lines.append(f"{'  ' * depth}{label}/" + (f"  (attrs: {attrs})" if attrs else ""))

    h5file.visititems(visit)
    return lines


def describe_architecture(architecture):
    """Lines with one row per layer: index, name, class, inputs, parameters, config."""
    lines = []
    for index, entry in enumerate(architecture["layers"]):
        inputs = ", ".join(name if name is not None else "shape"
                           for name in entry.get("incoming_names", [])) or "-"
        params = " ".join(f"{p['name']}{tuple(p['shape'])}" for p in entry["params"]) or "-"
        config = {k: v for k, v in entry["config"].items() if k != "name"}
        lines.append(f"  {index:3d}  {entry['name']:<16} {entry['class']:<20} <- {inputs:<16} "
                     f"{params}")
        if config:
            lines.append(f"       {_format_value(json.dumps(config), 96)}")
    outputs = [architecture["layers"][i]["name"] for i in architecture["outputs"]]
    lines.append(f"  outputs: {', '.join(outputs)}")
    return lines


def describe(path, layout=True, verify=True):
    """Return the lines describing the checkpoint at ``path``."""
    documents = ("architecture", "metadata", "history", "global_rng")
    lines = []
    with open_checkpoint(path, verify=verify) as h5file:
        lines.append(f"{path}")
        lines.append("attributes:")
        for key in sorted(h5file.attrs):
            if key not in documents:
                lines.append(f"  {key}: {_format_value(h5file.attrs[key])}")
        if layout:
            lines.append("layout:")
            for line in describe_layout(h5file):
                lines.append("  " + line)
        members = [h5file]
        if file_kind(h5file) == "ensemble":
            group = require(path, h5file, "members", "group")
            members = [require(path, group, key, "group")
                       for key in sorted(group, key=lambda key: (len(key), key))]
        for number, group in enumerate(members):
            architecture = read_architecture(path, group)
            check_params(path, group, architecture)
            title = "architecture" if group is h5file else f"architecture of member {number}"
            lines.append(f"{title}:")
            lines.extend(describe_architecture(architecture))
        if "metadata" in h5file.attrs:
            lines.append("metadata:")
            metadata = json_attr(path, h5file, "metadata")
            items = metadata.items() if isinstance(metadata, dict) else [("", metadata)]
            for key, value in items:
                lines.append(f"  {key}: {_format_value(json.dumps(value))}")
        if "history" in h5file.attrs:
            history = json_attr(path, h5file, "history")
            if isinstance(history, dict) and isinstance(history.get("records"), list):
                history = history["records"]  # a training.History
            if isinstance(history, list) and history:
                last = _format_value(json.dumps(history[-1]))
                lines.append(f"history: {len(history)} entries; last: {last}")
            else:
                lines.append(f"history: {_format_value(json.dumps(history))}")
        if "optimizer" in h5file:
            opt = require(path, h5file, "optimizer", "group")
            names = json_attr(path, opt, "names") or []
            rule = python_value(opt.attrs.get("rule", "unknown rule"))
            step = python_value(opt.attrs.get("step"))
            step = f", step {step}" if isinstance(step, int) else ""
            lines.append(f"optimizer: {rule}, {len(names)} state entries{step}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Print the contents of a dropout_layers checkpoint.")
    parser.add_argument("checkpoint", help="path of the .h5 checkpoint")
    parser.add_argument("--no-layout", action="store_true",
                        help="do not list the groups and datasets")
    parser.add_argument("--no-verify", action="store_true",
                        help="read a file without a checkpoint header, or one edited after it "
                             "was written (every other check still applies)")
    args = parser.parse_args(argv)
    try:
        lines = describe(args.checkpoint, layout=not args.no_layout, verify=not args.no_verify)
    except CheckpointError as exc:
        print(f"inspect_checkpoint.py: error: {exc}", file=sys.stderr)
        return 2
    try:
        print("\n".join(lines))
    except BrokenPipeError:  # piped into head: not an error, and nothing left to flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
