"""The Hugging Face side of bench/tokenizer: writes the 10 MB mixed-language text, then times
`tokenizers` (single thread) on it the same two ways as bench_tokenizer.c.
usage: tokenizers_side.py write TEXT_FILE | time TOKENIZER_JSON TEXT_FILE"""
import os
import random
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "reference"))


FNV_START = 14695981039346656037


def digest(h, ids):
    for i in ids:
        h = ((h ^ i) * 1099511628211) & 0xFFFFFFFFFFFFFFFF  # FNV-1a, as the C side
    return h


def write(path, size=10_000_000):
    from tokenizer_corpus import WORDS, _sentence
    rng = random.Random(1)
    scripts = list(WORDS)
    lines, total = [], 0
    while total < size:
        line = _sentence(rng, scripts, rng.randint(5, 40)).replace("\n", " ").replace("\r", " ")
        lines.append(line)
        total += len(line.encode()) + 1
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines))


def bench(tokenizer_json, path):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tokenizer_json)
    text = open(path, encoding="utf-8", newline="").read()
    mb = len(text.encode()) / 1e6
    t0 = time.perf_counter()
    ids = tok.encode(text, add_special_tokens=False).ids
    whole = time.perf_counter() - t0
    print(f"tokenizers whole: {mb:.1f} MB in {whole:.3f} s = {mb / whole:.2f} MB/s, "
          f"{len(ids)} ids, digest {digest(FNV_START, ids)}")
    h, count = FNV_START, 0
    t0 = time.perf_counter()
    encs = [tok.encode(line, add_special_tokens=False).ids for line in text.split("\n")]
    lines = time.perf_counter() - t0
    for e in encs:
        h = digest(h, e)
        count += len(e)
    print(f"tokenizers lines: {mb:.1f} MB in {lines:.3f} s = {mb / lines:.2f} MB/s, "
          f"{count} ids, digest {h}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"] and len(sys.argv) == 3:
        write(sys.argv[2])
    elif sys.argv[1:2] == ["time"] and len(sys.argv) == 4:
        bench(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
