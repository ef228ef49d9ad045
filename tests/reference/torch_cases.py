#!/usr/bin/env python3
"""Reference side of the torch checkpoint tests (core/nn/tests/test_nn_torch_golden.c).

    torch_cases.py write DIR      writes checkpoints with torch.save (and rewrites of them with
                                  zipfile: zip64, deflated) into DIR, hostile ones too, and
                                  DIR/manifest.json: per file, its tensors in state dict order
                                  with dtype, shape, strides, storage offset, contiguity, a
                                  storage group (tensors sharing a storage share it) and the
                                  hex of their row-major bytes; per hostile file, the global
                                  the reader must name when it refuses it
    torch_cases.py check MANIFEST loads files the C writer made, described by a manifest of
                                  the same form, with torch.load(weights_only=True), mapped
                                  and not, and checks their zip layout
    torch_cases.py corpus DIR     writes the fuzz seed corpora DIR/torch_zip and DIR/unpickle

Exits 1 with one line per problem when anything differs.
"""
import collections
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import torch

TORCH_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
    "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
    "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
    # No legacy storage class: torch.save writes these with _rebuild_tensor_v3.
    "U64": torch.uint64, "U32": torch.uint32, "U16": torch.uint16,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}
DTYPE_NAMES = {v: k for k, v in TORCH_DTYPES.items()}

problems = []


def problem(msg):
    problems.append(msg)
    print("MISMATCH: " + msg, file=sys.stderr)


def raw_hex(t):
    """The tensor's elements in row-major order, as bytes in hex."""
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes().hex()


def random_tensor(dtype, shape, gen):
    if dtype in (torch.uint64, torch.uint32, torch.uint16, torch.float8_e4m3fn,
                 torch.float8_e5m2):
        # Few ops cover these types: random bytes viewed as them (any bit pattern goes).
        count = 1
        for n in shape:
            count *= n
        raw = torch.randint(0, 256, (count * dtype.itemsize,), generator=gen,
                            dtype=torch.uint8)
        return raw.view(dtype).reshape(shape)
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=gen, dtype=torch.float64) * 100).to(dtype)
    if dtype == torch.bool:
        return torch.rand(shape, generator=gen) > 0.5
    info = torch.iinfo(dtype)
    return torch.randint(info.min, info.max, shape, generator=gen, dtype=torch.int64).to(dtype)


# ---- write -------------------------------------------------------------------------------

def valid_cases():
    """(file name, object to save, save keyword arguments) for torch.save."""
    gen = torch.Generator().manual_seed(1234)
    cases = []

    dtypes = collections.OrderedDict()
    shapes = [(2, 3), (5,), (2, 2, 3), (1, 4), (3, 1, 2, 1)]
    for i, (name, dtype) in enumerate(TORCH_DTYPES.items()):
        dtypes["t_" + name.lower()] = random_tensor(dtype, shapes[i % len(shapes)], gen)
    # Special values travel as bytes.
    dtypes["specials"] = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"),
                                       1e-45, 3.4e38], dtype=torch.float32)
    dtypes["scalar_f32"] = torch.tensor(3.5)
    dtypes["scalar_i64"] = torch.tensor(-7, dtype=torch.int64)
    dtypes["scalar_bool"] = torch.tensor(True)
    dtypes["empty"] = torch.empty(0)
    dtypes["empty_2d"] = torch.empty(3, 0, dtype=torch.float16)
    dtypes["big_i64"] = torch.tensor([2**62, -2**63, 2**63 - 1], dtype=torch.int64)
    cases.append(("dtypes.pt", dtypes, {}))

    base = torch.arange(24, dtype=torch.float32)
    shared = collections.OrderedDict()
    shared["whole"] = base
    shared["head"] = base[2:10]
    shared["tail_matrix"] = base[10:24].view(2, 7)
    shared["alias"] = base.view(4, 6)
    other = torch.arange(10, dtype=torch.int16)
    shared["other_head"] = other[:4]
    shared["other_tail"] = other[6:]
    cases.append(("shared.pt", shared, {}))

    m = random_tensor(torch.float32, (4, 6), gen)
    views = collections.OrderedDict()
    views["matrix"] = m
    views["transposed"] = m.t()
    views["columns_step"] = m[:, ::2]
    views["rows_and_columns_step"] = m[::3, 1:5:2]
    views["narrow"] = m.narrow(1, 2, 3)
    views["expanded"] = random_tensor(torch.float64, (3, 1), gen).expand(3, 4)
    views["permuted"] = random_tensor(torch.bfloat16, (2, 3, 4), gen).permute(2, 0, 1)
    views["element"] = m[2, 3]
    views["empty_slice"] = m[4:, :]
    wide = random_tensor(torch.uint16, (3, 4), gen)
    views["uint16_transposed"] = wide.t()
    views["uint16_column"] = wide[:, 2]
    cases.append(("views.pt", views, {}))

    params = collections.OrderedDict()
    params["weight"] = torch.nn.Parameter(random_tensor(torch.float32, (3, 3), gen))
    params["frozen"] = torch.nn.Parameter(torch.zeros(3, dtype=torch.float16),
                                          requires_grad=False)
    with_state = torch.nn.Parameter(random_tensor(torch.float32, (2,), gen))
    with_state.note = "extra attribute"  # makes torch use _rebuild_parameter_with_state
    params["with_state"] = with_state
    cases.append(("params.pt", params, {}))

    torch.manual_seed(7)
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3),
                                 torch.nn.BatchNorm1d(3), torch.nn.Conv1d(3, 2, 3))
    cases.append(("module_state_dict.pt", module.state_dict(), {}))

    ordered = collections.OrderedDict()
    for key in ["zeta", "alpha", "wav2vec2.encoder.layers.10.attention.q_proj.weight", "mid"]:
        ordered[key] = random_tensor(torch.float32, (2,), gen)
    cases.append(("ordered.pt", ordered, {}))
    cases.append(("plain_dict.pt", {"b": torch.ones(2), "a": torch.zeros(3, dtype=torch.int32)},
                  {}))
    cases.append(("protocol4.pt", views, {"pickle_protocol": 4}))
    cases.append(("protocol5.pt", shared, {"pickle_protocol": 5}))
    cases.append(("model.v2.bin", ordered, {}))
    cases.append(("empty_state_dict.pt", collections.OrderedDict(), {}))
    return cases


def describe(obj):
    """Manifest entries for a state dict: what the reader must find, in order."""
    groups = {}
    tensors = []
    for name, t in obj.items():
        t = t.detach()
        key = t.untyped_storage().data_ptr()
        group = groups.setdefault(key, len(groups))
        tensors.append({
            "name": name,
            "dtype": DTYPE_NAMES[t.dtype],
            "shape": list(t.shape),
            "stride": list(t.stride()),
            "storage_offset": t.storage_offset(),
            "contiguous": t.is_contiguous(),
            "group": group if t.numel() > 0 else -1,
            "hex": raw_hex(t),
        })
    return tensors


def rewrite_zip(src, dst, compression=zipfile.ZIP_STORED, force_zip64=False):
    """The same members with the same bytes, written by Python's zipfile."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression) as zout:
        for info in zin.infolist():
            copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            copy.compress_type = compression
            with zout.open(copy, "w", force_zip64=force_zip64) as out:
                out.write(zin.read(info))


def write_full_zip64(src, dst):
    """Every member with zip64 sizes and offsets in both headers, zip64 end records: what a
    writer produces past 4 GiB, on a small file. Written by hand; zipfile only does this for
    members that need it."""
    with zipfile.ZipFile(src) as zin:
        members = [(info.filename, zin.read(info)) for info in zin.infolist()]
    out = io.BytesIO()
    central = []
    for name, data in members:
        crc = zipfile.crc32(data) & 0xffffffff
        offset = out.tell()
        encoded = name.encode()
        extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034b50, 45, 0, 0, 0, 0x21, crc,
                              0xffffffff, 0xffffffff, len(encoded), len(extra)))
        out.write(encoded + extra + data)
        central.append((encoded, crc, len(data), offset))
    start = out.tell()
    for encoded, crc, size, offset in central:
        extra = struct.pack("<HHQQQ", 1, 24, size, size, offset)
        out.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 45, 45, 0, 0, 0, 0x21, crc,
                              0xffffffff, 0xffffffff, len(encoded), len(extra), 0, 0, 0, 0,
                              0xffffffff))
        out.write(encoded + extra)
    end = out.tell()
    out.write(struct.pack("<IQHHIIQQQQ", 0x06064b50, 44, 45, 45, 0, 0, len(central),
                          len(central), end - start, start))
    out.write(struct.pack("<IIQI", 0x07064b50, 0, end, 1))
    out.write(struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, 0xffff, 0xffff, 0xffffffff,
                          0xffffffff, 0))
    with open(dst, "wb") as f:
        f.write(out.getvalue())


def replace_pickle(src, dst, payload):
    """src with its data.pkl replaced by payload (the other members kept)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = payload if info.filename.endswith("/data.pkl") else zin.read(info)
            zout.writestr(info.filename, data)


class Reduce:
    """An object that unpickles by calling func(*args): the classic pickle attack."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def hostile_cases(directory, template):
    """(file name, global the refusal must name)."""
    cases = []
    weights = collections.OrderedDict(w=torch.ones(2))

    def save(name, obj, needle, **kwargs):
        torch.save(obj, os.path.join(directory, name), **kwargs)
        cases.append((name, needle))

    # The payload inside an otherwise genuine torch.save checkpoint, after a real tensor.
    # Protocol 2 pickles spell some modules the Python 2 way (fix_imports): builtins as
    # __builtin__, subprocess as commands; the refusal names what the stream says.
    save("evil_os_system.pt", {**weights, "x": Reduce(os.system, ("echo pwned",))},
         "%s.system" % os.system.__module__)
    save("evil_eval.pt", {**weights, "x": Reduce(eval, ("1+1",))}, "__builtin__.eval")
    save("evil_popen.pt", {**weights, "x": Reduce(subprocess.Popen, (["true"],))},
         "commands.Popen")
    save("evil_exec_protocol4.pt", {**weights, "x": Reduce(exec, ("pass",))}, "builtins.exec",
         pickle_protocol=4)
    save("evil_getattr.pt", {**weights, "x": Reduce(getattr, ("text", "upper"))},
         "__builtin__.getattr")
    save("evil_popen_protocol5.pt", {**weights, "x": Reduce(subprocess.Popen, (["true"],))},
         "subprocess.Popen", pickle_protocol=5)
    # Allowed modules, other names: a torch function, a dtype, another collections class.
    save("evil_torch_function.pt", {**weights, "f": torch._utils._rebuild_device_tensor_from_numpy},
         "torch._utils._rebuild_device_tensor_from_numpy")
    save("evil_torch_size.pt", {**weights, "s": torch.Size([2, 3])}, "torch.Size")
    save("evil_counter.pt", {**weights, "c": collections.Counter(a=1)}, "collections.Counter")
    save("evil_torch_load.pt", {**weights, "l": Reduce(torch.load, ("/etc/passwd",))},
         "torch.serialization.load")

    # Hand-written GLOBAL opcodes in the data.pkl of a real archive.
    hand = [
        ("evil_literal_os_system.pt", b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.",
         "os.system"),
        ("evil_literal_nt_system.pt", b"\x80\x02cnt\nsystem\nX\x02\x00\x00\x00ls\x85R.",
         "nt.system"),
        ("evil_rebuild_other.pt", b"\x80\x02ctorch._utils\n_rebuild_from_type_v2\n.",
         "torch._utils._rebuild_from_type_v2"),
        ("evil_stack_global.pt",
         b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c\x011\x85R.",
         "builtins.eval"),
    ]
    for name, payload, needle in hand:
        replace_pickle(template, os.path.join(directory, name), payload)
        cases.append((name, needle))
    # A state dict nested in a checkpoint: refused as a layout, not a global.
    save("nested_checkpoint.pt", {"model": weights, "epoch": 3}, "entry 'model' is a dict")
    return cases


def torch_zip_layout(path):
    with zipfile.ZipFile(path) as z:
        return [info.filename for info in z.infolist()]


def write(directory):
    os.makedirs(directory, exist_ok=True)
    manifest = {"cases": [], "refused": []}
    for name, obj, kwargs in valid_cases():
        path = os.path.join(directory, name)
        torch.save(obj, path, **kwargs)
        manifest["cases"].append({"file": name, "tensors": describe(obj)})
    # The same tensors through other writers: one member method or header form each.
    dtypes_path = os.path.join(directory, "dtypes.pt")
    dtypes = describe(torch.load(dtypes_path, weights_only=False))
    variants = [
        ("dtypes_zip64_local.pt", dict(force_zip64=True)),
        ("dtypes_deflated.pt", dict(compression=zipfile.ZIP_DEFLATED)),
    ]
    for name, kwargs in variants:
        rewrite_zip(dtypes_path, os.path.join(directory, name), **kwargs)
        manifest["cases"].append({"file": name, "tensors": dtypes})
    write_full_zip64(os.path.join(directory, "views.pt"),
                     os.path.join(directory, "views_zip64.pt"))
    manifest["cases"].append({"file": "views_zip64.pt",
                              "tensors": describe(valid_cases()[2][1])})
    buffer = io.BytesIO()
    torch.save(valid_cases()[1][1], buffer)
    with open(os.path.join(directory, "from_buffer.pt"), "wb") as f:
        f.write(buffer.getvalue())
    manifest["cases"].append({"file": "from_buffer.pt",
                              "tensors": describe(valid_cases()[1][1])})

    # Check the rewrites are what they claim, and that torch itself still reads them (not
    # weights_only: torch's own restricted unpickler lacks protocol 4's FRAME).
    for entry in manifest["cases"]:
        path = os.path.join(directory, entry["file"])
        loaded = torch.load(path, weights_only=False)
        if [t["hex"] for t in describe(loaded)] != [t["hex"] for t in entry["tensors"]]:
            problem("%s: torch reads back other values than were saved" % entry["file"])
    with open(os.path.join(directory, "views_zip64.pt"), "rb") as f:
        if b"PK\x06\x06" not in f.read():
            problem("views_zip64.pt has no zip64 end record")
    with zipfile.ZipFile(os.path.join(directory, "dtypes_deflated.pt")) as z:
        if any(i.compress_type != zipfile.ZIP_DEFLATED for i in z.infolist()):
            problem("dtypes_deflated.pt has members that are not deflated")

    for name, needle in hostile_cases(directory, dtypes_path):
        manifest["refused"].append({"file": name, "error": needle})
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


# ---- check ---------------------------------------------------------------------------------

def check_layout(path):
    """Members a torch reader needs, data aligned to 64 bytes as torch aligns it, CRCs."""
    with zipfile.ZipFile(path) as z:
        names = [i.filename for i in z.infolist()]
        if z.testzip() is not None:
            problem("%s: a member fails its CRC check" % path)
        prefix = os.path.splitext(os.path.basename(path))[0] + "/"
        for required in ("data.pkl", "byteorder", "version"):
            if prefix + required not in names:
                problem("%s: no member %s%s (members: %s)" % (path, prefix, required, names))
        with open(path, "rb") as f:
            blob = f.read()
        for info in z.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                problem("%s: %s is not stored" % (path, info.filename))
            name_len, extra_len = struct.unpack_from("<HH", blob, info.header_offset + 26)
            start = info.header_offset + 30 + name_len + extra_len
            if start % 64 != 0:
                problem("%s: %s data starts at %d, not 64-byte aligned" %
                        (path, info.filename, start))
        if z.read(prefix + "byteorder") != b"little":
            problem("%s: byteorder is not 'little'" % path)


def check(manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    directory = os.path.dirname(os.path.abspath(manifest_path))
    for entry in manifest["files"]:
        path = os.path.join(directory, entry["file"])
        check_layout(path)
        for mmap in (False, True):
            try:
                loaded = torch.load(path, weights_only=True, mmap=mmap)
            except Exception as e:  # the report names the file and the cause
                problem("%s: torch.load(weights_only=True, mmap=%s) failed: %s" %
                        (path, mmap, e))
                continue
            if not isinstance(loaded, collections.OrderedDict):
                problem("%s: loads as %s, not an OrderedDict" % (path, type(loaded).__name__))
            names = list(loaded.keys())
            expected_names = [t["name"] for t in entry["tensors"]]
            if names != expected_names:
                problem("%s: keys %s, expected %s" % (path, names, expected_names))
                continue
            for want in entry["tensors"]:
                t = loaded[want["name"]]
                where = "%s: %s (mmap=%s)" % (path, want["name"], mmap)
                if type(t) is not torch.Tensor:
                    problem("%s: a %s, not a plain tensor" % (where, type(t).__name__))
                if DTYPE_NAMES.get(t.dtype) != want["dtype"]:
                    problem("%s: dtype %s, expected %s" % (where, t.dtype, want["dtype"]))
                    continue
                if list(t.shape) != want["shape"]:
                    problem("%s: shape %s, expected %s" % (where, list(t.shape),
                                                           want["shape"]))
                    continue
                if not t.is_contiguous() or t.storage_offset() != 0:
                    problem("%s: not a contiguous tensor at offset 0" % where)
                if t.untyped_storage().nbytes() != t.numel() * t.element_size():
                    problem("%s: its storage holds %d bytes for %d elements" %
                            (where, t.untyped_storage().nbytes(), t.numel()))
                if raw_hex(t) != want["hex"]:
                    problem("%s: bytes differ" % where)


# ---- corpus --------------------------------------------------------------------------------

def corpus(directory):
    """Small real checkpoints and their pickles, plus a few broken ones, as fuzz seeds."""
    zips = os.path.join(directory, "torch_zip")
    pickles = os.path.join(directory, "unpickle")
    os.makedirs(zips, exist_ok=True)
    os.makedirs(pickles, exist_ok=True)
    gen = torch.Generator().manual_seed(99)
    small = collections.OrderedDict()
    small["w"] = random_tensor(torch.float32, (2, 2), gen)
    small["b"] = small["w"][:, 1]
    small["i"] = torch.tensor([1, 2], dtype=torch.int64)
    module = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.BatchNorm1d(1))
    seeds = [
        ("small", small, {}),
        ("bool_half", {"m": torch.tensor([True, False]), "h": torch.ones(1, dtype=torch.half)},
         {}),
        ("module", module.state_dict(), {}),
        ("protocol4", small, {"pickle_protocol": 4}),
        ("parameter", {"p": torch.nn.Parameter(torch.ones(1))}, {}),
        ("untyped", {"u": random_tensor(torch.uint16, (3,), gen),
                     "f": random_tensor(torch.float8_e5m2, (2,), gen)}, {}),
        ("hostile", {"x": Reduce(os.system, ("true",))}, {}),
    ]
    for name, obj, kwargs in seeds:
        path = os.path.join(zips, name + ".pt")
        torch.save(obj, path, **kwargs)
        with zipfile.ZipFile(path) as z:
            pkl = [i for i in z.infolist() if i.filename.endswith("/data.pkl")][0]
            with open(os.path.join(pickles, name + ".pkl"), "wb") as f:
                f.write(z.read(pkl))
    rewrite_zip(os.path.join(zips, "small.pt"), os.path.join(zips, "small_deflated.pt"),
                compression=zipfile.ZIP_DEFLATED)
    write_full_zip64(os.path.join(zips, "small.pt"), os.path.join(zips, "small_zip64.pt"))
    with open(os.path.join(zips, "small.pt"), "rb") as f:
        blob = f.read()
    with open(os.path.join(zips, "broken_truncated.pt"), "wb") as f:
        f.write(blob[:len(blob) * 2 // 3])
    with open(os.path.join(pickles, "broken_truncated.pkl"), "wb") as f:
        f.write(open(os.path.join(pickles, "small.pkl"), "rb").read()[:40])
    with open(os.path.join(pickles, "hostile_stack_global.pkl"), "wb") as f:
        f.write(pickle.dumps(Reduce(eval, ("1",)), protocol=4))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "check", "corpus"):
        print(__doc__, file=sys.stderr)
        return 2
    {"write": write, "check": check, "corpus": corpus}[sys.argv[1]](sys.argv[2])
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
