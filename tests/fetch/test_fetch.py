#!/usr/bin/env python3
"""`sparkhost model fetch` against fake_hub.py: a full download, the digest cache, resumption
(in one run and across a killed run), checksum failures, authentication, 404s, retries,
network errors, unsafe paths, --only-inference, and two fetches racing into one directory.
After every scenario, nothing partial may sit under a final file name.

Needs SPARKHOST (the built binary); standard library only."""
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_hub  # noqa: E402

SPARKHOST = os.environ["SPARKHOST"]
REPO = fake_hub.REPO
FILES = fake_hub.make_repo()
LFS = {p for p, d in FILES.items() if fake_hub.is_lfs(p, d)}
INFERENCE = {p for p in FILES if p == "config.yaml" or p.startswith(("LLM/", "BiCodec/"))
             or p in ("wav2vec2-large-xlsr-53/config.json",
                      "wav2vec2-large-xlsr-53/preprocessor_config.json",
                      "wav2vec2-large-xlsr-53/pytorch_model.bin")}
BIG = "LLM/model.safetensors"
TOKEN = "hf_s3cr3tT0kenValue"
failures = []


def check(cond, message):
    if not cond:
        failures.append(message)
        print("FAIL: " + message, flush=True)
    return cond


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Hub:
    """fake_hub.py in a subprocess; stops when its stdin closes."""

    def __init__(self, work, *args):
        self.log = os.path.join(work, "hub-%d.log" % time.monotonic_ns())
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_hub.py"),
                                      "--log", self.log, *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def requests(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def resolves(self, path=None):
        """Resolve requests answered with the file (or its redirect), per path."""
        return [r for r in self.requests() if r.get("kind") == "resolve"
                and r["status"] in (200, 206, 302) and (path is None or r["file"] == path)]

    def content_requests(self, path):
        """Requests that carried the file's bytes (hub for small files, CDN for LFS ones)."""
        return [r for r in self.requests() if r.get("file") == path and "sent" in r
                and r["status"] in (200, 206) and r.get("kind") in ("resolve", "cdn")]


def environment(hub, token=None):
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "hf_token")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["HF_ENDPOINT"] = hub.endpoint if isinstance(hub, Hub) else hub
    if token:
        env["HF_TOKEN"] = token
    return env


def fetch(hub, dest, *args, token=None, globals_=(), timeout=120):
    cmd = [SPARKHOST, *globals_, "model", "fetch", "--repo", REPO, "--dir", dest, *args]
    return subprocess.run(cmd, env=environment(hub, token), capture_output=True, text=True,
                          timeout=timeout)


def start_fetch(hub, dest, *args, globals_=()):
    cmd = [SPARKHOST, *globals_, "model", "fetch", "--repo", REPO, "--dir", dest, *args]
    return subprocess.Popen(cmd, env=environment(hub), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def expect_rc(proc, want, what):
    return check(proc.returncode == want, "%s: exit code %d, want %d\nstdout: %s\nstderr: %s"
                 % (what, proc.returncode, want, proc.stdout, proc.stderr))


def final_files(dest):
    """Every file under dest but the lock and the cache: repository-relative path -> bytes."""
    found = {}
    for root, dirs, names in os.walk(dest):
        rel_root = os.path.relpath(root, dest)
        if rel_root == ".":
            dirs[:] = [d for d in dirs if d != ".cache"]
        for name in names:
            rel = os.path.normpath(os.path.join(rel_root, name))
            if rel == ".fetch.lock":
                continue
            with open(os.path.join(root, name), "rb") as f:
                found[rel] = f.read()
    return found


def check_nothing_partial(dest, what):
    """Whatever carries a final name is a complete, correct repository file."""
    for rel, data in final_files(dest).items():
        if not check(rel in FILES, "%s: unexpected file %s" % (what, rel)):
            continue
        check(data == FILES[rel], "%s: %s is under its final name but is not the repository's "
              "file (%d bytes, want %d)" % (what, rel, len(data), len(FILES[rel])))


def parts_left(dest):
    cache = os.path.join(dest, ".cache", "sparkhost")
    return [os.path.join(r, n) for r, _, ns in os.walk(cache) for n in ns if n.endswith(".part")]


def check_complete(dest, expected, what):
    got = final_files(dest)
    check(set(got) == set(expected), "%s: files %s, want %s"
          % (what, sorted(set(got) ^ set(expected)), "the listed ones"))
    for rel in expected:
        if rel in got:
            check(sha256(got[rel]) == sha256(FILES[rel]), "%s: %s differs" % (what, rel))
    check(not parts_left(dest), "%s: partial files left: %s" % (what, parts_left(dest)))
    check_nothing_partial(dest, what)


def scenario(name):
    print("--- " + name, flush=True)


def test_usage(work):
    scenario("usage")
    r = subprocess.run([SPARKHOST, "model", "fetch", "--help"], capture_output=True, text=True)
    expect_rc(r, 0, "--help")
    check(r.stdout.startswith("usage: sparkhost model fetch"), "--help: " + r.stdout[:80])
    for text in ("HF_TOKEN", "HF_ENDPOINT", "--only-inference", "--jobs", ".fetch.lock"):
        check(text in r.stdout, "--help does not mention " + text)
    for args in (["--jobs", "0"], ["--jobs", "x"], ["--repo", "a/b/c"], ["--repo", "../x"],
                 ["--bogus"], ["extra"], ["--dir"]):
        r = subprocess.run([SPARKHOST, "model", "fetch", *args], capture_output=True, text=True,
                           cwd=work)
        expect_rc(r, 2, "fetch " + " ".join(args))
        check(len(r.stderr.strip().splitlines()) == 1, "usage error not one line: " + r.stderr)
    check(not os.path.exists(os.path.join(work, "models")), "a usage error created models/")


def test_full_and_cache(work):
    scenario("full download, second run, digest cache")
    dest = os.path.join(work, "full")
    with Hub(work) as hub:
        r = fetch(hub, dest)
        expect_rc(r, 0, "full download")
        check_complete(dest, FILES, "full download")
        check(r.stderr == "", "stderr is not a terminal, yet got: " + r.stderr)
        check("%d files fetched" % len(FILES) in r.stdout, "summary: " + r.stdout)
        for path in FILES:
            n = len(hub.resolves(path))
            check(n == 1, "full download: %s resolved %d times" % (path, n))
        check(all(r["rev"] == fake_hub.commit_of(FILES) for r in hub.resolves()),
              "files were not resolved at the listing's commit")
        cdn = [q for q in hub.requests() if q["server"] == "cdn"]
        check(len(cdn) == len(LFS), "LFS files did not come through the CDN: %d" % len(cdn))
        for path in LFS:
            meta = os.path.join(dest, ".cache/sparkhost", path + ".meta")
            record = open(meta).read() if os.path.exists(meta) else ""
            check(record.startswith("sha256:" + sha256(FILES[path]) + " "),
                  "no digest record for %s: %r" % (path, record))

        before = len(hub.requests())
        r = fetch(hub, dest, globals_=["-v"])
        expect_rc(r, 0, "second run")
        check("checking" not in r.stderr, "second run hashed files again: " + r.stderr)
        check("0 files fetched" in r.stdout and "%d already complete" % len(FILES) in r.stdout,
              "second run summary: " + r.stdout)
        new = hub.requests()[before:]
        check([q.get("kind") for q in new] == ["api"], "second run requested more than the "
              "listing: %s" % [q["url"] for q in new])
        check_complete(dest, FILES, "second run")

        # A file changed in place (same size, new mtime) is detected through the digest record
        # and fetched again; a lost record only costs a rehash, not a download.
        with open(os.path.join(dest, BIG), "r+b") as f:
            f.seek(100)
            f.write(bytes([FILES[BIG][100] ^ 1]))
        os.unlink(os.path.join(dest, ".cache/sparkhost/BiCodec/model.safetensors.meta"))
        before = len(hub.requests())
        r = fetch(hub, dest, globals_=["-v"])
        expect_rc(r, 0, "third run")
        check("checking BiCodec/model.safetensors (no cached digest)" in r.stderr,
              "third run did not rehash the file without a record: " + r.stderr)
        fetched = [q["file"] for q in hub.requests()[before:] if q.get("kind") == "resolve"]
        check(fetched == [BIG], "third run fetched %s, want only %s" % (fetched, BIG))
        check_complete(dest, FILES, "third run")
        check(os.path.exists(os.path.join(dest, ".cache/sparkhost/BiCodec/model.safetensors.meta")),
              "the rehashed file's digest record was not written again")


def test_only_inference(work):
    scenario("--only-inference")
    dest = os.path.join(work, "inference")
    with Hub(work) as hub:
        r = fetch(hub, dest, "--only-inference", "--jobs", "2")
        expect_rc(r, 0, "--only-inference")
        check_complete(dest, INFERENCE, "--only-inference")
        asked = {q["file"] for q in hub.resolves()}
        check(asked == INFERENCE, "--only-inference asked for %s" % sorted(asked ^ INFERENCE))


def test_resume_in_run(work):
    scenario("connection dropped mid-file, resumed in the same run")
    dest = os.path.join(work, "drop")
    cut = 1024 * 1024 + 333
    with Hub(work, "--drop-once", "%s:%d" % (BIG, cut)) as hub:
        r = fetch(hub, dest)
        expect_rc(r, 0, "dropped connection")
        check_complete(dest, FILES, "dropped connection")
        cdn = hub.content_requests(BIG)
        ranges = [q["range"] for q in cdn]
        check(len(cdn) == 2 and ranges[0] is None and ranges[1] == "bytes=%d-" % cut,
              "dropped connection: requests for %s had ranges %s, want [None, 'bytes=%d-']"
              % (BIG, ranges, cut))
        check(cdn and cdn[0].get("event") == "drop", "the fault did not fire")


def test_resume_after_kill(work):
    scenario("fetch killed mid-file, resumed by the next run")
    dest = os.path.join(work, "kill")
    cut = 2 * 1024 * 1024
    with Hub(work, "--stall", "%s:%d" % (BIG, cut)) as hub:
        proc = start_fetch(hub, dest)
        part = os.path.join(dest, ".cache/sparkhost", BIG + ".part")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stalled = any(q.get("event") == "stall" for q in hub.requests())
            if stalled and os.path.exists(part) and os.path.getsize(part) == cut:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        check(os.path.exists(part) and os.path.getsize(part) == cut,
              "killed run: the partial file holds %s bytes, want %d"
              % (os.path.getsize(part) if os.path.exists(part) else "no", cut))
        check(not os.path.exists(os.path.join(dest, BIG)), "killed run: %s exists under its "
              "final name" % BIG)
        check_nothing_partial(dest, "killed run")
        done_before = set(final_files(dest))
        r = fetch(hub, dest)
        expect_rc(r, 0, "run after the kill")
        check_complete(dest, FILES, "run after the kill")
        ranges = [q["range"] for q in hub.content_requests(BIG)]
        check(ranges == [None, "bytes=%d-" % cut], "resume after kill: ranges %s" % ranges)
        others = [p for p in done_before if len(hub.resolves(p)) > 1]
        check(not others, "files complete before the kill were fetched again: %s" % others)


def test_checksum(work):
    scenario("checksum mismatch once, then always")
    target = "BiCodec/model.safetensors"
    dest = os.path.join(work, "corrupt-once")
    with Hub(work, "--corrupt", target + ":once") as hub:
        r = fetch(hub, dest)
        expect_rc(r, 0, "checksum mismatch once")
        check_complete(dest, FILES, "checksum mismatch once")
        check(len(hub.resolves(target)) == 2, "corrupt once: %s resolved %d times, want 2"
              % (target, len(hub.resolves(target))))
        check("checksum mismatch for " + target in r.stderr, "no warning: " + r.stderr)

    dest = os.path.join(work, "corrupt-always")
    with Hub(work, "--corrupt", target + ":always") as hub:
        r = fetch(hub, dest)
        expect_rc(r, 4, "checksum mismatch always")
        want, got = sha256(FILES[target]), sha256(fake_hub.corrupted(FILES[target]))
        check(target in r.stderr and want in r.stderr and got in r.stderr,
              "the error does not name the file and both digests: " + r.stderr)
        check(len(hub.resolves(target)) == 2, "corrupt always: %s resolved %d times, want 2"
              % (target, len(hub.resolves(target))))
        check(not os.path.exists(os.path.join(dest, target)), "a corrupt file got its final name")
        check(not parts_left(dest), "partial files kept: %s" % parts_left(dest))
        # A bad file concerns that file only: the others are all there.
        check_complete(dest, {p for p in FILES if p != target}, "checksum mismatch always")


def test_token(work):
    scenario("token required")
    dest = os.path.join(work, "token")
    with Hub(work, "--token", TOKEN) as hub:
        r = fetch(hub, dest)
        expect_rc(r, 4, "no token")
        check("HF_TOKEN" in r.stderr and "401" in r.stderr, "401 message: " + r.stderr)
        check(len(r.stderr.strip().splitlines()) == 1, "401 error is not one line: " + r.stderr)
        r = fetch(hub, dest, token="hf_wrong")
        expect_rc(r, 4, "wrong token")
        check("refused" in r.stderr and "hf_wrong" not in r.stderr + r.stdout,
              "wrong token message: " + r.stderr)
        check_nothing_partial(dest, "no token")
        # As read from a file: the trailing newline must not break the header.
        r = fetch(hub, dest, globals_=["-v"], token=TOKEN + "\n")
        expect_rc(r, 0, "with HF_TOKEN")
        check_complete(dest, FILES, "with HF_TOKEN")
        check(TOKEN not in r.stdout + r.stderr, "the token was printed")
        leaked = [q["url"] for q in hub.requests() if q["server"] == "cdn" and q["auth"]]
        check(not leaked, "the token was sent to the CDN: %s" % leaked)


def test_not_found_and_retries(work):
    scenario("404s, retries, network errors, unsafe paths")
    with Hub(work, "--status-once", "api:503", "--status-once", "LLM/config.json:429") as hub:
        r = subprocess.run([SPARKHOST, "model", "fetch", "--repo", "test-org/missing", "--dir",
                            os.path.join(work, "nf")], env=environment(hub),
                           capture_output=True, text=True)
        expect_rc(r, 4, "missing repository")  # the 503 is retried first
        check("test-org/missing" in r.stderr and "not found" in r.stderr, "404: " + r.stderr)
        r = fetch(hub, os.path.join(work, "nf"), "--revision", "v9")
        expect_rc(r, 4, "missing revision")
        check("revision 'v9' not found" in r.stderr, "404 revision: " + r.stderr)
        dest = os.path.join(work, "retry")
        r = fetch(hub, dest, globals_=["-v"])
        expect_rc(r, 0, "429 once")
        check_complete(dest, FILES, "429 once")
        asked = [q for q in hub.requests() if q.get("file") == "LLM/config.json"]
        check([q["status"] for q in asked] == [429, 200], "429 then success: %s\nstderr: %s"
              % (asked, r.stderr))

    with socket.socket() as s:  # bound, so no one else gets the port, but not listening
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
        dest = os.path.join(work, "refused")
        r = subprocess.run([SPARKHOST, "model", "fetch", "--repo", REPO, "--dir", dest,
                            "--retries", "2"], env=environment("http://127.0.0.1:%d" % closed),
                           capture_output=True, text=True, timeout=60)
    expect_rc(r, 4, "connection refused")
    check("connect" in r.stderr.lower() and "127.0.0.1" in r.stderr, "network error: " + r.stderr)

    with Hub(work, "--extra-file", "../escape.txt") as hub:
        dest = os.path.join(work, "unsafe", "d")
        r = fetch(hub, dest)
        expect_rc(r, 4, "unsafe path")
        check("unsafe path" in r.stderr, "unsafe path message: " + r.stderr)
        check(not os.path.exists(os.path.join(work, "unsafe", "escape.txt")),
              "a listed path escaped the directory")


def test_race(work):
    scenario("two fetches racing into one directory")
    dest = os.path.join(work, "race")
    # Throttled, so the first still holds the lock when the second wants it.
    with Hub(work, "--rate", str(2 * 1024 * 1024)) as hub:
        procs = [start_fetch(hub, dest, globals_=["-v"]) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs):
            check(p.returncode == 0, "racing fetch exited %d: %s" % (p.returncode, err))
        check_complete(dest, FILES, "race")
        for path in FILES:
            n = len(hub.resolves(path))
            check(n == 1, "race: %s requested %d times in total" % (path, n))
        waited = [err for _, err in outs if "waiting for another fetch into " + dest in err]
        check(len(waited) == 1, "race: %d of the fetches said they waited for the other"
              % len(waited))
        check(any("%d already complete" % len(FILES) in out for out, _ in outs),
              "race: the second fetch did not find everything complete: %s" % [o for o, _ in outs])


def main():
    with tempfile.TemporaryDirectory(prefix="sparkhost-fetch-") as work:
        for test in (test_usage, test_full_and_cache, test_only_inference, test_resume_in_run,
                     test_resume_after_kill, test_checksum, test_token,
                     test_not_found_and_retries, test_race):
            test(work)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all fetch scenarios passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
