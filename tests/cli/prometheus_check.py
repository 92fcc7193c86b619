#!/usr/bin/env python3
"""Parses Prometheus's text exposition format (version 0.0.4) strictly and
checks values in it: what `shmrpc stats --format=prometheus` prints.

Usage: prometheus_check.py FILE [EXPECTATION...]

Every line must be a "# HELP name text" or "# TYPE name type" comment or a
sample "name{label="value",...} value"; each family has at most one HELP and
one TYPE, both before its samples, and its samples follow one another; a
summary's samples are name{...,quantile="q"}, name_sum and name_count; no
series appears twice.

An EXPECTATION is "name|label=value,label=value|OP NUMBER" with OP one of
=, >, >=: exactly one sample of that name must carry those labels (and any
others), and its value must compare so. Exits 0 if all holds, else prints
what did not to stderr and exits 1.
"""

import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(
    r"^(%s)(?:\{((?:%s=%s)(?:,%s=%s)*)?\})? (\S+)$" % (NAME, LABEL, VALUE, LABEL, VALUE)
)
PAIR = re.compile(r"(%s)=(%s)" % (LABEL, VALUE))
TYPES = {"counter", "gauge", "summary", "histogram", "untyped"}


def unescape(quoted):
    body = quoted[1:-1]
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), body)


def parse_value(text):
    if text in ("NaN", "+Inf", "-Inf"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", text):
        raise ValueError("bad value %r" % text)
    return float(text)


def family_of(name, types):
    """The family a sample name belongs to (summaries own _sum, _count)."""
    if name in types:
        return name
    for suffix in ("_sum", "_count", "_bucket"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("summary", "histogram"):
            return base
    return name


def parse(text):
    """Returns {(name, frozenset(labels.items())): value}; raises ValueError."""
    helps, types, samples = {}, {}, {}
    finished = set()  # families whose samples are over
    sampled = set()  # families with samples
    current = None
    for number, line in enumerate(text.split("\n"), 1):
        where = "line %d: %r" % (number, line)
        if line == "":
            continue
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (%s) (.*)" % NAME, line)
            if not m:
                raise ValueError("bad comment, " + where)
            kind, name, rest = m.groups()
            table = helps if kind == "HELP" else types
            if name in table:
                raise ValueError("second %s for %s, %s" % (kind, name, where))
            if kind == "TYPE" and rest not in TYPES:
                raise ValueError("unknown type, " + where)
            if name in sampled:
                raise ValueError("%s after samples of %s, %s" % (kind, name, where))
            table[name] = rest
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError("bad sample, " + where)
        name, label_text, value_text = m.groups()
        labels = {}
        for key, quoted in PAIR.findall(label_text or ""):
            if key in labels:
                raise ValueError("label %s twice, %s" % (key, where))
            labels[key] = unescape(quoted)
        family = family_of(name, types)
        if family not in types:
            raise ValueError("sample before its TYPE, " + where)
        if family != current:
            if family in finished:
                raise ValueError("family %s interleaved, %s" % (family, where))
            if current is not None:
                finished.add(current)
            current = family
        if types[family] == "summary" and name == family and "quantile" not in labels:
            raise ValueError("summary sample without quantile, " + where)
        sampled.add(family)
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise ValueError("series twice, " + where)
        samples[key] = parse_value(value_text)
    return samples


def check(samples, expectation):
    name, label_text, condition = expectation.split("|")
    wanted = dict(p.split("=", 1) for p in label_text.split(",") if p)
    m = re.fullmatch(r"(>=|=|>)\s*(\S+)", condition)
    if not m:
        return "bad expectation %r" % expectation
    op, number = m.group(1), float(m.group(2))
    found = [
        v
        for (n, labels), v in samples.items()
        if n == name and set(wanted.items()) <= set(labels)
    ]
    if len(found) != 1:
        return "%s: %d samples match, want 1" % (expectation, len(found))
    v = found[0]
    ok = {"=": v == number, ">": v > number, ">=": v >= number}[op]
    if math.isnan(v) or not ok:
        return "%s: the value is %r" % (expectation, v)
    return None


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        text = f.read()
    try:
        samples = parse(text)
    except ValueError as e:
        print("not valid exposition format: %s" % e, file=sys.stderr)
        return 1
    if not samples:
        print("no samples", file=sys.stderr)
        return 1
    failures = [f for f in (check(samples, e) for e in argv[2:]) if f]
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    print("%d samples, %d expectations checked" % (len(samples), len(argv) - 2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
