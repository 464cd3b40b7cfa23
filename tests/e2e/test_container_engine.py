"""container: targets, against the engine's own containers: what a container shows is its image's
layers, what changed inside it, and its mounts, each finding attributed to one of them.

Both read paths run on every container (overlay2's upper directory, where the engine has one,
and the Engine API), and must agree. The engine is the oracle twice over: `docker commit` of
the container is an image whose top layer is what changed inside it, and check of that image
must find the same files; `docker diff` shows what the engine's change list holds, and a
same-size edit that kept its mtime is not in it, yet must be found.
"""
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import engine

BASE = "stalecheck-busybox:1"
BUSYBOX = "/bin/busybox"


class Containers(engine.Scenario):
    def setUp(self):
        super().setUp()
        self.containers = []
        self.images = []

    def tearDown(self):
        for c in self.containers:
            engine.run(engine.DOCKER, "rm", "-f", "-v", c, check=False)
        for i in self.images:
            engine.run(engine.DOCKER, "rmi", "-f", i, check=False)
        super().tearDown()

    def image(self, tag=None):
        tag = tag or "stalecheck-e2e-%s" % uuid.uuid4().hex[:10]
        engine.run(engine.DOCKER, "build", "-q", "-t", tag, self.ctx)
        self.images.append(tag)
        return tag

    def run_container(self, image, *opts):
        name = "stalecheck-e2e-%s" % uuid.uuid4().hex[:10]
        engine.run(engine.DOCKER, "run", "-d", "--name", name, *opts, image, BUSYBOX, "sleep", "3600")
        self.containers.append(name)
        return name

    def sh(self, container, script):
        engine.run(engine.DOCKER, "exec", container, BUSYBOX, "sh", "-c", script)

    def both(self, target, *extra):
        """check through each read path; the two documents' findings must be the same."""
        docs = {how: self.check(target, "--engine-read", how, *extra) for how in ("auto", "api")}
        key = lambda d: sorted((f["status"], f["path"], f["origin"], f["actual"], json.dumps(f["mount"]))
                               for f in d["findings"])
        self.assertEqual(key(docs["auto"]), key(docs["api"]))
        self.assertEqual(docs["auto"]["verdict"], docs["api"]["verdict"])
        storage = "overlay2" if engine.ENGINE != "28c" and os.geteuid() == 0 else "api"
        self.assertEqual(docs["auto"]["target"]["container"]["read_by"], storage)
        self.assertEqual(docs["auto"]["target"]["container"]["image_read_by"], storage)
        self.assertEqual(docs["api"]["target"]["container"]["read_by"], "api")
        self.assertEqual(docs["api"]["target"]["container"]["image_read_by"], "api")
        return docs["api"]

    def origins(self, doc):
        return sorted((f["status"], f["path"], f["origin"]) for f in doc["findings"])

    def app(self):
        self.write({"Dockerfile": "FROM %s\nWORKDIR /app\nCOPY src/ /app/\n" % BASE,
                    "src/main.py": "print('v1')\n", "src/lib/util.py": "x = 1\n", "src/conf.txt": "a=1\n"})
        for f in ("src/main.py", "src/lib/util.py", "src/conf.txt"):
            os.utime(os.path.join(self.ctx, f), (1700000000, 1700000000))

    def test_a_container_of_the_context_is_fresh_on_both_read_paths(self):
        self.app()
        c = self.run_container(self.image())
        doc = self.both("container:" + c)
        self.assertEqual(doc["verdict"], "fresh")
        info = doc["target"]["container"]
        self.assertEqual(info["status"], "running")
        self.assertFalse(info["outdated"])
        self.assertEqual(info["image_id"], doc["target"]["image_id"])
        self.assertTrue(info["changes_complete"])

    def test_a_same_size_edit_that_kept_its_mtime_is_found_though_the_engine_does_not_list_it(self):
        self.app()
        c = self.run_container(self.image())
        # Back to the second it had (the engine's change list ignores the nanoseconds then).
        self.sh(c, "t=$(busybox stat -c %Y /app/main.py); "
                   "printf \"print('v2')\\n\" | busybox dd of=/app/main.py conv=notrunc 2>/dev/null; "
                   "touch -d @$t /app/main.py")
        diff = engine.run(engine.DOCKER, "diff", c).stdout.decode()
        self.assertNotIn("/app/main.py", diff)  # the engine's change list does not have it
        doc = self.both("container:" + c)
        self.assertEqual(self.origins(doc), [("stale", "/app/main.py", "container")])
        finding = doc["findings"][0]
        self.assertIsNone(finding["layer"])
        self.assertEqual(finding["actual"], engine.xxh128(b"print('v2')\n"))
        self.assertFalse(doc["target"]["container"]["changes_complete"])
        self.assertIn("/app", doc["target"]["container"]["read_whole"])

    def test_a_destination_deleted_inside_the_container_is_missing_when_read_whole(self):
        self.app()
        self.write({"Dockerfile": "FROM %s\nWORKDIR /app\nCOPY src/ /app/\nCOPY src/conf.txt /etc/app.conf\n" % BASE})
        c = self.run_container(self.image())
        # A same-size edit the change list misses (so the API path reads the destinations
        # whole), and a copied file deleted.
        self.sh(c, "t=$(busybox stat -c %Y /app/main.py); "
                   "printf \"print('v2')\\n\" | busybox dd of=/app/main.py conv=notrunc 2>/dev/null; "
                   "touch -d @$t /app/main.py; rm /etc/app.conf")
        doc = self.both("container:" + c)
        self.assertFalse(doc["target"]["container"]["changes_complete"])
        self.assertEqual(self.origins(doc), [("missing", "/etc/app.conf", "container"),
                                             ("stale", "/app/main.py", "container")])

    def inspected(self, target, *extra, input=None):
        code, out, err = engine.stalecheck("inspect", target, "--format", "json", "--path", "/app", *extra, input=input)
        self.assertEqual(code, 0, err)
        return {f["path"]: (f["type"], f["mode"], f["digest"], f["target"]) for f in json.loads(out)["files"]}

    def test_what_changed_inside_the_container_is_what_its_commit_and_export_hold(self):
        self.app()
        image = self.image()
        c = self.run_container(image)
        self.sh(c, "echo changed >> /app/conf.txt; rm /app/lib/util.py; chmod 755 /app/main.py; "
                   "mkdir -p /app/new; echo n > /app/new/file.txt; ln -s main.py /app/link; echo log > /tmp/run.log")
        doc = self.both("container:" + c)
        self.assertEqual(self.origins(doc), [("missing", "/app/lib/util.py", "container"),
                                             ("mode", "/app/main.py", "container"),
                                             ("stale", "/app/conf.txt", "container")])
        # The engine's oracles: its commit of the container, and its export, hold the same files.
        committed = "stalecheck-e2e-commit-%s" % uuid.uuid4().hex[:8]
        engine.run(engine.DOCKER, "commit", c, committed)
        self.images.append(committed)
        exported = engine.run(engine.DOCKER, "export", c).stdout
        for how in ("auto", "api"):
            mine = self.inspected("container:" + c, "--engine-read", how)
            self.assertEqual(mine, self.inspected("docker-daemon:" + committed))
            self.assertEqual(mine, self.inspected("tar:-", input=exported))
        self.assertIn("/app/new/file.txt", mine)

    def test_a_stale_image_is_the_layers_and_a_rebuilt_name_says_the_container_is_outdated(self):
        self.app()
        tag = self.image()
        c = self.run_container(tag)
        self.write({"src/main.py": "print('v2, longer')\n"})
        old = self.both("container:" + c)
        self.assertEqual(self.origins(old), [("stale", "/app/main.py", "layer")])
        self.assertIsNotNone(old["findings"][0]["layer"])
        self.assertIn("COPY src/ /app/", old["findings"][0]["layer"]["created_by"])
        self.assertFalse(old["target"]["container"]["outdated"])
        # Rebuilt under the same name, the container not recreated.
        engine.run(engine.DOCKER, "build", "-q", "-t", tag, self.ctx)
        gone = engine.run(engine.DOCKER, "image", "inspect", old["target"]["image_id"], check=False).returncode != 0
        self.assertEqual(gone, engine.ENGINE == "28c")  # the containerd store drops the image the name left
        doc = self.check("container:" + c) if gone else self.both("container:" + c)
        info = doc["target"]["container"]
        self.assertTrue(info["outdated"])
        self.assertNotEqual(info["image_now"], info["image_id"])
        self.assertEqual(info["image_gone"], gone)
        # Without its image, the container's files are read whole and still found stale.
        self.assertEqual(self.origins(doc), [("stale", "/app/main.py", "container" if gone else "layer")])
        code, out, err = engine.stalecheck("check", "container:" + c, "-C", self.ctx)
        self.assertEqual(code, 1, err)
        self.assertIn("the container was not recreated", out)

    def test_a_bind_mount_over_the_destination_is_what_the_container_shows(self):
        self.app()
        image = self.image()
        host = tempfile.mkdtemp(prefix="stalecheck-e2e-bind-", dir=self.tmp)
        engine.write_tree(host, {"main.py": "print('host')\n", "lib/util.py": "x = 1\n"})
        c = self.run_container(image, "-v", "%s:/app" % host)
        doc = self.both("container:" + c)
        self.assertEqual(self.origins(doc), [("missing", "/app/conf.txt", "mount"),
                                             ("stale", "/app/main.py", "mount")])
        for f in doc["findings"]:
            self.assertEqual(f["mount"]["source"], host)
            self.assertEqual(f["mount"]["destination"], "/app")
            self.assertIsNone(f["layer"])
        code, out, _ = engine.stalecheck("check", "container:" + c, "-C", self.ctx)
        self.assertIn("mount %s at /app" % host, out)
        # The host directory made equal to the context: fresh, through the mount.
        engine.write_tree(host, {"main.py": "print('v1')\n", "conf.txt": "a=1\n"})
        self.assertEqual(self.both("container:" + c)["verdict"], "fresh")

    def test_a_volume_over_the_destination_is_named(self):
        self.app()
        image = self.image()
        volume = "stalecheck-e2e-vol-%s" % uuid.uuid4().hex[:8]
        c = self.run_container(image, "-v", "%s:/app/lib" % volume)  # filled from the image
        self.assertEqual(self.both("container:" + c)["verdict"], "fresh")
        self.sh(c, "echo 'x = 2' > /app/lib/util.py")
        doc = self.both("container:" + c)
        self.assertEqual(self.origins(doc), [("stale", "/app/lib/util.py", "mount")])
        self.assertEqual(doc["findings"][0]["mount"]["name"], volume)
        self.assertEqual(doc["findings"][0]["mount"]["type"], "volume")

    def test_a_stopped_container_is_read_as_it_was(self):
        self.app()
        c = self.run_container(self.image())
        self.sh(c, "echo changed >> /app/conf.txt")
        engine.run(engine.DOCKER, "stop", "-t", "0", c)
        doc = self.both("container:" + c)
        self.assertEqual(doc["target"]["container"]["status"], "exited")
        self.assertEqual(self.origins(doc), [("stale", "/app/conf.txt", "container")])

    def test_files_made_at_runtime_outside_the_copies_are_no_findings(self):
        self.app()
        c = self.run_container(self.image())
        self.sh(c, "echo x > /tmp/cache.db; mkdir -p /var/log/app; echo y > /var/log/app/out.log")
        self.assertEqual(self.both("container:" + c)["verdict"], "fresh")

    def test_inspect_lists_the_containers_files_with_its_changes(self):
        self.app()
        c = self.run_container(self.image())
        self.sh(c, "echo changed > /app/conf.txt; rm /app/lib/util.py")
        doc = json.loads(engine.stalecheck("inspect", "container:" + c, "--format", "json", "--path", "/app")[1])
        files = {f["path"]: f for f in doc["files"]}
        self.assertEqual(files["/app/conf.txt"]["digest"], engine.xxh128(b"changed\n"))
        self.assertNotIn("/app/lib/util.py", files)
        self.assertIn("/app/main.py", files)
        # Each path names the layer it came from; the container's own come after the image's.
        self.assertEqual(doc["runtime"][0], {"index": len(doc["layers"]), "origin": "container", "mount": None})
        self.assertEqual(files["/app/conf.txt"]["layer"], len(doc["layers"]))
        self.assertLess(files["/app/main.py"]["layer"], len(doc["layers"]))
        code, out, _ = engine.stalecheck("inspect", "container:" + c, "--path", "/app")
        self.assertEqual(code, 0)
        self.assertIn("container %s (running)" % c, out)
        self.assertIn("changed inside the container", out)

    def test_no_such_container_is_exit_2_naming_it(self):
        code, _, err = engine.stalecheck("check", "container:stalecheck-e2e-none", "-C", self.ctx)
        self.assertEqual(code, 2)
        self.assertIn("container:stalecheck-e2e-none", err)
        self.assertIn("no such container", err)


class SilentEngine(engine.Scenario):
    """An engine that accepts and then says nothing ends in exit 2 naming it, not a hang."""

    def test_an_engine_that_never_answers_is_exit_2_after_the_timeout(self):
        path = os.path.join(self.tmp, "silent.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(8)
        held = []
        stop = threading.Event()

        def accept():
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                    held.append(conn)  # read nothing, answer nothing
                except socket.timeout:
                    pass

        t = threading.Thread(target=accept, daemon=True)
        t.start()
        try:
            start = time.monotonic()
            p = subprocess.run([engine.STALECHECK, "check", "container:app", "-C", self.ctx, "--timeout", "2",
                                "--docker-host", "unix://" + path], capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 2)
            err = p.stderr.decode()
            self.assertIn("unix://" + path, err)
            self.assertIn("sent nothing for 2 s", err)
            self.assertEqual(len(err.strip().splitlines()), 1)
        finally:
            stop.set()
            t.join()
            for c in held:
                c.close()
            server.close()
