#!/bin/sh
":" //; f=$0; while [ -L "$f" ]; do l=$(readlink "$f"); case $l in /*) f=$l;; *) f=${f%/*}/$l;; esac; done; case $f in */*) ;; *) f=./$f;; esac; if [ -n "${NODE_EXTRA_CA_CERTS-}" ]; then DSTACK_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS; export DSTACK_NODE_EXTRA_CA_CERTS; unset NODE_EXTRA_CA_CERTS; fi; exec node "${f%/*}/start.cjs" "$@"
// The line above is both shell and JavaScript. Run as a program (`dstack`, `npx dstack`), sh
// reads it: it follows the links to this file and starts Node on tui/start.cjs, the CommonJS
// launcher (no ES module loader), without NODE_EXTRA_CA_CERTS, whose certificates Node 20
// parses at every start (~45 ms here) while the client only speaks over a Unix socket;
// start.cjs puts the variable back. Run as `node tui/bin.js`, the line is a string and a
// comment, and this module runs the client itself.
import { run } from '../scripts/entry.js'

await run('dstack', 'tui/main.ts', { main: true })
