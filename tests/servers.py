"""Real servers for fayuan's integration tests, on 127.0.0.1.

    python3 tests/servers.py smtp --port P --out DIR [--auth USER:PASS] [--starttls CERT KEY]
                                  [--implicit-tls CERT KEY] [--reject-rcpt ADDR] [--transient N]
                                  [--max-size BYTES] [--control FILE]
    python3 tests/servers.py http --port P --out DIR [--fail N] [--always-fail] [--routes FILE]
                                  [--files DIR]

The SMTP server is aiosmtpd (from PyPI); each accepted message is stored as DIR/<n>-<rcpt>.eml.
With --max-size, a message larger than BYTES is refused as aiosmtpd refuses it (552). With
--control, FILE is read at each recipient: "4xx" refuses it for now (451), "5xx" for good (550),
anything else (or no file) accepts; and at each message's data: "drop" drops the connection
without a reply (a server that dies mid-send).
The HTTP server is the standard library's; each POST body is stored as DIR/<n>.json. With
--routes, GET answers come from a JSON file {path: [answer, ...]}: each request takes the next
answer (the last one repeats); an answer has "status", and "file" (bytes to send), "random"
(that many random bytes), "etag", "delay" (seconds before answering). Each GET is logged as
DIR/<n>.json with its path and headers. With --files, GET /<name> answers the file DIR/<name>
as it is at that moment (404 while there is none), with an ETag of its bytes (304 to a matching
If-None-Match): an export published when its file appears. Both print
READY once listening and run until killed.
"""
import argparse
import itertools
import json
import os
import ssl
import sys
import threading
import time

counter = itertools.count(1)
lock = threading.Lock()


def store(out, name, data):
    tmp = os.path.join(out, "." + name)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(out, name))


def smtp(args):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    class Handler:
        transient_left = args.transient

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address in args.reject_rcpt:
                return "550 5.1.1 mailbox unavailable"
            if args.control:
                try:
                    with open(args.control) as f:
                        lines = [l.split() for l in f.read().splitlines() if l.strip()]
                except OSError:
                    lines = []
                for words in lines:
                    if words[0] == "4xx" and (len(words) == 1 or address in words[1:]):
                        return "451 4.3.0 temporarily unavailable, try again later"
                    if words[0] == "5xx" and (len(words) == 1 or address in words[1:]):
                        return "550 5.2.2 mailbox full"
            if Handler.transient_left > 0:
                Handler.transient_left -= 1
                return "451 4.3.0 temporarily unavailable, try again later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            if args.control:
                try:
                    with open(args.control) as f:
                        drop = "drop" in f.read().split()
                except OSError:
                    drop = False
                if drop:
                    # The connection dropped in the middle of the send: no reply at all.
                    server.transport.abort()
                    return "421 4.4.2 connection dropped"
            for rcpt in envelope.rcpt_tos:
                with lock:
                    n = next(counter)
                store(args.out, "%03d-%s.eml" % (n, rcpt), envelope.original_content)
            return "250 Message accepted for delivery"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and args.auth == "%s:%s" % (
            auth_data.login.decode(), auth_data.password.decode())
        # handled=False: aiosmtpd then answers 535 itself (with True it would say nothing).
        return AuthResult(success=ok, handled=False)

    kwargs = {}
    if args.auth:
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    if args.starttls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*args.starttls)
        kwargs.update(tls_context=ctx, require_starttls=True)
    ssl_context = None
    if args.implicit_tls:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(*args.implicit_tls)
    if args.max_size:
        kwargs.update(data_size_limit=args.max_size)
    controller = Controller(Handler(), hostname="127.0.0.1", port=args.port,
                            ssl_context=ssl_context, ready_timeout=10, **kwargs)
    controller.start()
    print("READY", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def http(args):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = {"fail_left": args.fail}
    routes = {}
    if args.routes:
        with open(args.routes) as f:
            routes = json.load(f)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if args.files:
                import hashlib
                name = os.path.basename(self.path.split("?")[0])
                path = os.path.join(args.files, name)
                try:
                    with open(path, "rb") as f:
                        body = f.read()
                except OSError:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = '"%s"' % hashlib.sha1(body).hexdigest()
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            with lock:
                n = next(counter)
                answers = routes.get(self.path.split("?")[0], [{"status": 404}])
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
            store(args.out, "%03d.json" % n, json.dumps(
                {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode())
            time.sleep(answer.get("delay", 0))
            body = b""
            if "file" in answer:
                with open(answer["file"], "rb") as f:
                    body = f.read()
            if "random" in answer:
                body = os.urandom(answer["random"])
            try:
                self.send_response(answer.get("status", 200))
                if "etag" in answer:
                    self.send_header("ETag", answer["etag"])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                fail = args.always_fail or state["fail_left"] > 0
                if state["fail_left"] > 0:
                    state["fail_left"] -= 1
                n = next(counter)
            store(args.out, "%03d.json" % n, json.dumps(
                {"path": self.path, "body": json.loads(body or b"null"), "failed": fail}).encode())
            self.send_response(500 if fail else 200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"errcode": 500}' if fail else b'{"errcode": 0, "errmsg": "ok"}')

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("READY", flush=True)
    server.serve_forever()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["smtp", "http"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--auth")
    p.add_argument("--starttls", nargs=2)
    p.add_argument("--implicit-tls", nargs=2)
    p.add_argument("--reject-rcpt", action="append", default=[])
    p.add_argument("--transient", type=int, default=0)
    p.add_argument("--max-size", type=int, default=0)
    p.add_argument("--control")
    p.add_argument("--fail", type=int, default=0)
    p.add_argument("--always-fail", action="store_true")
    p.add_argument("--routes")
    p.add_argument("--files")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    # A server started again on the same folder numbers on after what is there (never over it).
    global counter
    taken = [int(n.split("-")[0].split(".")[0]) for n in os.listdir(args.out)
             if n[:1].isdigit() and n.split("-")[0].split(".")[0].isdigit()]
    counter = itertools.count(max(taken, default=0) + 1)
    (smtp if args.kind == "smtp" else http)(args)


if __name__ == "__main__":
    sys.exit(main())
