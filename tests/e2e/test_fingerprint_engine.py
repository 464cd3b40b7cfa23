"""fingerprint lists exactly what the engine copies with `COPY . /ctx/`.

Each scenario builds FROM scratch with BuildKit, saves the image, reads /ctx from the layer
with Python's tarfile, and compares paths, types, modes, symlink targets and digests with
`stalecheck fingerprint --format json`.
"""
import json
import os
import socket
import stat
import unittest

import engine

FILES = {
    "README.md": "readme", "README-secret.md": "secret", "docs/a.md": "a", "x/y/a.md": "deep",
    "foo/bar.txt": "bar", "a/foo": "afoo", "a/b/foo/x": "abfoox", "a/b/foo/keep": "keep", "xfoo/z": "z",
    "food": "food", "temp.txt": "t", "tempa": "ta", "x/temp.txt": "xt", "a.txt": "a", "!.txt": "bang",
    "b.txt": "b", "*.txt": "star", "# x": "hash", "dir/sub/x": "dsx", "dir/other": "do", "dir/a.keep": "k",
    "keep.txt": "kt", "p/a/x": "pax", "a+b": "plus", "aab": "aab", "x|y": "bar", "c{2}": "brace",
    "cc": "cc", "main.py": "print(1)\n", "src/app/main.py": "v1", "src/app/__pycache__/main.cpython-311.pyc": "pyc",
    "node_modules/m/index.js": "js", "empty/": None,
}

CASES = [
    ("nothing ignored", ""),
    ("a name excludes its subtree, anchored at the root", "foo\n"),
    ("leading slash, trailing slash and dot segments are cleaned", "/foo/\n./x/../docs\n"),
    ("'*' does not cross '/'", "*.md\n*/temp*\n"),
    ("'**' spans directories", "**/*.md\n**/__pycache__\n"),
    ("'**/foo' tests the ancestor as deep as the pattern", "**/foo\n!a/b/foo/keep\n"),
    ("'foo/**' keeps the empty directory", "foo/**\nnode_modules/**\n"),
    ("'foo**' and '?'", "foo**\ntemp?\n"),
    ("character classes and escapes", "[!a].txt\n\\*.txt\n # x\n"),
    ("regular-expression characters keep their meaning", "a+b\nx|y\nc{2}\n"),
    ("last match wins", "*.md\n!README*.md\nREADME-secret.md\n"),
    ("an exception before the pattern loses", "!keep.txt\n*\n"),
    ("an exception below an excluded directory", "dir\n!dir/sub\n"),
    ("a wildcard exception not written below the directory", "*\n!*/keep\n"),
    ("a wildcard exception written below the directory", "dir\n!dir/*.keep\n"),
    ("an exception that matches nothing sends the directory", "dir\n!dir/nothing\n"),
    ("an exception for a parent re-includes a child", "a/b\n!a\n"),
    ("the Dockerfile and .dockerignore can be excluded", "Dockerfile\n.dockerignore\n"),
    ("comments, blank lines, CRLF and a BOM", "\ufeff# comment\r\n\r\n  *.md  \r\n"),
    ("the middle '**'", "**/a/**\nsrc/**/main.py\n"),
]


def image_files(archive):
    """What the single COPY layer put under /ctx, as fingerprint writes it."""
    view = engine.apply_layers(engine.archive_layers(archive))
    out = {}
    for path, e in view.items():
        if not path.startswith("/ctx/"):
            continue
        name = os.fsencode(path[len("/ctx/"):]).decode("utf-8", "replace")
        out[name] = (e["type"], e["mode"], e["digest"], e["target"])
    return out


def fingerprint_files(context, *extra, env=None):
    code, out, err = engine.stalecheck("fingerprint", "--format", "json", "-C", context, *extra, env=env)
    assert code == 0, err
    doc = json.loads(out)
    return {f["path"]: (f["type"], f["mode"], f["digest"], f.get("target")) for f in doc["files"]}, doc


class FingerprintMatchesTheEngine(unittest.TestCase):
    def setUp(self):
        engine.require_engine(self)

    def check_context(self, files, ignore, dockerfile="Dockerfile", extra_setup=None):
        with engine.TempDir() as tmp:
            ctx = os.path.join(tmp, "ctx")
            engine.write_tree(ctx, {k: v for k, v in files.items() if v is not None})
            for k, v in files.items():
                if v is None:
                    os.makedirs(os.path.join(ctx, k), exist_ok=True)
            engine.write_tree(ctx, {dockerfile: "FROM scratch\nCOPY . /ctx/\n"})
            if ignore is not None:
                engine.write_tree(ctx, {".dockerignore": ignore})
            if extra_setup:
                extra_setup(ctx)
            image = engine.build(ctx, dockerfile=os.path.join(ctx, dockerfile))
            archive = os.path.join(tmp, "image.tar")
            engine.save(image, archive)
            want = image_files(archive)
            got, doc = fingerprint_files(ctx, "-f", os.path.join(ctx, dockerfile))
            self.assertEqual(sorted(got), sorted(want))
            self.assertEqual(got, want)
            return doc

    def test_each_ignore_file_sends_exactly_what_fingerprint_lists(self):
        for name, ignore in CASES:
            with self.subTest(name):
                self.check_context(FILES, ignore)

    def test_symlinks_modes_fifos_devices_and_sockets(self):
        def setup(ctx):
            os.symlink("main.py", os.path.join(ctx, "link"))
            os.symlink("/etc/passwd", os.path.join(ctx, "abs-link"))
            os.symlink("missing", os.path.join(ctx, "dangling"))
            os.symlink(".", os.path.join(ctx, "loop"))
            os.chmod(os.path.join(ctx, "run.sh"), 0o755)
            os.chmod(os.path.join(ctx, "private"), 0o600)
            os.mkfifo(os.path.join(ctx, "pipe"))
            # Devices and sockets arrive as empty regular files with their permission bits.
            os.mknod(os.path.join(ctx, "null"), stat.S_IFCHR | 0o600, os.makedev(1, 3))
            os.mknod(os.path.join(ctx, "sub/loop0"), stat.S_IFBLK | 0o640, os.makedev(7, 0))
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(os.path.join(ctx, "sock"))
            sock.close()
            os.chmod(os.path.join(ctx, "sock"), 0o751)

        doc = self.check_context({"main.py": "x", "run.sh": "#!/bin/sh\n", "private": "p", "sub/f": "f"}, None,
                                 extra_setup=setup)
        sent = {f["path"]: (f["type"], f["mode"], f.get("target")) for f in doc["files"]}
        self.assertEqual(sent["sock"], ("file", "0751", None))
        if engine.MODERN:
            # buildx sends devices and FIFOs as what they are; a block device arrives as a
            # character device.
            self.assertEqual(sent["pipe"][0::2], ("special", "fifo"))
            self.assertEqual(sent["null"], ("special", "0600", "char-device 1,3"))
            self.assertEqual(sent["sub/loop0"], ("special", "0640", "char-device 7,0"))
        else:
            self.assertNotIn("pipe", sent)
            self.assertEqual(sent["null"], ("file", "0600", None))
            self.assertEqual(sent["sub/loop0"], ("file", "0640", None))

    def test_names_that_are_not_plain_text_are_sent_and_listed(self):
        # A byte that is not UTF-8 is written as U+FFFD in JSON, as Go's encoding/json writes it.
        names = {"new\nline": "n", "back\\slash": "b", 'say "hi"': "q", "-dash": "d", "sp ace": "s",
                 "caf\u00e9": "c", "bad\udcffname": "x", "esc\x1b[31m": "e"}
        # buildx 0.18 and later cannot send a name that is not UTF-8: the build fails, and
        # fingerprint must refuse too.
        with engine.TempDir() as tmp:
            engine.write_tree(tmp, dict(names, Dockerfile="FROM scratch\nCOPY . /ctx/\n"))
            build = engine.run(engine.DOCKER, "build", "-q", tmp, check=False)
            code, _, err = engine.stalecheck("fingerprint", "-C", tmp)
            if build.returncode != 0:
                self.assertIn(b"invalid UTF-8", build.stderr)
                self.assertEqual(code, 2)
                self.assertIn("not UTF-8", err)
                del names["bad\udcffname"]
            else:
                self.assertEqual(code, 0, err)
        doc = self.check_context(names, None)
        listed = {f["path"] for f in doc["files"]}
        if "bad\udcffname" in names:
            self.assertIn("bad\ufffdname", listed)
        self.assertIn("new\nline", listed)

    def test_a_context_given_as_a_symlink_is_followed_as_docker_build_follows_it(self):
        with engine.TempDir() as tmp:
            real = os.path.join(tmp, "real")
            engine.write_tree(real, {"app.py": "x", "sub/m.py": "m", "Dockerfile": "FROM scratch\nCOPY . /ctx/\n"})
            os.symlink("sub", os.path.join(real, "link"))
            link = os.path.join(tmp, "ctx")
            os.symlink("real", link)
            archive = os.path.join(tmp, "image.tar")
            engine.save(engine.build(link), archive)
            got, _ = fingerprint_files(link)
            self.assertEqual(got, image_files(archive))
            self.assertEqual(got["link"][0], "symlink")  # links below the root are still not followed

    def test_patterns_the_engine_refuses_are_refused_and_those_it_takes_are_taken(self):
        for pattern in ["[]a]", "[a-]", "[a", "a\\", "[\\]", "[^]", "a[]b", "!", "[!]", "[^a]x", "\\[x"]:
            with self.subTest(pattern), engine.TempDir() as tmp:
                engine.write_tree(tmp, {"a": "a", "Dockerfile": "FROM scratch\nCOPY . /c/\n",
                                        ".dockerignore": pattern + "\n"})
                built = engine.run(engine.DOCKER, "build", "-q", tmp, check=False).returncode == 0
                code, _, err = engine.stalecheck("fingerprint", "--root-only", "-C", tmp)
                self.assertEqual(code, 0 if built else 2, err)
                if not built:
                    self.assertIn(".dockerignore", err)
                    self.assertEqual(err.count("\n"), 1)

    def test_rev_lists_what_a_fresh_recursive_checkout_of_the_revision_sends(self):
        # The CI case: clone with submodules, then `docker build .`. fingerprint --rev on a
        # working clone whose submodule has moved on must list what that checkout sends, with
        # the submodule at the commit the revision records. Git's own .git (the directory,
        # and the file in each submodule) is no file of the revision: --rev never lists it.
        with engine.TempDir() as tmp:
            def git(cwd, *args):
                engine.run("git", "-C", cwd, "-c", "user.name=t", "-c", "user.email=t@t",
                           "-c", "protocol.file.allow=always", *args)
            lib, top, checkout = (os.path.join(tmp, n) for n in ("lib", "top", "checkout"))
            engine.write_tree(lib, {"s.txt": "s1\n", "d/x": "x\n", "d/skip.log": "log"})
            os.symlink("s.txt", os.path.join(lib, "link"))
            git(tmp, "init", "-q", lib)
            git(lib, "add", "-A")
            git(lib, "commit", "-qm", "s1")
            engine.write_tree(top, {"m.txt": "m\n", "Dockerfile": "FROM scratch\nCOPY . /ctx/\n",
                                    ".dockerignore": "**/*.log\n.git\n"})
            git(tmp, "init", "-q", top)
            git(top, "submodule", "add", "-q", lib, "vendor/lib")
            git(top, "add", "-A")
            git(top, "commit", "-qm", "top")
            # The working clone's submodule moves on; the revision still records s1.
            engine.write_tree(os.path.join(top, "vendor/lib"), {"s.txt": "s2 uncommitted\n"})

            git(tmp, "clone", "-q", "--recurse-submodules", top, checkout)
            archive = os.path.join(tmp, "image.tar")
            engine.save(engine.build(checkout), archive)
            want = image_files(archive)
            self.assertEqual(want.pop("vendor/lib/.git")[0], "file")  # git's pointer, sent as a file
            got, _ = fingerprint_files(top, "--rev", "HEAD")
            self.assertEqual(got, want)
            self.assertEqual(got["vendor/lib/s.txt"][2], engine.xxh128(b"s1\n"))
            self.assertNotIn("vendor/lib/d/skip.log", got)

    def test_rev_lists_what_a_clone_checks_out_with_git_lfs_line_endings_and_ident(self):
        # A clone's checkout is not the blobs: Git LFS replaces pointers with their objects,
        # eol=crlf and ident rewrite text. --rev must list what the clone's build is sent.
        with engine.TempDir() as tmp:
            env = dict(engine.ENV, HOME=os.path.join(tmp, "home"), XDG_CONFIG_HOME=os.path.join(tmp, "xdg"))
            os.makedirs(env["HOME"])

            def git(cwd, *args):
                engine.run("git", "-C", cwd, "-c", "user.name=t", "-c", "user.email=t@t", *args, env=env)
            git(tmp, "lfs", "install")
            repo, clone = os.path.join(tmp, "repo"), os.path.join(tmp, "clone")
            git(tmp, "init", "-q", repo)
            engine.write_tree(repo, {
                ".gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n*.txt text eol=crlf\n*.c ident\n",
                ".dockerignore": ".git\n", "Dockerfile": "FROM scratch\nCOPY . /ctx/\n",
                "model.bin": os.urandom(5000), "notes.txt": "one\ntwo\n", "id.c": "/* $Id$ */\n", "app.py": "x = 1\n"})
            git(repo, "add", "-A")
            git(repo, "commit", "-qm", "one")
            # Uncommitted work is not the revision.
            engine.write_tree(repo, {".gitattributes": "* -text\n", "app.py": "x = 2\n"})
            git(tmp, "clone", "-q", repo, clone)

            archive = os.path.join(tmp, "image.tar")
            engine.save(engine.build(clone), archive)
            want = image_files(archive)
            got, _ = fingerprint_files(repo, "--rev", "HEAD", env=env)
            self.assertEqual(got, want)
            with open(os.path.join(clone, "model.bin"), "rb") as f:
                self.assertEqual(got["model.bin"][2], engine.xxh128(f.read()))
            self.assertEqual(got["notes.txt"][2], engine.xxh128(b"one\r\ntwo\r\n"))

    def test_a_dockerfile_specific_ignore_file_replaces_the_root_one(self):
        files = {"a/f": "a", "b/f": "b", "top": "t", "sub/app.Dockerfile.dockerignore": "b\nsub\n"}
        doc = self.check_context(files, "a\n", dockerfile="sub/app.Dockerfile")
        self.assertTrue(doc["context"]["ignore_file"].endswith("sub/app.Dockerfile.dockerignore"))

    def test_same_size_and_mtime_is_still_a_different_fingerprint(self):
        with engine.TempDir() as tmp:
            engine.write_tree(tmp, {"app.py": "value = 1\n"})
            code, before, _ = engine.stalecheck("fingerprint", "--root-only", "-C", tmp)
            st = os.stat(os.path.join(tmp, "app.py"))
            engine.write_tree(tmp, {"app.py": "value = 2\n"})
            os.utime(os.path.join(tmp, "app.py"), ns=(st.st_atime_ns, st.st_mtime_ns))
            code2, after, _ = engine.stalecheck("fingerprint", "--root-only", "-C", tmp)
            self.assertEqual((code, code2), (0, 0))
            self.assertNotEqual(before, after)


if __name__ == "__main__":
    unittest.main()
