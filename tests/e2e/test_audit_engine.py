"""audit: a compose project brought up with the engine's own compose (docker-compose 1.29 on
20.10, the v2 plugin on 26 and 28), then changed the ways deploys go stale: a context changed
and not rebuilt, a service rebuilt and not recreated, a scaled service, a bind mount over the
copy destination, a container hot-patched with docker exec, a service with no build, and
images that name the commit they were built from.
"""
import json
import os
import subprocess
import uuid

import engine

BASE = "stalecheck-busybox:1"
BUSYBOX = "/bin/busybox"


def compose_cmd():
    """The engine's compose: v1 beside 20.10, the v2 plugin beside 26 and 28."""
    return ["docker-compose"] if engine.ENGINE == "20" else [engine.DOCKER, "compose"]


APP = "FROM %s\nWORKDIR /app\nCOPY src/ /app/\nCMD [\"/bin/busybox\", \"sleep\", \"3600\"]\n" % BASE


class Compose(engine.Scenario):
    def setUp(self):
        super().setUp()
        # The directory names the project: v1 and v2 normalise it alike when it is plain.
        self.project = "scaudit%s" % uuid.uuid4().hex[:8]
        self.dir = os.path.join(self.tmp, self.project)
        os.makedirs(self.dir)
        self.others = []

    def tearDown(self):
        self.compose("down", "-v", "--rmi", "local", "--remove-orphans", check=False)
        for c in self.others:
            engine.run(engine.DOCKER, "rm", "-f", c, check=False)
        super().tearDown()

    def compose(self, *args, check=True, env=None):
        p = subprocess.run(compose_cmd() + list(args), cwd=self.dir, env=env or engine.ENV, capture_output=True)
        if check and p.returncode != 0:
            self.fail("compose %s: %s" % (" ".join(args), p.stderr.decode()))
        return p

    def files(self, files):
        engine.write_tree(self.dir, files)

    def audit(self, *extra, code=None):
        rc, out, err = engine.stalecheck("audit", "--compose", os.path.join(self.dir, "docker-compose.yml"),
                                         "--format", "json", *extra)
        self.assertIn(rc, (0, 1), err)
        doc = json.loads(out)
        self.assertEqual(rc, 1 if doc["verdict"] == "stale" else 0)
        if code is not None:
            self.assertEqual(rc, code)
        return doc

    def container_of(self, service):
        ids = self.compose("ps", "-q", service).stdout.decode().split()
        self.assertEqual(len(ids), 1, ids)
        return ids[0]

    def findings(self, entry):
        return sorted((f["status"], f["path"], f["origin"]) for f in entry["findings"])

    def test_a_project_changed_every_way_a_deploy_goes_stale(self):
        service = lambda name, extra="": "  %s:\n    build: ./%s\n%s" % (name, name, extra)
        self.files({
            "docker-compose.yml": "version: '3.7'\nservices:\n" +
            service("changed") + service("rebuilt") + service("scaled") +
            service("mounted", "    volumes:\n      - ./hostsrc:/app\n") + service("patched") +
            "  db:\n    image: %s\n    command: [\"/bin/busybox\", \"sleep\", \"3600\"]\n" % BASE,
            "hostsrc/main.py": "print('from the host')\n",
        })
        for name in ("changed", "rebuilt", "scaled", "mounted", "patched"):
            self.files({name + "/Dockerfile": APP, name + "/src/main.py": "print('%s v1')\n" % name,
                        name + "/src/lib/util.py": "x = 1\n"})
        self.compose("up", "-d", "--build", "--scale", "scaled=2")

        # Before any change: every service but the mounted one is fresh.
        doc = self.audit()
        by = {}
        for e in doc["services"]:
            by.setdefault(e["service"], []).append(e)
        self.assertEqual(sorted(by), ["changed", "db", "mounted", "patched", "rebuilt", "scaled"])
        self.assertEqual(len(by["scaled"]), 2)  # every replica
        self.assertEqual(len({e["container"] for e in by["scaled"]}), 2)
        for name in ("changed", "rebuilt", "scaled", "patched"):
            for e in by[name]:
                self.assertEqual(e["verdict"], "fresh", (name, e["findings"]))
        self.assertEqual(by["db"][0]["verdict"], "unchecked")
        self.assertIn("no build", by["db"][0]["reason"])
        self.assertEqual(self.findings(by["mounted"][0]),
                         [("missing", "/app/lib", "mount"), ("missing", "/app/lib/util.py", "mount"),
                          ("stale", "/app/main.py", "mount")])
        for f in by["mounted"][0]["findings"]:
            self.assertEqual(f["mount"]["source"], os.path.join(self.dir, "hostsrc"))

        # A context changed and not rebuilt; another rebuilt and not recreated; a hot patch.
        self.files({"changed/src/main.py": "print('changed v2, longer')\n",
                    "rebuilt/src/main.py": "print('rebuilt v2, longer')\n"})
        self.compose("build", "rebuilt")
        engine.run(engine.DOCKER, "exec", self.container_of("patched"), BUSYBOX, "sh", "-c",
                   "echo 'x = 2' > /app/lib/util.py")
        doc = self.audit(code=1)
        by = {}
        for e in doc["services"]:
            by.setdefault(e["service"], []).append(e)
        self.assertEqual(self.findings(by["changed"][0]), [("stale", "/app/main.py", "layer")])
        self.assertEqual(by["changed"][0]["verdict"], "stale")
        rebuilt = by["rebuilt"][0]
        self.assertEqual(self.findings(rebuilt)[0][0], "outdated-container")
        outdated = [f for f in rebuilt["findings"] if f["status"] == "outdated-container"][0]
        self.assertIsNone(outdated["path"])
        self.assertEqual(outdated["actual"], rebuilt["target"]["container"]["image_id"])
        self.assertEqual(outdated["expected"], rebuilt["target"]["container"]["image_now"])
        self.assertNotEqual(outdated["expected"], outdated["actual"])
        self.assertIn("--force-recreate rebuilt", outdated["reason"])
        # The running container still has the old file, which the rebuilt context no longer has.
        self.assertIn(("stale", "/app/main.py"), [(f["status"], f["path"]) for f in rebuilt["findings"]])
        self.assertEqual(self.findings(by["patched"][0]), [("stale", "/app/lib/util.py", "container")])
        for e in by["scaled"]:
            self.assertEqual(e["verdict"], "fresh")
        self.assertEqual(doc["summary"] if "summary" in doc else None, None)
        self.assertEqual(rebuilt["summary"]["outdated-container"], 1)

        # --service narrows the audit; the text report has a verdict line per service and a summary.
        one = self.audit("--service", "scaled", code=0)
        self.assertEqual([e["service"] for e in one["services"]], ["scaled", "scaled"])
        rc, out, err = engine.stalecheck("audit", "--compose", os.path.join(self.dir, "docker-compose.yml"))
        self.assertEqual(rc, 1, err)
        self.assertIn("rebuilt (%s" % self.project, out)
        self.assertRegex(out, r"\ndb \(%s[-_]db[-_]1\): not checked: no build: section" % self.project)
        self.assertTrue(out.splitlines()[-1].startswith("stale: 4 of 7 stale or outdated"), out)
        # JUnit: one test suite per service container.
        rc, out, _ = engine.stalecheck("audit", "--compose", os.path.join(self.dir, "docker-compose.yml"),
                                       "--format", "junit")
        self.assertEqual(out.count("<testsuite "), 7)
        # Recreated, the rebuilt service is fresh again.
        self.compose("up", "-d", "--force-recreate", "--no-build", "rebuilt")
        self.assertEqual(self.audit("--service", "rebuilt", code=0)["services"][0]["verdict"], "fresh")

    def test_a_service_with_args_target_and_a_dockerfile_in_its_context_is_checked_as_compose_built_it(self):
        self.files({
            "docker-compose.yml": "version: '3.7'\nservices:\n  api:\n    build:\n      context: ${API_DIR:-backend}\n"
                                  "      dockerfile: docker/Dockerfile.prod\n      target: runtime\n"
                                  "      args:\n        - APPDIR=/srv/${APP_NAME}\n",
            ".env": "APP_NAME=api\n",
            "backend/docker/Dockerfile.prod": "FROM %s AS base\nARG APPDIR\nFROM base AS runtime\nARG APPDIR\n"
                                              "COPY app/ ${APPDIR}/\nCMD [\"/bin/busybox\", \"sleep\", \"3600\"]\n"
                                              "FROM base AS other\nCOPY . /other/\n" % BASE,
            "backend/app/main.py": "print('api')\n",
        })
        self.compose("up", "-d", "--build")
        doc = self.audit(code=0)
        entry = doc["services"][0]
        self.assertEqual(entry["service"], "api")
        self.assertEqual(entry["summary"]["compared"], 3, entry)  # /srv, /srv/api and its main.py
        self.files({"backend/app/main.py": "print('api v2')\n"})
        doc = self.audit(code=1)
        self.assertEqual(self.findings(doc["services"][0]), [("stale", "/srv/api/main.py", "layer")])

    def git(self, *args):
        return engine.run("git", "-C", self.ctx, "-c", "user.name=t", "-c", "user.email=t@t", *args).stdout.decode().strip()

    def test_an_image_built_from_another_commit_is_a_revision_finding(self):
        self.write({"Dockerfile": "FROM %s\nARG GIT_COMMIT\nRUN echo $GIT_COMMIT > /revision\nCOPY src/ /app/\n" % BASE,
                    "src/main.py": "print('v1')\n"})
        self.git("init", "-q")
        self.git("add", ".")
        self.git("commit", "-qm", "one")
        first = self.git("rev-parse", "HEAD")
        tag = "stalecheck-e2e-rev-%s" % uuid.uuid4().hex[:8]
        engine.run(engine.DOCKER, "build", "-q", "-t", tag, "--label", "org.opencontainers.image.revision=" + first,
                   self.ctx)
        argtag = tag + "-arg"
        engine.run(engine.DOCKER, "build", "-q", "-t", argtag, "--build-arg", "GIT_COMMIT=" + first[:12], self.ctx)
        names = []
        for t in (tag, argtag):
            name = "stalecheck-e2e-%s" % uuid.uuid4().hex[:10]
            engine.run(engine.DOCKER, "run", "-d", "--name", name, t, BUSYBOX, "sleep", "3600")
            self.others.append(name)
            names.append(name)
        try:
            for n in names:
                rc, out, err = engine.stalecheck("audit", "container:" + n, "-C", self.ctx, "--format", "json")
                self.assertEqual(rc, 0, err)
            # Two commits later (a README no COPY takes), the code is the same and the commit is not.
            for i in range(2):
                self.write({"README.md": "r%d\n" % i})
                self.git("add", ".")
                self.git("commit", "-qm", "r%d" % i)
            head = self.git("rev-parse", "HEAD")
            for n, source in zip(names, ("label org.opencontainers.image.revision", "build arg GIT_COMMIT")):
                rc, out, err = engine.stalecheck("audit", "container:" + n, "-C", self.ctx, "--format", "json")
                self.assertEqual(rc, 1, err)
                entry = json.loads(out)["services"][0]
                self.assertEqual(entry["service"], n)
                rev = [f for f in entry["findings"] if f["status"] == "revision"]
                self.assertEqual(len(rev), 1, entry["findings"])
                self.assertEqual(rev[0]["expected"], head)
                self.assertEqual(rev[0]["actual"], first)
                self.assertIn("2 commits behind HEAD", rev[0]["reason"])
                self.assertIn(source, rev[0]["reason"])
                self.assertEqual(entry["summary"]["revision"], 1)
                self.assertEqual(entry["summary"]["stale"], 0)
        finally:
            engine.run(engine.DOCKER, "rm", "-f", *names, check=False)
            engine.run(engine.DOCKER, "rmi", "-f", tag, argtag, check=False)

    def test_a_project_with_no_container_running_is_an_error_not_fresh(self):
        self.files({"docker-compose.yml": "version: '3.7'\nservices:\n  web:\n    build: ./web\n",
                    "web/Dockerfile": APP, "web/src/main.py": "x\n"})
        rc, out, err = engine.stalecheck("audit", "--compose", os.path.join(self.dir, "docker-compose.yml"))
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertIn("nothing was checked in compose project %s" % self.project, err)
        self.assertIn("web: no container", err)

    def test_what_a_deploy_would_pull_is_audited_from_the_registry(self):
        self.write({"Dockerfile": "FROM %s\nCOPY src/ /app/\n" % BASE, "src/main.py": "print('v1')\n"})
        self.git("init", "-q")
        self.git("add", ".")
        self.git("commit", "-qm", "one")
        built = self.git("rev-parse", "HEAD")
        tag = "stalecheck-e2e-pull-%s" % uuid.uuid4().hex[:8]
        remote = "127.0.0.1:5000/e2e/%s:1" % tag
        engine.run(engine.DOCKER, "build", "-q", "-t", remote, "--label",
                   "org.opencontainers.image.revision=" + built, self.ctx)
        try:
            engine.run(engine.DOCKER, "push", "-q", remote)
            rc, out, err = engine.stalecheck("audit", "docker://" + remote, "-C", self.ctx, "--format", "json")
            self.assertEqual(rc, 0, err)
            entry = json.loads(out)["services"][0]
            self.assertEqual(entry["service"], "docker://" + remote)
            self.assertIsNone(entry["container"])
            self.assertEqual(entry["verdict"], "fresh")
            # The code moves on and is committed; the registry still serves the old build.
            self.write({"src/main.py": "print('v2')\n"})
            self.git("commit", "-qam", "two")
            rc, out, err = engine.stalecheck("audit", "docker://" + remote, "-C", self.ctx, "--format", "json")
            self.assertEqual(rc, 1, err)
            entry = json.loads(out)["services"][0]
            self.assertEqual(sorted((f["status"], f["path"]) for f in entry["findings"]),
                             [("revision", None), ("stale", "/app/main.py")])
            rev = [f for f in entry["findings"] if f["status"] == "revision"][0]
            self.assertIn("1 commit behind HEAD", rev["reason"])
            # audit takes only what runs or would be pulled.
            rc, _, err = engine.stalecheck("audit", "docker-daemon:" + remote, "-C", self.ctx)
            self.assertEqual(rc, 2)
            self.assertIn("container:NAME or docker://REF", err)
        finally:
            engine.run(engine.DOCKER, "rmi", "-f", remote, check=False)
