"""Reference dumps for the C BiCodec encoder, computed with the upstream sparktts modules.

    bicodec_encode_reference.py (--model MODEL_DIR | --sparkhost BIN) [--sparktts-src DIR]
                                [--out DIR]

MODEL_DIR is the `tiny` synthetic model, seed 0 (`sparkhost model synth --preset tiny DIR`);
with --sparkhost (or $SPARKHOST) instead, the script makes it in a temporary directory.
The sparktts package (SparkAudio/Spark-TTS, not on PyPI) is imported from the checkout given
by --sparktts-src or $SPARKTTS_SRC. OUT_DIR (default: tests/reference/data/bicodec_encode)
receives:
  clips/NAME.wav          the reference clips (deterministic synthetic signals)
  NAME.safetensors        every intermediate of BiCodecTokenizer.tokenize for that clip
  manifest.json           the clips, what each one exercises, and the model's SHA-256

Intermediates (float32 unless stated; batch dims dropped):
  resampled [N]           the 16 kHz audio before normalisation (resampled clips only; the
                          others are their own channel 0)
  normalize_gain [] f64   audio_volume_normalize(x) / x: the normalisation is one gain, so the
                          normalised audio is checked as input x gain (asserted here)
  mel [n_mels, 301]       linear-magnitude mel
  ecapa [frames, 1536]    the ECAPA latent, time-major, at the frames listed in ecapa_frames
                          (every 4th and the last for `short`, every 32nd and the last for
                          the others: the full tensors would be megabytes)
  ecapa_frames [frames] i64
  perceiver [32, latent]  the Perceiver output
  fsq_z [32, 6]           project_in output;  fsq_bound [32, 6]: tanh bound before rounding
  global_codes [32] i64
  w2v_mix [T, hidden]     (hidden_states[11] + [14] + [16]) / 3   (clips with a transcript)
  encoder_out [out, T]    the semantic encoder output
  vq_cos_margin [T]       best minus second-best cosine of each frame's codebook match
  semantic_codes [T] i64

Upstream resamples with soxr (VHQ), which has no wheel in the pinned environment; this
script stands in scipy.signal.resample_poly for it, so a resampled clip's reference starts
from the `resampled` tensor, and the C resampler (libsamplerate) is checked against it
loosely rather than bit for bit.
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import types

import numpy as np
import soundfile
import torch
from safetensors.numpy import save_file
from scipy.signal import resample_poly

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "data", "bicodec_encode")
ECAPA_DENSE_CLIP = "short"  # the clip whose ECAPA latent is stored densely
ECAPA_DENSE_STEP = 4
ECAPA_SPARSE_STEP = 32


def install_soxr_stand_in():
    module = types.ModuleType("soxr")

    def resample(audio, in_rate, out_rate, quality="VHQ"):
        g = math.gcd(int(in_rate), int(out_rate))
        return resample_poly(np.asarray(audio, dtype=np.float64), out_rate // g, in_rate // g)

    module.resample = resample
    sys.modules["soxr"] = module


def voiced(seconds, rate, f0, seed, peak):
    """Speech-like test signal: a gliding harmonic tone with syllable-rate amplitude and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    pitch = f0 * (1.0 + 0.15 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.1 * t) ** 2
    x = x * envelope + 0.05 * rng.standard_normal(t.size)
    return x / np.max(np.abs(x)) * peak


# name -> (what it exercises, builder returning (samples [N] or [N, C], rate), subtype, transcript)
CLIPS = {
    "short": ("2.5 s, shorter than the 6 s reference clip: tiled",
              lambda: (voiced(2.5, 16000, 140, 1, 0.6), 16000), "PCM_16", True),
    "long": ("6.4 s, longer than 6 s: the clip is truncated; full audio to wav2vec2",
             lambda: (voiced(6.4, 16000, 210, 2, 0.8), 16000), "PCM_16", True),
    "stereo": ("stereo: channel 0 only (channel 1 is a different signal)",
               lambda: (np.stack([voiced(3.0, 16000, 120, 3, 0.5),
                                  voiced(3.0, 16000, 300, 4, 0.9)], axis=1), 16000),
               "PCM_16", True),
    "rate44k": ("44.1 kHz: resampled to 16 kHz",
                lambda: (voiced(2.0, 44100, 180, 5, 0.7), 44100), "PCM_16", True),
    "quiet": ("near-silent (peak 0.04): the < 0.1 gain quirk of the volume normalisation",
              lambda: (voiced(3.0, 16000, 160, 6, 0.04), 16000), "PCM_16", False),
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def f32(t):
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))


def dump_clip(tokenizer, path, with_transcript, ecapa_step):
    model = tokenizer.model
    out = {}
    audio, rate = soundfile.read(path)
    if audio.ndim > 1:
        audio = audio[:, 0]
    if rate != 16000:
        audio = sys.modules["soxr"].resample(audio, rate, 16000)
        out["resampled"] = np.ascontiguousarray(audio, dtype=np.float32)

    wav, ref_wav = tokenizer.process_audio(path)   # the upstream load, normalise, clip
    peak = int(np.argmax(np.abs(audio)))
    gain = float(wav[peak] / audio[peak])
    assert np.allclose(wav, audio * gain, rtol=0, atol=1e-12), "normalisation is not one gain"
    out["normalize_gain"] = np.array(gain, dtype=np.float64)

    with torch.no_grad():
        mel = model.mel_transformer(ref_wav).squeeze(1)            # (1, n_mels, 301)
        out["mel"] = f32(mel[0])
        speaker = model.speaker_encoder
        _, latent = speaker.speaker_encoder(mel.transpose(1, 2), True)  # (1, 1536, T)
        frames = np.unique(np.append(np.arange(0, latent.shape[2], ecapa_step),
                                     latent.shape[2] - 1)).astype(np.int64)
        out["ecapa"] = f32(latent[0].transpose(0, 1)[torch.from_numpy(frames)])
        out["ecapa_frames"] = frames
        lat = speaker.perceiver_sampler(latent.transpose(1, 2))     # (1, 32, latent)
        out["perceiver"] = f32(lat[0])
        rfsq = speaker.quantizer
        z = rfsq.project_in(lat)                                   # (1, 32, 6)
        out["fsq_z"] = f32(z[0])
        out["fsq_bound"] = f32(rfsq.layers[0].bound(z.float())[0])
        globals_ = speaker.tokenize(mel.transpose(1, 2))           # (1, 32, 1)
        out["global_codes"] = globals_.reshape(-1).cpu().numpy().astype(np.int64)

        if with_transcript:
            feat = tokenizer.extract_wav2vec2_features(wav)        # (1, T, hidden)
            out["w2v_mix"] = f32(feat[0])
            z = model.encoder(feat.transpose(1, 2))                # (1, out, T)
            out["encoder_out"] = f32(z[0])
            q = model.quantizer
            e = torch.nn.functional.normalize(q.in_project(z), dim=1)[0].T      # (T, 8)
            cb = torch.nn.functional.normalize(q.codebook.weight, dim=1)
            top = torch.topk(e @ cb.T, 2, dim=1).values
            out["vq_cos_margin"] = f32(top[:, 0] - top[:, 1])
            out["semantic_codes"] = q.tokenize(z).reshape(-1).cpu().numpy().astype(np.int64)

        # The whole upstream entry point must agree with the stepwise dump.
        g_full, s_full = tokenizer.tokenize(path)
        assert np.array_equal(g_full.reshape(-1).numpy(), out["global_codes"])
        if with_transcript:
            assert np.array_equal(s_full.reshape(-1).numpy(), out["semantic_codes"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--sparkhost", default=os.environ.get("SPARKHOST"))
    ap.add_argument("--sparktts-src", default=os.environ.get("SPARKTTS_SRC"))
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    if not args.sparktts_src:
        ap.error("--sparktts-src or SPARKTTS_SRC must name a SparkAudio/Spark-TTS checkout")
    if not args.model and not args.sparkhost:
        ap.error("--model DIR, or --sparkhost BIN to make the tiny model")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.model:
            args.model = os.path.join(tmp, "model")
            subprocess.run([args.sparkhost, "model", "synth", "--preset", "tiny", args.model],
                           check=True, stdout=subprocess.DEVNULL)
        write_dumps(args)


def write_dumps(args):
    sys.path.insert(0, os.path.abspath(args.sparktts_src))
    # transformers probes for soxr when its audio helpers load: load them before the stand-in.
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model  # noqa: F401
    install_soxr_stand_in()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    from sparktts.models.audio_tokenizer import BiCodecTokenizer

    tokenizer = BiCodecTokenizer(args.model, device=torch.device("cpu"))
    tokenizer.model.eval()
    tokenizer.feature_extractor.eval()

    clip_dir = os.path.join(args.out, "clips")
    os.makedirs(clip_dir, exist_ok=True)
    manifest = {"model_preset": "tiny", "model_seed": 0,
                "bicodec_sha256": sha256(os.path.join(args.model, "BiCodec", "model.safetensors")),
                "wav2vec2_sha256": sha256(os.path.join(args.model, "wav2vec2-large-xlsr-53",
                                                       "pytorch_model.bin")),
                "resampler": "scipy.signal.resample_poly (stand-in for soxr VHQ)",
                "clips": {}}
    for name, (what, build, subtype, with_transcript) in CLIPS.items():
        samples, rate = build()
        path = os.path.join(clip_dir, name + ".wav")
        soundfile.write(path, samples, rate, subtype=subtype)
        step = ECAPA_DENSE_STEP if name == ECAPA_DENSE_CLIP else ECAPA_SPARSE_STEP
        tensors = dump_clip(tokenizer, path, with_transcript, step)
        save_file(tensors, os.path.join(args.out, name + ".safetensors"))
        manifest["clips"][name] = {"what": what, "rate": rate, "transcript": with_transcript,
                                   "frames_16k": int(round(len(samples) * 16000 / rate))}
        print(f"{name}: globals {tensors['global_codes'][:8].tolist()}..."
              + (f" semantic {len(tensors['semantic_codes'])} codes" if with_transcript else ""))
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
