"""Helpers for the end-to-end tests: the real engine, and an independent reading of images.

Nothing here shares code with stalecheck: layers are applied again with Python's tarfile, and
digests come from the `xxh128sum` tool, so the tests hold stalecheck against another reading.
"""
import json
import posixpath
import os
import subprocess
import tarfile
import tempfile
import io
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
STALECHECK = os.environ.get("STALECHECK", os.path.join(HERE, "../../build/stalecheck"))
FIXTURES = os.environ.get("STALECHECK_FIXTURES", os.path.join(HERE, "../../fixtures"))


def engine_settings(name):
    """The client settings of engine `name` (20, 26 or 28), as scripts/engine.sh states them."""
    out = subprocess.run(["bash", os.path.join(HERE, "../../scripts/engine.sh"), "env", name],
                         capture_output=True, check=True).stdout.decode()
    return dict(line[len("export "):].split("=", 1) for line in out.splitlines() if line.startswith("export "))


# The engine every test drives: STALECHECK_ENGINE (20, 26, 28, or 28c: 28 with the containerd
# image store; 20 when unset).
ENGINE = os.environ.get("STALECHECK_ENGINE", "20")
_SETTINGS = engine_settings(ENGINE)
DOCKER = _SETTINGS["DOCKER"]
# The engine's own CLI comes first in PATH, as it would for a user of that engine.
ENV = dict(os.environ, **_SETTINGS, DOCKER_BUILDKIT="1",
           PATH=os.path.dirname(DOCKER) + ":/usr/bin:" + os.environ.get("PATH", ""))
os.makedirs(ENV["DOCKER_CONFIG"], exist_ok=True)
MODERN = ENGINE != "20"  # 26 and 28 build with buildx and save OCI layouts
# The rules `--build-rules auto` must find for `docker build` on each engine, with BuildKit
# and with DOCKER_BUILDKIT=0.
BUILDKIT_RULES, LEGACY_RULES = {"20": ("buildkit-20.10", "legacy-20.10"), "26": ("buildx-pre-0.18", "legacy"),
                                "28": ("buildx", "legacy"), "28c": ("buildx", "legacy")}[ENGINE]


def require_engine(test: unittest.TestCase):
    """Fails (under CI=true) or skips (elsewhere) when the engine does not answer."""
    ok = subprocess.run([DOCKER, "version"], env=ENV, capture_output=True).returncode == 0
    if ok:
        return
    if os.environ.get("CI") == "true":
        test.fail("Docker engine %s does not answer; CI must start it (scripts/engine.sh start %s)" % (ENGINE, ENGINE))
    test.skipTest("no Docker engine here")


def run(*args, check=True, input=None, env=None):
    return subprocess.run(list(args), env=env or ENV, capture_output=True, check=check, input=input)


def stalecheck(*args, input=None, env=None):
    """Runs stalecheck; returns (exit code, stdout text, stderr text)."""
    p = subprocess.run([STALECHECK, *args], env=env or ENV, capture_output=True, input=input)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def base_image():
    run(os.path.join(FIXTURES, "make-base.sh"))  # DOCKER in ENV names the engine's CLI
    return "stalecheck-busybox:1"


def build(context, *extra, dockerfile=None):
    """Builds with BuildKit; returns the image id."""
    args = [DOCKER, "build", "-q"]
    if dockerfile:
        args += ["-f", dockerfile]
    p = run(*args, *extra, context)
    return p.stdout.decode().strip()


def save(image, path):
    run(DOCKER, "save", "-o", path, image)


def xxh128(data: bytes) -> str:
    out = subprocess.run(["xxh128sum", "-"], input=data, capture_output=True, check=True).stdout
    return "xxh128:" + out.split()[0].decode()


def write_tree(root, files):
    """files: {relative path: bytes | str}; directories end with '/'."""
    for rel, data in files.items():
        p = os.path.join(root, rel)
        if rel.endswith("/"):
            os.makedirs(p, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)


def norm(name):
    """A member name as an absolute path; "" for the root."""
    path = posixpath.normpath("/" + name)
    return "" if path == "/" else path


def _decompress(blob: bytes) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        import gzip
        return gzip.decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-dc"], input=blob, capture_output=True, check=True).stdout
    return blob


def apply_layers(layer_blobs):
    """The final filesystem of layers (bytes, any compression), by the OCI rules.

    Returns {path: {"type", "mode", "size", "digest", "target", "layer"}}.
    """
    view = {}
    for index, blob in enumerate(layer_blobs):
        tf = tarfile.open(fileobj=io.BytesIO(_decompress(blob)), mode="r:")
        members = tf.getmembers()
        for m in members:
            path = norm(m.name)
            base = path.rsplit("/", 1)[-1]
            parent = path.rsplit("/", 1)[0]
            if base == ".wh..wh..opq":
                for k in [k for k in view if k.startswith(parent + "/")]:
                    del view[k]
            elif base.startswith(".wh."):
                gone = parent + "/" + base[4:]
                for k in [k for k in view if k == gone or k.startswith(gone + "/")]:
                    del view[k]
        for m in members:
            path = norm(m.name)
            if not path or path.rsplit("/", 1)[-1].startswith(".wh."):
                continue
            entry = {"mode": "%04o" % (m.mode & 0o7777), "target": None, "layer": index}
            if m.islnk():
                entry.update({k: view[norm(m.linkname)][k] for k in ("type", "size", "digest", "mode")})
            elif m.isdir():
                entry.update(type="dir", size=0, digest=None)
            elif m.issym():
                entry.update(type="symlink", size=len(m.linkname.encode()), digest=xxh128(m.linkname.encode()),
                             target=m.linkname)
            elif m.isfile():
                data = tf.extractfile(m).read()
                entry.update(type="file", size=len(data), digest=xxh128(data))
            elif m.ischr() or m.isblk() or m.isfifo():
                what = "fifo" if m.isfifo() else "%s %d,%d" % ("char-device" if m.ischr() else "block-device",
                                                              m.devmajor, m.devminor)
                entry.update(type="special", size=0, digest=xxh128(what.encode()), target=what)
            else:
                continue
            if path in view and view[path]["type"] == "dir" and entry["type"] != "dir":
                for k in [k for k in view if k.startswith(path + "/")]:
                    del view[k]
            view[path] = entry
    return view


def archive_layers(path):
    """The layer blobs of a `docker save` tar, in manifest order."""
    with tarfile.open(path, "r:*") as tf:
        manifest = json.load(tf.extractfile("manifest.json"))[0]
        return [tf.extractfile(name).read() for name in manifest["Layers"]]


def oci_layers(layout, tag=None):
    index = json.load(open(os.path.join(layout, "index.json")))
    desc = index["manifests"][0]
    if tag:
        desc = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag][0]
    blob = lambda d: open(os.path.join(layout, "blobs", *d.split(":")), "rb").read()
    manifest = json.loads(blob(desc["digest"]))
    return [blob(l["digest"]) for l in manifest["layers"]]


class TempDir:
    def __enter__(self):
        self._t = tempfile.TemporaryDirectory(prefix="stalecheck-e2e-")
        return self._t.name

    def __exit__(self, *exc):
        self._t.cleanup()


class Scenario(unittest.TestCase):
    """One scenario a test: a fresh context directory under a temporary one, images built from
    it with the real engine and saved as docker-archives there."""

    def setUp(self):
        require_engine(self)
        base_image()
        self._tmp = TempDir()
        self.tmp = self._tmp.__enter__()
        self.ctx = os.path.join(self.tmp, "ctx")
        os.makedirs(self.ctx)
        self.n = 0

    def tearDown(self):
        self._tmp.__exit__(None, None, None)

    def write(self, files):
        write_tree(self.ctx, files)

    def build(self, *extra, legacy=False, dockerfile=None):
        """Builds the context (BuildKit, or the legacy builder) and saves it; returns the archive."""
        env = dict(ENV, DOCKER_BUILDKIT="0" if legacy else "1")
        args = [DOCKER, "build", "-q"]
        if dockerfile:
            args += ["-f", dockerfile]
        out = subprocess.run(args + list(extra) + [self.ctx], env=env, capture_output=True, check=True).stdout
        image = out.decode().strip().splitlines()[-1]
        self.n += 1
        archive = os.path.join(self.tmp, "image%d.tar" % self.n)
        save(image, archive)
        return archive

    def check(self, target, *extra):
        """`check --format json` of the context: the document, its exit code held to its verdict."""
        code, out, err = stalecheck("check", target, "-C", self.ctx, "--format", "json", *extra)
        self.assertIn(code, (0, 1), err)
        doc = json.loads(out)
        self.assertEqual(code, 1 if doc["verdict"] == "stale" else 0)
        return doc

    def findings(self, doc):
        return sorted((f["status"], f["path"]) for f in doc["findings"])
