"""docker:// targets, against real registries on 127.0.0.1: Debian's docker-registry plain, with
htpasswd basic auth and with TLS from a CA made here, all serving the images this engine pushed;
and small servers of the test's own in front of it: a bearer token server, one that redirects
blobs to another host, one that answers 503 and 429, one that never answers.

What the engine pushed (Docker v2 manifests, or an OCI index with its attestation from the
containerd store), a zstd copy made by skopeo, and a multi-platform index must read as the
engine's own image reads: the same files, the same findings.
"""
import base64
import hashlib
import http.server
import json
import os
import shutil
import socket
import socketserver
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import engine

BASE = "stalecheck-busybox:1"
REGISTRY = "127.0.0.1:5000"
STATE = os.environ.get("STALECHECK_STATE", "/tmp/stalecheck-engine")
ACCEPT = ", ".join(["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def registry_get(path, accept=ACCEPT):
    req = urllib.request.Request("http://%s%s" % (REGISTRY, path), headers={"Accept": accept})
    with urllib.request.urlopen(req) as r:
        return r.read(), r.headers


class Served:
    """An HTTP server of the test's own, in a thread; `handler(h)` answers each request."""

    def __init__(self, handler, host="127.0.0.1"):
        outer = self
        self.seen = []  # (path, headers) of every request

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.seen.append((self.path, dict(self.headers)))
                handler(self)

            do_POST = do_GET

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = S((host, 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def forward(h, path=None, status=None, drop=("transfer-encoding", "connection")):
    """Answers `h` with what the plain registry answers to the same GET."""
    req = urllib.request.Request("http://%s%s" % (REGISTRY, path or h.path),
                                 headers={"Accept": h.headers.get("Accept", "*/*")})
    try:
        with urllib.request.urlopen(req) as r:
            code, headers, body = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        code, headers, body = e.code, e.headers, e.read()
    h.send_response(status or code)
    for k, v in headers.items():
        if k.lower() not in drop and k.lower() != "content-length":
            h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def answer(h, code, body=b"", headers=()):
    h.send_response(code)
    for k, v in headers:
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


class Registries(engine.Scenario):
    def setUp(self):
        super().setUp()
        self.procs, self.servers, self.tags = [], [], []
        self.home = os.path.join(self.tmp, "docker-config")
        os.makedirs(self.home)
        self.env = dict(engine.ENV, DOCKER_CONFIG=self.home)
        self.env.pop("SSL_CERT_FILE", None)

    def tearDown(self):
        for p in self.procs:
            p.terminate()
            p.wait()
        for s in self.servers:
            s.close()
        for t in self.tags:
            engine.run(engine.DOCKER, "rmi", "-f", t, check=False)
        super().tearDown()

    # --- what the registries serve ---------------------------------------------------------

    def app(self):
        self.write({"Dockerfile": "FROM %s\nWORKDIR /app\nCOPY src/ /app/\n" % BASE,
                    "src/main.py": "print('v1')\n", "src/lib/util.py": "x = 1\n", "src/conf.txt": "a=1\n"})

    def push(self, *build_args):
        """Builds the context with the engine, pushes it to the plain registry; returns the ref."""
        ref = "%s/e2e/%s:1" % (REGISTRY, uuid.uuid4().hex[:12])
        engine.run(engine.DOCKER, "build", "-q", "-t", ref, *build_args, self.ctx)
        self.tags.append(ref)
        engine.run(engine.DOCKER, "push", "-q", ref)
        return ref

    def serve_registry(self, extra_yaml="", host="127.0.0.1"):
        """Another docker-registry over the same storage; returns host:port."""
        port = free_port()
        conf = os.path.join(self.tmp, "registry-%d.yml" % port)
        with open(conf, "w") as f:
            f.write("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/registry\n"
                    "  maintenance:\n    readonly:\n      enabled: true\nhttp:\n  addr: %s:%d\n%s"
                    % (STATE, host, port, extra_yaml))
        log = open(os.path.join(self.tmp, "registry-%d.log" % port), "w")
        p = subprocess.Popen(["docker-registry", "serve", conf], stdout=log, stderr=log)
        self.procs.append(p)
        for _ in range(100):
            try:
                socket.create_connection((host, port), timeout=0.2).close()
                return "%s:%d" % (host, port)
            except OSError:
                time.sleep(0.1)
        self.fail("docker-registry on port %d did not come up" % port)

    def serve(self, handler, host="127.0.0.1"):
        s = Served(handler, host)
        self.servers.append(s)
        return s

    def config(self, doc):
        with open(os.path.join(self.home, "config.json"), "w") as f:
            json.dump(doc, f)

    def sc(self, *args, env=None):
        return engine.stalecheck(*args, env=env or self.env)

    def check_doc(self, target, *extra, env=None):
        code, out, err = self.sc("check", target, "-C", self.ctx, "--format", "json", *extra, env=env)
        self.assertIn(code, (0, 1), err)
        return json.loads(out)

    def key(self, doc):
        return sorted((f["status"], f["path"], f["actual"], f["origin"]) for f in doc["findings"])

    def files(self, target, *extra, env=None):
        code, out, err = self.sc("inspect", target, "--format", "json", "--path", "/app", *extra, env=env)
        self.assertEqual(code, 0, err)
        return {f["path"]: (f["type"], f["mode"], f["digest"]) for f in json.loads(out)["files"]}

    def moved(self, ref):
        """`ref` served by `docker://HOSTPORT/…`: the same repository and tag elsewhere."""
        return ref.split("/", 1)[1]

    # --- the images themselves -------------------------------------------------------------

    def test_what_the_engine_pushed_reads_as_the_engines_own_image(self):
        self.app()
        ref = self.push()
        self.write({"src/main.py": "print('v2')\n", "src/new.py": "n\n"})
        remote, local = self.check_doc("docker://" + ref), self.check_doc("docker-daemon:" + ref)
        self.assertEqual(self.key(remote), self.key(local))
        self.assertEqual(sorted((f["status"], f["path"]) for f in remote["findings"]),
                         [("missing", "/app/new.py"), ("stale", "/app/main.py")])
        self.assertEqual(self.files("docker://" + ref), self.files("docker-daemon:" + ref))
        manifest, headers = registry_get("/v2/%s/manifests/1" % ref.split("/", 1)[1].rsplit(":", 1)[0])
        kind = json.loads(manifest).get("mediaType")
        if engine.ENGINE == "28c":
            self.assertEqual(kind, "application/vnd.oci.image.index.v1+json")  # with an attestation, skipped
        else:
            self.assertEqual(kind, "application/vnd.docker.distribution.manifest.v2+json")
        # By digest: the manifest must hash to it.
        digest = headers["Docker-Content-Digest"]
        by_digest = "docker://%s@%s" % (ref.rsplit(":", 1)[0], digest)
        self.assertEqual(self.key(self.check_doc(by_digest)), self.key(remote))

    def test_zstd_layers_from_skopeo_read_the_same(self):
        # Layers no registry has seen (skopeo would reuse a gzip copy it knows of).
        self.write({"Dockerfile": "FROM scratch\nCOPY src/ /app/\nCOPY id.txt /app/\n", "src/main.py": "print('v1')\n",
                    "src/conf.txt": "a=1 # %s\n" % uuid.uuid4().hex, "id.txt": uuid.uuid4().hex})
        ref = self.push()
        zref = ref.replace(":1", "-zstd:1")
        engine.run("skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
                   "--dest-compress-format", "zstd", "--dest-compress", "--format", "oci",
                   "docker://" + ref, "docker://" + zref)
        name = zref.split("/", 1)[1].rsplit(":", 1)[0]
        manifest = json.loads(registry_get("/v2/%s/manifests/1" % name)[0])
        self.assertTrue(all(l["mediaType"].endswith("+zstd") for l in manifest["layers"]), manifest)
        self.write({"src/conf.txt": "a=2\n"})
        self.assertEqual(len(self.key(self.check_doc("docker://" + zref))), 1)
        self.assertEqual(self.key(self.check_doc("docker://" + zref)), self.key(self.check_doc("docker-daemon:" + ref)))
        self.assertEqual(self.files("docker://" + zref), self.files("docker-daemon:" + ref))

    def test_a_multi_platform_index_is_read_for_the_platform_asked(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY src/ /app/\n", "src/main.py": "print('amd64')\n"})
        amd = self.push("--platform", "linux/amd64")
        self.write({"src/main.py": "print('arm64')\n"})
        arm = self.push("--platform", "linux/arm64")
        # One index over both (and an attestation-like entry that is no image), as skopeo and
        # buildx imagetools write them; its blobs are mounted into one repository first.
        repo = "e2e/multi-%s" % uuid.uuid4().hex[:8]
        descs = []
        for ref, platform in ((amd, ("linux", "amd64")), (arm, ("linux", "arm64"))):
            target = "%s/%s:%s" % (REGISTRY, repo, platform[1])
            engine.run("skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", "--multi-arch", "all",
                       "docker://" + ref, "docker://" + target)
            body, headers = registry_get("/v2/%s/manifests/%s" % (repo, platform[1]))
            descs.append({"mediaType": json.loads(body)["mediaType"], "digest": headers["Docker-Content-Digest"],
                          "size": len(body), "platform": {"os": platform[0], "architecture": platform[1]}})
        descs.append(dict(descs[0], platform={"os": "unknown", "architecture": "unknown"},
                          annotations={"vnd.docker.reference.type": "attestation-manifest"}))
        index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": descs[2:] + descs[:2]}).encode()
        req = urllib.request.Request("http://%s/v2/%s/manifests/multi" % (REGISTRY, repo), data=index, method="PUT",
                                     headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
        urllib.request.urlopen(req).read()
        target = "docker://%s/%s:multi" % (REGISTRY, repo)
        self.write({"src/main.py": "print('arm64')\n"})
        self.assertEqual(self.check_doc(target, "--platform", "linux/arm64")["verdict"], "fresh")
        self.assertEqual(self.check_doc(target, "--platform", "linux/arm64/v8")["verdict"], "fresh")
        amd_doc = self.check_doc(target)  # the host's platform: linux/amd64
        self.assertEqual([(f["status"], f["path"]) for f in amd_doc["findings"]], [("stale", "/app/main.py")])
        code, _, err = self.sc("check", target, "-C", self.ctx, "--platform", "linux/s390x")
        self.assertEqual(code, 2)
        self.assertIn("no manifest for platform linux/s390x", err)

    def test_a_missing_tag_or_repository_is_exit_2_naming_the_reference(self):
        self.app()
        ref = self.push()
        code, _, err = self.sc("check", "docker://" + ref.replace(":1", ":nope"), "-C", self.ctx)
        self.assertEqual(code, 2)
        self.assertIn(ref.replace(":1", ":nope"), err)
        self.assertIn("404", err)

    # --- authentication --------------------------------------------------------------------

    def htpasswd_registry(self, user="alice", password="s3cret-pw"):
        path = os.path.join(self.tmp, "htpasswd")
        with open(path, "w") as f:
            f.write(subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, check=True).stdout.decode())
        return self.serve_registry("auth:\n  htpasswd:\n    realm: e2e\n    path: %s\n" % path)

    def test_basic_auth_takes_credentials_from_config_json_and_never_prints_them(self):
        self.app()
        ref = self.push()
        host = self.htpasswd_registry()
        target = "docker://%s/%s" % (host, self.moved(ref))
        code, _, err = self.sc("check", target, "-C", self.ctx)
        self.assertEqual(code, 2)
        self.assertIn("no credentials found for %s" % host, err)
        self.config({"auths": {host: {"auth": base64.b64encode(b"alice:wrong-pw").decode()}}})
        code, _, err = self.sc("check", target, "-C", self.ctx)
        self.assertEqual(code, 2)
        self.assertIn("were refused", err)
        self.assertNotIn("wrong-pw", err)
        self.config({"auths": {"https://%s/v1/" % host: {"auth": base64.b64encode(b"alice:s3cret-pw").decode()}}})
        self.assertEqual(self.check_doc(target)["verdict"], "fresh")

    def test_a_credential_helper_answers_for_its_registry(self):
        self.app()
        ref = self.push()
        host = self.htpasswd_registry()
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        helper = os.path.join(bindir, "docker-credential-e2e")
        asked = os.path.join(self.tmp, "asked")
        with open(helper, "w") as f:
            f.write("#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread key\necho \"$key\" > %s\n"
                    "[ \"$key\" = %s ] || { echo 'credentials not found in native keychain'; exit 1; }\n"
                    "echo '{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"s3cret-pw\"}'\n" % (asked, host, host))
        os.chmod(helper, 0o755)
        env = dict(self.env, PATH=bindir + ":" + self.env["PATH"])
        # A plaintext entry for the same key is not used when a helper applies.
        self.config({"credHelpers": {host: "e2e"}, "auths": {host: {"auth": base64.b64encode(b"alice:wrong").decode()}}})
        self.assertEqual(self.check_doc("docker://%s/%s" % (host, self.moved(ref)), env=env)["verdict"], "fresh")
        self.assertEqual(open(asked).read().strip(), host)
        self.config({"credsStore": "e2e"})
        self.assertEqual(self.check_doc("docker://%s/%s" % (host, self.moved(ref)), env=env)["verdict"], "fresh")

    def token_server(self, user="bob", password="t0ken-pw", field="token"):
        """A registry front that wants a bearer token from its own token endpoint."""
        token = uuid.uuid4().hex
        state = {}

        def handle(h):
            if h.path.startswith("/token") and h.command == "POST":
                # OAuth2: an identity token exchanged by the refresh-token grant.
                form = urllib.parse.parse_qs(h.rfile.read(int(h.headers.get("Content-Length", "0"))).decode())
                if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != ["id-" + password]:
                    return answer(h, 401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                state["oauth"] = form
                return answer(h, 200, json.dumps({"access_token": token}).encode(), [("Content-Type", "application/json")])
            if h.path.startswith("/token"):
                want = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
                if h.headers.get("Authorization") != want:
                    return answer(h, 401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                state["token_query"] = h.path
                return answer(h, 200, json.dumps({field: token, "expires_in": 300}).encode(),
                              [("Content-Type", "application/json")])
            if h.headers.get("Authorization") != "Bearer " + token:
                challenge = 'Bearer realm="http://127.0.0.1:%d/token",service="e2e-registry"' % state["port"]
                return answer(h, 401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [("WWW-Authenticate", challenge)])
            forward(h)

        s = self.serve(handle)
        state["port"] = s.port
        return s, state

    def test_a_bearer_token_is_fetched_with_the_credentials_and_either_field_name(self):
        self.app()
        ref = self.push()
        for field in ("token", "access_token"):
            s, state = self.token_server(field=field)
            host = "127.0.0.1:%d" % s.port
            self.config({"auths": {host: {"username": "bob", "password": "t0ken-pw"}}})
            self.write({"src/conf.txt": "a=2\n"})
            doc = self.check_doc("docker://%s/%s" % (host, self.moved(ref)))
            self.assertEqual([(f["status"], f["path"]) for f in doc["findings"]], [("stale", "/app/conf.txt")])
            self.assertIn("service=e2e-registry", state["token_query"])
            self.assertIn("scope=repository%3A" + self.moved(ref).rsplit(":", 1)[0].replace("/", "%2F") + "%3Apull",
                          state["token_query"])
            self.write({"src/conf.txt": "a=1\n"})

    def test_an_identity_token_is_exchanged_by_the_oauth2_refresh_grant(self):
        self.app()
        ref = self.push()
        s, state = self.token_server()
        host = "127.0.0.1:%d" % s.port
        self.config({"auths": {host: {"identitytoken": "id-t0ken-pw"}}})
        self.assertEqual(self.check_doc("docker://%s/%s" % (host, self.moved(ref)))["verdict"], "fresh")
        self.assertEqual(state["oauth"]["service"], ["e2e-registry"])
        self.assertEqual(state["oauth"]["scope"], ["repository:%s:pull" % self.moved(ref).rsplit(":", 1)[0]])

    def test_authorization_is_never_sent_to_the_host_a_blob_redirects_to(self):
        self.app()
        ref = self.push()
        cdn = self.serve(lambda h: forward(h))  # another port: another host to curl

        def handle(h):
            if h.headers.get("Authorization") != "Basic " + base64.b64encode(b"carol:pw").decode():
                return answer(h, 401, b"", [("WWW-Authenticate", 'Basic realm="e2e"')])
            if "/blobs/" in h.path:
                return answer(h, 307, b"", [("Location", "http://127.0.0.1:%d%s" % (cdn.port, h.path))])
            forward(h)

        front = self.serve(handle)
        host = "127.0.0.1:%d" % front.port
        self.config({"auths": {host: {"auth": base64.b64encode(b"carol:pw").decode()}}})
        self.assertEqual(self.check_doc("docker://%s/%s" % (host, self.moved(ref)))["verdict"], "fresh")
        blobs = [headers for path, headers in cdn.seen if "/blobs/" in path]
        self.assertTrue(blobs)
        self.assertFalse(any("Authorization" in h for h in blobs))

    # --- transport security ----------------------------------------------------------------

    def make_ca(self, ip):
        d = os.path.join(self.tmp, "pki")
        os.makedirs(d)
        run = lambda *a: subprocess.run(list(a), cwd=d, capture_output=True, check=True)
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", "/CN=stalecheck e2e CA")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=%s" % ip)
        with open(os.path.join(d, "san.cnf"), "w") as f:
            f.write("subjectAltName=IP:%s\n" % ip)
        run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "san.cnf")
        certs = os.path.join(d, "certs")
        os.makedirs(certs)
        shutil.copy(os.path.join(d, "ca.crt"), certs)
        return d

    def test_tls_with_a_private_ca_is_trusted_only_when_named(self):
        self.app()
        ref = self.push()
        pki = self.make_ca("127.0.0.1")
        host = self.serve_registry("  tls:\n    certificate: %s/server.crt\n    key: %s/server.key\n" % (pki, pki))
        target = "docker://%s/%s" % (host, self.moved(ref))
        code, _, err = self.sc("check", target, "-C", self.ctx)
        self.assertEqual(code, 2)
        self.assertIn("not trusted", err)
        self.assertEqual(self.check_doc(target, "--cert-dir", os.path.join(pki, "certs"))["verdict"], "fresh")
        env = dict(self.env, SSL_CERT_FILE=os.path.join(pki, "ca.crt"))
        self.assertEqual(self.check_doc(target, env=env)["verdict"], "fresh")
        self.assertEqual(self.check_doc(target, "--tls-verify=false")["verdict"], "fresh")

    def test_plain_http_is_refused_off_loopback_unless_tls_verify_is_off(self):
        self.app()
        ref = self.push()
        ips = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, check=True).stdout.decode()
        ip = [l.split()[3].split("/")[0] for l in ips.splitlines() if not l.split()[3].startswith("127.")][0]
        host = self.serve_registry(host=ip)
        target = "docker://%s/%s" % (host, self.moved(ref))
        code, _, err = self.sc("check", target, "-C", self.ctx)
        self.assertEqual(code, 2, err)
        self.assertIn(host, err)
        self.assertEqual(self.check_doc(target, "--tls-verify=false")["verdict"], "fresh")

    # --- a registry in trouble -------------------------------------------------------------

    def test_503_is_retried_honouring_retry_after_and_429_ends_in_exit_2(self):
        self.app()
        ref = self.push()
        failures = {"left": 2}

        def flaky(h):
            if "/manifests/" in h.path and failures["left"] > 0:
                failures["left"] -= 1
                return answer(h, 503, b"busy", [("Retry-After", "1")])
            forward(h)

        s = self.serve(flaky)
        self.assertEqual(self.check_doc("docker://127.0.0.1:%d/%s" % (s.port, self.moved(ref)))["verdict"], "fresh")
        self.assertEqual(failures["left"], 0)
        limited = self.serve(lambda h: answer(h, 429, b"slow down", [("Retry-After", "0")]) if "/manifests/" in h.path
                             else forward(h))
        code, _, err = self.sc("check", "docker://127.0.0.1:%d/%s" % (limited.port, self.moved(ref)), "-C", self.ctx)
        self.assertEqual(code, 2)
        self.assertIn("127.0.0.1:%d answered HTTP 429" % limited.port, err)
        self.assertEqual(len([p for p, _ in limited.seen if "/manifests/" in p]), 3)

    def test_a_registry_that_never_answers_is_exit_2_after_the_timeout(self):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        held = []
        t = threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True)
        t.start()
        try:
            p = subprocess.run([engine.STALECHECK, "check", "docker://127.0.0.1:%d/e2e/x:1" % server.getsockname()[1],
                                "-C", self.ctx, "--timeout", "2"], env=self.env, capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 2)
            self.assertIn("sent nothing for 2 s", p.stderr.decode())
        finally:
            for c in held:
                c.close()
            server.close()
