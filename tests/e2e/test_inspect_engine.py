"""inspect shows the filesystem the engine built, in every format it can be exported to.

Each scenario builds an image with the real engine (busybox base, COPY, RUN with a whiteout,
an opaque directory, hard links, symlinks), exports it with `docker save`, `skopeo copy`
(gzip and zstd) or `docker export`, and compares `stalecheck inspect --format json` with an
independent application of the same layers by Python's tarfile.
"""
import json
import os
import shutil
import subprocess
import unittest

import engine


def inspect_files(target, *extra):
    code, out, err = engine.stalecheck("inspect", "--format", "json", target, *extra)
    assert code == 0, err
    doc = json.loads(out)
    return {f["path"]: {k: f[k] for k in ("type", "mode", "size", "digest", "target", "layer")} for f in doc["files"]}, doc


class InspectMatchesAnIndependentReading(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = engine.TempDir()
        cls.dir = cls.tmp.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.__exit__(None, None, None)

    def setUp(self):
        engine.require_engine(self)
        if not hasattr(type(self), "archive"):
            engine.base_image()
            ctx = os.path.join(self.dir, "layered")
            shutil.copytree(os.path.join(engine.FIXTURES, "image-src", "layered"), ctx)
            engine.run(engine.DOCKER, "build", "-q", "-t", "stalecheck-e2e-layered:1", ctx)
            type(self).archive = os.path.join(self.dir, "layered.tar")
            engine.save("stalecheck-e2e-layered:1", type(self).archive)

    def compare(self, target, layers):
        got, doc = inspect_files(target)
        want = engine.apply_layers(layers)
        self.assertEqual(sorted(got), sorted(want))
        self.assertEqual(got, want)
        return doc

    def test_docker_save_archive(self):
        doc = self.compare("docker-archive:" + self.archive, engine.archive_layers(self.archive))
        created = [l["created_by"] for l in doc["layers"]]
        self.assertIn("COPY app/ /app/ # buildkit", created)
        image_id = engine.run(engine.DOCKER, "image", "inspect", "-f", "{{.Id}}", "stalecheck-e2e-layered:1")
        self.assertEqual(doc["image_id"], image_id.stdout.decode().strip())
        self.assertNotIn("/app/remove-me.txt", {f["path"] for f in doc["files"]})

    def test_gzip_compressed_docker_save_archive(self):
        gz = os.path.join(self.dir, "layered.tar.gz")
        with open(gz, "wb") as f:
            f.write(subprocess.run(["gzip", "-c", self.archive], capture_output=True, check=True).stdout)
        self.compare(gz, engine.archive_layers(self.archive))

    def test_oci_layout_gzip_and_zstd(self):
        for fmt in ("gzip", "zstd"):
            with self.subTest(fmt):
                layout = os.path.join(self.dir, "oci-" + fmt)
                engine.run("skopeo", "copy", "-q", "--dest-compress-format", fmt,
                           "docker-archive:" + self.archive, "oci:" + layout + ":app")
                doc = self.compare("oci:" + layout + ":app", engine.oci_layers(layout, "app"))
                self.assertTrue(all(l["compression"] == fmt for l in doc["layers"]))

    def test_docker_export_as_a_flat_tar_and_stdin(self):
        cid = engine.run(engine.DOCKER, "create", "stalecheck-e2e-layered:1").stdout.decode().strip()
        try:
            flat = os.path.join(self.dir, "export.tar")
            engine.run(engine.DOCKER, "export", "-o", flat, cid)
            want = engine.apply_layers([open(flat, "rb").read()])
            got, _ = inspect_files("tar:" + flat)
            self.assertEqual(got, want)
            code, out, err = engine.stalecheck("inspect", "--format", "json", "--path", "/app", "tar:-",
                                               input=open(flat, "rb").read())
            self.assertEqual(code, 0, err)
            paths = {f["path"] for f in json.loads(out)["files"]}
            self.assertEqual(paths, {p for p in want if p == "/app" or p.startswith("/app/")})
        finally:
            engine.run(engine.DOCKER, "rm", cid)

    def test_rootfs_directory(self):
        root = os.path.join(self.dir, "rootfs")
        os.makedirs(root, exist_ok=True)
        cid = engine.run(engine.DOCKER, "create", "stalecheck-e2e-layered:1").stdout.decode().strip()
        try:
            engine.run(engine.DOCKER, "cp", cid + ":/app", root)
        finally:
            engine.run(engine.DOCKER, "rm", cid)
        got, _ = inspect_files("rootfs:" + root)
        self.assertEqual(sorted(got), ["/app", "/app/main.py", "/app/sub", "/app/sub/new.txt"])
        for path, e in got.items():
            full = os.path.join(root, path.lstrip("/"))
            if e["type"] == "file":
                self.assertEqual(e["digest"], engine.xxh128(open(full, "rb").read()), path)


class BadTargetsAreErrors(unittest.TestCase):
    def expect_error(self, *args, says):
        code, out, err = engine.stalecheck(*args)
        self.assertEqual(code, 2, err)
        self.assertEqual(out, "")
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("stalecheck: error: "), err)
        self.assertIn(says, lines[0])

    def test_each_broken_fixture_fails_with_one_line(self):
        images = os.path.join(engine.FIXTURES, "images")
        self.expect_error("inspect", os.path.join(images, "broken-truncated.tar"), says="runcated")
        self.expect_error("inspect", "oci:" + os.path.join(images, "broken-digest-oci"), says="digest mismatch")
        self.expect_error("inspect", "oci:" + os.path.join(images, "broken-missing-oci"), says="missing blob")
        self.expect_error("inspect", "tar:/nonexistent.tar", says="/nonexistent.tar")

    def test_bad_contexts_fail_with_one_line(self):
        with engine.TempDir() as tmp:
            self.expect_error("fingerprint", "-C", os.path.join(tmp, "missing"), says="missing")
            engine.write_tree(tmp, {".dockerignore": "a\n!\n"})
            self.expect_error("fingerprint", "-C", tmp, says="illegal exclusion pattern")
            engine.write_tree(tmp, {".dockerignore": "foo[\n"})
            self.expect_error("fingerprint", "-C", tmp, says="foo[")
            engine.write_tree(tmp, {".dockerignore": ""})
            self.expect_error("fingerprint", "-C", tmp, "--rev", "HEAD", says="git repository")
            self.expect_error("fingerprint", "--no-such-flag", says="no-such-flag")
            self.expect_error("nonsense", says="unknown command")


if __name__ == "__main__":
    unittest.main()
