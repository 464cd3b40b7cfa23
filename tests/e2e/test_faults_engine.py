"""Faults, against real servers on 127.0.0.1: the real engine and registry behind a proxy that
cuts a response mid-stream, a socket the user may not open, servers that answer malformed
JSON or refuse with 401, 403 and 500. Each ends in exit 2 with one line naming what and
where, and leaves nothing in TMPDIR or half-written in the cache.
"""
import http.server
import json
import os
import re
import socket
import socketserver
import subprocess
import tempfile
import threading
import unittest
import uuid

import engine

BASE = "stalecheck-busybox:1"
REGISTRY = "127.0.0.1:5000"


class CuttingProxy:
    """A TCP proxy to `upstream` (a unix socket path or (host, port)) that closes the
    connection after `cut` bytes of the answer to a request whose line matches `pattern`."""

    def __init__(self, upstream, pattern, cut):
        self.upstream, self.pattern, self.cut = upstream, re.compile(pattern.encode()), cut
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        if isinstance(self.upstream, str):
            up = socket.socket(socket.AF_UNIX)
            up.connect(self.upstream)
        else:
            up = socket.create_connection(self.upstream)
        state = {"cutting": False}

        def forward_requests():
            try:
                while True:
                    data = client.recv(65536)
                    if not data:
                        break
                    if self.pattern.search(data):
                        state["cutting"] = True
                    up.sendall(data)
            except OSError:
                pass

        threading.Thread(target=forward_requests, daemon=True).start()
        sent = 0
        try:
            while True:
                data = up.recv(65536)
                if not data:
                    break
                if state["cutting"]:
                    if sent + len(data) >= self.cut:
                        client.sendall(data[: max(0, self.cut - sent)])
                        self.cuts += 1
                        break
                    sent += len(data)
                client.sendall(data)
        except OSError:
            pass
        for s in (client, up):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.sock.close()


class FakeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def serve(routes):
    """An HTTP server on 127.0.0.1: routes maps a path regex to (status, headers, body)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            for pattern, (status, headers, body) in routes.items():
                if re.search(pattern, self.path):
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET

    srv = FakeServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class Faults(engine.Scenario):
    def setUp(self):
        super().setUp()
        self.tag = "stalecheck-e2e-fault-%s" % uuid.uuid4().hex[:8]
        self.write({"Dockerfile": "FROM %s\nCOPY src/ /app/\n" % BASE,
                    "src/big.bin": os.urandom(3 << 20), "src/main.py": "print(1)\n"})
        engine.run(engine.DOCKER, "build", "-q", "-t", self.tag, self.ctx)
        self.scratch = os.path.join(self.tmp, "tmpdir")
        self.cache = os.path.join(self.tmp, "cache")
        os.makedirs(self.scratch)

    def tearDown(self):
        engine.run(engine.DOCKER, "rmi", "-f", self.tag, check=False)
        super().tearDown()

    def fails(self, *args, names, env_extra=None, user=None):
        """stalecheck ARGS: exit 2, one line on stderr naming `names`, nothing left behind."""
        env = dict(engine.ENV, TMPDIR=self.scratch, XDG_CACHE_HOME=self.cache, **(env_extra or {}))
        cmd = [engine.STALECHECK, *args]
        if user:
            cmd = ["runuser", "-u", user, "--"] + cmd
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 2, (args, err, p.stdout.decode()[:500]))
        self.assertEqual(p.stdout, b"")
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("stalecheck: error: "), err)
        self.assertIn(names, err)
        self.assertEqual(os.listdir(self.scratch), [])
        for dirpath, _, files in os.walk(self.cache):
            for f in files:
                self.assertNotIn("tmp", f, os.path.join(dirpath, f))
        return err

    def engine_socket(self):
        host = engine.ENV["DOCKER_HOST"]
        self.assertTrue(host.startswith("unix://"), host)
        return host[len("unix://"):]

    def test_an_engine_that_stops_mid_stream_is_exit_2_naming_it(self):
        proxy = CuttingProxy(self.engine_socket(), r"GET /v[0-9.]+/images/[^ ]*/get", 200000)
        try:
            err = self.fails("inspect", "docker-daemon:" + self.tag, "--docker-host", "tcp://127.0.0.1:%d" % proxy.port,
                             "--engine-read", "api", "--no-cache", names="127.0.0.1:%d" % proxy.port)
            self.assertGreater(proxy.cuts, 0)
            # The same with the cache on: nothing half-written is left in it.
            proxy.cuts = 0
            self.fails("check", "docker-daemon:" + self.tag, "-C", self.ctx, "--docker-host",
                       "tcp://127.0.0.1:%d" % proxy.port, "--engine-read", "api", names="127.0.0.1:%d" % proxy.port)
            self.assertGreater(proxy.cuts, 0)
        finally:
            proxy.close()

    def test_a_socket_the_user_may_not_open_is_exit_2_naming_it(self):
        sock = self.engine_socket()
        st = os.stat(sock)
        self.assertEqual(st.st_mode & 0o006, 0, "the engine socket is open to everyone")
        # nobody may run the binary, but not open the socket.
        err = self.fails("inspect", "docker-daemon:" + self.tag, "--no-cache", names=sock, user="nobody",
                         env_extra={"HOME": self.scratch})
        self.assertIn("ermission denied", err)

    def test_a_daemon_that_answers_malformed_json_is_exit_2_naming_it(self):
        srv = serve({r"/_ping": (200, {"Api-Version": "1.41"}, b"OK"),
                     r"/images/.*/json": (200, {"Content-Type": "application/json"}, b'{"Id": "sha256:ab", "Config": '),
                     r"/containers/.*/json": (200, {"Content-Type": "application/json"}, b'[1, 2'),
                     r"/info": (200, {"Content-Type": "application/json"}, b"{}")})
        try:
            where = "tcp://127.0.0.1:%d" % srv.server_address[1]
            for target in ("docker-daemon:" + self.tag, "container:x"):
                err = self.fails("inspect", target, "--docker-host", where, "--no-cache",
                                 names="127.0.0.1:%d" % srv.server_address[1])
                self.assertIn("JSON", err)
        finally:
            srv.shutdown()

    def test_a_registry_blob_cut_mid_stream_is_exit_2(self):
        remote = "%s/e2e/%s:1" % (REGISTRY, self.tag)
        engine.run(engine.DOCKER, "tag", self.tag, remote)
        try:
            engine.run(engine.DOCKER, "push", "-q", remote)
            proxy = CuttingProxy(("127.0.0.1", 5000), r"GET /v2/[^ ]*/blobs/", 100000)
            try:
                ref = "127.0.0.1:%d/e2e/%s:1" % (proxy.port, self.tag)
                self.fails("inspect", "docker://" + ref, "--no-cache", names="127.0.0.1:%d" % proxy.port)
                self.assertGreater(proxy.cuts, 0)
            finally:
                proxy.close()
        finally:
            engine.run(engine.DOCKER, "rmi", "-f", remote, check=False)

    def test_registry_refusals_are_exit_2_naming_the_reference_and_status(self):
        for status in (401, 403, 500):
            srv = serve({r"^/v2/$": (200, {}, b"{}"),
                         r"/manifests/": (status, {"Content-Type": "application/json"},
                                          json.dumps({"errors": [{"code": "DENIED", "message": "no"}]}).encode())})
            try:
                ref = "127.0.0.1:%d/e2e/app:1" % srv.server_address[1]
                err = self.fails("inspect", "docker://" + ref, "--no-cache", "--timeout", "5", names="e2e/app")
                self.assertIn(str(status), err)
            finally:
                srv.shutdown()


class ContextFaults(unittest.TestCase):
    """A context a user cannot read: no engine needed."""

    def test_a_directory_the_user_cannot_read_is_exit_2_naming_it(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to run stalecheck as another user")
        with tempfile.TemporaryDirectory(prefix="stalecheck-e2e-ctx-") as tmp:
            os.chmod(tmp, 0o755)
            ctx = os.path.join(tmp, "ctx")
            engine.write_tree(ctx, {"Dockerfile": "FROM scratch\nCOPY . /\n", "ok.txt": "x\n", "locked/secret.txt": "s\n"})
            for d in (ctx, os.path.join(ctx, "locked")):
                os.chmod(d, 0o755)
            for f in ("Dockerfile", "ok.txt", "locked/secret.txt"):
                os.chmod(os.path.join(ctx, f), 0o644)
            os.chmod(os.path.join(ctx, "locked"), 0o300)  # no read: its names cannot be listed
            p = subprocess.run(["runuser", "-u", "nobody", "--", engine.STALECHECK, "fingerprint", "-C", ctx,
                                "--build-rules", "buildx"], capture_output=True, env=dict(engine.ENV, HOME="/"))
            err = p.stderr.decode()
            self.assertEqual(p.returncode, 2, err)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(os.path.join(ctx, "locked"), err)
            self.assertEqual(p.stdout, b"")
