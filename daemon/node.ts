// One dstackd node on one host: its data dir, identity and token, the state store, this host
// registered as an instance, the agent, the scheduler's controller and the client API.
import { randomBytes, randomUUID } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { hostname as osHostname } from 'node:os'
import { join } from 'node:path'
import { getInventory, type Inventory } from '../drivers/host/index.ts'
import { processRuntime } from '../drivers/runtime/index.ts'
import { normalizeGpuName, snapGpuMemoryGib, type Offer } from './config/index.ts'
import { startAgent } from './agent/index.ts'
import { createHandlers } from './api/handlers.ts'
import { createApiServer } from './api/server.ts'
import { startController } from './scheduler/controller.ts'
import { openStore } from './state/store.ts'
import { VERSION } from './version.ts'

export type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void

export interface NodeOptions {
  dataDir: string
  name?: string
  log: Log
}

export interface RunningNode {
  socketPath: string
  close (): Promise<void>
}

/** Reads a small secret file, or creates it (mode 0600) with `make()`. */
async function secretFile (path: string, make: () => string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const value = make()
    await writeFile(path, value + '\n', { mode: 0o600, flag: 'wx' }).catch(async e => {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    })
    await chmod(path, 0o600)
    return (await readFile(path, 'utf8')).trim()
  }
}

/** This host as an offer: what the scheduler matches requirements against. */
export function offerOf (inv: Inventory, name: string): Offer {
  return {
    backend: 'local',
    region: 'local',
    instance_type: name,
    price: 0,
    spot: false,
    cpu_arch: inv.cpuArch === 'arm' ? 'arm' : 'x86',
    cpus: inv.cpus,
    memory: inv.memoryBytes / 1024 ** 3,
    disk: inv.diskBytes / 1024 ** 3,
    gpus: inv.gpus.map(g => {
      const gpuName = normalizeGpuName(g.vendor, g.name)
      return { vendor: g.vendor, name: gpuName, memory: snapGpuMemoryGib(gpuName, g.memoryMib) }
    })
  }
}

export async function startNode (opts: NodeOptions): Promise<RunningNode> {
  const { dataDir, log } = opts
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const token = await secretFile(join(dataDir, 'token'), () => randomBytes(32).toString('hex'))
  const node = await secretFile(join(dataDir, 'node-id'), () => randomUUID())
  const name = opts.name ?? osHostname()
  const store = await openStore(join(dataDir, 'state'))
  const runtime = processRuntime({ rootDir: join(dataDir, 'jobs') })

  const inventory = await getInventory({ diskPath: dataDir })
  for (const w of inventory.warnings ?? []) log('warn', 'inventory', { warning: w })
  const address = inventory.addresses[0] ?? '127.0.0.1'
  await store.propose({
    type: 'instance.register', at: Date.now(), fleet: { id: 'local', name: 'local' },
    instance: { id: node, name: 'local-0', node, hostname: name, address, offer: offerOf(inventory, name), warnings: inventory.warnings ?? [] }
  })

  const agent = startAgent({ store, runtime, node, dataDir, log })
  await agent.recovered
  const controller = startController(store, log)
  const socketPath = join(dataDir, 'api.sock')
  const server = await createApiServer({
    socketPath,
    token,
    info: { version: VERSION, node, name },
    handlers: createHandlers({ store, runtime, dataDir, node, project: 'main', user: 'admin', version: VERSION }),
    log: event => log('warn', 'api', event as Record<string, unknown>)
  })
  log('info', 'dstackd ready', { socket: socketPath, node, name, version: VERSION, cpus: inventory.cpus, gpus: inventory.gpus.length })
  return {
    socketPath,
    async close () {
      controller.close()
      agent.close()
      await server.close()
      await store.close()
    }
  }
}
