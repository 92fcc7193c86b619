#!/usr/bin/env python3
"""Runs what the docs show, so that they stay true.

1. Every shell block of README.md and docs/*.md that follows a marker
   comment is run, in order, from the repository root:

     <!-- ci: run -->                      run it; it must exit 0
     <!-- ci: run, output has "TEXT" -->    ... and print TEXT
     <!-- ci: background, ready when the output has "TEXT" -->
                                           start it (a server) and wait
                                           until it prints TEXT; it is
                                           stopped (SIGTERM) when the
                                           page's blocks are done

2. Every Bazel label that README.md, docs/*.md and examples/*/README.md
   quote in a `bazel run|build|test` command must exist (bazel query).

Prints one line per block and one for the labels, "docs WHAT: PASSED" or
"docs WHAT: FAILED" (tools/test.sh counts them), and exits non-zero on any
failure. Servers started here listen where the docs say; endpoints go to a
private SHMRPC_DIR.

  python3 tools/docs_test.py [FILE.md ...]
"""

import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = re.compile(r'^<!-- ci: (run|background)(?:, (?:ready when the )?output has "([^"]*)")? -->\s*$')
FENCE = re.compile(r"^```(\w*)\s*$")
LABEL = re.compile(r"\bbazel (?:run|build|test)\b[^`\n]*?\s(//[A-Za-z0-9_./:+-]*)")
BLOCK_TIMEOUT_S = 1200
READY_TIMEOUT_S = 600


def blocks(path):
    """Yields (line, kind, expect, code) for each marked block of `path`."""
    lines = open(path, encoding="utf-8").read().splitlines()
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if not m:
            i += 1
            continue
        start = i + 1
        if start >= len(lines) or not FENCE.match(lines[start]):
            raise SystemExit(f"{path}:{i + 1}: a ci marker must precede a fenced block")
        end = start + 1
        while end < len(lines) and not FENCE.match(lines[end]):
            end += 1
        yield i + 1, m.group(1), m.group(2), "\n".join(lines[start + 1:end])
        i = end + 1


def text_of(output):
    if output is None:
        return ""
    return output.decode(errors="replace") if isinstance(output, bytes) else output


def stop(proc):
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def run_page(path, env, results):
    rel = os.path.relpath(path, ROOT)
    background = []
    try:
        for line, kind, expect, code in blocks(path):
            what = f"{rel}:{line}"
            script = "set -euo pipefail\n" + code + "\n"
            if kind == "run":
                try:
                    p = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       timeout=BLOCK_TIMEOUT_S, text=True)
                    out, ok = p.stdout, p.returncode == 0
                    why = f"exit status {p.returncode}"
                except subprocess.TimeoutExpired as e:
                    out, ok, why = text_of(e.stdout), False, "timed out"
                if ok and expect is not None and expect not in out:
                    ok, why = False, f'output lacks "{expect}"'
                if not ok:
                    print(out[-4000:])
                    print(f"docs {what}: FAILED ({why})")
                else:
                    print(f"docs {what}: PASSED")
                results.append(ok)
                if not ok:
                    return  # later blocks depend on this one
            else:
                log = tempfile.NamedTemporaryFile(prefix="docs-bg-", suffix=".log", delete=False)
                proc = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env,
                                        stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
                background.append(proc)
                deadline = time.monotonic() + READY_TIMEOUT_S
                ok = False
                while time.monotonic() < deadline and proc.poll() is None:
                    with open(log.name, errors="replace") as f:
                        if expect in f.read():
                            ok = True
                            break
                    time.sleep(0.5)
                if not ok:
                    with open(log.name, errors="replace") as f:
                        print(f.read()[-4000:])
                    why = "exited" if proc.poll() is not None else "not ready in time"
                    print(f'docs {what}: FAILED ({why}; waited for "{expect}")')
                else:
                    print(f"docs {what}: PASSED (running)")
                results.append(ok)
                if not ok:
                    return
    finally:
        for proc in reversed(background):
            stop(proc)


def check_labels(results):
    files = [os.path.join(ROOT, "README.md")]
    files += sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    files += sorted(glob.glob(os.path.join(ROOT, "examples", "*", "README.md")))
    labels = set()
    for path in files:
        for m in LABEL.finditer(open(path, encoding="utf-8").read()):
            label = m.group(1).rstrip(".:")
            if os.path.relpath(path, ROOT).startswith("examples/external_workspace"):
                continue  # labels of that workspace
            labels.add(label)
    missing = []
    for label in sorted(labels):
        p = subprocess.run(["bazel", "query", "--noshow_progress", label], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            missing.append(label)
    if missing:
        print(f"docs labels: FAILED (no such target: {' '.join(missing)})")
    else:
        print(f"docs labels: PASSED ({len(labels)} quoted targets exist)")
    results.append(not missing)


def main():
    pages = sys.argv[1:] or [os.path.join(ROOT, "README.md")] + sorted(
        glob.glob(os.path.join(ROOT, "docs", "*.md")))
    env = dict(os.environ)
    env["SHMRPC_DIR"] = tempfile.mkdtemp(prefix="shmrpc-docs-")
    results = []
    for page in pages:
        run_page(os.path.abspath(page), env, results)
    check_labels(results)
    failed = results.count(False)
    print(f"docs: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
