"""A fault-injecting HTTP stub for the S3 tests: it stands on 127.0.0.1 in front of moto and
forwards every request unchanged (Host header included, so moto still checks the client's
signatures), except those a rule picks, which it answers itself or alters:

  slowdown   503 SlowDown                      reset     close mid-body (TCP RST)
  error200   200 with an <Error> body          fail500   500 InternalError
  deny       403 AccessDenied                  bad_etag  forward, but send a wrong ETag
  corrupt    forward, but flip a body byte     stall     hold the request until released

Rules match an S3 operation (derived from method and query) and optionally a part number,
and fire `times` times (None: always). Every request is logged as (operation, part, status)
so tests can count attempts. What is left in the bucket is checked against moto itself."""
import http.client
import http.server
import socket
import struct
import sys
import threading
import urllib.parse


def operation_of(method, query):
    if method == "PUT":
        return "UploadPart" if "partNumber" in query else "PutObject"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    if method == "HEAD":
        return "HeadObject"
    return "GetObject"


def error_xml(code, message):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f'<Message>{message}</Message><RequestId>stub</RequestId></Error>').encode()


class Rule:
    def __init__(self, operation, action, times=1, part=None):
        self.operation, self.action, self.times, self.part = operation, action, times, part

    def take(self, operation, part):
        if operation != self.operation or (self.part is not None and part != self.part):
            return False
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


class FaultProxy:
    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.rules = []
        self.log = []
        self.lock = threading.Lock()
        self.stalled = threading.Event()  # set when a stall rule holds a request
        self.release = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                parsed = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
                operation = operation_of(self.command, query)
                part = int(query["partNumber"][0]) if "partNumber" in query else None
                action = proxy.pick(operation, part)
                length = int(self.headers.get("Content-Length") or 0)
                if action == "reset":
                    self.rfile.read(min(length, 65536))
                    proxy.record(operation, part, "reset")
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                if action == "stall":
                    proxy.record(operation, part, "stall")
                    proxy.stalled.set()
                    proxy.release.wait(120)
                    self.close_connection = True
                    return
                canned = {"slowdown": (503, "SlowDown", "Please reduce your request rate."),
                          "fail500": (500, "InternalError", "We encountered an internal error."),
                          "deny": (403, "AccessDenied", "Access Denied"),
                          "error200": (200, "InternalError", "Completion failed, retry.")}
                if action in canned:
                    status, code, message = canned[action]
                    # Logged before the answer goes out, so a client that has its answer
                    # finds the attempt in the log.
                    proxy.record(operation, part, status)
                    self.reply(status, {"Content-Type": "application/xml"},
                               error_xml(code, message))
                    return
                try:
                    status, headers, answer = proxy.forward(self.command, self.path,
                                                            self.headers, body)
                except OSError:  # moto gone (the test is ending): drop the connection
                    proxy.record(operation, part, "upstream-error")
                    self.close_connection = True
                    return
                if action == "bad_etag":
                    headers = [(k, v) for k, v in headers if k.lower() != "etag"]
                    headers.append(("ETag", '"0123456789abcdef0123456789abcdef"'))
                if action == "corrupt" and answer:
                    answer = bytes([answer[0] ^ 0xFF]) + answer[1:]
                proxy.record(operation, part, status)
                self.reply(status, dict(headers), answer, head=self.command == "HEAD")

            def reply(self, status, headers, body, head=False):
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("transfer-encoding", "connection",
                                            "content-length", "server", "date"):
                        self.send_header(name, value)
                upstream_length = next((v for k, v in headers.items()
                                        if k.lower() == "content-length"), str(len(body)))
                self.send_header("Content-Length", upstream_length if head else str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A client that gave up (cancelled, timed out) breaks the pipe: expected.
                if not isinstance(sys.exc_info()[1], OSError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def pick(self, operation, part):
        with self.lock:
            for rule in self.rules:
                if rule.take(operation, part):
                    return rule.action
        return None

    def record(self, operation, part, status):
        with self.lock:
            self.log.append((operation, part, status))

    def forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=120)
        try:
            # Headers go as sent (Host too: it is part of the signature moto checks).
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(body if body else None)
            response = conn.getresponse()
            answer = response.read()
            return response.status, response.getheaders(), answer
        finally:
            conn.close()

    def reset(self, rules=()):
        with self.lock:
            self.rules = list(rules)
            self.log = []
        self.stalled.clear()
        self.release.clear()

    def attempts(self, operation, part=None):
        with self.lock:
            return [s for o, p, s in self.log if o == operation and (part is None or p == part)]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
