"""What CI runs: the GitHub Action's script (scripts/action-run.sh, which action.yml runs) on a
stale image, with the context typed as an absolute path: annotations and SARIF must name the
Dockerfile relative to the workspace, where GitHub can place them.
"""
import json
import os
import re
import subprocess
import uuid

import engine

BASE = "stalecheck-busybox:1"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


class Action(engine.Scenario):
    def test_the_action_annotates_files_relative_to_the_workspace(self):
        self.write({"Dockerfile": "FROM %s\nCOPY src/ /app/\n" % BASE, "src/main.py": "print('v1')\n"})
        tag = "stalecheck-e2e-ci-%s" % uuid.uuid4().hex[:8]
        engine.run(engine.DOCKER, "build", "-q", "-t", tag, self.ctx)
        try:
            self.write({"src/main.py": "print('v2')\n"})
            sarif = os.path.join(self.tmp, "out.sarif")
            env = dict(engine.ENV, STALECHECK=engine.STALECHECK, GITHUB_WORKSPACE=self.tmp, INPUT_COMMAND="check",
                       INPUT_TARGET="docker-daemon:" + tag, INPUT_CONTEXT=self.ctx, INPUT_SARIF=sarif,
                       INPUT_ARGS="--timeout 30")
            p = subprocess.run(["bash", os.path.join(ROOT, "scripts/action-run.sh")], env=env, capture_output=True)
            self.assertEqual(p.returncode, 1, p.stderr.decode())
            out = p.stdout.decode()
            self.assertTrue(out.startswith("::error file=ctx/Dockerfile,line=2,title=stalecheck stale::"), out)
            self.assertIn("/app/main.py", out)
            with open(sarif) as f:
                doc = json.load(f)
            uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
                    for r in doc["runs"][0]["results"] for loc in r["locations"]}
            self.assertEqual(uris, {"ctx/Dockerfile"})
            # Fresh: a notice, exit 0.
            self.write({"src/main.py": "print('v1')\n"})
            p = subprocess.run(["bash", os.path.join(ROOT, "scripts/action-run.sh")], env=env, capture_output=True)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertIn("::notice::stalecheck: fresh", p.stdout.decode())
            # A bad input is exit 2 and an annotation, never a pass.
            env["INPUT_COMMAND"] = "lint-everything"
            p = subprocess.run(["bash", os.path.join(ROOT, "scripts/action-run.sh")], env=env, capture_output=True)
            self.assertEqual(p.returncode, 2)
        finally:
            engine.run(engine.DOCKER, "rmi", "-f", tag, check=False)

    def test_timings_name_each_phase_on_stderr_and_leave_the_report_alone(self):
        demo = os.path.join(engine.FIXTURES, "demo")
        args = ("check", "docker-archive:" + os.path.join(demo, "app-old.tar"), "-C", os.path.join(demo, "context"))
        code, plain, _ = engine.stalecheck(*args)
        code_t, timed, err = engine.stalecheck(*args, "--timings")
        self.assertEqual((code, code_t), (1, 1))
        self.assertEqual(plain, timed)
        line, reading = err.strip().splitlines()[-2:]
        self.assertTrue(line.startswith("timings: read image "), err)
        for phase in ("read context (beside the image)", "plan", "compare", "report", "total"):
            self.assertIn(phase, line)
        # Then how the context's digests were got: 4 files, read or vouched for by the stat cache.
        m = re.match(r"context: 4 files, (\d+) read \(\d+ bytes\), (\d+) from the stat cache", reading)
        self.assertIsNotNone(m, err)
        self.assertEqual(int(m.group(1)) + int(m.group(2)), 4)
