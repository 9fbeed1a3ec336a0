#!/usr/bin/env python3
"""Doxygen INPUT_FILTER for weft's headers: docs/doxyfilter.py FILE.

The headers document every declaration with a plain C comment directly above
it (or after it, on the same line, for struct fields and enum values). This
filter hands Doxygen the same file with those comments turned into Doxygen
comments, on the fly, so the headers stay as they are:

  - a comment that starts a line and is followed on the next line by code
    becomes `/** \\verbatim ... \\endverbatim */` (the text is kept exactly as
    written: it is the manual, laid out by hand);
  - a comment that follows code on its line (a struct field, an enum value)
    becomes `/**< ... */` with Doxygen's special characters escaped;
  - the file's first comment becomes the file's own documentation (\\file);
  - a section banner (a comment between lines of '=') is added to the file's
    documentation too, so the reference shows each section's introduction;
  - every other comment ( comments followed by a blank line
    or by another comment or a preprocessor conditional) stays a plain comment.

Line numbers are preserved (nothing is added on a line of its own), so the
source browser and warnings point at the real header lines.
"""
import re
import sys

PLAIN_NEXT = re.compile(r"\s*(#\s*(if|ifdef|ifndef|else|elif|endif)\b|\}|$)")


def comments(src):
    """Yield (start, end) offsets of every /* */ comment outside literals."""
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in "\"'":
            q = c
            i += 1
            while i < n and src[i] != q:
                i += 2 if src[i] == "\\" else 1
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            if j < 0:
                return
            yield i, j + 2
            i = j + 2
        else:
            i += 1


STAR = re.compile(r"^\s*\*(?: |$)")


def tidy(body):
    """The comment's text without its layout: the first line's leading blanks,
    the " * " in front of each further line (or else their common indent), and
    a last line holding only blanks. Keeps the number of lines."""
    lines = body.split("\n")
    lines[0] = lines[0].strip()
    rest = lines[1:]
    if rest and not rest[-1].strip():
        rest[-1] = ""
    filled = [ln for ln in rest if ln.strip()]
    if filled and all(STAR.match(ln) for ln in filled):
        rest = [STAR.sub("", ln) for ln in rest]
    elif filled:
        ind = min(len(ln) - len(ln.lstrip()) for ln in filled)
        rest = [ln[ind:] for ln in rest]
    return "\n".join([lines[0]] + rest)


def escape(text):
    """text with every character Doxygen would read as markup escaped."""
    return re.sub(r'([\\@&$#<>%"])', r"\\\1", text)


def convert(src, name):
    pieces, last, first = [], 0, True
    for s, e in comments(src):
        raw = src[s + 2:e - 2]
        body = tidy(raw)
        line_start = src.rfind("\n", 0, s) + 1
        before = src[line_start:s]
        line_end = src.find("\n", e)
        line_end = len(src) if line_end < 0 else line_end
        after_same = src[e:line_end]
        next_line_end = src.find("\n", line_end + 1)
        next_line = src[line_end + 1:len(src) if next_line_end < 0 else next_line_end]
        new = None
        if raw.startswith("*") or raw.startswith("!"):
            new = None  # already a Doxygen comment: leave it
        elif before.lstrip().startswith("#") or re.fullmatch(r"\s*@@\w+@@\s*", raw):
            new = None  # after a preprocessor line, or a section marker
        elif re.match(r"\s*=+\s*$", body.split("\n")[0]) and not before.strip():
            # a section banner: its text joins the file's own documentation
            lines = body.split("\n")
            if re.match(r"=+\s*$", lines[-1]):
                lines[-1] = ""
            new = f"/** \\file {name}\n\\verbatim " + "\n".join(lines[1:]) + "\\endverbatim */"
        elif first and not before.strip():
            new = f"/** \\file {name}\n \\verbatim {body}\\endverbatim */"
            # keep the line count: the added newline replaces nothing, so fold it
            new = new.replace("\n", " ", 1)
        elif before.strip():
            # after a member on its line: escaped text (Doxygen mis-parses what follows
            # a one-line \verbatim block in a trailing comment)
            new = f"/**< {escape(body)} */"
        elif after_same.strip():
            new = f"/** \\verbatim {body}\\endverbatim */"
        elif not PLAIN_NEXT.match(next_line) and not next_line.lstrip().startswith("/*"):
            new = f"/** \\verbatim {body}\\endverbatim */"
        first = False
        if new is not None:
            pieces.append(src[last:s])
            pieces.append(new)
            last = e
    pieces.append(src[last:])
    return "".join(pieces)


def main(argv):
    if len(argv) != 1:
        print("usage: doxyfilter.py FILE", file=sys.stderr)
        return 2
    path = argv[0]
    with open(path, encoding="utf-8") as f:
        src = f.read()
    name = path.rsplit("/", 1)[-1]
    sys.stdout.write(convert(src, name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
