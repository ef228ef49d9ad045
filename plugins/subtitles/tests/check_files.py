"""Reads the subtitle files test_sub_files wrote into DIR with two independent readers,
ffmpeg (converting each file to SRT) and pysubs2, and checks that every cue has the times
and text it was written with. Expected values come from NAME.json (the cues: times in
seconds, lines of raw words) and the format rules, re-stated here:

  times   ASS in centiseconds, SRT and WebVTT in milliseconds, rounded half up; a cue
          starts no earlier than the previous one ends and lasts at least one unit;
  ASS     { } and \\ are shown as full-width ｛ ｝ ＼;
  SRT     < { } \\ are shown as ＜ ｛ ｝ ＼ and the > of "-->" as ＞;
  WebVTT  & < > are entities (readers decode them); { } \\ are shown as ｛ ｝ ＼.

ffmpeg's SRT writer wraps text of a styled ASS event in <font face=... size=...>; that
wrapper is removed before comparing.

Karaoke ASS files must render with ffmpeg's ass filter (libass), drawing text.
Usage: check_files.py DIR"""
import glob
import html
import json
import math
import os
import re
import subprocess
import sys

import pysubs2

FULL = {"{": "\uff5b", "}": "\uff5d", "\\": "\uff3c", "<": "\uff1c", ">": "\uff1e"}
failures = []


def fail(message):
    failures.append(message)
    print("FAIL", message)


def display_lines(cue, fmt):
    lines = []
    for line in cue["lines"]:
        text = "".join((" " if space else "") + word for space, word in line)
        text = "".join(" " if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in text)
        if fmt == "ass":
            text = "".join(FULL[ch] if ch in "{}\\" else ch for ch in text)
        elif fmt == "srt":
            text = "".join(FULL[ch] if ch in "<{}\\" else ch for ch in text)
            text = text.replace("-->", "--" + FULL[">"])
        else:
            text = "".join(FULL[ch] if ch in "{}\\" else ch for ch in text)
        lines.append(text)
    return "\n".join(lines)


def expected(cues, fmt):
    unit = 10 if fmt == "ass" else 1  # ms per unit
    per_second = 1000 // unit
    out, previous_end = [], 0
    for cue in cues:
        start = math.floor(cue["start"] * per_second + 0.5)
        end = math.floor(cue["end"] * per_second + 0.5)
        start = max(start, previous_end)
        end = max(end, start + 1)
        previous_end = end
        out.append((start * unit, end * unit, display_lines(cue, fmt)))
    return out


def parse_srt(text):
    cues = []
    for block in text.replace("\r\n", "\n").strip("\n").split("\n\n"):
        rows = block.split("\n")
        start, _, end = rows[1].partition(" --> ")

        def ms(t):
            h, m, rest = t.strip().split(":")
            s, milli = rest.split(",")
            return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(milli)
        cues.append((ms(start), ms(end), "\n".join(rows[2:])))
    return cues


def compare(name, reader, got, want):
    if len(got) != len(want):
        fail(f"{name} ({reader}): {len(got)} cues, want {len(want)}: {got!r}")
        return
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            fail(f"{name} ({reader}) cue {i + 1}: got {g!r}, want {w!r}")


def check_file(path, cues, fmt, karaoke):
    name = os.path.basename(path)
    want = expected(cues, fmt)
    # ffmpeg: any format to SRT; ffmpeg's SRT writer shows text as it reads it
    run = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "srt", "-"],
                         capture_output=True, text=True)
    if run.returncode != 0 or run.stderr.strip():
        fail(f"{name}: ffmpeg could not read it: {run.stderr.strip()}")
    else:
        got = parse_srt(run.stdout)
        if fmt == "ass":
            got = [(s, e, re.sub(r'^<font face="[^"]*" size="\d+">(.*)</font>$', r"\1", t,
                                 flags=re.S)) for s, e, t in got]
        compare(name, "ffmpeg", got, want)
    # pysubs2
    subs = pysubs2.load(path, encoding="utf-8")
    got = []
    for event in subs:
        if event.is_comment:
            continue
        text = event.plaintext
        if fmt == "vtt":
            text = html.unescape(text)
        got.append((event.start, event.end, text))
    compare(name, "pysubs2", got, want)
    if fmt == "ass":
        if "PlayResX: 1280" not in open(path, encoding="utf-8").read():
            fail(f"{name}: no PlayResX")
        if karaoke:
            check_karaoke(path, subs)


def check_karaoke(path, subs):
    name = os.path.basename(path)
    # every event's \k durations add up to its length (centiseconds)
    for i, event in enumerate(subs):
        total = sum(int(part.split("}")[0]) for part in event.text.split("{\\k")[1:])
        if total * 10 != event.end - event.start:
            fail(f"{name} event {i + 1}: karaoke sums to {total} cs, lasts "
                 f"{(event.end - event.start) // 10} cs")
    # render a frame inside the first event; libass must draw something bright
    t0 = subs[0].start / 1000.0 + 0.2
    png = path + ".png"
    vf = f"setpts=PTS+{t0:.3f}/TB,ass={path}"
    run = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                          "color=c=black:s=1280x720:d=1", "-vf", vf, "-frames:v", "1", png],
                         capture_output=True, text=True)
    if run.returncode != 0 or not os.path.getsize(png):
        fail(f"{name}: ffmpeg ass filter failed: {run.stderr.strip()}")
        return
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", png, "-f", "rawvideo", "-pix_fmt",
                          "gray", "-"], capture_output=True)
    if max(raw.stdout, default=0) < 128:
        fail(f"{name}: the rendered frame at {t0:.2f} s shows no text")


def main():
    directory = sys.argv[1]
    filters = subprocess.run(["ffmpeg", "-hide_banner", "-filters"], capture_output=True,
                             text=True).stdout
    if not any(line.split()[1:2] == ["ass"] for line in filters.splitlines() if line.strip()):
        fail("this ffmpeg has no ass filter (libass)")
    cases = sorted(glob.glob(os.path.join(directory, "*.json")))
    if not cases:
        fail(f"no cases in {directory}")
    files = 0
    for case in cases:
        stem = case[:-len(".json")]
        with open(case, encoding="utf-8") as f:
            cues = json.load(f)
        for suffix, fmt, karaoke in ((".ass", "ass", False), (".karaoke.ass", "ass", True),
                                     (".srt", "srt", False), (".vtt", "vtt", False)):
            check_file(stem + suffix, cues, fmt, karaoke)
            files += 1
    print(f"{files} files from {len(cases)} cases read by ffmpeg and pysubs2: "
          f"{'ok' if not failures else str(len(failures)) + ' failure(s)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
