"""The pre-push hook, through real `git push`es to a local bare repository, against images the
engine built: a push blocked while the tested image is not the pushed commit and let through
once it is; several commits; a new branch; a deletion; --no-verify; warn mode; no target; a
foreign hook kept and chained; core.hooksPath; and the pre-commit framework running the hook
from the repository's .pre-commit-hooks.yaml.
"""
import os
import shutil
import subprocess
import uuid

import engine

BASE = "stalecheck-busybox:1"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


class Hook(engine.Scenario):
    def setUp(self):
        super().setUp()
        self.remote = os.path.join(self.tmp, "remote.git")
        subprocess.run(["git", "init", "-q", "--bare", self.remote], check=True)
        self.tag = "stalecheck-e2e-hook-%s" % uuid.uuid4().hex[:8]
        self.env = dict(engine.ENV, PATH=os.path.dirname(engine.STALECHECK) + ":" + engine.ENV["PATH"],
                        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
        self.git("init", "-q", "-b", "main")
        self.git("remote", "add", "origin", self.remote)
        self.write({"Dockerfile": "FROM %s\nCOPY src/ /app/\n" % BASE, "src/main.py": "print('v1')\n",
                    "README.md": "readme\n"})
        self.git("add", ".")
        self.git("commit", "-qm", "one")

    def tearDown(self):
        engine.run(engine.DOCKER, "rmi", "-f", self.tag, check=False)
        super().tearDown()

    def git(self, *args, check=True, cwd=None):
        p = subprocess.run(["git", *args], cwd=cwd or self.ctx, env=self.env, capture_output=True)
        if check and p.returncode != 0:
            self.fail("git %s: %s" % (" ".join(args), p.stderr.decode()))
        return p

    def image(self):
        """The image a user tests: built from the working tree as it is now."""
        engine.run(engine.DOCKER, "build", "-q", "-t", self.tag, self.ctx)
        self.git("config", "stalecheck.target", "docker-daemon:" + self.tag)

    def install(self, *extra, code=0):
        p = subprocess.run([engine.STALECHECK, "hook", "install", *extra], cwd=self.ctx, env=self.env,
                           capture_output=True)
        self.assertEqual(p.returncode, code, p.stderr.decode())
        return p

    def push(self, *args):
        return self.git("push", "origin", *args, check=False)

    def remote_has(self, ref):
        return self.git("ls-remote", self.remote, ref).stdout.decode().strip() != ""

    def test_a_push_is_blocked_until_the_tested_image_is_the_pushed_commit(self):
        self.install()
        # The image is tested with a change that is not committed: the commit is not that code.
        self.write({"src/main.py": "print('v2, tested')\n"})
        self.image()
        p = self.push("main")
        self.assertNotEqual(p.returncode, 0)
        err = p.stderr.decode()
        self.assertIn("stale    /app/main.py", err)
        self.assertIn("push blocked", err)
        self.assertFalse(self.remote_has("refs/heads/main"))
        # --no-verify: git does not run the hook.
        self.assertEqual(self.push("--no-verify", "main").returncode, 0)
        self.git("push", "-q", "--no-verify", "origin", "--delete", "main")
        # Committed, the pushed commit is the tested code.
        self.git("commit", "-qam", "two")
        p = self.push("main")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertTrue(self.remote_has("refs/heads/main"))

    def test_several_commits_new_branches_and_deletions(self):
        self.install()
        self.image()
        self.assertEqual(self.push("main").returncode, 0)
        # Three commits at once: the pushed tip is what was tested.
        for i in range(3):
            self.write({"src/main.py": "print('v%d')\n" % (i + 3)})
            self.git("commit", "-qam", "c%d" % i)
        self.image()
        p = self.push("main")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        # A new branch at an older commit: it is not the tested code.
        self.git("branch", "old", "HEAD~2")
        p = self.push("old")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("refs/heads/old", p.stderr.decode())
        # Two refs in one push, one of them the tested tip: the other still blocks.
        self.git("branch", "same", "HEAD")
        p = self.push("same", "old")
        self.assertNotEqual(p.returncode, 0)
        self.assertFalse(self.remote_has("refs/heads/same"))
        self.assertEqual(self.push("same").returncode, 0)
        # A deletion has no code to check, whatever the image is.
        self.write({"src/main.py": "print('untested')\n"})
        self.image()
        p = self.push("--delete", "same")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertFalse(self.remote_has("refs/heads/same"))

    def test_warn_mode_and_no_target(self):
        self.install()
        # No target: a warning about build-context files that are not in the pushed commit.
        self.write({"src/main.py": "print('uncommitted')\n"})
        p = self.push("main")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertIn("1 file of the build context", p.stderr.decode())
        self.assertIn("src/main.py", p.stderr.decode())
        # Warn mode: the findings are printed and the push goes on.
        self.image()
        self.git("config", "stalecheck.hookMode", "warn")
        self.git("commit", "--allow-empty", "-qm", "three")
        p = self.push("main")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertIn("stale    /app/main.py", p.stderr.decode())
        self.assertIn("warning only", p.stderr.decode())

    def test_a_foreign_hook_is_kept_and_chained_with_the_same_input(self):
        hooks = os.path.join(self.ctx, ".git", "hooks")
        seen = os.path.join(self.tmp, "seen")
        foreign = "#!/bin/sh\ncat > '%s'\necho \"$1\" >> '%s'\nexit ${FOREIGN_RC:-0}\n" % (seen, seen)
        engine.write_tree(hooks, {"pre-push": foreign})
        os.chmod(os.path.join(hooks, "pre-push"), 0o755)
        p = self.install(code=2)
        self.assertIn(os.path.join(hooks, "pre-push"), p.stderr.decode())
        with open(os.path.join(hooks, "pre-push")) as f:
            self.assertEqual(f.read(), foreign)
        self.install("--force")
        self.image()
        self.assertEqual(self.push("main").returncode, 0)
        with open(seen) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0].split()[0], "refs/heads/main")  # git's input, passed on
        self.assertEqual(lines[-1], "origin")
        # The foreign hook's verdict counts.
        self.env["FOREIGN_RC"] = "1"
        self.git("commit", "--allow-empty", "-qm", "x")
        self.assertNotEqual(self.push("main").returncode, 0)
        del self.env["FOREIGN_RC"]
        p = subprocess.run([engine.STALECHECK, "hook", "uninstall"], cwd=self.ctx, env=self.env, capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        with open(os.path.join(hooks, "pre-push")) as f:
            self.assertEqual(f.read(), foreign)

    def test_core_hooks_path_is_where_the_hook_goes_and_runs(self):
        self.git("config", "core.hooksPath", ".githooks")
        self.install()
        self.assertTrue(os.path.exists(os.path.join(self.ctx, ".githooks", "pre-push")))
        self.assertFalse(os.path.exists(os.path.join(self.ctx, ".git", "hooks", "pre-push")))
        self.write({"src/main.py": "print('tested')\n"})
        self.image()
        self.assertNotEqual(self.push("main").returncode, 0)

    def test_the_pre_commit_framework_runs_it_from_the_manifest(self):
        # This repository's manifest, served from a repository of its own as pre-commit fetches hooks.
        hooks_repo = os.path.join(self.tmp, "hooks-repo")
        os.makedirs(hooks_repo)
        shutil.copy(os.path.join(ROOT, ".pre-commit-hooks.yaml"), hooks_repo)
        self.git("init", "-q", cwd=hooks_repo)
        self.git("add", ".", cwd=hooks_repo)
        self.git("commit", "-qm", "hooks", cwd=hooks_repo)
        rev = self.git("rev-parse", "HEAD", cwd=hooks_repo).stdout.decode().strip()
        self.write({".pre-commit-config.yaml": "repos:\n  - repo: %s\n    rev: %s\n    hooks:\n      - id: stalecheck\n"
                    % (hooks_repo, rev)})
        self.git("add", ".pre-commit-config.yaml")
        self.git("commit", "-qm", "pre-commit")
        self.env["PRE_COMMIT_HOME"] = os.path.join(self.tmp, "pre-commit-home")
        p = subprocess.run(["pre-commit", "install", "-t", "pre-push"], cwd=self.ctx, env=self.env, capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr.decode() + p.stdout.decode())
        self.write({"src/main.py": "print('tested, not committed')\n"})
        self.image()
        p = self.push("main")
        self.assertNotEqual(p.returncode, 0, p.stdout.decode())
        self.assertIn("stale    /app/main.py", p.stdout.decode() + p.stderr.decode())
        self.git("commit", "-qam", "two")
        p = self.push("main")
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
