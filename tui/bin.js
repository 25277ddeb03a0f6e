#!/bin/sh
":" //; if [ -n "${NODE_EXTRA_CA_CERTS-}" ]; then DSTACK_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS; export DSTACK_NODE_EXTRA_CA_CERTS; unset NODE_EXTRA_CA_CERTS; fi; exec node "$0" "$@"
// The line above is both shell and JavaScript. Run as a program (`dstack`, `npx dstack`), sh
// reads it and starts Node without NODE_EXTRA_CA_CERTS, whose certificates Node 20 parses at
// every start (~45 ms here) while the client only speaks over a Unix socket; run as
// `node tui/bin.js`, it is a string and a comment. The variable comes back below, before
// anything the client starts (a local dstackd) or passes on (a job's env) could miss it.
import { run } from '../scripts/entry.js'

if (process.env.DSTACK_NODE_EXTRA_CA_CERTS !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env.DSTACK_NODE_EXTRA_CA_CERTS
  delete process.env.DSTACK_NODE_EXTRA_CA_CERTS
}

await run('dstack', 'tui/main.ts', { main: true })
