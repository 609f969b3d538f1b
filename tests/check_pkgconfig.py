#!/usr/bin/env python3
"""gilvm.pc describes both libraries: an embedder who knows only pkg-config
builds the embedding example against the shared library
(`pkg-config --cflags --libs gilvm`) and against the static one
(`pkg-config --static --libs gilvm`, the archive chosen with -Bstatic), and
both programs print the expected output. The build tree's uninstalled .pc
(meson-uninstalled/) stands in for the installed one, which differs only in
its paths.

usage: check_pkgconfig.py --pkg-config PKGCONF --pcdir DIR --src embed.c
                          --expected expected.txt --outdir DIR [--cflags FLAGS] -- CC...
Exits 77 (skipped) without pkg-config."""
import argparse
import os
import shlex
import shutil
import subprocess
import sys

SKIP = 77


def pkgconfig(pc, env, *args):
    r = subprocess.run([pc, *args, "gilvm"], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{pc} {' '.join(args)} gilvm failed: {r.stderr.strip()}")
    return shlex.split(r.stdout)


def build_and_run(name, cmd, out, expected, env):
    print("$", " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{name}: the build failed:\n{r.stdout}{r.stderr}")
        return False
    r = subprocess.run([out], capture_output=True, text=True, env=env, timeout=60)
    if r.returncode != 0 or r.stdout != expected:
        print(f"{name}: exit {r.returncode}; stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pkg-config", required=True)
    ap.add_argument("--pcdir", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--cflags", default="")
    ap.add_argument("cc", nargs="+")
    args = ap.parse_args()
    pc = shutil.which(args.pkg_config)
    if not pc:
        print("pkg-config not found: skipped")
        return SKIP
    env = dict(os.environ, PKG_CONFIG_PATH=args.pcdir)
    with open(args.expected) as f:
        expected = f.read()
    extra = shlex.split(args.cflags)
    ok = True

    cflags = pkgconfig(pc, env, "--cflags")
    libs = pkgconfig(pc, env, "--libs")
    libdirs = [a[2:] for a in libs if a.startswith("-L")]
    out = os.path.join(args.outdir, "embed-pkgconfig-shared")
    cmd = args.cc + extra + [args.src, "-o", out] + cflags + libs + [f"-Wl,-rpath,{d}" for d in libdirs]
    ok &= build_and_run("shared", cmd, out, expected, os.environ)

    static_libs = pkgconfig(pc, env, "--static", "--libs")
    static_libs = [("-Wl,-Bstatic -lgilvm -Wl,-Bdynamic".split() if a == "-lgilvm" else [a]) for a in static_libs]
    out = os.path.join(args.outdir, "embed-pkgconfig-static")
    cmd = args.cc + extra + [args.src, "-o", out] + cflags + [x for a in static_libs for x in a]
    if build_and_run("static", cmd, out, expected, os.environ):
        # Linked from the archive: the program needs no libgilvm.so.
        needed = subprocess.run(["readelf", "-d", out], capture_output=True, text=True).stdout
        if "libgilvm" in needed:
            print("static: the program still needs libgilvm.so:\n" + needed)
            ok = False
    else:
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
