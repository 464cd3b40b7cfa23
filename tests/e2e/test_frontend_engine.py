"""What each engine's built-in Dockerfile frontend does with the newer COPY and ADD forms:
symbolic --chmod (applied by 28.5; kept as the source's mode, silently, by 20.10 and 26.1),
--exclude (28.5; refused by 26.1 and 20.10), heredoc copies, --link and ADD --checksum of a
remote file (26.1 and 28.5; refused by 20.10), and --parents without the labs syntax (refused
by all three). Where a frontend refuses a line, the refusal is asserted: that is where the
boundary lies.

Each verdict is the engine's: build, change the context, build again; check of the first image
must report what differs between the two.
"""
import hashlib
import http.server
import json
import os
import subprocess
import threading

import engine

BASE = "stalecheck-busybox:1"


class CurrentFrontend(engine.Scenario):
    def refused(self, dockerfile, needle):
        """This engine's frontend refuses the line: the build fails naming it."""
        self.write({"Dockerfile": dockerfile})
        p = subprocess.run([engine.DOCKER, "build", "-q", self.ctx], env=engine.ENV, capture_output=True)
        self.assertNotEqual(p.returncode, 0, "engine %s's frontend built %r" % (engine.ENGINE, dockerfile))
        self.assertIn(needle, p.stderr.decode().lower())

    def modes(self, image):
        doc = json.loads(engine.stalecheck("inspect", image, "--format", "json")[1])
        return {f["path"]: f["mode"] for f in doc["files"]}

    def test_a_symbolic_chmod_is_judged_by_what_the_engines_frontend_does(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY --chmod=u+x,g+x run.sh /bin/run.sh\n"
                                  "COPY --chmod=go-w,a+X app/ /app/\n",
                    "run.sh": "#!/bin/sh\n", "app/a.py": "a\n", "app/tool": "t\n"})
        os.chmod(os.path.join(self.ctx, "run.sh"), 0o644)
        os.chmod(os.path.join(self.ctx, "app/tool"), 0o775)
        image = self.build()
        self.assertEqual(self.findings(self.check(image)), [])
        modes = self.modes(image)
        applies = engine.ENGINE in ("28", "28c")
        self.assertEqual(modes["/bin/run.sh"], "0754" if applies else "0644")
        self.assertEqual(modes["/app/tool"], "0755" if applies else "0775")
        self.assertEqual(modes["/app/a.py"], "0644")
        # The context's mode changes: the engine's rebuild differs from the image, so must check.
        os.chmod(os.path.join(self.ctx, "run.sh"), 0o655)
        self.assertNotEqual(self.modes(self.build())["/bin/run.sh"], modes["/bin/run.sh"])
        self.assertEqual(self.findings(self.check(image)), [("mode", "/bin/run.sh")])

    def test_exclude_drops_files_even_though_history_does_not_show_it(self):
        dockerfile = "FROM scratch\nCOPY --exclude=**/*.log src/ /app/\n"
        self.write({"src/main.py": "v1\n", "src/debug.log": "x\n", "src/sub/trace.log": "y\n", "src/sub/m.py": "m\n"})
        if engine.ENGINE not in ("28", "28c"):
            return self.refused(dockerfile, "unknown flag: exclude")
        self.write({"Dockerfile": dockerfile})
        image = self.build()
        doc = self.check(image)
        self.assertEqual(self.findings(doc), [])
        self.assertNotIn("/app/debug.log", [f["path"] for f in doc.get("compared", [])])
        self.write({"src/debug.log": "changed\n"})  # excluded: no finding
        self.assertEqual(self.findings(self.check(image)), [])
        self.write({"src/main.py": "v2\n"})
        self.assertEqual(self.findings(self.check(image)), [("stale", "/app/main.py")])

    def test_link_copies_are_compared_like_any_copy(self):
        dockerfile = "FROM %s\nCOPY --link app/ /app/\nRUN echo built > /built.txt\n" % BASE
        self.write({"app/main.py": "v1\n", "app/util.py": "u\n"})
        if not engine.MODERN:
            return self.refused(dockerfile, "link")
        self.write({"Dockerfile": dockerfile})
        image = self.build()
        self.assertEqual(self.findings(self.check(image)), [])
        self.write({"app/main.py": "v2\n"})
        self.assertEqual(self.findings(self.check(image)), [("stale", "/app/main.py")])

    def test_a_heredoc_copy_is_unchecked_and_a_context_copy_beside_it_is_compared(self):
        dockerfile = "FROM scratch\nCOPY <<EOF /etc/app.conf\nkey=value\nEOF\nCOPY app.py /app.py\n"
        self.write({"app.py": "v1\n"})
        if not engine.MODERN:
            return self.refused(dockerfile, "unknown instruction")
        self.write({"Dockerfile": dockerfile})
        image = self.build()
        doc = self.check(image)
        self.assertEqual(self.findings(doc), [])
        self.assertEqual([u["line"] for u in doc["unchecked"]], [2])
        self.write({"app.py": "v2\n"})
        self.assertEqual(self.findings(self.check(image)), [("stale", "/app.py")])

    def test_add_checksum_of_a_remote_file_is_unchecked(self):
        body = b"remote payload\n"
        digest = hashlib.sha256(body).hexdigest()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        url = "http://127.0.0.1:%d/payload.txt" % server.server_port
        dockerfile = "FROM scratch\nADD --checksum=sha256:%s %s /remote.txt\nCOPY app.py /app.py\n" % (digest, url)
        self.write({"app.py": "v1\n"})
        if not engine.MODERN:
            return self.refused(dockerfile, "checksum")
        self.write({"Dockerfile": dockerfile})
        image = self.build()
        doc = self.check(image)
        self.assertEqual(self.findings(doc), [])
        self.assertEqual([u["line"] for u in doc["unchecked"]], [2])

    def test_parents_without_labs_is_refused_by_the_engine_and_by_check(self):
        self.write({"Dockerfile": "FROM scratch\nCOPY --parents src/a.py /dst/\n", "src/a.py": "a\n"})
        p = subprocess.run([engine.DOCKER, "build", "-q", self.ctx], env=engine.ENV, capture_output=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("parents", p.stderr.decode())
        # An image of something else, checked against this Dockerfile: exit 2 naming the line.
        self.write({"Dockerfile": "FROM scratch\nCOPY src/a.py /dst/src/a.py\n"})
        image = self.build()
        self.write({"Dockerfile": "FROM scratch\nCOPY --parents src/a.py /dst/\n"})
        code, out, err = engine.stalecheck("check", image, "-C", self.ctx)
        self.assertEqual(code, 2, out + err)
        self.assertIn("Dockerfile:2: COPY --parents is a labs flag", err)
