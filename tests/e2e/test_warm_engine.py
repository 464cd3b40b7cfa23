"""Warm runs: the context's stat cache and the layer cache make a second check cheap, and must
never make it wrong. The bug stalecheck exists to expose (a same-size edit whose mtime is put
back, which the engine's own context transfer can miss) is edited into a warm context in the
same second as the run before; the engine builds the edited context again, and what its new
image really holds (read back with `docker run cat`) decides what `check` must say of it.
"""
import json
import os
import re
import time
import uuid

import engine

BASE = "stalecheck-busybox:1"
# The stat cache trusts no file whose times are within 2 s of the run that read it.
SETTLE = 2.3


def edit_keeping_mtime(path, data):
    st = os.stat(path)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    assert after.st_size == st.st_size and after.st_mtime_ns == st.st_mtime_ns


class WarmRuns(engine.Scenario):
    def setUp(self):
        super().setUp()
        self.env = dict(engine.ENV, XDG_CACHE_HOME=os.path.join(self.tmp, "cache"))
        self.tags = []

    def tearDown(self):
        if self.tags:
            engine.run(engine.DOCKER, "rmi", "-f", *self.tags, check=False)
        super().tearDown()

    def run_check(self, target, *extra):
        code, out, err = engine.stalecheck("check", target, "-C", self.ctx, "--format", "json", "--timings",
                                           *extra, env=self.env)
        self.assertIn(code, (0, 1), err)
        doc = json.loads(out)
        self.assertEqual(code, 1 if doc["verdict"] == "stale" else 0)
        m = re.search(r"context: (\d+) files, (\d+) read \(\d+ bytes\), (\d+) from the stat cache", err)
        self.assertIsNotNone(m, err)
        return doc, {"files": int(m.group(1)), "read": int(m.group(2)), "cached": int(m.group(3))}

    def image_file(self, tag, path):
        return engine.run(engine.DOCKER, "run", "--rm", tag, "cat", path).stdout

    def test_a_warm_check_still_catches_a_same_size_edit_with_its_mtime_put_back(self):
        self.write({"Dockerfile": "FROM %s\nCOPY src/ /app/\n" % BASE,
                    "src/main.py": "VERSION = 1  # %s\n" % uuid.uuid4().hex, "src/util.py": "def f():\n    return 1\n"})
        tag = "stalecheck-e2e-warm-%s" % uuid.uuid4().hex[:8]
        self.tags.append(tag)
        engine.run(engine.DOCKER, "build", "-q", "-t", tag, self.ctx)
        archive = os.path.join(self.tmp, "app.tar")
        engine.save(tag, archive)
        time.sleep(SETTLE)  # the context and the archive settle

        for target in ("docker-daemon:" + tag, "docker-archive:" + archive):
            cold, first = self.run_check(target)
            self.assertEqual(cold["verdict"], "fresh", target)
            warm, second = self.run_check(target)
            self.assertEqual(warm["verdict"], "fresh", target)
            self.assertEqual(second["read"], 0, (target, second))
            self.assertEqual(second["cached"], second["files"], (target, second))
            self.assertEqual(warm["findings"], cold["findings"])
        # The archive, settled and unchanged, is not read again either.
        code, out, err = engine.stalecheck("inspect", archive, "--format", "json", env=self.env)
        self.assertEqual(code, 0, err)
        self.assertTrue(all(l["cached"] for l in json.loads(out)["layers"]))

        # In the same second as the warm run: same size, mtime put back.
        main = os.path.join(self.ctx, "src/main.py")
        with open(main, "rb") as f:
            old = f.read()
        new = old.replace(b"VERSION = 1", b"VERSION = 2")
        edit_keeping_mtime(main, new)
        for target in ("docker-daemon:" + tag, "docker-archive:" + archive):
            doc, reading = self.run_check(target)
            self.assertEqual(reading["read"], 1, (target, reading))
            self.assertEqual(doc["verdict"], "stale", target)
            self.assertEqual([(f["status"], f["path"]) for f in doc["findings"]], [("stale", "/app/main.py")])

        # The engine builds the edited context; what its image holds decides the verdict.
        tag2 = tag + "-again"
        self.tags.append(tag2)
        engine.run(engine.DOCKER, "build", "-q", "-t", tag2, self.ctx)
        shipped = self.image_file(tag2, "/app/main.py")
        self.assertIn(shipped, (old, new))
        doc, _ = self.run_check("docker-daemon:" + tag2)
        if shipped == new:
            self.assertEqual(doc["verdict"], "fresh")
        else:  # the engine's transfer kept the old bytes: the image is stale, and says so
            self.assertEqual(doc["verdict"], "stale")
            self.assertEqual([f["path"] for f in doc["findings"]], ["/app/main.py"])
        # And --no-cache agrees with the warm answer.
        bare, reading = self.run_check("docker-daemon:" + tag2, "--no-cache")
        self.assertEqual(reading["cached"], 0)
        self.assertEqual(bare["findings"], doc["findings"])

    def test_a_file_changed_while_its_cache_record_was_young_is_read_again(self):
        # A run right after an edit: the record it writes is racily clean, so the next run,
        # even with every stat field unchanged, reads the file again.
        self.write({"Dockerfile": "FROM %s\nCOPY src/ /app/\n" % BASE, "src/a.py": "A = 1\n"})
        tag = "stalecheck-e2e-young-%s" % uuid.uuid4().hex[:8]
        self.tags.append(tag)
        engine.run(engine.DOCKER, "build", "-q", "-t", tag, self.ctx)
        edit_keeping_mtime(os.path.join(self.ctx, "src/a.py"), b"A = 2\n")
        doc, first = self.run_check("docker-daemon:" + tag)
        self.assertEqual(doc["verdict"], "stale")
        doc, second = self.run_check("docker-daemon:" + tag)
        self.assertEqual(doc["verdict"], "stale")
        self.assertGreaterEqual(second["read"], 1)  # a.py was changed within the margin
