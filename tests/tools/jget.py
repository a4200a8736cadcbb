#!/usr/bin/python3
"""jget.py PATH [PATH...] < JSON

Print the value at each PATH of the JSON document on stdin, one per line.
PATH is dot-separated: object keys or list indexes, e.g. profiles.0.state;
"." is the whole document. A key may also select a list element by a field:
profiles[name=pos].state. Strings are printed raw, numbers/bools/null/lists/
objects as JSON. Exit 1 if a path is missing, 2 if stdin is not JSON."""
import json
import re
import sys


def walk(doc, path):
    if path in ("", "."):
        return doc
    for part in path.split("."):
        m = re.fullmatch(r"([^\[]*)\[([^=\]]+)=([^\]]*)\]", part)
        if m:
            key, field, want = m.groups()
            if key:
                doc = doc[key]
            found = [e for e in doc if isinstance(e, dict) and str(e.get(field)) == want]
            if not found:
                raise KeyError(part)
            doc = found[0]
        elif isinstance(doc, list):
            doc = doc[int(part)]
        else:
            doc = doc[part]
    return doc


def main():
    try:
        doc = json.load(sys.stdin)
    except ValueError as e:
        print("jget: not JSON: %s" % e, file=sys.stderr)
        return 2
    rc = 0
    for path in sys.argv[1:] or ["."]:
        try:
            v = walk(doc, path)
        except (KeyError, IndexError, ValueError, TypeError):
            print("jget: no %s" % path, file=sys.stderr)
            rc = 1
            continue
        print(v if isinstance(v, str) else json.dumps(v))
    return rc


sys.exit(main())
