"""stalecheck only reads: every command, over every transport, leaves the context (its files,
git's index and .git), the targets, the engine's images and containers, the registry and the
temporary directory as they were. Only -o and the cache directory may change.
"""
import hashlib
import json
import os
import subprocess
import uuid

import engine

BASE = "stalecheck-busybox:1"
REGISTRY = "127.0.0.1:5000"


def tree_state(root):
    """Every entry under root: type, mode, size, mtime (ns), and content or link digest."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if os.path.islink(p):
                what = "link:" + os.readlink(p)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
            else:
                what = "dir"
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, what)
    return out


class ReadOnly(engine.Scenario):
    def test_every_command_leaves_everything_as_it_was(self):
        self.write({"Dockerfile": "FROM %s\nWORKDIR /app\nCOPY src/ /app/\n" % BASE, "src/main.py": "print('v1')\n",
                    "src/lib/u.py": "x = 1\n", ".dockerignore": "*.log\n"})
        git = ["git", "-C", self.ctx, "-c", "user.name=t", "-c", "user.email=t@t"]
        engine.run(*git, "init", "-q")
        engine.run(*git, "add", ".")
        engine.run(*git, "commit", "-qm", "one")
        tag = "stalecheck-e2e-ro-%s" % uuid.uuid4().hex[:8]
        remote = "%s/e2e/%s:1" % (REGISTRY, tag)
        engine.run(engine.DOCKER, "build", "-q", "-t", tag, "-t", remote, self.ctx)
        name = "stalecheck-e2e-ro-%s" % uuid.uuid4().hex[:8]
        try:
            engine.run(engine.DOCKER, "push", "-q", remote)
            engine.run(engine.DOCKER, "run", "-d", "--name", name, tag, "/bin/busybox", "sleep", "3600")
            engine.run(engine.DOCKER, "exec", name, "/bin/busybox", "sh", "-c", "echo changed > /app/main.py")
            self.write({"src/main.py": "print('v2, uncommitted')\n", "debug.log": "x\n"})
            targets = os.path.join(self.tmp, "targets")
            os.makedirs(targets)
            archive = os.path.join(targets, "image.tar")
            engine.save(tag, archive)
            layout = os.path.join(targets, "layout")
            engine.run("skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + remote, "oci:%s:app" % layout)
            flat = os.path.join(targets, "flat.tar")
            with open(flat, "wb") as f:
                subprocess.run([engine.DOCKER, "export", name], env=engine.ENV, stdout=f, check=True)
            cache = os.path.join(self.tmp, "cache")
            scratch = os.path.join(self.tmp, "tmpdir")
            os.makedirs(scratch)
            env = dict(engine.ENV, XDG_CACHE_HOME=cache, TMPDIR=scratch)

            def engine_state():
                images = sorted(engine.run(engine.DOCKER, "images", "-a", "--no-trunc", "--format",
                                           "{{.ID}} {{.Repository}}:{{.Tag}}").stdout.decode().splitlines())
                ours = json.loads(engine.run(engine.DOCKER, "image", "inspect", tag).stdout)[0]
                images.append(json.dumps({k: ours.get(k) for k in ("Id", "RepoTags", "RepoDigests", "RootFS")},
                                         sort_keys=True))
                containers = engine.run(engine.DOCKER, "ps", "-a", "--no-trunc", "--format",
                                        "{{.ID}} {{.Image}} {{.Names}} {{.Mounts}}").stdout
                inspect = json.loads(engine.run(engine.DOCKER, "container", "inspect", "--size", name).stdout)[0]
                # On the containerd image store any read of a container's files (a plain `docker cp
                # c:/bin -`, measured: SizeRw 12288 -> 20480) changes the size the engine reports,
                # so there SizeRw is no witness of a write; docker diff still is.
                fields = ["Id", "Image", "Mounts", "Config", "GraphDriver"] + ([] if engine.ENGINE == "28c" else ["SizeRw"])
                keep = {k: inspect.get(k) for k in fields}
                diff = engine.run(engine.DOCKER, "diff", name).stdout
                catalog = subprocess.run(["curl", "-fsS", "http://%s/v2/e2e/%s/tags/list" % (REGISTRY, tag)],
                                         capture_output=True, check=True).stdout
                return images, containers, json.dumps(keep, sort_keys=True), diff, catalog

            before = (tree_state(self.ctx), tree_state(targets), engine_state(),
                      engine.run(*git, "--no-optional-locks", "status", "--porcelain").stdout)
            out_file = os.path.join(self.tmp, "report.json")
            commands = [
                ["fingerprint", "-C", self.ctx], ["fingerprint", "-C", self.ctx, "--rev", "HEAD", "--format", "json"],
                ["inspect", "docker-archive:" + archive], ["inspect", "oci:%s:app" % layout],
                ["inspect", "docker-daemon:" + tag], ["inspect", "docker-daemon:" + tag, "--engine-read", "api"],
                ["inspect", "container:" + name], ["inspect", "container:" + name, "--engine-read", "api"],
                ["inspect", "docker://" + remote], ["inspect", "tar:" + flat],
            ]
            for t in ("docker-archive:" + archive, "oci:%s:app" % layout, "docker-daemon:" + tag, "container:" + name,
                      "docker://" + remote):
                commands.append(["check", t, "-C", self.ctx])
                commands.append(["check", t, "-C", self.ctx, "--rev", "HEAD", "--format", "sarif"])
            commands += [
                ["check", "container:" + name, "-C", self.ctx, "--engine-read", "api", "--format", "junit"],
                ["check", "tar:" + flat, "-C", self.ctx, "--map", "src:/app", "-o", out_file, "--format", "json"],
                ["audit", "container:" + name, "docker://" + remote, "-C", self.ctx, "--format", "json"],
            ]
            for c in commands:
                p = subprocess.run([engine.STALECHECK, *c], env=env, capture_output=True)
                self.assertIn(p.returncode, (0, 1), (c, p.stderr.decode()))
            # The hook at push time, as git runs it (from the top of the work tree, refs on stdin).
            # The target comes through git's environment config (git -c), not .git/config, which
            # would change the context under test.
            hook_env = dict(env, GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="stalecheck.target",
                            GIT_CONFIG_VALUE_0="container:" + name)
            head = engine.run(*git, "rev-parse", "HEAD").stdout.decode().strip()
            p = subprocess.run([engine.STALECHECK, "hook", "pre-push", "origin", "/dev/null"], cwd=self.ctx, env=hook_env,
                               input=("refs/heads/main %s refs/heads/main %s\n" % (head, "0" * 40)).encode(),
                               capture_output=True)
            # The container was patched with docker exec: HEAD is not what it runs, so the push is stopped.
            self.assertEqual(p.returncode, 1, p.stderr.decode())
            self.assertIn("/app/main.py", p.stderr.decode())
            after = (tree_state(self.ctx), tree_state(targets), engine_state(),
                     engine.run(*git, "--no-optional-locks", "status", "--porcelain").stdout)
            self.assertEqual(before[0], after[0])  # the context, .git and its index included
            self.assertEqual(before[1], after[1])  # archive, layout, flat tar
            self.assertEqual(before[2], after[2])  # images, containers, the container's changes, the registry
            self.assertEqual(before[3], after[3])
            self.assertEqual(os.listdir(scratch), [])  # nothing left in TMPDIR
            self.assertTrue(os.path.exists(out_file))
        finally:
            engine.run(engine.DOCKER, "rm", "-f", name, check=False)
            engine.run(engine.DOCKER, "rmi", "-f", tag, remote, check=False)
