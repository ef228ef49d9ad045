"""Reference dumps for the C BiCodec decoder and WaveGenerator, computed with the upstream
sparktts modules.

    bicodec_decode_reference.py --model MODEL_DIR [--sparktts-src DIR] [--out DIR]

MODEL_DIR is the `tiny` synthetic model, seed 0 (`sparkhost model synth --preset tiny DIR`).
The sparktts package (SparkAudio/Spark-TTS, not on PyPI) is imported from the checkout given
by --sparktts-src or $SPARKTTS_SRC. OUT_DIR (default: tests/reference/data/bicodec_decode)
receives one NAME.safetensors per case and manifest.json (the cases and the SHA-256 of the
BiCodec weights they were made with). Regenerate everything with:

    sparkhost model synth --preset tiny /tmp/tiny
    .venv/bin/python tests/reference/bicodec_decode_reference.py --model /tmp/tiny \\
        --sparktts-src /path/to/Spark-TTS

The upstream modules run in float64 (model.double()), so the dumps are the exact values the
float32 C code is held to; float32 torch itself is ~1.5e-5 of the range off them before the
tanh. The random tiny model drives the vocoder far into the tanh (outputs of +-300 before
it), where the waveform is ill-conditioned, so each case also has a quiet vocoder check: the
same latent times QUIET_SCALE, whose output stays within about +-15 before the tanh.

Tensors of a case (stored as float32 unless stated; batch dims dropped):
  semantic_codes [N] i64   the codes decoded (seeded random, in range)
  global_codes [32] i64
  d_vector [D]             speaker_encoder.detokenize(globals)
  zq [C, N]                quantizer.detokenize(semantic codes): codebook rows, out_project
  prenet [C, N]            prenet(zq, d_vector), before the d-vector is added
  vocoder_in [C, N]        prenet + d_vector: what the WaveGenerator eats
  pre_tanh [320 N]         the WaveGenerator output before its final tanh (random weights
                           saturate the tanh, so this is the tight check of the vocoder)
  waveform [320 N]         BiCodec.detokenize output
  quiet_vocoder_in [C, N]  vocoder_in * QUIET_SCALE
  quiet_pre_tanh, quiet_waveform [320 N]   the WaveGenerator on quiet_vocoder_in
  bf16_pre_tanh [320 N]    the WaveGenerator on vocoder_in with every Conv1d (not the
                           transposed ones) rounding its weights and its input to bf16, as the
                           C bf16 path does (the rest in float64)

layers.safetensors holds torch's own results for the shared layer kernels (spark/nn/conv.h)
on seeded random tensors: NAME.x, NAME.weight (or .weight_g/.weight_v), NAME.bias, NAME.y for
convolutions with stride, dilation, padding and groups, transposed convolutions with weight
norm per input channel, LayerNorm, GELU and Snake (the formula of the sparktts Snake1d).
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "data", "bicodec_decode")
QUIET_SCALE = 1e-3

# name -> (semantic code count, seed, what it exercises)
CASES = {
    "one_code": (1, 11, "the shortest decode: one semantic code, 320 samples"),
    "short": (7, 12, "fewer frames than any kernel's reach"),
    "medium": (60, 13, "longer than the receptive field on both sides of the middle"),
    "edge_codes": (24, 14, "codes 0 and codebook_size - 1, globals 0 and 4095 included"),
}


def import_bicodec(src):
    if not src or not os.path.isdir(os.path.join(src, "sparktts")):
        sys.exit("bicodec_decode_reference: give the Spark-TTS checkout with --sparktts-src "
                 "or SPARKTTS_SRC (a directory holding sparktts/)")
    sys.path.insert(0, src)
    from sparktts.models.bicodec import BiCodec  # noqa: E402
    return BiCodec


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bf16_vocoder(model):
    """A copy of the WaveGenerator whose Conv1d layers round weights and inputs to bf16."""
    import copy
    decoder = copy.deepcopy(model.decoder)

    def bf16(t):
        return t.to(torch.bfloat16).to(t.dtype)

    for module in decoder.modules():
        if type(module) is torch.nn.Conv1d:
            with torch.no_grad():
                module.weight.copy_(bf16(module.weight))
            module.register_forward_pre_hook(lambda m, inputs: (bf16(inputs[0]),))
    return torch.nn.Sequential(*list(decoder.model)[:-1])


def make_codes(name, count, seed, codebook_size, global_levels):
    rng = np.random.default_rng(seed)
    semantic = rng.integers(0, codebook_size, size=count, dtype=np.int64)
    globals_ = rng.integers(0, global_levels, size=32, dtype=np.int64)
    if name == "edge_codes":
        semantic[0], semantic[-1], semantic[count // 2] = 0, codebook_size - 1, 0
        globals_[0], globals_[31] = 0, global_levels - 1
    return semantic, globals_


# name -> (in, out, kernel, stride, dilation, padding, groups, frames, bias, weight_norm)
CONV_CASES = {
    "conv_dilated": (6, 10, 5, 1, 2, 4, 1, 23, True, False),
    "conv_strided": (4, 8, 10, 5, 1, 0, 1, 103, False, False),
    "conv_depthwise": (12, 12, 7, 1, 1, 3, 12, 17, True, False),
    "conv_grouped": (16, 8, 3, 2, 1, 1, 4, 31, True, False),
    "conv_weight_norm": (5, 7, 3, 1, 1, 1, 1, 19, True, True),
}
# name -> (in, out, kernel, stride, padding, output_padding, frames)
TRANSPOSED_CASES = {
    "convt_wavegen": (6, 4, 11, 5, 3, 0, 9),
    "convt_output_padding": (5, 3, 4, 3, 1, 1, 7),
}


def layer_tensors():
    """torch's results for the layer kernels of spark/nn/conv.h, in float64, stored as f32."""
    rng = np.random.default_rng(7)
    out = {}

    def rand(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    for name, (cin, cout, k, s, d, p, g, t, bias, wn) in CONV_CASES.items():
        conv = torch.nn.Conv1d(cin, cout, k, stride=s, dilation=d, padding=p, groups=g,
                               bias=bias).double()
        x = rand(cin, t)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(rand(cout, cin // g, k)))
            if bias:
                conv.bias.copy_(torch.from_numpy(rand(cout)))
        if wn:
            conv = torch.nn.utils.weight_norm(conv)
            with torch.no_grad():
                conv.weight_g.copy_(torch.from_numpy(np.abs(rand(cout, 1, 1)) + 0.5))
            out[name + ".weight_g"] = conv.weight_g.detach().numpy().astype(np.float32)
            out[name + ".weight_v"] = conv.weight_v.detach().numpy().astype(np.float32)
        else:
            out[name + ".weight"] = conv.weight.detach().numpy().astype(np.float32)
        if bias:
            out[name + ".bias"] = conv.bias.detach().numpy().astype(np.float32)
        with torch.no_grad():
            y = conv(torch.from_numpy(x).double()[None])[0]
        out[name + ".x"] = x
        out[name + ".y"] = y.numpy().astype(np.float32)
    for name, (cin, cout, k, s, p, op, t) in TRANSPOSED_CASES.items():
        conv = torch.nn.utils.weight_norm(torch.nn.ConvTranspose1d(
            cin, cout, k, stride=s, padding=p, output_padding=op).double())
        with torch.no_grad():
            conv.weight_v.copy_(torch.from_numpy(rand(cin, cout, k)))
            conv.weight_g.copy_(torch.from_numpy(np.abs(rand(cin, 1, 1)) + 0.5))
            conv.bias.copy_(torch.from_numpy(rand(cout)))
            x = rand(cin, t)
            y = conv(torch.from_numpy(x).double()[None])[0]
        out[name + ".weight_g"] = conv.weight_g.detach().numpy().astype(np.float32)
        out[name + ".weight_v"] = conv.weight_v.detach().numpy().astype(np.float32)
        out[name + ".bias"] = conv.bias.detach().numpy().astype(np.float32)
        out[name + ".x"] = x
        out[name + ".y"] = y.numpy().astype(np.float32)
    x = rand(9, 20) * 3 + 1
    w, b = rand(20), rand(20)
    out["layer_norm.x"], out["layer_norm.weight"], out["layer_norm.bias"] = x, w, b
    out["layer_norm.y"] = torch.nn.functional.layer_norm(
        torch.from_numpy(x).double(), (20,), torch.from_numpy(w).double(),
        torch.from_numpy(b).double(), eps=1e-6).numpy().astype(np.float32)
    x = rand(1000) * 4
    out["gelu.x"] = x
    out["gelu.y"] = torch.nn.functional.gelu(torch.from_numpy(x).double()).numpy().astype(np.float32)
    from sparktts.modules.blocks.layers import Snake1d
    snake = Snake1d(6).double()
    with torch.no_grad():
        snake.alpha.copy_(torch.from_numpy(np.abs(rand(1, 6, 1)) + 0.1))
        x = rand(6, 37) * 5
        y = snake(torch.from_numpy(x).double()[None])[0]
    out["snake.alpha"] = snake.alpha.detach().numpy().reshape(6).astype(np.float32)
    out["snake.x"] = x
    out["snake.y"] = y.numpy().astype(np.float32)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="tiny synthetic model directory")
    parser.add_argument("--sparktts-src", default=os.environ.get("SPARKTTS_SRC"),
                        help="Spark-TTS checkout (default: $SPARKTTS_SRC)")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()

    BiCodec = import_bicodec(args.sparktts_src)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    bicodec_dir = os.path.join(args.model, "BiCodec")
    model = BiCodec.load_from_checkpoint(bicodec_dir)
    model.eval()
    model.double()
    codebook_size = model.quantizer.codebook.weight.shape[0]
    levels = 4 ** 6

    before_tanh_bf16 = bf16_vocoder(model)
    os.makedirs(args.out, exist_ok=True)
    manifest = {"model_sha256": file_sha256(os.path.join(bicodec_dir, "model.safetensors")),
                "precision": "float64", "quiet_scale": QUIET_SCALE, "cases": {}}
    with torch.no_grad():
        for name, (count, seed, what) in CASES.items():
            semantic, globals_ = make_codes(name, count, seed, codebook_size, levels)
            sem_t = torch.from_numpy(semantic).view(1, -1)  # (batch, frames)
            glob_t = torch.from_numpy(globals_).view(1, 1, -1)  # (batch, quantizers, tokens)
            zq = model.quantizer.detokenize(sem_t)
            d_vector = model.speaker_encoder.detokenize(glob_t)
            prenet = model.prenet(zq, d_vector)
            vocoder_in = prenet + d_vector.unsqueeze(-1)
            layers = list(model.decoder.model)
            assert isinstance(layers[-1], torch.nn.Tanh)
            before_tanh = torch.nn.Sequential(*layers[:-1])
            pre_tanh = before_tanh(vocoder_in)
            waveform = model.decoder(vocoder_in)
            assert torch.equal(torch.tanh(pre_tanh), waveform)
            quiet_in = vocoder_in * QUIET_SCALE
            quiet_pre = before_tanh(quiet_in)
            quiet_wave = model.decoder(quiet_in)
            bf16_pre = before_tanh_bf16(vocoder_in)
            full = model.detokenize(sem_t, glob_t)
            assert torch.equal(full, waveform), "detokenize differs from the staged decode"
            tensors = {
                "semantic_codes": semantic,
                "global_codes": globals_,
                "d_vector": d_vector[0].numpy().astype(np.float32),
                "zq": zq[0].numpy().astype(np.float32),
                "prenet": prenet[0].numpy().astype(np.float32),
                "vocoder_in": vocoder_in[0].numpy().astype(np.float32),
                "pre_tanh": pre_tanh[0, 0].numpy().astype(np.float32),
                "waveform": waveform[0, 0].numpy().astype(np.float32),
                "quiet_vocoder_in": quiet_in[0].numpy().astype(np.float32),
                "quiet_pre_tanh": quiet_pre[0, 0].numpy().astype(np.float32),
                "quiet_waveform": quiet_wave[0, 0].numpy().astype(np.float32),
                "bf16_pre_tanh": bf16_pre[0, 0].numpy().astype(np.float32),
            }
            path = os.path.join(args.out, name + ".safetensors")
            save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, path)
            os.chmod(path, 0o644)
            wav = tensors["waveform"]
            manifest["cases"][name] = {
                "what": what, "semantic_codes": int(count),
                "waveform_peak": float(np.max(np.abs(wav))),
                "waveform_rms": float(np.sqrt(np.mean(wav.astype(np.float64) ** 2))),
                "pre_tanh_range": [float(tensors["pre_tanh"].min()), float(tensors["pre_tanh"].max())],
                "quiet_pre_tanh_range": [float(tensors["quiet_pre_tanh"].min()),
                                         float(tensors["quiet_pre_tanh"].max())],
            }
            info = manifest["cases"][name]
            print(f"{name}: {count} codes, waveform peak {info['waveform_peak']:.4f}"
                  f" rms {info['waveform_rms']:.4f}, pre-tanh range {info['pre_tanh_range']}")
    layers_path = os.path.join(args.out, "layers.safetensors")
    save_file({k: np.ascontiguousarray(v) for k, v in layer_tensors().items()}, layers_path)
    os.chmod(layers_path, 0o644)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
