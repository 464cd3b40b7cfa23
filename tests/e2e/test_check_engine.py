"""check against images the real engine builds: one scenario per test, exact findings and exit code.

Every image is built here (BuildKit unless a test says legacy), saved with `docker save`, and
checked as a docker-archive.
"""
import json
import os
import shutil
import subprocess
import unittest

import engine

BASE = "stalecheck-busybox:1"


class CheckScenarios(engine.Scenario):
    def check(self, archive, *extra, cwd_ctx=None):
        code, out, err = engine.stalecheck("check", archive, "-C", cwd_ctx or self.ctx, "--format", "json", *extra)
        self.assertIn(code, (0, 1), err)
        doc = json.loads(out)
        self.assertEqual(code, 1 if doc["verdict"] == "stale" else 0)
        return code, doc

    def findings(self, doc):
        return sorted((f["status"], f["path"]) for f in doc["findings"])

    def test_an_image_that_was_not_rebuilt_shows_the_changed_signature_and_its_copy_step(self):
        self.write({"Dockerfile": "FROM %s\nWORKDIR /app\nCOPY src/ ./\n" % BASE,
                    "src/greet.py": "def greet(name):\n    return name\n", "src/main.py": "print(1)\n"})
        old = self.build()
        code, doc = self.check(old)
        self.assertEqual((code, doc["findings"]), (0, []))
        self.write({"src/greet.py": "def greet(name, greeting):\n    return greeting + name\n"})
        code, doc = self.check(old)
        self.assertEqual(code, 1)
        self.assertEqual(self.findings(doc), [("stale", "/app/greet.py")])
        f = doc["findings"][0]
        self.assertEqual(f["source"], "src/greet.py")
        self.assertEqual(f["instruction"], {"line": 3, "text": "COPY src/ ./"})
        self.assertEqual(f["layer"]["created_by"], "COPY src/ ./ # buildkit")
        self.assertEqual(f["expected"], engine.xxh128(open(os.path.join(self.ctx, "src/greet.py"), "rb").read()))
        code, doc = self.check(self.build())
        self.assertEqual((code, doc["findings"]), (0, []))

    def test_no_cache_still_ships_old_bytes_of_same_size_and_mtime_until_the_builder_cache_is_pruned(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY app.py /app/\n", "app.py": "value = 1\n"})
        code, doc = self.check(self.build("--no-cache"))
        self.assertEqual(code, 0)
        path = os.path.join(self.ctx, "app.py")
        st = os.stat(path)
        self.write({"app.py": "value = 2\n"})
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        stale_image = self.build("--no-cache")
        code, doc = self.check(stale_image)
        # The engine on these machines keeps the old bytes: stalecheck must say so.
        self.assertEqual(code, 1)
        self.assertEqual(self.findings(doc), [("stale", "/app/app.py")])
        self.assertEqual(doc["findings"][0]["actual"], engine.xxh128(b"value = 1\n"))
        engine.run(engine.DOCKER, "builder", "prune", "-af")
        code, doc = self.check(self.build("--no-cache"))
        self.assertEqual((code, doc["findings"]), (0, []))

    def test_added_deleted_and_newly_ignored_files(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY . /srv/\n", ".dockerignore": "Dockerfile\n.dockerignore\n",
                    "keep.py": "k", "delete-me.py": "d", "secret.env": "s"})
        image = self.build()
        os.remove(os.path.join(self.ctx, "delete-me.py"))
        self.write({"added.py": "a", ".dockerignore": "Dockerfile\n.dockerignore\n*.env\n"})
        code, doc = self.check(image)
        self.assertEqual(self.findings(doc), [("extra", "/srv/delete-me.py"), ("extra", "/srv/secret.env"),
                                              ("missing", "/srv/added.py")])

    def test_multi_stage_only_the_chosen_stage_and_its_context_copies_count(self):
        self.write({"Dockerfile": "FROM %s AS build\nCOPY tool.sh /build/\nRUN cp /build/tool.sh /build/out\n"
                                  "FROM scratch AS final\nCOPY --from=build /build/out /bin/out\nCOPY app/ /app/\n" % BASE,
                    "tool.sh": "v1", "app/x.py": "x"})
        image = self.build()
        self.write({"tool.sh": "v2"})  # only used by the build stage
        code, doc = self.check(image)
        self.assertEqual((code, doc["findings"]), (0, []))
        self.assertEqual(doc["context"]["stage"], "final")
        self.write({"app/x.py": "x2"})
        code, doc = self.check(image)
        self.assertEqual(self.findings(doc), [("stale", "/app/x.py")])
        # --target picks the build stage: its COPY is now stale.
        build_image = self.build("--target", "build")
        self.write({"tool.sh": "v3"})
        code, doc = self.check(build_image, "--target", "build")
        self.assertEqual(self.findings(doc), [("stale", "/build/tool.sh")])

    def test_files_a_run_step_changed_on_purpose_are_not_findings(self):
        self.write({"Dockerfile": "FROM %s\nCOPY conf/ /etc/app/\nRUN sed -i s/debug/info/ /etc/app/app.conf && "
                                  "chmod 0600 /etc/app/secret\n" % BASE,
                    "conf/app.conf": "level=debug\n", "conf/secret": "s\n"})
        code, doc = self.check(self.build())
        self.assertEqual((code, doc["findings"]), (0, []))

    def test_a_committed_chmod_and_a_retargeted_symlink(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY bin/ /usr/local/bin/\n", "bin/run": "#!/bin/sh\n", "bin/a": "a", "bin/b": "b"})
        os.symlink("a", os.path.join(self.ctx, "bin/current"))
        image = self.build()
        os.chmod(os.path.join(self.ctx, "bin/run"), 0o755)
        os.remove(os.path.join(self.ctx, "bin/current"))
        os.symlink("b", os.path.join(self.ctx, "bin/current"))
        code, doc = self.check(image)
        self.assertEqual(self.findings(doc), sorted([("mode", "/usr/local/bin/run"), ("type", "/usr/local/bin/current")]))
        mode = [f for f in doc["findings"] if f["status"] == "mode"][0]
        self.assertEqual((mode["expected"], mode["actual"]), ("0755", "0644"))

    def test_an_image_built_from_uncommitted_work_is_stale_against_head(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY app.py /app.py\n", "app.py": "committed\n"})
        git = ["git", "-C", self.ctx, "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run(git + ["init", "-q", "."], check=True)
        subprocess.run(git + ["add", "-A"], check=True)
        subprocess.run(git + ["commit", "-qm", "one"], check=True)
        self.write({"app.py": "uncommitted work\n"})
        image = self.build()
        code, doc = self.check(image)
        self.assertEqual(code, 0)
        code, doc = self.check(image, "--rev", "HEAD")
        self.assertEqual(self.findings(doc), [("stale", "/app.py")])
        self.assertEqual(doc["context"]["source"], "HEAD")
        self.assertEqual(len(doc["context"]["commit"]), 40)

    def test_rev_compares_a_clone_with_crlf_sources_checked_bytecode_and_an_lfs_archive(self):
        # The image is built from a clone: Python sources checked out with CRLF and compiled
        # there to checked-hash bytecode, and a Git LFS archive that ADD unpacks. --rev on the
        # original repository must read the same checkout, or every one is a false finding.
        import tarfile, io
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            info = tarfile.TarInfo("lib/v.txt")
            info.size = 2
            tf.addfile(info, io.BytesIO(b"v1"))
        env = dict(engine.ENV, HOME=os.path.join(self.tmp, "home"), XDG_CONFIG_HOME=os.path.join(self.tmp, "xdg"))
        os.makedirs(env["HOME"])
        def git(cwd, *args):
            engine.run("git", "-C", cwd, "-c", "user.name=t", "-c", "user.email=t@t", *args, env=env)
        git(self.tmp, "lfs", "install")
        git(self.ctx, "init", "-q", ".")
        self.write({".gitattributes": "*.py text eol=crlf\n*.tar.gz filter=lfs diff=lfs merge=lfs -text\n",
                    "Dockerfile": "FROM scratch\nCOPY app/ /app/\nADD vendor.tar.gz /opt/\n",
                    "app/mod.py": "X = 1\nY = 2\n", "vendor.tar.gz": buf.getvalue()})
        git(self.ctx, "add", "-A")
        git(self.ctx, "commit", "-qm", "one")
        clone = os.path.join(self.tmp, "clone")
        git(self.tmp, "clone", "-q", self.ctx, clone)
        subprocess.run(["/usr/bin/python3", "-m", "compileall", "-q", "--invalidation-mode", "checked-hash",
                        os.path.join(clone, "app")], check=True)
        with open(os.path.join(clone, "app/mod.py"), "rb") as f:
            self.assertIn(b"\r\n", f.read())
        image_id = engine.run(engine.DOCKER, "build", "-q", clone).stdout.decode().strip()
        archive = os.path.join(self.tmp, "clone.tar")
        engine.save(image_id, archive)
        code, out, err = engine.stalecheck("check", archive, "-C", self.ctx, "--rev", "HEAD", "--format", "json", env=env)
        doc = json.loads(out)
        self.assertEqual((code, doc["findings"]), (0, []), err)
        # Each was compared, not passed over: the archive's member, the source and its bytecode.
        code, junit, err = engine.stalecheck("check", archive, "-C", self.ctx, "--rev", "HEAD", "--format", "junit",
                                             env=env)
        for path in ("/opt/lib/v.txt", "/app/mod.py", "/app/__pycache__/mod.cpython-311.pyc"):
            self.assertIn('name="%s"/>' % path, junit)

    def test_stale_and_orphaned_bytecode(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY app/ /app/\n", "app/mod.py": "X = 1\n", "app/old.py": "Y = 1\n"})
        subprocess.run(["/usr/bin/python3", "-m", "compileall", "-q", os.path.join(self.ctx, "app")], check=True)
        image = self.build()
        code, doc = self.check(image)
        self.assertEqual((code, doc["findings"]), (0, []))
        # The source changes after the bytecode was compiled, and a module goes away with its
        # bytecode left behind; the image is rebuilt from that context.
        self.write({"app/mod.py": "X = 22\n"})
        os.remove(os.path.join(self.ctx, "app/old.py"))
        code, doc = self.check(self.build())
        self.assertEqual(self.findings(doc), [("bytecode", "/app/__pycache__/mod.cpython-311.pyc"),
                                              ("bytecode", "/app/__pycache__/old.cpython-311.pyc")])

    def test_workdir_arg_env_and_wildcard_destinations(self):
        self.write({"Dockerfile": "ARG ROOT=/opt\nFROM scratch\nARG ROOT\nENV SUB=svc\nWORKDIR $ROOT/${SUB}\n"
                                  "COPY *.py ./lib/\nCOPY conf.ini settings.ini\n",
                    "a.py": "a", "b.py": "b", "conf.ini": "c", "notes.txt": "n"})
        image = self.build("--build-arg", "ROOT=/srv")
        code, doc = self.check(image, "--build-arg", "ROOT=/srv")
        self.assertEqual((code, doc["findings"]), (0, []))
        self.write({"b.py": "b2", "conf.ini": "c2"})
        code, doc = self.check(image, "--build-arg", "ROOT=/srv")
        self.assertEqual(self.findings(doc), [("stale", "/srv/svc/lib/b.py"), ("stale", "/srv/svc/settings.ini")])

    def test_the_legacy_builder_history_is_matched_too(self):
        self.write({"Dockerfile": "FROM %s\nWORKDIR /app\nCOPY src/ ./\nRUN echo built > /app/stamp\nCOPY run.sh /usr/bin/\n" % BASE,
                    "src/a.py": "a", "run.sh": "r"})
        image = self.build(legacy=True)
        code, doc = self.check(image)
        self.assertEqual((code, doc["findings"]), (0, []))
        self.write({"src/a.py": "a2", "run.sh": "r2"})
        code, doc = self.check(image)
        self.assertEqual(self.findings(doc), [("stale", "/app/a.py"), ("stale", "/usr/bin/run.sh")])
        by_path = {f["path"]: f for f in doc["findings"]}
        self.assertEqual(by_path["/app/a.py"]["instruction"]["line"], 3)
        self.assertIn("#(nop) COPY", by_path["/app/a.py"]["layer"]["created_by"])
        self.assertEqual(by_path["/usr/bin/run.sh"]["instruction"]["line"], 5)

    def test_map_compares_a_flat_export_without_a_dockerfile(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY src/ /app/\n", "src/a.py": "a", "src/b.py": "b"})
        image = self.build()
        flat = os.path.join(self.tmp, "flat.tar")
        with open(flat, "wb") as out:
            layers = engine.archive_layers(image)
            out.write(layers[-1])
        os.remove(os.path.join(self.ctx, "src/b.py"))
        self.write({"src/a.py": "a2", "src/c.py": "c"})
        code, doc = self.check("tar:" + flat, "--map", "src:/app")
        self.assertEqual(self.findings(doc), sorted([("stale", "/app/a.py"), ("extra", "/app/b.py"), ("missing", "/app/c.py")]))

    def test_add_of_a_local_tar_is_compared_member_by_member(self):
        import tarfile, io
        def make_tar(version):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tf:
                for name, data in (("lib/a.txt", b"a"), ("lib/b.txt", version)):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    info.mode = 0o644
                    tf.addfile(info, io.BytesIO(data))
            return buf.getvalue()
        self.write({"Dockerfile": "FROM scratch\nADD vendor.tar.gz /opt/\nCOPY --chmod=0755 tool /usr/bin/tool\n",
                    "vendor.tar.gz": make_tar(b"v1"), "tool": "t"})
        image = self.build()
        code, doc = self.check(image)
        self.assertEqual((code, doc["findings"]), (0, []))
        self.write({"vendor.tar.gz": make_tar(b"v2")})
        code, doc = self.check(image)
        self.assertEqual(self.findings(doc), [("stale", "/opt/lib/b.txt")])
        self.assertEqual(doc["findings"][0]["source"], "vendor.tar.gz:lib/b.txt")

    def test_an_image_in_the_engine_is_read_through_the_api_by_name_or_transport(self):
        self.write({"Dockerfile": "FROM %s\nCOPY app/ /app/\n" % BASE, "app/a.py": "a", "app/b.py": "b"})
        self.build("-t", "stalecheck-e2e-daemon:dev")
        self.write({"app/a.py": "a2"})
        archive_code, archive_doc = self.check(self.build_archive_of("stalecheck-e2e-daemon:dev"))
        for target in ("docker-daemon:stalecheck-e2e-daemon:dev", "stalecheck-e2e-daemon:dev"):
            code, doc = self.check(target)
            self.assertEqual(code, 1)
            self.assertEqual(doc["target"]["transport"], "docker-daemon")
            self.assertEqual(doc["findings"], archive_doc["findings"])
            self.assertEqual(doc["target"]["image_id"], archive_doc["target"]["image_id"])
        code, out, err = engine.stalecheck("check", "docker-daemon:stalecheck-e2e-no-such:1", "-C", self.ctx)
        self.assertEqual(code, 2)
        self.assertIn("No such image", err)
        code, out, err = engine.stalecheck("check", "stalecheck-e2e-daemon:dev", "-C", self.ctx,
                                           "--docker-host", "unix:///nonexistent.sock")
        self.assertEqual(code, 2)
        self.assertIn("did not answer", err)

    def build_archive_of(self, image):
        archive = os.path.join(self.tmp, "saved.tar")
        engine.save(image, archive)
        return archive

    def test_every_report_format(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY a.py /a.py\n", "a.py": "a"})
        image = self.build()
        self.write({"a.py": "a2"})
        out_file = os.path.join(self.tmp, "report.xml")
        code, out, err = engine.stalecheck("check", image, "-C", self.ctx, "--format", "junit", "-o", out_file)
        self.assertEqual((code, out), (1, ""))
        xml = open(out_file).read()
        self.assertIn('<testcase classname="stalecheck" name="/a.py">', xml)
        self.assertIn('<failure type="stale"', xml)
        code, out, _ = engine.stalecheck("check", image, "-C", self.ctx, "--format", "sarif")
        sarif = json.loads(out)
        self.assertEqual(sarif["version"], "2.1.0")
        self.assertEqual(sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"], 2)
        code, out, _ = engine.stalecheck("check", image, "-C", self.ctx, "--format", "github")
        self.assertTrue(out.startswith("::error file=%s/Dockerfile,line=2,title=stalecheck stale::stale /a.py" % self.ctx), out)
        code, out, _ = engine.stalecheck("check", image, "-C", self.ctx)
        self.assertEqual(code, 1)
        self.assertIn("stale: 1 finding (1 stale)", out.splitlines()[-1])


if __name__ == "__main__":
    unittest.main()
