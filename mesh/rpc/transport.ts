// What the RPC engine needs from whatever carries its bytes: a duplex of byte chunks with
// back-pressure both ways. A Unix socket and an SSH channel are Node Duplex streams
// (`duplexTransport` below); a libp2p stream is adapted in ./libp2p.ts.
//
// Imports nothing at run time: the `dstack` client loads it and must start fast.
import type { Duplex } from 'node:stream'

export interface TransportEvents {
  /** A chunk of bytes, cut anywhere. */
  data (chunk: Uint8Array): void
  /** The other side closed its write side: no more data. */
  end (): void
  /** The transport is gone (after `end`, or at once when reset: then with the error). */
  close (err?: Error): void
}

export interface Transport {
  /** Who is at the other end, for logs and handlers: `unix#3`, a peer id. */
  readonly peer: string
  /** Starts delivering events; called once, by the session. */
  start (events: TransportEvents): void
  /** Queues bytes to send; false when the other side is behind: await `drained()` before more. */
  write (bytes: Uint8Array): boolean
  /** Resolves when `write` may go on (or the transport closed). */
  drained (): Promise<void>
  /** Stops delivering data until `resume` (this side reads too slowly). */
  pause (): void
  resume (): void
  /** Sends what is queued, then closes the write side. */
  end (): void
  /** Closes at once, both ways. */
  destroy (err?: Error): void
}

/** A Node Duplex (net.Socket, an ssh2 channel) as a Transport. */
export function duplexTransport (stream: Duplex, peer: string): Transport {
  let drained: Promise<void> | undefined
  return {
    peer,
    start (events) {
      stream.on('data', (chunk: Buffer) => events.data(chunk))
      stream.on('end', () => events.end())
      // EPIPE / ECONNRESET from a peer that left: 'close' follows and says it.
      let failure: Error | undefined
      stream.on('error', err => { failure = err })
      stream.on('close', () => events.close(failure))
    },
    write: bytes => stream.destroyed || stream.write(bytes),
    drained () {
      if (stream.destroyed || !stream.writableNeedDrain) return Promise.resolve()
      drained ??= new Promise<void>(resolve => {
        const done = (): void => {
          stream.off('drain', done)
          stream.off('close', done)
          drained = undefined
          resolve()
        }
        stream.on('drain', done)
        stream.on('close', done)
      })
      return drained
    },
    pause: () => { stream.pause() },
    resume: () => { if (!stream.destroyed) stream.resume() },
    end: () => { stream.end() },
    destroy: err => { stream.destroy(err) }
  }
}
