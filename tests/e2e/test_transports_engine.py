"""One stale build, read through every transport: the engine's image (docker-daemon:), its
running and its stopped container (container:), its `docker save` (docker-archive:), an OCI
layout and a registry copy made by skopeo (oci:, docker://), its `docker export` (tar:-) and
its files copied out by `docker cp` (rootfs:). Each must report the same findings wherever the
transport can know them: flat targets have no layers, so they cannot know `extra`.
"""
import json
import os
import shutil
import subprocess
import time
import uuid

import engine

BASE = "stalecheck-busybox:1"
REGISTRY = "127.0.0.1:5000"


class EveryTransport(engine.Scenario):
    def setUp(self):
        super().setUp()
        self.cleanup = []

    def tearDown(self):
        for args in reversed(self.cleanup):
            engine.run(*args, check=False)
        super().tearDown()

    def doc(self, target, *extra, input=None):
        code, out, err = engine.stalecheck("check", target, "-C", self.ctx, "--format", "json", *extra, input=input)
        self.assertIn(code, (0, 1), "%s: %s" % (target, err))
        return json.loads(out)

    def key(self, doc, flat=False):
        return sorted((f["status"], f["path"], f["source"], f["expected"], f["actual"])
                      for f in doc["findings"] if not (flat and f["status"] == "extra"))

    def test_a_stale_build_reads_the_same_through_every_transport(self):
        self.write({"Dockerfile": "FROM %s\nWORKDIR /app\nCOPY src/ /app/\nCOPY run.sh /usr/local/bin/run.sh\n" % BASE,
                    "src/main.py": "print('v1')\n", "src/lib/util.py": "x = 1\n", "src/gone.py": "g\n",
                    "src/conf.txt": "a=1 # %s\n" % uuid.uuid4().hex, "run.sh": "#!/bin/sh\n"})
        tag = "stalecheck-e2e-every-%s" % uuid.uuid4().hex[:8]
        engine.run(engine.DOCKER, "build", "-q", "-t", tag, self.ctx)
        self.cleanup.append((engine.DOCKER, "rmi", "-f", tag))
        # The context moves on: one file edited, one new, one deleted, one made executable.
        self.write({"src/main.py": "print('v2')\n", "src/new.py": "n\n"})
        os.remove(os.path.join(self.ctx, "src/gone.py"))
        os.chmod(os.path.join(self.ctx, "run.sh"), 0o755)
        want = self.key(self.doc("docker-daemon:" + tag))
        self.assertEqual([(s, p) for s, p, *_ in want], [("extra", "/app/gone.py"), ("missing", "/app/new.py"),
                                                         ("mode", "/usr/local/bin/run.sh"), ("stale", "/app/main.py")])

        # The engine's image read from its storage (overlay2, root) and through its export.
        self.assertEqual(self.key(self.doc("docker-daemon:" + tag, "--engine-read", "api")), want)
        inspected = {how: json.loads(engine.stalecheck("inspect", "docker-daemon:" + tag, "--format", "json",
                                                       "--engine-read", how)[1]) for how in ("auto", "api")}
        self.assertEqual(inspected["auto"]["files"], inspected["api"]["files"])
        self.assertEqual([(l["digest"], l["created_by"]) for l in inspected["auto"]["layers"]],
                         [(l["digest"], l["created_by"]) for l in inspected["api"]["layers"]])
        self.assertEqual(inspected["auto"]["image_id"], inspected["api"]["image_id"])
        archive = os.path.join(self.tmp, "image.tar")
        engine.save(tag, archive)
        self.assertEqual(self.key(self.doc("docker-archive:" + archive)), want)

        remote = "%s/e2e/every-%s:1" % (REGISTRY, uuid.uuid4().hex[:8])
        engine.run(engine.DOCKER, "tag", tag, remote)
        self.cleanup.append((engine.DOCKER, "rmi", "-f", remote))
        engine.run(engine.DOCKER, "push", "-q", remote)
        self.assertEqual(self.key(self.doc("docker://" + remote)), want)
        layout = os.path.join(self.tmp, "layout")
        engine.run("skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + remote, "oci:%s:app" % layout)
        self.assertEqual(self.key(self.doc("oci:%s:app" % layout)), want)

        name = "stalecheck-e2e-every-%s" % uuid.uuid4().hex[:8]
        engine.run(engine.DOCKER, "run", "-d", "--name", name, tag, "/bin/busybox", "sleep", "3600")
        self.cleanup.append((engine.DOCKER, "rm", "-f", name))
        for how in ("auto", "api"):
            self.assertEqual(self.key(self.doc("container:" + name, "--engine-read", how)), want)
        exported = engine.run(engine.DOCKER, "export", name).stdout
        flat_want = [k for k in want if k[0] != "extra"]
        self.assertEqual(self.key(self.doc("tar:-", input=exported), flat=True), flat_want)
        rootfs = os.path.join(self.tmp, "rootfs")
        os.makedirs(os.path.join(rootfs, "usr/local/bin"))
        engine.run(engine.DOCKER, "cp", name + ":/app", os.path.join(rootfs, "app"))
        engine.run(engine.DOCKER, "cp", name + ":/usr/local/bin/run.sh", os.path.join(rootfs, "usr/local/bin/run.sh"))
        self.assertEqual(self.key(self.doc("rootfs:" + rootfs), flat=True), flat_want)
        engine.run(engine.DOCKER, "stop", "-t", "0", name)
        for how in ("auto", "api"):
            stopped = self.doc("container:" + name, "--engine-read", how)
            self.assertEqual(stopped["target"]["container"]["status"], "exited")
            self.assertEqual(self.key(stopped), want)


class LayerCache(engine.Scenario):
    """Verified layers are kept by diff_id: a second read of the image, through the engine's
    export or a registry, reads none of them again and finds the same; a damaged entry is read
    again; --no-cache neither reads nor writes."""

    def inspect(self, target, env, *extra):
        code, out, err = engine.stalecheck("inspect", target, "--format", "json", *extra, env=env)
        self.assertEqual(code, 0, err)
        return json.loads(out)

    def count(self, root):
        return sum(len(files) for _, _, files in os.walk(root)) if os.path.isdir(root) else 0

    def test_a_second_read_comes_from_the_cache_and_finds_the_same(self):
        self.write({"Dockerfile": "FROM %s\nCOPY src/ /app/\n" % BASE, "src/main.py": "v1 %s\n" % uuid.uuid4().hex})
        tag = "stalecheck-e2e-cache-%s" % uuid.uuid4().hex[:8]
        engine.run(engine.DOCKER, "build", "-q", "-t", tag, self.ctx)
        remote = "%s/e2e/cache-%s:1" % (REGISTRY, uuid.uuid4().hex[:8])
        engine.run(engine.DOCKER, "tag", tag, remote)
        engine.run(engine.DOCKER, "push", "-q", remote)
        try:
            cache = os.path.join(self.tmp, "cache")
            env = dict(engine.ENV, XDG_CACHE_HOME=cache)
            for target, extra in (("docker-daemon:" + tag, ("--engine-read", "api")), ("docker://" + remote, ())):
                shutil.rmtree(cache, ignore_errors=True)
                bare = self.inspect(target, env, "--no-cache", *extra)
                self.assertEqual(self.count(cache), 0)  # --no-cache writes nothing
                first = self.inspect(target, env, *extra)
                self.assertFalse(any(l["cached"] for l in first["layers"]))
                self.assertGreater(self.count(os.path.join(cache, "stalecheck", "layers")), 0)
                second = self.inspect(target, env, *extra)
                self.assertTrue(all(l["cached"] for l in second["layers"]), target)
                for doc in (first, second):
                    self.assertEqual(doc["files"], bare["files"])
                    self.assertEqual(doc["image_id"], bare["image_id"])
                    self.assertEqual([(l["digest"], l["diff_id"]) for l in doc["layers"]],
                                     [(l["digest"], l["diff_id"]) for l in bare["layers"]])
                # A damaged entry is read again, never trusted.
                layers = os.path.join(cache, "stalecheck", "layers")
                for name in os.listdir(layers):
                    with open(os.path.join(layers, name), "r+b") as f:
                        f.seek(40)
                        byte = f.read(1)
                        f.seek(40)
                        f.write(bytes([byte[0] ^ 1]))
                third = self.inspect(target, env, *extra)
                self.assertEqual(third["files"], bare["files"])
                self.assertFalse(all(l["cached"] for l in third["layers"]))
        finally:
            engine.run(engine.DOCKER, "rmi", "-f", tag, remote, check=False)

    def test_an_oci_layout_is_read_once_and_a_blob_edited_after_is_read_again(self):
        # A settled layout whose stat key (its files and every blob) is recorded is not read
        # again; a blob changed with its size and mtime kept changes its ctime, and is read and
        # verified again: never trusted.
        self.write({"Dockerfile": "FROM %s\nCOPY src/ /app/\n" % BASE, "src/main.py": "v1 %s\n" % uuid.uuid4().hex})
        tag = "stalecheck-e2e-ocikey-%s" % uuid.uuid4().hex[:8]
        engine.run(engine.DOCKER, "build", "-q", "-t", tag, self.ctx)
        try:
            archive = os.path.join(self.tmp, "app.tar")
            engine.save(tag, archive)
            layout = os.path.join(self.tmp, "layout")
            engine.run("skopeo", "copy", "-q", "docker-archive:" + archive, "oci:%s:app" % layout)
            env = dict(engine.ENV, XDG_CACHE_HOME=os.path.join(self.tmp, "cache"))
            target = "oci:%s:app" % layout
            time.sleep(2.3)  # the layout settles
            bare = self.inspect(target, env, "--no-cache")
            first = self.inspect(target, env)
            self.assertFalse(any(l["cached"] for l in first["layers"]))
            second = self.inspect(target, env)
            self.assertTrue(all(l["cached"] for l in second["layers"]))
            self.assertEqual(second["files"], bare["files"])
            self.assertEqual(second["image_id"], bare["image_id"])
            # The top layer's blob, one byte changed, its size and times put back.
            desc = json.load(open(os.path.join(layout, "index.json")))["manifests"][0]
            manifest = json.load(open(os.path.join(layout, "blobs", *desc["digest"].split(":"))))
            blob = os.path.join(layout, "blobs", *manifest["layers"][-1]["digest"].split(":"))
            st = os.stat(blob)
            with open(blob, "r+b") as f:
                f.seek(st.st_size // 2)
                byte = f.read(1)
                f.seek(st.st_size // 2)
                f.write(bytes([byte[0] ^ 0xFF]))
            os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))
            code, out, err = engine.stalecheck("inspect", target, "--format", "json", env=env)
            self.assertEqual(code, 2, (out, err))
            self.assertIn("layer 1", err)
        finally:
            engine.run(engine.DOCKER, "rmi", "-f", tag, check=False)
