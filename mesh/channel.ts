// Channels: one-way messages to peers over one long-lived stream per peer, for traffic that is
// many small messages and needs no answer (Raft's). A request per message opens a new stream,
// negotiates the protocol and closes it again, which costs both ends more than the message; a
// channel pays for that once per peer and connection.
//
//   const ch = await mesh.channel('/dstack/raft/2', (value, from) => { ... })
//   ch.send(peerId, { msgs })        // false: dropped (peer unreachable, or too much queued)
//
// Delivery is best effort and in order per peer: a message is lost when the peer or its
// connection goes away, and the sender learns of it only through its own protocol (Raft resends).
// Frames are frames.ts's (length-prefixed JSON objects); a peer that sends anything else loses its
// stream, never the node.
import type { Stream } from '@libp2p/interface'
import { encodeFrame } from './frames.ts'
import { FrameReader, waitForDrain } from './rpc/libp2p.ts'
import { RPC_ERRORS, RpcError } from './rpc/protocol.ts'
import { linkedSignal } from './signals.ts'

export interface Channel {
  /**
   * Queues a JSON object for the peer and returns at once: true when queued, false when dropped
   * (the peer failed recently and is being left alone for a moment, its queue is full, or the
   * value is larger than a frame may be).
   */
  send (peerId: string, value: object): boolean
  /** When a message from this peer last arrived (ms since the epoch), if ever. */
  lastHeard (peerId: string): number | undefined
  /** Closes every stream of the channel and stops serving its protocol. */
  close (): Promise<void>
}

export type ChannelHandler = (value: Record<string, unknown>, from: string) => void

/** What the mesh gives a channel. */
export interface ChannelInit {
  protocol: string
  selfId: string
  onMessage: ChannelHandler
  /** Opens an outbound stream for the protocol (dialing the peer if needed). */
  open: (peerId: string, signal: AbortSignal) => Promise<Stream>
  /** Serves inbound streams of the protocol. */
  handle: (onStream: (stream: Stream, peerId: string) => void) => Promise<void>
  unhandle: () => Promise<void>
  maxFrameBytes: number
  /** How long opening a stream, or a write waiting for the peer to read, may take. */
  timeoutMs: number
  /** Aborted when the mesh stops. */
  stopSignal: AbortSignal
  log: (message: string) => void
}

/** Bytes queued for one peer before new messages are dropped. */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024
const MIN_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 1000

interface Outbound {
  stream: Stream | undefined
  queue: Uint8Array[]
  queuedBytes: number
  /** A loop is opening the stream or writing the queue. */
  busy: boolean
  /** New messages are dropped until then (the peer just failed). */
  retryAt: number
  backoffMs: number
  dropped: number
}

export async function openChannel (init: ChannelInit): Promise<Channel> {
  const { protocol, maxFrameBytes, log } = init
  const outbound = new Map<string, Outbound>()
  const inbound = new Set<Stream>()
  const heard = new Map<string, number>()
  let closed = false

  const deliver = (value: Record<string, unknown>, from: string): void => {
    heard.set(from, Date.now())
    try {
      init.onMessage(value, from)
    } catch (err) {
      log(`channel ${protocol}: the handler failed on a message from ${from}: ${(err as Error).message}`)
    }
  }

  function fail (peer: string, out: Outbound, err: unknown): void {
    out.stream?.abort(err instanceof Error ? err : new Error(String(err)))
    out.stream = undefined
    out.dropped += out.queue.length
    out.queue = []
    out.queuedBytes = 0
    if (closed) return
    if (out.backoffMs === 0) log(`channel ${protocol}: cannot send to ${peer}: ${(err as Error)?.message ?? String(err)}`)
    out.backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, out.backoffMs * 2))
    out.retryAt = Date.now() + out.backoffMs
  }

  /** Opens the stream when needed and writes the queue out, waiting for the peer when it is slow. */
  async function pump (peer: string, out: Outbound): Promise<void> {
    out.busy = true
    try {
      while (out.queue.length > 0 && !closed) {
        if (out.stream === undefined || out.stream.writeStatus !== 'writable') {
          const t = linkedSignal(init.timeoutMs, init.stopSignal)
          try {
            const stream = await init.open(peer, t.signal)
            stream.addEventListener('close', () => { if (out.stream === stream) out.stream = undefined })
            out.stream = stream
          } finally {
            t.dispose()
          }
          if (out.backoffMs > 0) log(`channel ${protocol}: ${peer} reachable again (${out.dropped} messages dropped meanwhile)`)
          out.backoffMs = 0
          out.dropped = 0
        }
        const stream = out.stream!
        const frame = out.queue.shift()!
        out.queuedBytes -= frame.byteLength
        if (!stream.send(frame)) {
          // A peer that stops reading (or a connection that went quiet) holds the stream: give up
          // on it after the timeout, so that the next message tries a fresh one.
          const t = linkedSignal(init.timeoutMs, init.stopSignal)
          try {
            await waitForDrain(stream, t.signal)
          } catch (err) {
            throw t.timedOut() ? new RpcError(RPC_ERRORS.timeout, `${peer} read nothing for ${init.timeoutMs} ms`) : err
          } finally {
            t.dispose()
          }
        }
      }
    } catch (err) {
      fail(peer, out, err)
    } finally {
      out.busy = false
    }
  }

  await init.handle((stream, from) => {
    if (closed) { stream.abort(new Error('the channel is closed')); return }
    inbound.add(stream)
    void (async () => {
      const reader = new FrameReader(stream, maxFrameBytes)
      try {
        for (;;) {
          const frame = await reader.next(init.stopSignal)
          if (frame === null) break
          deliver(frame, from)
        }
      } catch (err) {
        if (!closed && !init.stopSignal.aborted) log(`channel ${protocol}: stream from ${from} ended: ${(err as Error).message}`)
        stream.abort(err as Error)
      } finally {
        reader.dispose()
        inbound.delete(stream)
      }
    })()
  })

  return {
    send (peer, value) {
      if (closed) return false
      if (peer === init.selfId) {
        const copy = JSON.parse(JSON.stringify(value)) as Record<string, unknown>
        queueMicrotask(() => { if (!closed) deliver(copy, peer) })
        return true
      }
      let out = outbound.get(peer)
      if (out === undefined) {
        out = { stream: undefined, queue: [], queuedBytes: 0, busy: false, retryAt: 0, backoffMs: 0, dropped: 0 }
        outbound.set(peer, out)
      }
      if (out.retryAt > Date.now()) { out.dropped++; return false }
      let frame: Uint8Array
      try {
        frame = encodeFrame(value, maxFrameBytes)
      } catch (err) {
        log(`channel ${protocol}: a message to ${peer} cannot be sent: ${(err as Error).message}`)
        return false
      }
      if (out.queuedBytes + frame.byteLength > MAX_QUEUED_BYTES) { out.dropped++; return false }
      out.queue.push(frame)
      out.queuedBytes += frame.byteLength
      if (!out.busy) void pump(peer, out)
      return true
    },
    lastHeard: peer => heard.get(peer),
    async close () {
      if (closed) return
      closed = true
      await init.unhandle().catch(() => {})
      // Best effort: what is still queued or in flight is lost, as when a peer goes away.
      for (const out of outbound.values()) {
        out.queue = []
        out.stream?.abort(new Error('the channel is closed'))
      }
      for (const s of inbound) s.abort(new Error('the channel is closed'))
      outbound.clear()
    }
  }
}
