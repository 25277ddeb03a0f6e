// A job's ports, reachable through the daemon: `connect(node, submission, port)` gives a byte
// stream to that port of the job, wherever it runs. On this host it is a TCP connection to
// 127.0.0.1 (a container's ports are published there only, on the host port the runtime
// bound); on another host it is a libp2p stream of PORT_PROTOCOL to that host's dstackd,
// which makes the same local connection and relays. The mesh's private network admits only
// members; the API checks the caller before it asks (jobs.forward, later the SSH gateway).
//
// The stream opens with one line each way: the dialer's `{"submission","port"}`, the answer
// `{"ok":true}` or `{"error"}`; raw bytes follow in both directions.
import { connect as tcpConnect } from 'node:net'
import { Duplex } from 'node:stream'
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Mesh } from '../../mesh/index.ts'
import { RpcError } from '../../mesh/rpc/protocol.ts'

export const PORT_PROTOCOL = '/dstack/port/1.0.0'

/** A header line longer than this is not ours. */
const MAX_LINE = 4096
/** Opening a connection (dial, header, local connect) takes at most this. */
const CONNECT_TIMEOUT_MS = 10_000

export interface PortRelay {
  /** A byte stream to `port` of the job submission `submission`, which runs on `node`. */
  connect (node: string, submission: string, port: number): Promise<Duplex>
  close (): Promise<void>
}

export interface PortRelayOptions {
  mesh: Pick<Mesh, 'peerId' | 'libp2p'>
  /** The host port (on 127.0.0.1) where this host's job `submission` listens on `port`; throws when it does not. */
  localPort: (submission: string, port: number) => number
  /** Called for each connection made to a job of this host; the function it returns, when the connection closes (activity). */
  opened?: (submission: string) => () => void
  log?: (msg: string, fields?: Record<string, unknown>) => void
}

function localConnect (port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port, timeout: CONNECT_TIMEOUT_MS })
    socket.once('connect', () => { socket.setTimeout(0); resolve(socket) })
    socket.once('timeout', () => socket.destroy(new Error('timed out')))
    socket.once('error', err => reject(new RpcError('unavailable', `nothing answers on the job's port (${(err as NodeJS.ErrnoException).code ?? err.message})`)))
  })
}

/** A libp2p stream as a Node Duplex, with back-pressure both ways. */
export function streamDuplex (stream: Stream): Duplex {
  const duplex: Duplex = new Duplex({
    read () { try { stream.resume() } catch {} },
    write (chunk: Buffer, _enc, done) {
      if (stream.writeStatus !== 'writable') { done(new Error('the relay closed')); return }
      if (stream.send(chunk)) done()
      else stream.onDrain().then(() => done(), done)
    },
    final (done) { stream.close().then(() => done(), err => { stream.abort(err as Error); done() }) },
    destroy (err, done) { if (err) stream.abort(err); else void stream.close().catch(() => stream.abort(new Error('closed'))); done(err) }
  })
  stream.addEventListener('message', (evt: { data: Uint8Array | { subarray: () => Uint8Array } }) => {
    const data = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
    if (data.byteLength > 0 && !duplex.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))) {
      try { stream.pause() } catch {}
    }
  })
  stream.addEventListener('remoteCloseWrite', () => duplex.push(null))
  stream.addEventListener('close', (evt: Event) => {
    const err = (evt as Event & { error?: Error }).error
    if (err) duplex.destroy(err)
    else duplex.push(null)
  })
  return duplex
}

/** Reads one JSON line; what follows it stays in the stream. */
function readLine (d: Duplex): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    const done = (err?: Error, value?: Record<string, unknown>) => {
      d.off('readable', onReadable); d.off('error', onError); d.off('end', onEnd)
      if (err) reject(err); else resolve(value!)
    }
    const onError = (err: Error) => done(err)
    const onEnd = () => done(new Error('the relay closed before it answered'))
    const onReadable = () => {
      let chunk: Buffer | null
      while ((chunk = d.read() as Buffer | null) !== null) {
        buf = Buffer.concat([buf, chunk])
        const nl = buf.indexOf(10)
        if (nl >= 0) {
          if (nl + 1 < buf.length) d.unshift(buf.subarray(nl + 1))
          try {
            const v = JSON.parse(buf.subarray(0, nl).toString('utf8')) as unknown
            if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object')
            done(undefined, v as Record<string, unknown>)
          } catch (err) { done(new Error(`a bad relay header: ${(err as Error).message}`)) }
          return
        }
        if (buf.length > MAX_LINE) { done(new Error('a relay header too long')); return }
      }
    }
    d.on('readable', onReadable); d.on('error', onError); d.on('end', onEnd)
    onReadable()
  })
}

const line = (v: object) => JSON.stringify(v) + '\n'

export async function startPortRelay (opts: PortRelayOptions): Promise<PortRelay> {
  const { mesh } = opts
  const self = mesh.peerId

  const local = async (submission: string, port: number): Promise<Duplex> => {
    const socket = await localConnect(opts.localPort(submission, port))
    const closed = opts.opened?.(submission)
    if (closed) socket.once('close', closed)
    return socket
  }

  await mesh.libp2p.handle(PORT_PROTOCOL, async (stream: Stream) => {
    const d = streamDuplex(stream)
    d.on('error', () => {})
    try {
      const head = await withTimeout(readLine(d))
      const submission = head.submission
      const port = head.port
      if (typeof submission !== 'string' || !/^[0-9a-f-]{1,64}$/i.test(submission) || !Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
        throw new Error('expected {"submission", "port"}')
      }
      const target = await local(submission, port as number)
      d.write(line({ ok: true }))
      target.on('error', () => d.destroy())
      d.on('error', () => target.destroy())
      d.pipe(target).on('close', () => d.destroy())
      target.pipe(d)
    } catch (err) {
      d.end(line({ error: (err as Error).message }))
    }
  }, { maxInboundStreams: 1024, maxOutboundStreams: 1024, force: true })

  return {
    async connect (node, submission, port) {
      if (node === self) return await local(submission, port)
      let stream: Stream
      try {
        stream = await mesh.libp2p.dialProtocol(peerIdFromString(node), PORT_PROTOCOL, { signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS), maxOutboundStreams: 1024 })
      } catch (err) {
        throw new RpcError('unavailable', `the job runs on host ${node}, which did not answer (${(err as Error).message})`)
      }
      const d = streamDuplex(stream)
      d.write(line({ submission, port }))
      let answer: Record<string, unknown>
      try {
        answer = await withTimeout(readLine(d))
      } catch (err) {
        d.destroy()
        throw new RpcError('unavailable', `host ${node} did not relay: ${(err as Error).message}`)
      }
      if (answer.ok !== true) { d.destroy(); throw new RpcError('unavailable', `host ${node}: ${String(answer.error ?? 'refused')}`) }
      return d
    },
    async close () {
      await mesh.libp2p.unhandle(PORT_PROTOCOL).catch(() => {})
    }
  }
}

function withTimeout<T> (p: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS)
    p.then(v => { clearTimeout(t); resolve(v) }, e => { clearTimeout(t); reject(e) })
  })
}
