// Prints this host's inventory and the offer dstackd would register for it, as JSON: the real
// detection path (drivers/host getInventory, daemon/node offerOf), for checking on a GPU host.
// Run from a bundle (scripts/gpu/build.js) where no node_modules can be installed.
import { hostname } from 'node:os'
import { getInventory } from '../../drivers/host/index.ts'
import { offerOf } from '../../daemon/node.ts'

const started = Date.now()
const inventory = await getInventory({ diskPath: process.argv[2] ?? '/' })
const ms = Date.now() - started
console.log(JSON.stringify({ ms, inventory, offer: offerOf(inventory, hostname()) }, null, 2))
