#!/bin/sh
":" //; f=$0; while [ -L "$f" ]; do l=$(readlink "$f"); case $l in /*) f=$l;; *) f=${f%/*}/$l;; esac; done; case $f in */*) ;; *) f=./$f;; esac; . "${f%/*}/launch.sh"
// The line above is both shell and JavaScript. Run as a program (`dstack`, `npx dstack`), sh
// reads it: it follows the links to this file and sources tui/launch.sh, which asks a resident
// client to run the command or starts Node on tui/start.cjs. Run as `node tui/bin.js`, the line
// is a string and a comment, and this module runs the client itself.
import { run } from '../scripts/entry.js'

await run('dstack', 'tui/main.ts', { main: true })
