#!/usr/bin/env python3
"""
The built-in symbols of an Espruino build, read from the Espruino sources the way its own build
reads them (scripts/common.py get_jsondata over the board's WRAPPERSOURCES and DEFINES, as the
Makefile computes them), plus the board's pins and their functions (boards/BOARD.py) and its
built-in JS modules (JSMODULESOURCES). Nothing is compiled; the source tree is not written to
(the Makefile's generated files go to a temporary GENDIR).

  python3 symbols.py ESPRUINO_SRC BOARD > BOARD.json

Output: {"board", "symbols": [[type, class, name], ...], "libraries": [...], "jsmodules": [...],
         "pins": {name: [function, ...]}, "devices": {...}}
Used by tools/espruino-board/board.ts (npm run test:espruino); this file carries no Espruino code.
"""
import contextlib, importlib, io, json, os, re, subprocess, sys, tempfile

src, board_name = os.path.abspath(sys.argv[1]), sys.argv[2]

with tempfile.TemporaryDirectory() as gen:
    out = subprocess.run(['make', '-s', '--no-print-directory', 'BOARD=' + board_name, 'GENDIR=' + gen, 'RELEASE=1', 'varsonly'],
                         cwd=src, capture_output=True, text=True, check=True).stdout
def var(name):
    m = re.search('^' + name + ' = (.*)$', out, re.M)
    return m.group(1).split() if m else []
wrappers = var('WRAPPERSOURCES')
defines = [d for d in var('DEFINES') if d.startswith('-D')]
jsmodules = var('JSMODULESOURCES')

sys.path.insert(0, os.path.join(src, 'scripts'))
sys.path.insert(0, os.path.join(src, 'boards'))
import common, pinutils
# A source tree without git history (an exported copy) still has its symbols.
_git = common.get_git_hash
def _safe_git():
    try:
        return _git()
    except Exception:
        return ''
common.get_git_hash = _safe_git
sys.argv = ['symbols.py'] + wrappers + defines + ['-B' + board_name]
with contextlib.redirect_stdout(io.StringIO()):
    datas = common.get_jsondata(False, True)
    board = importlib.import_module(board_name)
    pins = board.get_pins()

try:
    version = common.get_version()
except Exception:
    version = ''
symbols = sorted(set((d.get('type', ''), d.get('class', ''), d.get('name', '')) for d in datas))
def modname(p):
    p = p.split(':', 1)[0] if ':' in p and not p.endswith(':') and not p.startswith('libs') else p
    base = os.path.basename(p)
    return base[:-7] if base.endswith('.min.js') else base[:-3]
result = {
    'board': board_name,
    'version': version,
    'variables': board.info.get('variables'),
    'symbols': [list(s) for s in symbols],
    'libraries': sorted(set(d['class'] for d in datas if d.get('type') == 'library')),
    'jsmodules': sorted(set(modname(m) for m in jsmodules)),
    'pins': {p['name'][1:] if p['name'].startswith('P') else p['name']: sorted(p['functions'].keys()) for p in pins},
    'devices': board.devices,
}
json.dump(result, sys.stdout)
