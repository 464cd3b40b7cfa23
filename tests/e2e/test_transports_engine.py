"""One stale build, read through every transport: the engine's image (docker-daemon:), its
running and its stopped container (container:), its `docker save` (docker-archive:), an OCI
layout and a registry copy made by skopeo (oci:, docker://), its `docker export` (tar:-) and
its files copied out by `docker cp` (rootfs:). Each must report the same findings wherever the
transport can know them: flat targets have no layers, so they cannot know `extra`.
"""
import json
import os
import subprocess
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
