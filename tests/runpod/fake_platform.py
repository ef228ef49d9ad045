"""A stand-in for the Runpod platform's worker API (spec/runpod-protocol.md sections 3-5),
serving job-take, job-take-batch, job-stop, job-done, job-stream and ping on 127.0.0.1 and
recording every request. Faults are scripted per test."""

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "test-secret-key-0123456789"
WORKER = "worker-under-test"


class Platform:
    def __init__(self, hold=0.2):
        self.lock = threading.Condition()
        self.queue = []            # jobs not handed out yet
        self.handed = {}           # id -> (job, time handed out)
        self.done_posts = []       # every job-done request: dict
        self.accepted = {}         # id -> list of bodies accepted (200) by job-done
        self.stream_posts = []     # (id, body)
        self.events = []           # ("stream" | "done", id, body length) in arrival order
        self.stream_faults = {}    # id -> "always": job-stream answers 500 for that job
        self.pings = []            # (time, [job ids], query)
        self.takes = []            # (time, path, query)
        self.problems = []         # protocol violations seen
        self.take_faults = []      # consumed in order by job-take: see _take
        self.done_faults = {}      # id -> list of statuses to answer before 200, or "always"
        self.to_stop = []          # ids for the next job-stop poll
        self.stop_sent = {}        # id -> time the stop signal went out
        self.hold = hold           # long-poll hold when there is nothing to hand out
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # URL templates as the platform sets them (with a query string, like production).
    def env(self, ping_ms=1000):
        base = f"http://127.0.0.1:{self.port}/v2/ep"
        return {
            "RUNPOD_WEBHOOK_GET_JOB": base + "/job-take/$ID?gpu=test",
            "RUNPOD_WEBHOOK_POST_OUTPUT": base + "/job-done/$RUNPOD_POD_ID/$ID?gpu=test",
            "RUNPOD_WEBHOOK_POST_STREAM": base + "/job-stream/$RUNPOD_POD_ID/$ID?gpu=test",
            "RUNPOD_WEBHOOK_PING": base + "/ping/$RUNPOD_POD_ID",
            "RUNPOD_PING_INTERVAL": str(ping_ms),
            "RUNPOD_AI_API_KEY": API_KEY,
            "RUNPOD_POD_ID": WORKER,
            "RUNPOD_ENDPOINT_ID": "ep",
        }

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def add_jobs(self, jobs):
        with self.lock:
            self.queue.extend(jobs)
            self.lock.notify_all()

    def wait_for(self, predicate, timeout):
        end = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.1))
        return True

    def _handler(self):
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body=None, content_type="application/json"):
                data = b"" if body is None else body.encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

            def _check_auth(self):
                if self.headers.get("Authorization") != API_KEY:
                    with platform.lock:
                        platform.problems.append(f"{self.path}: Authorization header "
                                                 f"{self.headers.get('Authorization')!r}")

            def do_GET(self):
                self._check_auth()
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                parts = url.path.split("/")  # '', v2, ep, route, worker, ...
                route = parts[3] if len(parts) > 3 else ""
                if len(parts) < 5 or parts[4] != WORKER:
                    platform.problems.append(f"worker id missing in {self.path}")
                if route in ("job-take", "job-take-batch"):
                    return self._take(route, query)
                if route == "job-stop":
                    return self._stop()
                if route == "ping":
                    ids = query.get("job_id", [""])[0]
                    with platform.lock:
                        platform.pings.append((time.monotonic(),
                                               [i for i in ids.split(",") if i], query))
                        platform.lock.notify_all()
                    return self._send(200, "{}")
                self._send(404, "{}")

            def _take(self, route, query):
                now = time.monotonic()
                with platform.lock:
                    platform.takes.append((now, route, query))
                    fault = platform.take_faults.pop(0) if platform.take_faults else None
                if "gpu" not in query:
                    platform.problems.append("job-take lost the template's query string")
                if fault == 500:
                    return self._send(500, '{"error":"internal"}')
                if fault == 429:
                    return self._send(429, '{"error":"slow down"}')
                if fault == 204:
                    return self._send(204)
                if fault == "malformed":
                    return self._send(200, '{"id": "x", "input": {')
                if fault == "noid":
                    return self._send(200, '{"input": {"text": "No id."}}')
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault == "slow":
                    time.sleep(1.5)
                want = int(query.get("batch_size", ["1"])[0])
                end = time.monotonic() + platform.hold
                with platform.lock:
                    while not platform.queue and time.monotonic() < end:
                        platform.lock.wait(end - time.monotonic())
                    jobs = platform.queue[:want]
                    del platform.queue[:want]
                    for job in jobs:
                        platform.handed[job["id"]] = (job, time.monotonic())
                    platform.lock.notify_all()
                if not jobs:
                    return self._send(204)
                if route == "job-take":
                    return self._send(200, json.dumps(jobs[0]))
                self._send(200, json.dumps(jobs))

            def _stop(self):
                end = time.monotonic() + platform.hold
                with platform.lock:
                    while not platform.to_stop and time.monotonic() < end:
                        platform.lock.wait(end - time.monotonic())
                    ids, platform.to_stop = platform.to_stop, []
                    for i in ids:
                        platform.stop_sent[i] = time.monotonic()
                if not ids:
                    return self._send(204)
                self._send(200, json.dumps({"jobsToStop": ids}))

            def do_POST(self):
                self._check_auth()
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                parts = url.path.split("/")
                route = parts[3] if len(parts) > 3 else ""
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                job_id = urllib.parse.unquote(parts[5]) if len(parts) > 5 else ""
                if self.headers.get("X-Request-ID") != job_id:
                    platform.problems.append(f"{route} {job_id}: X-Request-ID "
                                             f"{self.headers.get('X-Request-ID')!r}")
                if route == "job-stream":
                    with platform.lock:
                        platform.events.append(("stream", job_id, length))
                        if platform.stream_faults.get(job_id) == "always":
                            return self._send(500, "{}")
                        platform.stream_posts.append((job_id, json.loads(body)))
                    return self._send(200, "{}")
                if route != "job-done":
                    return self._send(404, "{}")
                with platform.lock:
                    platform.events.append(("done", job_id, length))
                    platform.done_posts.append({"id": job_id, "body": body, "query": query,
                                                "time": time.monotonic()})
                    faults = platform.done_faults.get(job_id)
                    status = 200
                    if faults == "always":
                        status = 500
                    elif faults:
                        status = faults.pop(0)
                    if status == 200:
                        platform.accepted.setdefault(job_id, []).append(json.loads(body))
                    platform.lock.notify_all()
                self._send(status, "{}")

        return Handler
