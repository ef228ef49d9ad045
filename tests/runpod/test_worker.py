"""sparkhost-runpod against the fake platform (fake_platform.py) and in its local modes.

usage: test_worker.py CASE   (CASE: jobs, faults, heartbeat_stop, sigterm, bad_inputs, local,
serve_api, model_fetch, stream, stream_audio, serve_api_stream, startup_failure, soak)"""

import base64
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fake_platform import API_KEY, Platform

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.environ["SPARKHOST_RUNPOD"]
ECHO = os.path.join(HERE, "pipelines", "echo.yaml")
PROMPT = os.path.join(HERE, "pipelines", "prompt.yaml")
STREAM = os.path.join(HERE, "pipelines", "stream.yaml")
PLUGIN_ARGS = ["--plugin-path", os.environ["SPARK_TEST_PLUGIN_DIR"]]
# Short waits so the faults do not make the tests slow (production: 2 s, 5 s, 1 s).
FAST = {"SPARKHOST_RUNPOD_RETRY_WAIT_MS": "100", "SPARKHOST_RUNPOD_BACKOFF_MS": "300",
        "SPARKHOST_RUNPOD_ERROR_SLEEP_MS": "50", "SPARKHOST_RUNPOD_TAKE_TIMEOUT_MS": "5000"}
failures = []


def check(cond, message):
    if not cond:
        failures.append(message)
        print("FAIL:", message, flush=True)


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}


class Worker:
    def __init__(self, platform, pipeline=ECHO, concurrency=1, extra=(), ping_ms=1000,
                 cwd=None, env_extra=None):
        env = clean_env()
        env.update(platform.env(ping_ms))
        env.update(FAST)
        env.update(env_extra or {})
        self.log_path = tempfile.mktemp(prefix="runpod-worker-", suffix=".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [WORKER, "--pipeline", pipeline, "--concurrency", str(concurrency), *PLUGIN_ARGS,
             *extra], env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd)

    def terminate(self, timeout=30):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def lines(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read().splitlines()

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def finish(self):
        rc = self.terminate()
        lines = self.lines()
        check(rc == 0, f"worker exit status {rc}, want 0")
        for line in lines:
            check(API_KEY not in line, f"the API key was logged: {line}")
            try:
                entry = json.loads(line)
                check(set(entry) == {"requestId", "message", "level"},
                      f"log line fields: {line}")
            except ValueError:
                check(False, f"log line is not JSON: {line}")
        if not failures:
            os.unlink(self.log_path)
        return lines


def echo_jobs(n, prefix="j", **extra):
    return [{"id": f"{prefix}{i}-u1", "input": {"text": f"Job {prefix} {i}.", "seed": i,
                                                 **extra}} for i in range(n)]


def check_delivered(p, jobs):
    """Every job reported exactly once, with its own result."""
    for job in jobs:
        got = p.accepted.get(job["id"], [])
        check(len(got) == 1, f"{job['id']} reported {len(got)} times")
        if got:
            out = got[0].get("output", {})
            check(out.get("text") == job["input"]["text"],
                  f"{job['id']}: output text {out.get('text')!r}")
            count = job["input"].get("count", 2)
            check(out.get("frames") == 800 * count, f"{job['id']}: frames {out.get('frames')}")
            check("timings" in out, f"{job['id']}: no timings")


def all_accepted(p, jobs):
    return lambda: all(j["id"] in p.accepted for j in jobs)


def case_jobs():
    for concurrency, delay in ((1, 0), (4, 10)):
        p = Platform().start()
        jobs = echo_jobs(200, prefix=f"c{concurrency}-", delay_ms=delay)
        p.add_jobs(jobs)
        w = Worker(p, concurrency=concurrency)
        check(p.wait_for(all_accepted(p, jobs), 120), f"c{concurrency}: not all jobs reported")
        time.sleep(0.3)  # a second report would come now
        w.finish()
        check_delivered(p, jobs)
        check(len(p.done_posts) == 200, f"c{concurrency}: {len(p.done_posts)} job-done posts")
        check(all(d["query"].get("isStream") == ["false"] for d in p.done_posts),
              "job-done without isStream=false")
        batch = [t for t in p.takes if t[1] == "job-take-batch"]
        if concurrency == 1:
            check(not batch, "concurrency 1 used batch takes")
        else:
            check(batch and all(1 < int(t[2]["batch_size"][0]) <= 4 for t in batch),
                  "concurrency 4: no batch takes of 2..4")
            # Overlap: some job was handed out while another was still unreported.
            spans = sorted((p.handed[j["id"]][1], min(d["time"] for d in p.done_posts
                                                        if d["id"] == j["id"])) for j in jobs)
            peak = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
            check(2 <= peak <= 4, f"concurrency 4: peak jobs in hand {peak}")
        check(not p.problems, f"protocol problems: {p.problems[:3]}")
        p.stop()


def case_faults():
    p = Platform().start()
    p.take_faults = [500, 429, 204, "malformed", "noid", "slow", "drop", 500, "drop"]
    jobs = echo_jobs(20, prefix="f")
    no_input = {"id": "no-input-1"}
    p.done_faults = {"f3-u1": [500, 500], "f7-u1": "always"}
    p.add_jobs(jobs[:10] + [no_input] + jobs[10:])
    w = Worker(p)
    ok = p.wait_for(lambda: all(j["id"] in p.accepted for j in jobs if j["id"] != "f7-u1")
                    and "no-input-1" in p.accepted
                    and sum(1 for d in p.done_posts if d["id"] == "f7-u1") >= 3, 60)
    check(ok, "not every job reported under faults")
    time.sleep(0.5)
    lines = w.finish()
    check_delivered(p, [j for j in jobs if j["id"] != "f7-u1"])
    attempts = [d for d in p.done_posts if d["id"] == "f3-u1"]
    check(len(attempts) == 3, f"500, 500, 200: {len(attempts)} posts, want 3")
    gaps = [b["time"] - a["time"] for a, b in zip(attempts, attempts[1:])]
    check(len(gaps) == 2 and gaps[0] >= 0.09 and gaps[1] >= 0.14, f"retry waits {gaps}")
    check(sum(1 for d in p.done_posts if d["id"] == "f7-u1") == 3,
          "a result failing for good is posted 3 times")
    check(any("f7-u1" in l and "failed to return" in l for l in lines),
          "the lost result is not logged")
    err = p.accepted.get("no-input-1", [{}])[0].get("error")
    check(isinstance(err, str) and json.loads(err)["type"] == "invalid_request",
          f"job without input: {err!r}")
    check(any("without an id" in l for l in lines), "the id-less job is not logged")
    check(any("malformed JSON" in l for l in lines), "malformed job-take is not logged")
    # After the 429, the next take waits for the back-off (300 ms here).
    times = [t[0] for t in p.takes]
    check(len(times) > 3 and times[2] - times[1] >= 0.28, "no back-off after 429")
    check(not p.problems, f"protocol problems: {p.problems[:3]}")
    p.stop()


def case_heartbeat_stop():
    p = Platform().start()
    long_job = {"id": "long-1", "input": {"text": "Long.", "count": 10, "delay_ms": 400}}
    stopped = {"id": "stopped-1", "input": {"text": "Stopped.", "count": 50, "delay_ms": 500}}
    after = {"id": "after-1", "input": {"text": "After."}}
    p.add_jobs([long_job])
    w = Worker(p, ping_ms=1000)
    check(p.wait_for(lambda: "long-1" in p.accepted, 30), "long job not reported")
    during = [t for t, ids, _ in p.pings if "long-1" in ids]
    check(len(during) >= 3, f"{len(during)} pings named the 4 s job")
    stamps = [t for t, _, _ in p.pings]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    check(gaps and max(gaps) < 1.6, f"heartbeat gaps during a busy job: {gaps}")
    check(all("runpod_version" in q for _, _, q in p.pings), "ping without runpod_version")
    p.add_jobs([stopped])
    check(p.wait_for(lambda: "stopped-1" in p.handed, 10), "second job not taken")
    time.sleep(1.0)
    with p.lock:
        p.to_stop.append("stopped-1")
        p.lock.notify_all()
    p.add_jobs([after])
    check(p.wait_for(lambda: "after-1" in p.accepted, 15),
          "the job after a stopped one did not run promptly")
    sent = p.stop_sent.get("stopped-1", 0)
    later = [t for t, ids, _ in p.pings if t > sent + 0.05]
    check(p.wait_for(lambda: any("stopped-1" not in ids
                                  for t, ids, _ in p.pings if t > sent + 0.05), 5),
          "the stopped job stays in the heartbeat")
    del later
    w.finish()
    check("stopped-1" not in [d["id"] for d in p.done_posts], "a stopped job was reported")
    check(not p.problems, f"protocol problems: {p.problems[:3]}")
    p.stop()


def case_sigterm():
    p = Platform().start()
    jobs = [{"id": f"t{i}", "input": {"text": f"Term {i}.", "count": 4, "delay_ms": 500}}
            for i in range(2)]
    spare = {"id": "spare", "input": {"text": "Spare."}}
    p.add_jobs(jobs)
    w = Worker(p, concurrency=2)
    check(p.wait_for(lambda: all(j["id"] in p.handed for j in jobs), 10), "jobs not taken")
    p.add_jobs([spare])
    time.sleep(0.5)
    check(not p.accepted, "jobs finished before the signal; the test proves nothing")
    w.proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    try:
        rc = w.proc.wait(30)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0, f"exit status after SIGTERM {rc}")
    check_delivered(p, jobs)
    check("spare" not in p.handed, "a job was taken after SIGTERM")
    check(all(t < sent + 0.5 for t, _, _ in p.takes), "job-take polled after SIGTERM")
    w.finish()
    p.stop()


def case_stream():
    """--stream-progress: progress chunks go to the stream URL while the job runs, in order,
    then the final result to job-done with isStream=true."""
    p = Platform().start()
    job = {"id": "s-1", "input": {"text": "Streamed.", "count": 4, "delay_ms": 100}}
    p.add_jobs([job])
    w = Worker(p, extra=["--stream-progress"])
    check(p.wait_for(lambda: "s-1" in p.accepted, 20), "streamed job not reported")
    w.finish()
    chunks = [b["output"] for i, b in p.stream_posts if i == "s-1"]
    fractions = [c["progress"] for c in chunks]
    check(len(chunks) >= 2 and fractions == sorted(fractions) and fractions[-1] == 1.0,
          f"stream chunks {chunks}")
    check(all(c["node"] in ("segment", "source", "slow", "sink") for c in chunks),
          f"stream chunk nodes {chunks}")
    done = [d for d in p.done_posts if d["id"] == "s-1"]
    check(len(done) == 1 and done[0]["query"].get("isStream") == ["true"],
          f"final post {done}")
    check(p.accepted["s-1"][0]["output"]["text"] == "Streamed.", "streamed job output")
    check(not p.problems, f"protocol problems: {p.problems[:3]}")
    p.stop()


def decode_s16(data, fmt="wav"):
    """The samples of an encoded file as ffmpeg decodes them (s16le bytes)."""
    demux = ["-f", "s16le", "-ar", "16000", "-ac", "1"] if fmt == "pcm" else []
    r = subprocess.run(["ffmpeg", "-v", "error", *demux, "-i", "-", "-f", "s16le", "-"],
                       input=data, capture_output=True, timeout=60)
    check(r.returncode == 0, f"ffmpeg could not decode: {r.stderr[:200]}")
    return r.stdout


def file_of(url):
    check(url.startswith("file://"), f"audio_url {url}")
    with open(url[len("file://"):], "rb") as f:
        return f.read()


def stream_items(p, job_id):
    return [b["output"] for i, b in p.stream_posts if i == job_id]


def check_items(items, job_id, media_type):
    """Audio items numbered 0.. in order with contiguous offsets, then the result item.
    Returns the audio bytes and the result."""
    audio = [it for it in items if "data" in it]
    check(items and "result" in items[-1], f"{job_id}: the last stream item is not the result")
    check([it["seq"] for it in items] == list(range(len(items))),
          f"{job_id}: seq {[it['seq'] for it in items]}")
    data, offset = b"", 0
    for it in audio:
        chunk = base64.b64decode(it["data"])
        check(it["offset"] == offset and it["size"] == len(chunk),
              f"{job_id}: item {it['seq']} at offset {it['offset']} size {it['size']}, "
              f"want offset {offset}")
        check(it["media_type"] == media_type and it["node"] == "store",
              f"{job_id}: item {it['seq']} is {it['media_type']} from {it['node']}")
        data += chunk
        offset += len(chunk)
    return data, (items[-1].get("result") if items else None)


def case_stream_audio():
    """A request with "stream": true gets its audio posted to the stream URL while the job
    runs: base64 items in order, each under the 1 MB limit, making up the stored file; then
    the result as the last item and job-done with isStream=true. The same audio unstreamed
    has the same samples. A stream post that fails for good fails the job (reported)."""
    out_dir = tempfile.mkdtemp()
    p = Platform().start()
    jobs = [
        {"id": "sa-stream", "input": {"stream": True, "count": 6, "delay_ms": 100}},
        {"id": "sa-whole", "input": {"count": 6}},
        {"id": "sa-flac", "input": {"stream": True, "count": 6, "format": "flac"}},
        {"id": "sa-flac-whole", "input": {"count": 6, "format": "flac"}},
        # 2 packets of 960000 bytes: each must be cut into items under the limit
        {"id": "sa-big", "input": {"stream": True, "count": 2, "frames": 480000,
                                   "format": "pcm"}},
        {"id": "sa-lost", "input": {"stream": True, "count": 3}},
        {"id": "sa-after", "input": {"stream": True, "count": 2}},
    ]
    p.stream_faults["sa-lost"] = "always"
    p.add_jobs(jobs)
    w = Worker(p, pipeline=STREAM, env_extra={"SPARK_TEST_OUT": out_dir})
    check(p.wait_for(all_accepted(p, jobs), 60), "stream_audio: not all jobs reported")
    w.finish()

    def done_of(job_id):
        return [d for d in p.done_posts if d["id"] == job_id]

    # streamed WAV: items while the job ran, then the result, then job-done
    items = stream_items(p, "sa-stream")
    audio, result = check_items(items, "sa-stream", "audio/wav")
    check(len(items) == 1 + 6 + 1, f"sa-stream: {len(items)} items, want header + 6 + result")
    done = done_of("sa-stream")
    check(len(done) == 1 and done[0]["query"].get("isStream") == ["true"], f"final post {done}")
    final = p.accepted["sa-stream"][0]["output"]
    check(final == [items[-1]], f"sa-stream: job-done output {final}")
    events = [e for e in p.events if e[1] == "sa-stream"]
    check([e[0] for e in events] == ["stream"] * len(items) + ["done"],
          f"sa-stream: posts out of order {[e[0] for e in events]}")
    check(result and result["bytes"] == len(audio) == 44 + 6 * 3200,
          f"sa-stream: result {result}, {len(audio)} bytes streamed")
    if result:
        check(file_of(result["audio_url"]) == audio, "sa-stream: stored file != streamed bytes")
    whole = p.accepted["sa-whole"][0]["output"]
    check(not stream_items(p, "sa-whole"), "an unstreamed job posted to the stream")
    check(done_of("sa-whole")[0]["query"].get("isStream") == ["false"], "sa-whole isStream")
    whole_samples = decode_s16(file_of(whole["audio_url"]))
    check(len(whole_samples) == 6 * 3200, f"sa-whole: {len(whole_samples)} bytes of samples")
    check(decode_s16(audio) == whole_samples, "sa-stream: streamed samples differ")

    # FLAC streams too, with the samples of the unstreamed FLAC
    flac, result = check_items(stream_items(p, "sa-flac"), "sa-flac", "audio/flac")
    check(flac[:4] == b"fLaC", "sa-flac: not a FLAC stream")
    flac_whole = decode_s16(file_of(p.accepted["sa-flac-whole"][0]["output"]["audio_url"]))
    check(len(flac_whole) == 6 * 3200, f"sa-flac-whole: {len(flac_whole)} bytes of samples")
    check(decode_s16(flac) == flac_whole, "sa-flac: streamed samples differ")

    # big pieces are cut under the limit, and still add up
    big_items = stream_items(p, "sa-big")
    big, result = check_items(big_items, "sa-big", "audio/pcm; format=s16le; rate=16000; "
                              "channels=1")
    check(len(big) == 2 * 960000, f"sa-big: {len(big)} bytes")
    check(len(big_items) == 2 * 2 + 1, f"sa-big: {len(big_items)} items, want 2 per packet + 1")
    sizes = [e[2] for e in p.events if e[1] == "sa-big" and e[0] == "stream"]
    check(sizes and max(sizes) < 1000000, f"sa-big: stream post sizes {sizes}")
    if result:
        check(file_of(result["audio_url"]) == big, "sa-big: stored file != streamed bytes")

    # a stream that cannot be delivered fails its job (reported, with the reason), and the
    # next streamed job works
    lost = p.accepted["sa-lost"][0]
    check("error" in lost and "refused streamed piece" in json.loads(lost["error"])["message"],
          f"sa-lost: {lost}")
    check(not os.path.exists(os.path.join(out_dir, "sa-lost")) or
          not os.listdir(os.path.join(out_dir, "sa-lost")), "sa-lost left a file")
    after, result = check_items(stream_items(p, "sa-after"), "sa-after", "audio/wav")
    check(len(after) == 44 + 2 * 3200, f"sa-after: {len(after)} bytes")
    check(not p.problems, f"protocol problems: {p.problems[:3]}")
    p.stop()


def case_serve_api_stream():
    """--serve-api: /stream/{id} hands out the items not yet delivered, while the job runs,
    each once; with the result last."""
    out_dir = tempfile.mkdtemp()
    port = free_port()
    env = clean_env()
    env["SPARK_TEST_OUT"] = out_dir
    proc = subprocess.Popen([WORKER, "--pipeline", STREAM, *PLUGIN_ARGS, "--serve-api",
                             "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    r = curl("POST", base + "/run", {"input": {"stream": True, "count": 8, "delay_ms": 200}})
    job = r["id"]
    items, early, calls = [], 0, 0
    while calls < 400:
        calls += 1
        r = curl("POST", base + f"/stream/{job}")
        if r["status"] == "IN_PROGRESS" and r["stream"]:
            early += 1
        items += [c["output"] for c in r["stream"]]
        if r["status"] in ("COMPLETED", "FAILED") and not r["stream"]:
            break
        time.sleep(0.05)
    check(r["status"] == "COMPLETED", f"serve_api_stream: {r}")
    check(early >= 1, "no stream items came while the job was running")
    audio, result = check_items(items, job, "audio/wav")
    check(len(items) == 1 + 8 + 1, f"{len(items)} items (each once), want 10")
    check(result and file_of(result["audio_url"]) == audio, "streamed bytes != stored file")
    r = curl("GET", base + f"/status/{job}")
    check(r["status"] == "COMPLETED" and r["output"]["bytes"] == len(audio), f"status {r}")
    # an unstreamed request keeps the one-chunk answer
    r = curl("POST", base + "/runsync", {"input": {"count": 2}})
    r = curl("POST", base + f"/stream/{r['id']}")
    check(len(r["stream"]) == 1 and "audio_url" in r["stream"][0]["output"], f"unstreamed {r}")
    proc.send_signal(signal.SIGTERM)
    check(proc.wait(30) == 0, "serve-api exit status")


def case_startup_failure():
    """A pipeline that cannot start: one unhealthy heartbeat, no job taken, exit 1."""
    p = Platform().start()
    p.add_jobs(echo_jobs(1, prefix="never"))
    bad = os.path.join(os.environ["SPARK_SOURCE_DIR"], "configs", "test", "bad_cycle.yaml")
    w = Worker(p, pipeline=bad)
    rc = w.proc.wait(30)
    check(rc == 1, f"exit status {rc}, want 1")
    check(not p.takes, "a job was taken by a worker that failed to start")
    check(len(p.pings) == 1 and p.pings[0][2].get("status") == ["unhealthy"]
          and p.pings[0][2].get("check") == ["startup"], f"pings {p.pings}")
    check(any("pipeline" in l and "ERROR" in l for l in w.lines()), "start-up error not logged")
    p.stop()


def case_bad_inputs():
    p = Platform().start()
    bad = [
        ("missing", {}, "text", "required"),
        ("type", {"text": 5}, "text", "must be a string"),
        ("range", {"text": "Hi.", "count": 0}, "count", "at least 1"),
        ("unknown", {"text": "Hi.", "bogus": 1}, "bogus", "unknown request field"),
        ("long", {"text": "x" * 300}, "text", "200"),
        ("notobject", "just text", "input", "JSON object"),
    ]
    jobs = [{"id": f"bad-{n}", "input": i} for n, i, _, _ in bad]
    good = {"id": "good-1", "input": {"text": "Fine."}}
    p.add_jobs(jobs + [good])
    w = Worker(p)
    check(p.wait_for(lambda: "good-1" in p.accepted, 30), "the good job after bad ones failed")
    w.finish()
    for (name, _, field, rule), job in zip(bad, jobs):
        body = p.accepted.get(job["id"], [{}])[0]
        err = body.get("error")
        check(isinstance(err, str) and "output" not in body, f"{name}: body {body}")
        if isinstance(err, str):
            e = json.loads(err)
            check(e.get("type") == "invalid_request", f"{name}: type {e.get('type')}")
            check(e.get("field") == field, f"{name}: field {e.get('field')}")
            check(rule in e.get("message", ""), f"{name}: message {e.get('message')!r}")
            check("node" in e, f"{name}: no node key")
    check(p.accepted["good-1"][0]["output"]["text"] == "Fine.", "good job output")
    p.stop()

    # An unreachable prompt_speech_url fails at the node that reads it; the next job works.
    work = tempfile.mkdtemp()
    with wave.open(os.path.join(work, "prompt.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes(b"\x00\x10" * 8000)
    p = Platform().start()
    p.add_jobs([{"id": "url-bad", "input": {"prompt_speech_url": "missing/none.wav"}},
                {"id": "url-good", "input": {"prompt_speech_url": "prompt.wav"}}])
    w = Worker(p, pipeline=PROMPT, cwd=work)
    check(p.wait_for(lambda: "url-good" in p.accepted, 30), "prompt jobs not reported")
    w.finish()
    err = json.loads(p.accepted["url-bad"][0]["error"])
    check(err["type"] == "job_failed" and err["node"] == "read" and "none.wav" in err["message"],
          f"unreachable url error: {err}")
    check(".yaml" not in err["message"], f"the pipeline file leaks into the result: {err}")
    check(p.accepted["url-good"][0]["output"]["frames"] == 8000, "prompt job frames")
    p.stop()


def run_local(args, cwd, env=None):
    r = subprocess.run([WORKER, "--pipeline", ECHO, *PLUGIN_ARGS, *args], cwd=cwd,
                       env=env or clean_env(), capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def case_local():
    work = tempfile.mkdtemp()
    rc, out, err = run_local(["--test-input", '{"input": {"text": "Inline."}}'], work)
    check(rc == 0 and json.loads(out)["output"]["text"] == "Inline.", f"inline: {rc} {out} {err}")
    with open(os.path.join(work, "doc.json"), "w") as f:
        json.dump({"input": {"text": "From a file.", "count": 3}}, f)
    rc, out, err = run_local(["--test-input", "doc.json"], work)
    check(rc == 0 and json.loads(out)["output"]["frames"] == 2400, f"file: {rc} {out} {err}")
    rc, out, err = run_local([], work)
    check(rc == 1 and "test_input.json" in err, f"no input at all: {rc} {err}")
    with open(os.path.join(work, "test_input.json"), "w") as f:
        json.dump({"input": {"text": "From test_input.json."}}, f)
    rc, out, err = run_local([], work)
    check(rc == 0 and json.loads(out)["output"]["text"] == "From test_input.json.",
          f"test_input.json: {rc} {out} {err}")
    rc, out, err = run_local(["--test-input", '{"input": {"text": 1}}'], work)
    check(rc == 1 and json.loads(json.loads(out)["error"])["field"] == "text",
          f"bad local input: {rc} {out}")
    rc, out, err = run_local(["--test-input", '{"text": "no input key"}'], work)
    check(rc == 1 and "'input'" in err and out == "", f"document without input: {rc} {err}")
    rc, out, err = run_local(["--concurrency", "0"], work)
    check(rc == 2 and "--concurrency" in err, f"usage error: {rc} {err}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def curl(method, url, body=None):
    cmd = ["curl", "-sS", "-X", method, url]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return json.loads(r.stdout) if r.stdout else None


def case_serve_api():
    hooks = []

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            hooks.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    hook_server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook_server.serve_forever, daemon=True).start()
    port = free_port()
    proc = subprocess.Popen([WORKER, "--pipeline", ECHO, *PLUGIN_ARGS, "--serve-api", "--port",
                             str(port), "--concurrency", "2"], env=clean_env(),
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    r = curl("POST", base + "/runsync", {"input": {"text": "Sync."}})
    check(r["status"] == "COMPLETED" and r["output"]["text"] == "Sync.", f"runsync: {r}")
    r = curl("POST", base + "/runsync", {"input": {"text": 3}})
    check(r["status"] == "FAILED" and json.loads(r["error"])["field"] == "text",
          f"runsync bad: {r}")
    r = curl("POST", base + "/run", {"input": {"text": "Async.", "delay_ms": 100},
                                     "webhook": f"http://127.0.0.1:{hook_server.server_port}/h"})
    job = r["id"]
    check(r["status"] in ("IN_QUEUE", "IN_PROGRESS"), f"run: {r}")
    for _ in range(100):
        r = curl("GET", base + f"/status/{job}")
        if r["status"] == "COMPLETED":
            break
        time.sleep(0.05)
    check(r["status"] == "COMPLETED" and r["output"]["text"] == "Async.", f"status: {r}")
    r = curl("POST", base + f"/stream/{job}")
    check(len(r["stream"]) == 1 and r["stream"][0]["output"]["text"] == "Async.", f"stream {r}")
    r = curl("POST", base + f"/stream/{job}")
    check(r["stream"] == [] and r["status"] == "COMPLETED", f"second stream call: {r}")
    for _ in range(100):
        if hooks:
            break
        time.sleep(0.05)
    check(hooks and hooks[0]["id"] == job and hooks[0]["output"]["text"] == "Async.",
          f"webhook: {hooks}")
    r = curl("POST", base + "/run", {"input": {"text": "Long.", "count": 50, "delay_ms": 500}})
    long_id = r["id"]
    time.sleep(0.5)
    r = curl("POST", base + f"/cancel/{long_id}")
    check(r["status"] == "CANCELLED", f"cancel: {r}")
    r = curl("GET", base + f"/status/{long_id}")
    check(r["status"] == "CANCELLED", f"status after cancel: {r}")
    r = curl("GET", base + "/status/nope")
    check("not found" in r.get("error", ""), f"unknown id: {r}")
    r = curl("GET", base + "/health")
    check(r["jobs"]["completed"] == 2 and r["jobs"]["failed"] == 1 and
          r["jobs"]["cancelled"] == 1, f"health: {r}")
    r = curl("POST", base + "/run", {"text": "no input"})
    check("input" in r.get("error", ""), f"bad body: {r}")
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(30)
    check(rc == 0, f"serve-api exit status {rc}")
    # The cancelled 25 s job ended promptly rather than running out.
    check(time.monotonic() - start < 10, "the cancelled job kept the server from stopping")
    hook_server.shutdown()


def case_model_fetch():
    """Two workers starting at once on one volume without the model: one downloads, the
    other waits on the fetch lock and finds it complete; both then run their job."""
    sys.path.insert(0, os.path.join(HERE, "..", "fetch"))
    import fake_hub
    files = fake_hub.make_repo()
    work = tempfile.mkdtemp()
    log = os.path.join(work, "hub.log")
    hub = subprocess.Popen([sys.executable, os.path.join(HERE, "..", "fetch", "fake_hub.py"),
                            "--log", log, "--rate", str(2 * 1024 * 1024)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(hub.stdout.readline())
    env = {k: v for k, v in clean_env().items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "hf_token")}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", NO_PROXY="127.0.0.1")
    model = os.path.join(work, "volume", "model")
    os.makedirs(os.path.dirname(model))
    cmd = [WORKER, "--pipeline", ECHO, *PLUGIN_ARGS, "--model-dir", model,
           "--model-repo", fake_hub.REPO, "--test-input", '{"input": {"text": "Fetched."}}']
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    hub.stdin.close()
    hub.wait(10)
    for p, (out, err) in zip(procs, outs):
        check(p.returncode == 0 and json.loads(out)["output"]["text"] == "Fetched.",
              f"worker with a missing model: {p.returncode} {out} {err}")
    with open(os.path.join(model, "config.yaml"), "rb") as f:
        check(f.read() == files["config.yaml"], "config.yaml content")
    with open(log) as f:
        requests = [json.loads(line) for line in f if line.strip()]
    for path in files:
        if path.startswith(("config.yaml", "LLM/", "BiCodec/")):
            n = sum(1 for r in requests if r.get("kind") == "resolve" and r.get("file") == path
                    and r["status"] in (200, 206, 302))
            check(n == 1, f"{path} downloaded {n} times by two workers")
    check(sum("waiting for another worker's fetch" in err for _, err in outs) == 1,
          "one worker should wait for the other's fetch")
    check(all("start-up:" in err for _, err in outs), "start-up timings not logged")


def case_soak():
    random.seed(7)
    p = Platform().start()
    jobs = echo_jobs(500, prefix="s", delay_ms=2)
    faults = [500, 429, 204, "malformed", "drop", "slow"]
    p.take_faults = [random.choice(faults) if random.random() < 0.05 else None
                     for _ in range(400)]
    p.done_faults = {j["id"]: [500] for j in jobs if random.random() < 0.05}
    p.add_jobs(jobs[:50])
    # Under AddressSanitizer freed memory waits in quarantines (256 MB by default), which
    # would read as growth; without them the measure is about the worker's own memory.
    asan = os.environ.get("ASAN_OPTIONS", "")
    w = Worker(p, concurrency=4,
               env_extra={"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"})
    check(p.wait_for(all_accepted(p, jobs[:50]), 120), "first 50 jobs not reported")
    rss_50 = w.rss_kib()
    p.add_jobs(jobs[50:])
    check(p.wait_for(all_accepted(p, jobs), 600), "soak: not all jobs reported")
    rss_end = w.rss_kib()
    w.finish()
    check_delivered(p, jobs)
    print(f"soak RSS: {rss_50} KiB after 50 jobs, {rss_end} KiB after 500", flush=True)
    check(rss_end <= rss_50 * 1.10, f"RSS grew from {rss_50} to {rss_end} KiB")
    p.stop()


if __name__ == "__main__":
    case = sys.argv[1]
    globals()["case_" + case]()
    if failures:
        print(f"{len(failures)} failure(s) in {case}")
        sys.exit(1)
    print(f"{case}: ok")
