"""The verdict on the Dockerfiles people write: each scenario builds with the real engine, and
its expected verdict is what the engine's own rebuild shows (or what Python runs).

Every scenario here gave a wrong verdict before its rule existed: a false fresh after RUN
chown, a false stale after RUN rm, fresh over nothing, findings for the wrong Dockerfile.
"""
import json
import os
import subprocess
import unittest

import engine

BASE = "stalecheck-busybox:1"


class VerdictScenarios(engine.Scenario):
    def fails(self, target, *extra):
        code, out, err = engine.stalecheck("check", target, "-C", self.ctx, *extra)
        self.assertEqual(code, 2, out + err)
        self.assertEqual(out, "")
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        return err

    def test_a_stale_copy_under_run_chown_is_stale_and_names_the_run(self):
        self.write({"Dockerfile": "FROM %s\nWORKDIR /app\nCOPY . .\nRUN chown -R 1000:1000 /app\n" % BASE,
                    ".dockerignore": "Dockerfile\n", "app/main.py": "print('v1')\n", "app/util.py": "u\n"})
        image = self.build()
        self.assertEqual(self.findings(self.check(image)), [])
        self.write({"app/main.py": "print('v2')\n"})
        doc = self.check(image)
        self.assertEqual(self.findings(doc), [("stale", "/app/app/main.py")])
        f = doc["findings"][0]
        self.assertEqual(f["instruction"], {"line": 3, "text": "COPY . ."})
        self.assertEqual(f["actual"], engine.xxh128(b"print('v1')\n"))
        self.assertEqual(f["changed_later"]["instruction"], {"line": 4, "text": "RUN chown -R 1000:1000 /app"})
        code, out, _ = engine.stalecheck("check", image, "-C", self.ctx)
        self.assertIn("later changed by layer", out)
        self.assertIn("Dockerfile:4", out)

    def test_chmod_after_the_copy_is_fresh_until_the_script_changes(self):
        self.write({"Dockerfile": "FROM %s\nCOPY entrypoint.sh /entrypoint.sh\nRUN chmod +x /entrypoint.sh\n" % BASE,
                    "entrypoint.sh": "#!/bin/sh\nexec app\n"})
        image = self.build()
        self.assertEqual(self.findings(self.check(image)), [])
        self.write({"entrypoint.sh": "#!/bin/sh\nexec app --new\n"})
        self.assertEqual(self.findings(self.check(image)), [("stale", "/entrypoint.sh")])

    def test_files_a_later_run_deleted_are_no_findings(self):
        self.write({"Dockerfile": "FROM %s\nCOPY . /app/\nRUN rm -rf /app/tests\n" % BASE,
                    ".dockerignore": "Dockerfile\n", "main.py": "m\n", "tests/test_main.py": "t\n"})
        image = self.build()
        doc = self.check(image)
        self.assertEqual(self.findings(doc), [])
        self.assertIn("/app/main.py", self.compared(image))
        # A test file changed or added after the build: the RUN would delete it again.
        self.write({"tests/test_main.py": "t2\n", "tests/test_new.py": "n\n"})
        self.assertEqual(self.findings(self.check(image)), [])

    def test_a_stage_that_takes_nothing_from_the_context_is_an_error_not_fresh(self):
        self.write({"Dockerfile": "FROM %s AS build\nCOPY src/ /src/\nRUN mkdir -p /out && cp /src/index.html /out/\n"
                                  "FROM %s\nCOPY --from=build /out/ /www/\n" % (BASE, BASE),
                    "src/index.html": "<h1>v1</h1>\n"})
        image = self.build()
        err = self.fails(image)
        self.assertIn("nothing of the build context reaches this image through stage 1", err)
        self.assertIn("--target", err)

    def test_copy_from_a_stage_is_followed_to_the_context_and_names_both_lines(self):
        self.write({"Dockerfile": "FROM %s AS build\nCOPY site/ /site/\nFROM %s\nCOPY nginx.conf /etc/nginx/\n"
                                  "COPY --from=build /site/ /usr/share/nginx/html/\n" % (BASE, BASE),
                    "nginx.conf": "server {}\n", "site/index.html": "<h1>v1</h1>\n", "site/app.js": "1\n"})
        image = self.build()
        doc = self.check(image)
        self.assertEqual(self.findings(doc), [])
        self.assertEqual(doc["unchecked"], [])
        self.write({"site/index.html": "<h1>v2</h1>\n"})
        doc = self.check(image)
        self.assertEqual(self.findings(doc), [("stale", "/usr/share/nginx/html/index.html")])
        f = doc["findings"][0]
        self.assertEqual(f["source"], "site/index.html")
        self.assertEqual(f["instruction"]["line"], 5)
        self.assertEqual(f["via"], {"stage": "build", "line": 2, "text": "COPY site/ /site/"})

    def test_what_a_stage_made_by_run_is_listed_unchecked_with_its_step(self):
        self.write({"Dockerfile": "FROM %s AS build\nCOPY src/ /src/\nRUN cp /src/page.html /src/built.html\n"
                                  "FROM %s\nCOPY nginx.conf /etc/nginx/\nCOPY --from=build /src/ /www/\n" % (BASE, BASE),
                    "nginx.conf": "server {}\n", "src/page.html": "p\n"})
        image = self.build()
        doc = self.check(image)
        self.assertEqual(self.findings(doc), [])
        self.assertEqual(len(doc["unchecked"]), 1)
        u = doc["unchecked"][0]
        self.assertEqual((u["line"], u["step"], u["paths"]), (6, "COPY --from=build /src/ /www/", 2))
        self.assertIn("Dockerfile:3", u["reason"])
        self.assertEqual(doc["summary"]["unchecked"], 2)
        code, out, _ = engine.stalecheck("check", image, "-C", self.ctx)
        self.assertIn("2 paths unchecked", out.splitlines()[-1])

    def test_the_wrong_dockerfile_is_an_error_naming_the_layer_and_the_line(self):
        self.write({"Dockerfile": "FROM %s\nWORKDIR /app\nCOPY . .\n" % BASE,
                    "Dockerfile.prod": "FROM %s\nWORKDIR /app\nCOPY app/ /app/app/\n" % BASE, "app/a.py": "a\n"})
        image = self.build("-f", os.path.join(self.ctx, "Dockerfile.prod"))
        err = self.fails(image)
        self.assertIn("COPY app/ /app/app/ # buildkit", err)
        self.assertIn("Dockerfile:3 (COPY . .)", err)
        doc = self.check(image, "-f", os.path.join(self.ctx, "Dockerfile.prod"))
        self.assertEqual(self.findings(doc), [])

    def test_a_forgotten_target_is_an_error(self):
        self.write({"Dockerfile": "FROM %s AS dev\nCOPY app/ /app/\nRUN echo dev > /mode\n"
                                  "FROM %s AS prod\nCOPY app/ /srv/\n" % (BASE, BASE), "app/a.py": "a\n"})
        image = self.build("--target", "dev")
        self.fails(image)
        self.assertEqual(self.findings(self.check(image, "--target", "dev")), [])

    def test_the_legacy_builder_ignores_the_dockerfile_specific_ignore_file(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY . /srv/\n", "Dockerfile.dockerignore": "*.log\n",
                    ".dockerignore": "Dockerfile*\n", "app.py": "a\n", "debug.log": "l\n"})
        legacy = self.build(legacy=True)
        doc = self.check(legacy)
        self.assertEqual(self.findings(doc), [])
        self.assertIn("/srv/debug.log", self.compared(legacy))
        buildkit = self.build()
        self.assertEqual(self.findings(self.check(buildkit)), [])
        self.assertNotIn("/srv/debug.log", self.compared(buildkit))

    def test_the_legacy_builder_does_not_send_an_excluded_directory_it_walks_into(self):
        # `dir` is excluded with an exception below it: BuildKit sends dir with its own mode,
        # the legacy builder only the file, whose parent the engine makes again as 0755.
        self.write({"Dockerfile": "FROM scratch\nCOPY . /ctx/\n", ".dockerignore": "dir\n!dir/keep.txt\nDockerfile\n",
                    "dir/keep.txt": "k\n", "dir/drop.txt": "d\n", "other/o.txt": "o\n"})
        os.chmod(os.path.join(self.ctx, "dir"), 0o700)
        for legacy in (True, False):
            image = self.build(legacy=legacy)
            doc = self.check(image)
            self.assertEqual(self.findings(doc), [], legacy)
            self.assertEqual(doc["context"]["build_rules"], engine.LEGACY_RULES if legacy else engine.BUILDKIT_RULES)
            self.assertIn("/ctx/dir", self.compared(image))

    def test_every_instruction_form_fits_its_history_on_both_builders(self):
        # Quoted and lower-case instructions, the legacy ENV form, ADD of an ARG, several
        # sources, --chown with a relative destination, exec-form RUN, multi-line LABEL, and
        # COPY --from by index and by name: each leaves a history entry the match must fit.
        self.write({"Dockerfile": "FROM %s AS base\nMAINTAINER someone\nARG SRC=src\nENV APP_HOME /opt/app\n"
                                  "ENV A=1 B=\"two words\"\nWORKDIR ${APP_HOME}\ncopy \"a.txt\" ./quoted.txt\n"
                                  "COPY a.txt b.txt ./multi/\nADD $SRC /opt/added/\nCOPY --chown=0:0 other/ ../other/\n"
                                  "RUN [\"/bin/sh\", \"-c\", \"echo exec > /exec.txt\"]\nRUN echo \"$A $B\" > /env.txt\n"
                                  "EXPOSE 8080\nVOLUME /data\nHEALTHCHECK CMD true\nSHELL [\"/bin/sh\", \"-c\"]\n"
                                  "STOPSIGNAL SIGTERM\nLABEL version=\"1.0\" \\\n      desc=\"multi line\"\nFROM base\n"
                                  "COPY --from=0 /opt/app/quoted.txt /final/q.txt\nCOPY --from=base /opt/added/ /final/added/\n"
                                  "CMD [\"sh\"]\n" % BASE,
                    "a.txt": "a\n", "b.txt": "b\n", "src/sub/s.py": "s\n", "other/o.py": "o\n"})
        for legacy in (False, True):
            image = self.build("--build-arg", "SRC=src", legacy=legacy)
            doc = self.check(image, "--build-arg", "SRC=src")
            self.assertEqual(self.findings(doc), [], legacy)
            # Stage base runs RUN (line 11) after its copies: what COPY --from takes is unchecked.
            self.assertEqual([(u["line"], u["paths"]) for u in doc["unchecked"]], [(21, 1), (22, 1)], legacy)
            self.assertNotIn("/final/q.txt", self.compared(image))
            self.write({"a.txt": "a2\n"})
            doc = self.check(image, "--build-arg", "SRC=src")
            self.assertEqual(self.findings(doc), [("stale", "/opt/app/multi/a.txt"), ("stale", "/opt/app/quoted.txt")],
                             legacy)
            self.write({"a.txt": "a\n"})

    def compared(self, image):
        code, out, err = engine.stalecheck("check", image, "-C", self.ctx, "--format", "junit")
        return [line.split(' name="')[1].split('"')[0] for line in out.splitlines() if "<testcase" in line]

    def test_bytecode_whose_source_changed_keeping_size_and_mtime_is_stale(self):
        # The seeds' own incident: the .py is edited keeping its size and mtime, its timestamp
        # pyc stays; the header still matches and Python runs the old code.
        self.write({"Dockerfile": "FROM scratch\nCOPY app/ /app/\n", "app/mod.py": "VALUE = 1\n"})
        subprocess.run(["/usr/bin/python3", "-m", "compileall", "-q", os.path.join(self.ctx, "app")], check=True)
        path = os.path.join(self.ctx, "app/mod.py")
        st = os.stat(path)
        self.write({"app/mod.py": "VALUE = 2\n"})
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        engine.run(engine.DOCKER, "builder", "prune", "-af")
        image = self.build("--no-cache")
        doc = self.check(image)
        self.assertEqual(self.findings(doc), [("bytecode", "/app/__pycache__/mod.cpython-311.pyc")])
        self.assertIn("Python runs the old code", doc["findings"][0]["reason"])
        # Python agrees: the image's source and pyc, laid out with their mtimes, import the old value.
        import tarfile, io
        root = os.path.join(self.tmp, "image-root")
        layer = engine.archive_layers(image)[-1]
        with tarfile.open(fileobj=io.BytesIO(engine._decompress(layer))) as tf:
            tf.extractall(root)
        self.assertEqual(open(os.path.join(root, "app/mod.py")).read(), "VALUE = 2\n")
        value = subprocess.run(["/usr/bin/python3", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import mod; "
                                "print(mod.VALUE)", os.path.join(root, "app")], capture_output=True, check=True)
        self.assertEqual(value.stdout, b"1\n")

    def test_bytecode_no_local_python_can_compile_is_unchecked_not_fresh(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY app/ /app/\n", "app/mod.py": "VALUE = 1\n"})
        subprocess.run(["/usr/bin/python3", "-m", "compileall", "-q", os.path.join(self.ctx, "app")], check=True)
        image = self.build()
        env = dict(engine.ENV, PATH=os.path.join(self.tmp, "no-python"))
        code, out, err = engine.stalecheck("check", image, "-C", self.ctx, "--format", "json", env=env)
        doc = json.loads(out)
        self.assertEqual(doc["findings"], [])
        self.assertEqual(doc["unchecked"][-1]["files"], ["/app/__pycache__/mod.cpython-311.pyc"])
        self.assertEqual(doc["summary"]["unchecked"], 1)

    def test_map_of_a_missing_source_is_an_error_and_a_file_is_compared(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY conf/app.ini /etc/app.ini\n", "conf/app.ini": "a=1\n"})
        image = self.build()
        err = self.fails(image, "--map", "cnof:/etc")
        self.assertIn("the build context has no cnof", err)
        self.write({"conf/app.ini": "a=2\n"})
        doc = self.check(image, "--map", "conf/app.ini:/etc/app.ini")
        self.assertEqual(self.findings(doc), [("stale", "/etc/app.ini")])
        doc = self.check(image, "--map", "conf/app.ini:/etc/")
        self.assertEqual(self.findings(doc), [("stale", "/etc/app.ini")])

    def test_a_flat_target_says_it_cannot_tell_run_changes_from_stale_copies(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY src/ /app/\n", "src/a.py": "a"})
        image = self.build()
        flat = os.path.join(self.tmp, "flat.tar")
        with open(flat, "wb") as out:
            out.write(engine.archive_layers(image)[-1])
        code, out, err = engine.stalecheck("check", "tar:" + flat, "-C", self.ctx, "--map", "src:/app")
        self.assertEqual(code, 0, err)
        self.assertIn("cannot be told apart from stale copies", out.splitlines()[-1])

    def test_mistakes_get_one_clear_line(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY a.py /a.py\n", "a.py": "a\n"})
        image = self.build()
        err = self.fails("docker-deamon:app:dev")
        self.assertIn("did you mean docker-daemon:", err)
        err = self.fails("tarr:" + image)
        self.assertIn("did you mean tar:", err)
        err = self.fails(image, "-f", "nope/Dockerfile")
        self.assertIn("no Dockerfile at nope/Dockerfile", err)
        self.assertIn("relative to the current directory", err)
        # A failed run leaves no earlier report behind.
        report = os.path.join(self.tmp, "report.json")
        code, _, err = engine.stalecheck("check", image, "-C", self.ctx, "-o", report)
        self.assertEqual(code, 0, err)
        self.assertTrue(os.path.exists(report))
        self.fails(image, "-o", report, "-f", "nope/Dockerfile")
        self.assertFalse(os.path.exists(report))
        code, out, _ = engine.stalecheck("check", "--help")
        self.assertEqual(code, 0)
        for flag in ("--context", "--file", "--target", "--build-arg", "--rev", "--map", "--platform", "--docker-host",
                     "--format", "--output", "--jobs"):
            self.assertIn(flag, out)
        err = self.fails(image, "--platform", "linux/s390x")
        self.assertIn("linux/s390x", err)
        export = os.path.join(self.tmp, "export.tar")
        with open(export, "wb") as out:
            out.write(engine.archive_layers(image)[-1])
        err = self.fails(export)
        self.assertIn("tar:" + export, err)

    def test_a_same_size_stale_file_says_how_to_clear_buildkits_cache(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY a.py /a.py\n", "a.py": "v = 1\n"})
        image = self.build()
        self.write({"a.py": "v = 2\n"})
        doc = self.check(image)
        self.assertIn("docker builder prune --filter type=source.local", doc["findings"][0]["reason"])


if __name__ == "__main__":
    unittest.main()
