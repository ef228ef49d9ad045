#!/usr/bin/env python3
"""Reference side of the safetensors tests (core/nn/tests/test_nn_safetensors_golden.c).

    safetensors_cases.py write DIR       writes files with the safetensors library into DIR,
                                         and DIR/manifest.json: per file, its metadata and its
                                         tensors in header order with dtype, shape and the hex
                                         of their bytes
    safetensors_cases.py verify MANIFEST checks files the C writer made, described by a
                                         manifest of the same form, with safetensors.safe_open
                                         (torch and numpy) and by reading the raw header
    safetensors_cases.py reject MANIFEST checks that the library refuses each file listed

Exits 1 with one line per problem when anything differs.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load as load_bytes
from safetensors.torch import save_file as save_torch

TORCH_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
    "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
    "I8": torch.int8, "U64": torch.uint64, "U32": torch.uint32, "U16": torch.uint16,
    "U8": torch.uint8, "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
DTYPE_NAMES = {v: k for k, v in TORCH_DTYPES.items()}
SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
         "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
# numpy has no bfloat16 or float8: those are checked through torch only.
NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2",
                "U8": "u1", "BOOL": "?"}

problems = []


def problem(msg):
    problems.append(msg)
    print("MISMATCH: " + msg, file=sys.stderr)


def raw_bytes(t):
    """The tensor's bytes in row-major order, as the file must hold them."""
    t = t.contiguous().reshape(-1)
    if t.dtype in (torch.uint16, torch.uint32, torch.uint64):
        # Few torch ops cover the wide unsigned types; numpy reads their bytes directly.
        return t.numpy().tobytes()
    return t.view(torch.uint8).numpy().tobytes()


def read_header(path):
    """The header's keys in file order (duplicates kept), its entries, the data-buffer start
    and the header's raw text."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    text = blob[8:8 + n].decode("utf-8")
    keys = [k for k, _ in json.loads(text, object_pairs_hook=lambda p: p)]
    return keys, json.loads(text), 8 + n, text


# ---- write ---------------------------------------------------------------------------------

def float_values(count, dtype):
    specials = [0.0, -0.0, 1.0, -2.5, math.inf, -math.inf, math.nan, 1e-40, 65504.0, 3.0e38]
    vals = [specials[i] if i < len(specials) else (i * 0.37 - 7.1) for i in range(count)]
    return torch.tensor(vals, dtype=torch.float64).to(dtype)


def make_tensor(dtype_name, shape, seed=0):
    dtype = TORCH_DTYPES[dtype_name]
    count = math.prod(shape)
    if dtype.is_floating_point:
        flat = float_values(count + seed, dtype)[seed:]
        return flat.reshape(shape)
    if dtype in (torch.uint16, torch.uint32, torch.uint64):
        np_dtype = NUMPY_DTYPES[dtype_name]
        hi = np.iinfo(np_dtype).max
        vals = [hi, 0, 1] + [(i * 2654435761 + seed) % 65521 for i in range(count)]
        arr = np.array(vals[:count], dtype=np_dtype).reshape(shape)
        return torch.from_numpy(arr)
    if dtype == torch.bool:
        return torch.tensor([(i + seed) % 3 == 0 for i in range(count)],
                            dtype=torch.bool).reshape(shape)
    info = torch.iinfo(dtype)
    vals = [info.min, info.max, 0, -1, 1] + [((i + seed) * 2654435761) % 251 - 125
                                             for i in range(count)]
    return torch.tensor(vals[:count], dtype=torch.int64).to(dtype).reshape(shape)


def describe(path, tensors, metadata):
    """The manifest entry: header order read from the file, expected bytes from the tensors
    the library was given, and a check that the library reads them back the same."""
    keys, _, _, _ = read_header(path)
    order = [k for k in keys if k != "__metadata__"]
    if sorted(order) != sorted(tensors):
        raise SystemExit(f"{path}: header names differ from what was saved")
    with open(path, "rb") as f:
        loaded = load_bytes(f.read())
    entries = []
    for name in order:
        t = tensors[name]
        expected = raw_bytes(t)
        if raw_bytes(loaded[name]) != expected:
            raise SystemExit(f"{path}: the library does not read back {name!r}")
        entries.append({"name": name, "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "hex": expected.hex()})
    return {"file": os.path.basename(path), "metadata": metadata, "tensors": entries}


def write_cases(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    cases = {}

    all_dtypes = list(TORCH_DTYPES)
    cases["dtypes"] = ({f"t_{d.lower()}": make_tensor(d, [2, 3], i)
                        for i, d in enumerate(all_dtypes)}, None)
    cases["scalars"] = ({f"s_{d.lower()}": make_tensor(d, [], i + 3)
                         for i, d in enumerate(all_dtypes)}, None)
    cases["zero_size"] = ({
        "empty_1d": make_tensor("F32", [0]),
        "empty_mid": make_tensor("I64", [3, 0, 2]),
        "empty_last": make_tensor("BF16", [4, 0]),
        "empty_u8": make_tensor("U8", [0, 0]),
        "full": make_tensor("F16", [5], 1),
    }, None)
    cases["shapes"] = ({
        "vector": make_tensor("F32", [17]),
        "conv.weight": make_tensor("F32", [4, 3, 2, 5], 2),
        "conv.bf16": make_tensor("BF16", [2, 1, 3, 4], 5),
        "eight_dims": make_tensor("I16", [1, 2, 1, 2, 1, 2, 1, 3]),
        "one": make_tensor("U8", [1, 1, 1, 1]),
    }, None)
    cases["metadata"] = ({"w": make_tensor("F32", [2, 2])}, {
        "format": "pt", "empty": "", "quote\"and\\slash": "line\nbreak\ttab",
        "unicode": "Grüße, 世界 🎵", "number_text": "12"})
    cases["names"] = ({
        "plain": make_tensor("F32", [1]),
        "with \"quotes\"": make_tensor("I8", [2], 1),
        "back\\slash": make_tensor("I8", [2], 2),
        "ünïcode.权重": make_tensor("F16", [3], 3),
        "": make_tensor("U8", [1], 4),
    }, None)
    many = {}
    dtypes_cycle = ["F32", "F16", "BF16", "I64", "U8", "BOOL", "F64", "I32"]
    for i in range(300):
        d = dtypes_cycle[(i * 5) % len(dtypes_cycle)]
        shape = [1 + (i % 4), 1 + (i * 7) % 5] if i % 3 else [1 + i % 9]
        many[f"model.layers.{i % 24}.block{i}.weight"] = make_tensor(d, shape, i)
    cases["many"] = (many, {"layers": "24"})
    cases["metadata_only"] = ({}, {"note": "no tensors"})

    manifest = []
    for label, (tensors, metadata) in cases.items():
        path = os.path.join(out_dir, label + ".safetensors")
        save_torch(tensors, path, metadata=metadata)
        manifest.append(describe(path, tensors, metadata))

    # The numpy front end of the library too (it writes through the same Rust code).
    arrays = {"np.f64": np.linspace(-1, 1, 7, dtype="<f8"),
              "np.u32": np.arange(12, dtype="<u4").reshape(3, 4),
              "np.bool": np.array([[True, False], [False, True]]),
              "np.scalar": np.array(3.5, dtype="<f4")}
    path = os.path.join(out_dir, "numpy.safetensors")
    save_numpy(arrays, path, metadata={"via": "numpy"})
    manifest.append(describe(path, {k: torch.from_numpy(v.copy()) for k, v in arrays.items()},
                             {"via": "numpy"}))

    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
    print(f"wrote {len(manifest)} files to {out_dir}")


# ---- verify --------------------------------------------------------------------------------

def verify_file(directory, spec):
    path = os.path.join(directory, spec["file"])
    where = spec["file"]
    expected = {t["name"]: t for t in spec["tensors"]}

    keys, entries, data_start, text = read_header(path)
    want_keys = (["__metadata__"] if spec["metadata"] else []) + \
        [t["name"] for t in spec["tensors"]]
    if keys != want_keys:
        problem(f"{where}: header keys {keys} are not {want_keys} in that order")
    if data_start % 8:
        problem(f"{where}: the data buffer starts at byte {data_start}, not a multiple of 8")
    if text.rstrip(" ") != text.rstrip():
        problem(f"{where}: header padding is not spaces")
    for name, info in entries.items():
        if name == "__metadata__":
            continue
        size = SIZES[info["dtype"]]
        if info["data_offsets"][0] % size:
            problem(f"{where}: tensor {name!r} at offset {info['data_offsets'][0]} is not "
                    f"aligned to its {size}-byte elements")

    with safe_open(path, framework="pt") as f:
        if (f.metadata() or None) != (spec["metadata"] or None):
            problem(f"{where}: metadata {f.metadata()} is not {spec['metadata']}")
        if sorted(f.keys()) != sorted(expected):
            problem(f"{where}: names {sorted(f.keys())} are not {sorted(expected)}")
        for name in f.keys():
            if name not in expected:
                continue
            t = f.get_tensor(name)
            want = expected[name]
            if DTYPE_NAMES.get(t.dtype) != want["dtype"]:
                problem(f"{where}: tensor {name!r} has dtype {t.dtype}, not {want['dtype']}")
            if list(t.shape) != want["shape"]:
                problem(f"{where}: tensor {name!r} has shape {list(t.shape)}, not {want['shape']}")
            if raw_bytes(t).hex() != want["hex"]:
                problem(f"{where}: tensor {name!r} bytes differ (torch)")
    with safe_open(path, framework="np") as f:
        for name in f.keys():
            want = expected.get(name)
            if not want or want["dtype"] not in NUMPY_DTYPES:
                continue
            arr = f.get_tensor(name)
            if arr.dtype != np.dtype(NUMPY_DTYPES[want["dtype"]]) or \
                    list(arr.shape) != want["shape"] or arr.tobytes().hex() != want["hex"]:
                problem(f"{where}: tensor {name!r} differs when read with numpy")


def verify(manifest_path):
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    directory = os.path.dirname(os.path.abspath(manifest_path))
    for spec in manifest:
        try:
            verify_file(directory, spec)
        except Exception as e:  # a file the library refuses is a mismatch, not a crash
            problem(f"{spec['file']}: {type(e).__name__}: {e}")
    print(f"verified {len(manifest)} files")


def reject(manifest_path):
    with open(manifest_path, encoding="utf-8") as f:
        files = json.load(f)
    directory = os.path.dirname(os.path.abspath(manifest_path))
    for name in files:
        try:
            with safe_open(os.path.join(directory, name), framework="pt") as f:
                for key in f.keys():
                    f.get_tensor(key)
            problem(f"{name}: the library accepts it")
        except Exception:
            pass
    print(f"checked {len(files)} files the library must refuse")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "verify", "reject"):
        print(__doc__, file=sys.stderr)
        return 2
    {"write": write_cases, "verify": verify, "reject": reject}[sys.argv[1]](sys.argv[2])
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
