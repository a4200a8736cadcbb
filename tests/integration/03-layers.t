#!/bin/bash
# The modules as layers (docs/ARCHITECTURE.md): every #include in lib/ and cmd/ points to the
# same module or to a lower layer, every module and public header is in the table, the
# examples see only the public headers, and no header includes itself round a circle.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
exec python3 - "$ROOT" <<'EOF_PY'
import glob, os, re, sys

root = sys.argv[1]
doc = open(os.path.join(root, 'docs/ARCHITECTURE.md')).read()
def block(name):
    m = re.search(r'```' + name + r'\n(.*?)```', doc, re.S)
    return [l.split() for l in m.group(1).splitlines() if l.strip()] if m else []
layer = {}
for row in block('layers'):
    for mod in row[1:]:
        layer[mod] = int(row[0])
owner = {h: m for h, m in block('headers')}
n = 0
failed = 0
def t(ok, what):
    global n, failed
    n += 1
    print(('ok' if ok else 'not ok') + ' %d - %s' % (n, what))
    if not ok:
        failed += 1

t(bool(layer) and bool(owner), 'docs/ARCHITECTURE.md has the layers and headers tables')
mods = sorted(d for d in os.listdir(os.path.join(root, 'lib'))
              if os.path.isdir(os.path.join(root, 'lib', d)) and d not in ('include', 'abi'))
for m in mods:
    t(m in layer, 'lib/%s is in the layer table' % m)
for h in sorted(os.listdir(os.path.join(root, 'lib/include/m2m'))):
    t(h in owner and owner[h] in layer, 'public header m2m/%s has an owning module' % h)

inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
def target(path):
    d, _, h = path.partition('/')
    if d == 'm2m':
        return owner.get(h)
    return d if h else None

bad = []
files = glob.glob(os.path.join(root, 'lib/*/*.[ch]'))
for f in sorted(files):
    mod = f.split(os.sep)[-2]
    if mod not in layer:
        continue
    for i in inc.findall(open(f).read()):
        tg = target(i)
        if tg is None or tg == mod:
            continue
        if tg not in layer or layer[tg] >= layer[mod]:
            bad.append('%s includes %s (%s, layer %s; %s is on %d)' %
                       (os.path.relpath(f, root), i, tg, layer.get(tg, '?'), mod, layer[mod]))
for b in bad:
    print('# ' + b)
t(not bad, 'every #include under lib/ points to its own module or a lower layer')

up = []
for f in glob.glob(os.path.join(root, 'cmd/*.c')) + glob.glob(os.path.join(root, 'cmd/*/*.[ch]')):
    for i in inc.findall(open(f).read()):
        d = i.partition('/')[0]
        if '/' not in i or d in layer or d == 'm2m' or os.path.isdir(os.path.join(root, 'cmd', d)):
            continue
        up.append('%s includes %s' % (os.path.relpath(f, root), i))
t(not up, 'cmd/ includes only the modules of the table and its own files' +
  ('' if not up else ': ' + '; '.join(up)))

ex = []
for f in glob.glob(os.path.join(root, 'examples/*.c')):
    for i in inc.findall(open(f).read()):
        ex.append('%s includes "%s" (an application uses <m2m/...>)' % (os.path.relpath(f, root), i))
    for i in re.findall(r'^\s*#\s*include\s+<(m2m/[^>]+)>', open(f).read(), re.M):
        if i.partition('/')[2] not in owner:
            ex.append('%s includes <%s>, not a public header' % (os.path.relpath(f, root), i))
t(not ex, 'examples/ use the public headers only' + ('' if not ex else ': ' + '; '.join(ex)))

# header include circles (within and across modules)
hdrs = {}
for f in glob.glob(os.path.join(root, 'lib/*/*.h')) + glob.glob(os.path.join(root, 'lib/include/m2m/*.h')):
    key = os.path.relpath(f, os.path.join(root, 'lib'))
    key = key.replace('include/', '', 1) if key.startswith('include/') else key
    hdrs[key] = [i for i in inc.findall(open(f).read())]
circles = []
def walk(h, path):
    for i in hdrs.get(h, []):
        if i in path:
            circles.append(' -> '.join(path[path.index(i):] + [i]))
        elif i in hdrs and len(path) < 20:
            walk(i, path + [i])
for h in sorted(hdrs):
    walk(h, [h])
for c in sorted(set(circles)):
    print('# circle: ' + c)
t(not circles, 'no header includes itself through others')
print('1..%d' % n)
sys.exit(1 if failed else 0)
EOF_PY
