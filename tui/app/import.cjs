'use strict'
// A real import() for tui/app/load.ts. The client's bundle runs as a vm.Script, where import()
// has no loader (and a Script given one loses it when V8's code cache is used); a CommonJS file
// that Node itself loads has one. Specifiers resolve from here (tsx from node_modules).
module.exports = (specifier) => import(specifier)
