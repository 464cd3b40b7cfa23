"""Many generated .dockerignore files over one tree: each is built by every build client the
engine has, and what lands under /ctx must be what `stalecheck fingerprint --build-rules auto`
lists, entry by entry (files, symlinks, directories; type, mode, digest, target).

The clients that decide (DOCKER-NOTES §0): on 20.10, its CLI's own BuildKit client, its legacy
builder, and buildx 0.29 (engine 28's CLI and plugins) driving the 20.10 daemon; on 26 and 28,
buildx and the legacy builder. fingerprint is run under the same environment as the build,
so `auto` has to find the client each time.

STALECHECK_DIFF_CASES sets how many files are generated (default 40), STALECHECK_DIFF_SEED
the seed (default 12); the examples that once told the engines apart are always included.
"""
import json
import os
import random
import subprocess
import unittest

import engine

TREE = {
    "README.md": "readme", "notes.md": "notes", ".env": "secret", "a.o": "obj", "main.c": "int main;",
    "dir1/b.md": "b", "dir1/c.txt": "c", "dir1/sub/x": "x", "dir1/sub/.hidden": "h", "dir1/sub/deep/y.md": "y",
    "dir2/keep/x.log": "log", "dir2/keep/y.txt": "y", "dir2/other.md": "o", "dir3/sub/z": "z",
    "src/lib/util.h": "h", "src/lib/util.c": "c", "src/main.c": "m", "src/app.jar": "jar", "src/xname.jar": "x",
    "tests/t.py": "t", "tests/data/big.log": "big", "docs/guide/index.md": "i", "empty/": None,
    "dir2/private/": None, "node_modules/m/index.js": "js",
}

ATOMS = [
    "dir1", "dir1/sub", "**/*.md", "*/sub", "!dir*", "dir[12]", "/dir1", "./dir1/sub", "**", ".*", "*.o",
    "!src/**/*.h", "**/.*", "!/dir1", "tests", "!dir2/keep/x.log", "!**/sub", "!*/*.md", "src/**", "!src/lib",
    "**name.jar", "*.jar", "!README.md", "docs/**/*.md", "dir2/*", "!dir2/keep", "**/deep", "node_modules",
    "!node_modules/m", "dir?", "!tests/data", "*/*/x", "!dir1/sub/x", "src", "!src/main.c", "**/*.log", "empty",
    "!empty", "dir2/private", "!dir2/private", "*", "!*.c", "dir3/**", "!dir3/sub",
]

# The shapes that told 20.10 and the current clients apart (DOCKER-NOTES §0).
KNOWN = [
    "**\n!src/**/*.h\n",
    "dir[12]\n!*/*.md\n!**/sub\n*.o\n",
    "**/.*\n!/dir1\n",
    "./dir1/sub\n!dir*\n.*\n",
    "tests\n!dir2/keep/x.log\n**\n",
    "**name.jar\n",
    "*\n!src\n!src/lib/util.h\n",
]


def cases():
    rng = random.Random(int(os.environ.get("STALECHECK_DIFF_SEED", "12")))
    out = list(KNOWN)
    for _ in range(int(os.environ.get("STALECHECK_DIFF_CASES", "40"))):
        out.append("".join(line + "\n" for line in rng.sample(ATOMS, rng.randint(2, 4))))
    return out


def clients():
    """(name, environment, build command prefix, writes a tar of the filesystem)."""
    out = []
    if engine.ENGINE == "20":
        out.append(("20.10 BuildKit client", dict(engine.ENV, DOCKER_BUILDKIT="1"), [engine.DOCKER, "build"], True))
        out.append(("20.10 legacy builder", dict(engine.ENV, DOCKER_BUILDKIT="0"), [engine.DOCKER, "build"], False))
        # buildx 0.29, engine 28's CLI and plugins, driving the 20.10 daemon.
        modern = engine.engine_settings("28")
        env = dict(engine.ENV, DOCKER_CONFIG=modern["DOCKER_CONFIG"],
                   PATH=os.path.dirname(modern["DOCKER"]) + ":/usr/bin:" + os.environ.get("PATH", ""))
        env.pop("DOCKER_BUILDKIT")
        out.append(("buildx 0.29 on the 20.10 daemon", env, [modern["DOCKER"], "buildx", "build"], True))
    else:
        env = dict(engine.ENV)
        env.pop("DOCKER_BUILDKIT")
        out.append(("buildx", env, [engine.DOCKER, "build"], True))
        out.append(("legacy builder", dict(engine.ENV, DOCKER_BUILDKIT="0"), [engine.DOCKER, "build"], False))
    return out


def sent(tar_layers):
    view = engine.apply_layers(tar_layers)
    return {path[len("/ctx/"):]: (e["type"], e["mode"], e["digest"], e["target"])
            for path, e in view.items() if path.startswith("/ctx/")}


class EveryClientSendsWhatFingerprintLists(unittest.TestCase):
    def setUp(self):
        engine.require_engine(self)

    def make_tree(self, root):
        engine.write_tree(root, {k: v for k, v in TREE.items() if v is not None})
        for k, v in TREE.items():
            if v is None:
                os.makedirs(os.path.join(root, k), exist_ok=True)
        os.chmod(os.path.join(root, "dir2"), 0o700)  # a remade parent would be 0755
        os.chmod(os.path.join(root, "dir1/sub"), 0o750)
        os.symlink("util.h", os.path.join(root, "src/lib/link.h"))
        engine.write_tree(root, {"Dockerfile": "FROM scratch\nCOPY . /ctx/\n"})

    def built(self, tmp, ctx, env, command, to_tar):
        """What the client put under /ctx, read from the build's own output."""
        if to_tar:
            out = os.path.join(tmp, "fs.tar")
            subprocess.run(command + ["-q", "-o", "type=tar,dest=" + out, ctx], env=env, check=True,
                           capture_output=True)
            with open(out, "rb") as f:
                return sent([f.read()])
        image = subprocess.run(command + ["-q", ctx], env=env, check=True, capture_output=True).stdout
        image = image.decode().strip().splitlines()[-1]
        archive = os.path.join(tmp, "image.tar")
        try:
            engine.save(image, archive)
            return sent(engine.archive_layers(archive))
        finally:
            engine.run(engine.DOCKER, "rmi", "-f", image, check=False)

    def test_each_generated_ignore_file_is_sent_as_fingerprint_lists_it(self):
        for name, env, command, to_tar in clients():
            mismatches = []
            for n, ignore in enumerate(cases()):
                with engine.TempDir() as tmp:
                    ctx = os.path.join(tmp, "ctx")
                    self.make_tree(ctx)
                    engine.write_tree(ctx, {".dockerignore": ignore})
                    want = self.built(tmp, ctx, env, command, to_tar)
                    code, out, err = engine.stalecheck("fingerprint", "--format", "json", "-C", ctx, env=env)
                    self.assertEqual(code, 0, err)
                    doc = json.loads(out)
                    got = {f["path"]: (f["type"], f["mode"], f["digest"], f.get("target")) for f in doc["files"]}
                    if got != want:
                        diff = sorted(set(got.items()) ^ set(want.items()))
                        mismatches.append("case %d %r (rules %s): %s" % (n, ignore, doc["context"]["build_rules"],
                                                                         diff[:6]))
            with self.subTest(client=name):
                self.assertEqual(mismatches, [], "%s: %d of %d ignore files differ" % (name, len(mismatches),
                                                                                       len(cases())))


if __name__ == "__main__":
    unittest.main()
