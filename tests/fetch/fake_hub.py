#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub, for testing `sparkhost model fetch`. Standard library only.

Two servers on 127.0.0.1, both on ephemeral ports: the "hub" (the API and resolve endpoints) and
a "CDN" it redirects LFS files to, as the real hub does. The hub's port is printed on stdout
once both listen. Every request is appended to the --log file as one JSON object per line.

    GET /api/models/{owner}/{name}/revision/{rev}[?blobs=true]  listing (siblings; with blobs:
                                                                  size, blobId, lfs{sha256,size})
    GET /{owner}/{name}/resolve/{rev}/{path}   regular file: 200 with the bytes (Range honoured)
                                               LFS file: 302 to the CDN, with X-Linked-Etag,
                                               X-Linked-Size and X-Repo-Commit
    GET /cdn/{sha256}?sig=...                  the LFS bytes (Range honoured)

Faults, each for a repository path (an LFS file's faults apply where its bytes are served):
    --token T              the hub wants "Authorization: Bearer T" (401 otherwise)
    --drop-once PATH:N     the first time, send N bytes of the body, then close the connection
    --stall PATH:N         the first time, send N bytes, then hang until the client goes away
    --corrupt PATH:MODE    serve the file with one byte changed; MODE once or always
    --status-once KEY:CODE answer CODE (with Retry-After: 0) the first time; KEY is a path or
                           "api" for the listing
    --rate BYTES_PER_S     throttle file bodies
    --extra-file PATH      list one more (regular) file, e.g. an unsafe path
"""
import argparse
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = "test-org/Tiny-Spark"
LFS_THRESHOLD = 100 * 1024
CHUNK = 64 * 1024


def make_repo(seed=1234):
    """The repository: {path: bytes}. Deterministic, so the test can rebuild it."""
    rng = random.Random(seed)

    def blob(n):
        return rng.randbytes(n)

    return {
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
        "README.md": b"# Tiny Spark\nA test repository.\n",
        "config.yaml": b"sample_rate: 16000\nref_segment_duration: 6\nlatent_hop_length: 320\n",
        "LLM/config.json": b'{"hidden_size": 8}\n',
        "LLM/tokenizer.json": blob(300 * 1024),
        "LLM/model.safetensors": blob(3 * 1024 * 1024 + 12345),
        "BiCodec/config.yaml": b"audio_tokenizer: {}\n",
        "BiCodec/model.safetensors": blob(1024 * 1024 + 7),
        "wav2vec2-large-xlsr-53/config.json": b'{"model_type": "wav2vec2"}\n',
        "wav2vec2-large-xlsr-53/preprocessor_config.json": b'{"sampling_rate": 16000}\n',
        "wav2vec2-large-xlsr-53/pytorch_model.bin": blob(512 * 1024),
        "wav2vec2-large-xlsr-53/README.md": b"wav2vec2\n",
        "src/figures/logo.png": blob(2000),
        "src/notes with space+plus&more.txt": b"a name that needs quoting\n",
        "empty.txt": b"",
    }


def is_lfs(path, data):
    return len(data) >= LFS_THRESHOLD


def corrupted(data):
    """What --corrupt serves: one byte in the middle changed."""
    if not data:
        return data
    mid = len(data) // 2
    return data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:]


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def commit_of(files):
    h = hashlib.sha1()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return h.hexdigest()


class State:
    def __init__(self, args):
        self.files = make_repo()
        self.commit = commit_of(self.files)
        self.by_sha = {hashlib.sha256(d).hexdigest(): p
                       for p, d in self.files.items() if is_lfs(p, d)}
        self.extra = args.extra_file or []
        self.token = args.token
        self.rate = args.rate
        self.faults = {}  # (kind, key) -> value
        for kind in ("drop_once", "stall", "corrupt", "status_once"):
            for spec in getattr(args, kind) or []:
                key, _, value = spec.rpartition(":")
                self.faults[(kind, key)] = value
        self.used = set()  # one-shot faults already fired
        self.lock = threading.Lock()
        self.log = open(args.log, "a", buffering=1)
        self.stop = threading.Event()
        self.cdn_port = 0

    def once(self, kind, key):
        """The value of a one-shot fault, the first time only."""
        with self.lock:
            if (kind, key) in self.faults and (kind, key) not in self.used:
                self.used.add((kind, key))
                return self.faults[(kind, key)]
        return None

    def record(self, **entry):
        with self.lock:
            self.log.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a client sees from the real hub
    server_version = "FakeHub/1"

    def log_message(self, fmt, *args):  # the JSON log is enough
        pass

    @property
    def state(self):
        return self.server.state

    def entry(self, **kw):
        self.state.record(server=self.server.name, method=self.command, url=self.path,
                          auth=self.headers.get("Authorization") is not None,
                          range=self.headers.get("Range"), **kw)

    def reply(self, status, body=b"", headers=(), **log):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.entry(status=status, sent=len(body), **log)

    def error(self, status, code, message, **log):
        body = json.dumps({"error": message}).encode()
        self.reply(status, body, [("Content-Type", "application/json"), ("X-Error-Code", code),
                                  ("X-Error-Message", message)], **log)

    def authorized(self):
        if not self.state.token:
            return True
        return self.headers.get("Authorization") == "Bearer " + self.state.token

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.split("/")
        if self.server.name == "cdn":
            return self.cdn(parts, url)
        if url.path.startswith("/api/models/"):
            return self.api(parts, url)
        if len(parts) >= 6 and parts[3] == "resolve":
            return self.resolve(parts)
        self.error(404, "NotFound", "no such endpoint")

    def unauthorized(self, **log):
        if self.headers.get("Authorization"):
            self.error(401, "InvalidCredentials", "Invalid credentials in Authorization header",
                       **log)
        else:
            self.error(401, "GatedRepo", "Access to model %s is restricted. You must be "
                       "authenticated to access it." % REPO, **log)

    def check_repo(self, owner, name, rev, /, **log):
        if "%s/%s" % (owner, name) != REPO:
            self.error(404, "RepoNotFound", "Repository not found", **log)
            return False
        if not self.authorized():
            self.unauthorized(**log)
            return False
        if rev not in ("main", self.state.commit):
            self.error(404, "RevisionNotFound", "Invalid rev id: " + rev, **log)
            return False
        return True

    def api(self, parts, url):
        # /api/models/{owner}/{name}/revision/{rev}
        if len(parts) != 7 or parts[5] != "revision":
            return self.error(404, "NotFound", "no such endpoint", kind="api")
        owner, name = parts[3], parts[4]
        rev = urllib.parse.unquote(parts[6])
        code = self.state.once("status_once", "api")
        if code:
            return self.reply(int(code), b"busy", [("Retry-After", "0")], kind="api")
        if not self.check_repo(owner, name, rev, kind="api"):
            return
        blobs = urllib.parse.parse_qs(url.query).get("blobs") == ["true"]
        siblings = []
        for path, data in list(self.state.files.items()) + [(p, b"x") for p in self.state.extra]:
            s = {"rfilename": path}
            if blobs:
                s["size"] = len(data)
                if is_lfs(path, data):
                    sha = hashlib.sha256(data).hexdigest()
                    pointer = ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\n"
                               "size %d\n" % (sha, len(data))).encode()
                    s["blobId"] = git_blob_id(pointer)
                    s["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": len(pointer)}
                else:
                    s["blobId"] = git_blob_id(data)
            siblings.append(s)
        body = json.dumps({"_id": "0" * 24, "id": REPO, "modelId": REPO,
                           "sha": self.state.commit, "private": False,
                           "siblings": siblings}).encode()
        self.reply(200, body, [("Content-Type", "application/json")], kind="api")

    def resolve(self, parts):
        owner, name = parts[1], parts[2]
        rev = urllib.parse.unquote(parts[4])
        path = urllib.parse.unquote("/".join(parts[5:]))
        log = {"kind": "resolve", "file": path, "rev": rev}
        if not self.check_repo(owner, name, rev, **log):
            return
        data = self.state.files.get(path)
        if data is None:
            return self.error(404, "EntryNotFound", "Entry not found", **log)
        code = self.state.once("status_once", path)
        if code:
            return self.reply(int(code), b"slow down", [("Retry-After", "0")], **log)
        sha = hashlib.sha256(data).hexdigest()
        commit = ("X-Repo-Commit", self.state.commit)
        if is_lfs(path, data):
            location = "http://127.0.0.1:%d/cdn/%s?sig=%s" % (self.state.cdn_port, sha,
                                                              "s1gn4tur3")
            return self.reply(302, b"", [("Location", location), commit,
                                         ("X-Linked-Etag", '"%s"' % sha),
                                         ("X-Linked-Size", str(len(data))),
                                         ("ETag", '"%s"' % git_blob_id(data))], **log)
        self.content(path, data, [commit, ("ETag", '"%s"' % git_blob_id(data))], log)

    def cdn(self, parts, url):
        sha = parts[2] if len(parts) == 3 and parts[1] == "cdn" else ""
        path = self.state.by_sha.get(sha)
        log = {"kind": "cdn", "file": path}
        if path is None or urllib.parse.parse_qs(url.query).get("sig") != ["s1gn4tur3"]:
            return self.reply(403, b"<Error>AccessDenied</Error>", **log)
        self.content(path, self.state.files[path], [("ETag", '"%s"' % sha)], log)

    def content(self, path, data, headers, log):
        """The bytes of a file, with Range and the faults configured for it."""
        mode = self.state.faults.get(("corrupt", path))
        if mode == "always" or (mode == "once" and self.state.once("corrupt", path)):
            data = corrupted(data)
            log["corrupted"] = True
        start = 0
        rng = self.headers.get("Range")
        if rng:
            first, _, last = rng.replace("bytes=", "").partition("-")
            start = int(first)
            end = int(last) + 1 if last else len(data)
            if start >= len(data):
                return self.reply(416, b"", [("Content-Range", "bytes */%d" % len(data))], **log)
            body = data[start:end]
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, len(data)))
        else:
            body = data
            self.send_response(200)
        for k, v in headers + [("Accept-Ranges", "bytes"),
                               ("Content-Type", "application/octet-stream")]:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.state.once("drop_once", path)
        stall = self.state.once("stall", path)
        limit = int(cut or stall or len(body))
        sent = 0
        try:
            while sent < min(limit, len(body)):
                n = min(CHUNK, limit - sent)
                self.wfile.write(body[sent:sent + n])
                sent += n
                if self.state.rate:
                    time.sleep(n / self.state.rate)
            self.wfile.flush()
            if stall:
                self.entry(status=self.status_sent, sent=sent, start=start, event="stall", **log)
                # Hang until the client goes away (or the test ends).
                self.connection.settimeout(0.2)
                while not self.state.stop.is_set():
                    try:
                        if not self.connection.recv(1):
                            break
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                self.close_connection = True
                return
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return self.entry(status=self.status_sent, sent=sent, start=start, event="reset",
                              **log)
        if cut:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return self.entry(status=self.status_sent, sent=sent, start=start, event="drop", **log)
        self.entry(status=self.status_sent, sent=sent, start=start, **log)

    def send_response(self, code, message=None):
        self.status_sent = code
        super().send_response(code, message)


def serve(name, state):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.name = name
    server.state = state
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--token")
    ap.add_argument("--drop-once", action="append")
    ap.add_argument("--stall", action="append")
    ap.add_argument("--corrupt", action="append")
    ap.add_argument("--status-once", action="append")
    ap.add_argument("--rate", type=float)
    ap.add_argument("--extra-file", action="append")
    args = ap.parse_args()
    state = State(args)
    cdn = serve("cdn", state)
    state.cdn_port = cdn.server_address[1]
    hub = serve("hub", state)
    print(hub.server_address[1], flush=True)
    try:
        # Until the test closes our stdin (or kills us).
        sys.stdin.read()
    finally:
        state.stop.set()
        hub.shutdown()
        cdn.shutdown()


if __name__ == "__main__":
    main()
