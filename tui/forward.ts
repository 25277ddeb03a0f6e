// A run's ports on localhost (SPEC §5.5): which local port each container port gets, the
// listeners, and each connection relayed through the node (`jobs.forward`) to the job, wherever
// it runs. A port asked for explicitly (`-p 8080:80`) must be free; any other takes the first
// free one counting up from the one it wants.
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ApiClient } from '../daemon/api/client.ts'
import type { PortMapping } from '../daemon/config/index.ts'

export interface PortRequest {
  /** The local port wanted. */
  local: number
  container: number
  /** Asked for by the user: taken is an error, not a reason to move on. */
  exact: boolean
}

/**
 * What to forward: the run's own ports, each overridden by a `-p` for the same container port.
 * `-p` may name only ports the run exposes (`run` names the run for that error).
 */
export function portRequests (runPorts: readonly PortMapping[], overrides: readonly PortMapping[], run: string): PortRequest[] {
  const requests = new Map<number, PortRequest>()
  for (const p of runPorts) {
    const local = p.local_port ?? p.container_port
    requests.set(p.container_port, { local, container: p.container_port, exact: p.local_port !== null && p.local_port !== p.container_port })
  }
  for (const p of overrides) {
    if (!requests.has(p.container_port)) {
      const exposed = [...requests.keys()]
      throw new Error(`run ${run} does not expose port ${p.container_port}${exposed.length > 0 ? ` (its ports: ${exposed.join(', ')})` : ' (it exposes no ports)'}`)
    }
    requests.set(p.container_port, { local: p.local_port ?? p.container_port, container: p.container_port, exact: p.local_port !== null })
  }
  return [...requests.values()]
}

function listen (port: number): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(null)
      else reject(err)
    })
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server))
  })
}

export interface BoundPort { local: number, container: number, server: Server }

/** Binds a listener on 127.0.0.1 for each request; on an error, closes the ones bound. */
export async function bindPorts (requests: readonly PortRequest[]): Promise<BoundPort[]> {
  const bound: BoundPort[] = []
  try {
    for (const r of requests) {
      let port = r.local
      let server = await listen(port)
      if (server === null && r.exact) {
        throw new Error(`port ${port} is already in use; use \`-p ${port + 1}:${r.container}\` to forward it to another local port`)
      }
      while (server === null && port < 65535) server = await listen(++port)
      if (server === null) throw new Error(`no free local port from ${r.local} up for port ${r.container}`)
      bound.push({ local: port, container: r.container, server })
    }
    return bound
  } catch (err) {
    for (const b of bound) b.server.close()
    throw err
  }
}

/** Opens a byte pipe to a container port of the job. */
export type Dial = (containerPort: number) => Promise<Duplex>

export interface Forwarding {
  ports: Array<{ local: number, container: number }>
  close (): void
}

/** Relays every connection to the bound ports through `dial`, until closed. */
export function relay (bound: readonly BoundPort[], dial: Dial): Forwarding {
  const sockets = new Set<Socket | Duplex>()
  for (const b of bound) {
    b.server.on('connection', (socket: Socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => socket.destroy())
      socket.pause()
      dial(b.container).then(target => {
        if (socket.destroyed) { target.destroy(); return }
        sockets.add(target)
        target.on('error', () => socket.destroy())
        target.on('close', () => { sockets.delete(target); socket.destroy() })
        socket.on('close', () => target.destroy())
        socket.pipe(target)
        target.pipe(socket)
        socket.resume()
      }, () => socket.destroy())
    })
  }
  return {
    ports: bound.map(b => ({ local: b.local, container: b.container })),
    close () {
      for (const b of bound) b.server.close()
      for (const s of sockets) s.destroy()
    }
  }
}

/** Which job of a run: replica and job number. */
export interface JobRef { run: string, replica: number, job: number }

/**
 * Dials through the node: one `jobs.forward` stream per container port gives the node's
 * relay address (on this host, since the client reaches the node by its local socket).
 */
export function nodeDialer (client: ApiClient, job: JobRef, signal: AbortSignal): Dial {
  const relays = new Map<number, Promise<{ host: string, port: number }>>()
  const relayOf = (port: number) => {
    let r = relays.get(port)
    if (r === undefined) {
      const items = client.stream('jobs.forward', { run: job.run, replica: job.replica, job: job.job, port }, { signal })[Symbol.asyncIterator]()
      r = items.next().then(first => {
        if (first.done === true) throw new Error(`the node closed the forward of port ${port}`)
        // Keep the stream open (the relay lives as long as it does) until `signal` ends it.
        void items.next().catch(() => undefined)
        return first.value
      })
      // A failed forward is asked for again at the next connection.
      r.catch(() => relays.delete(port))
      relays.set(port, r)
    }
    return r
  }
  return async port => {
    const { host, port: relayPort } = await relayOf(port)
    return await new Promise<Duplex>((resolve, reject) => {
      const socket = tcpConnect({ host, port: relayPort })
      socket.once('connect', () => { socket.off('error', reject); resolve(socket) })
      socket.once('error', reject)
    })
  }
}
