// The RPC engine over a libp2p stream (a Transport), and the stream plumbing Raft's channels
// share (mesh/channel.ts): reading frames with back-pressure, waiting for a drain that works.
// Only the daemon loads this file: the `dstack` client never imports libp2p (STACK.md).
import type { Stream } from '@libp2p/interface'
import { FRAME_HEADER_BYTES, FrameDecoder, ProtocolError } from '../frames.ts'
import { linkedSignal } from '../signals.ts'
import { RPC_ERRORS, RpcError } from './protocol.ts'
import type { Transport } from './transport.ts'

/** Frames written in one turn of the event loop go out as one send, up to this many bytes. */
const BATCH_BYTES = 64 * 1024

/**
 * A libp2p stream as a Transport. Writes are coalesced (each send is a yamux frame and a
 * Noise message): what is written in one turn of the event loop goes out together, at the
 * latest when the loop gets a turn, or as soon as 64 KiB wait.
 */
export function streamTransport (stream: Stream, peer: string): Transport {
  let pending: Uint8Array[] = []
  let bytes = 0
  let scheduled = false
  const flush = (): void => {
    if (bytes === 0) return
    const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, bytes)
    pending = []
    bytes = 0
    if (stream.writeStatus === 'writable') stream.send(data)
  }
  return {
    peer,
    start (events) {
      let ended = false
      const end = (): void => { if (!ended) { ended = true; events.end() } }
      stream.addEventListener('message', (evt: { data: Uint8Array | { subarray: () => Uint8Array } }) => {
        const data = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
        if (data.byteLength > 0) events.data(data)
      })
      stream.addEventListener('end', end)
      stream.addEventListener('close', (evt: Event) => {
        const err = (evt as Event & { error?: Error }).error
        if (err == null) end()
        events.close(err ?? undefined)
      })
    },
    write (chunk) {
      if (stream.writeStatus !== 'writable') return true
      pending.push(chunk)
      bytes += chunk.byteLength
      if (bytes >= BATCH_BYTES) flush()
      else if (!scheduled) {
        scheduled = true
        setImmediate(() => {
          scheduled = false
          try { flush() } catch (err) { stream.abort(err as Error) }
        })
      }
      return !stream.writableNeedsDrain
    },
    async drained () {
      flush()
      await waitForDrain(stream).catch(() => {})
    },
    pause () { try { stream.pause() } catch {} },
    resume () { try { stream.resume() } catch {} },
    end () {
      flush()
      void closeWrite(stream)
    },
    destroy (err) {
      pending = []
      bytes = 0
      stream.abort(err ?? new Error('the session closed'))
    }
  }
}

/** Half-closes a stream after the last frame; a peer that does not read it in 5 s loses it. */
async function closeWrite (stream: Stream): Promise<void> {
  const t = linkedSignal(5000)
  try {
    await stream.close({ signal: t.signal })
  } catch (err) {
    stream.abort(err as Error)
  } finally {
    t.dispose()
  }
}

/** A codec failure (frames.ts) as an RpcError; anything else as it is. */
function rpcError (err: unknown): unknown {
  return err instanceof ProtocolError ? new RpcError(err.code, err.message) : err
}

/**
 * Reads frames off a stream. `next()` gives the next frame's JSON object, or null at a clean end.
 * Bytes are decoded as they arrive (frames.ts), so a declared length over the limit fails at the
 * header. When more than a frame's worth of bytes waits unread, the stream is paused (yamux stops
 * granting the sender window), so a slow reader holds back a fast writer instead of buffering.
 */
export class FrameReader {
  private readonly decoder: FrameDecoder
  /** Decoded frames not yet taken by `next()`, with the bytes each took on the wire. */
  private frames: Array<{ value: Record<string, unknown>, bytes: number }> = []
  /** Bytes of `frames`. */
  private queued = 0
  private ended = false
  private paused = false
  /** A bad frame: reported after the frames before it. */
  private decodeError: RpcError | undefined
  /** The stream was reset. */
  private error: Error | undefined
  private wake: (() => void) | undefined
  private readonly highWater: number
  private readonly onMessage = (evt: { data: Uint8Array | { subarray: () => Uint8Array } }): void => {
    const data = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
    if (data.byteLength === 0 || this.decodeError !== undefined) return
    try {
      this.decoder.feed(data, (value, bytes) => {
        this.frames.push({ value, bytes })
        this.queued += bytes
      })
    } catch (err) {
      this.decodeError = rpcError(err) as RpcError
    }
    if (!this.paused && this.queued + this.decoder.buffered > this.highWater && this.stream.readStatus === 'readable') {
      try { this.stream.pause(); this.paused = true } catch {}
    }
    this.poke()
  }

  private readonly onEnd = (): void => { this.ended = true; this.poke() }
  private readonly onClose = (evt: Event): void => {
    const err = (evt as Event & { error?: Error }).error
    if (err != null) {
      if (this.error === undefined) this.error = err
      this.ended = true
    } else if (this.stream.readBufferLength === 0) {
      // A clean close with bytes still held by a paused stream ends with 'end' once they are read.
      this.ended = true
    }
    this.poke()
  }

  constructor (private readonly stream: Stream, maxFrameBytes: number) {
    this.decoder = new FrameDecoder({ maxFrameBytes })
    // Past this many unread bytes a complete frame is always buffered, so pausing cannot stall.
    this.highWater = maxFrameBytes + FRAME_HEADER_BYTES + 64 * 1024
    stream.addEventListener('message', this.onMessage as any)
    stream.addEventListener('end', this.onEnd)
    stream.addEventListener('close', this.onClose)
    if (stream.readableEnded || (stream.status !== 'open' && stream.readBufferLength === 0)) this.ended = true
  }

  private maybeResume (): void {
    if (this.paused && this.queued + this.decoder.buffered <= this.highWater / 2) {
      this.paused = false
      try { this.stream.resume() } catch {}
    }
  }

  private poke (): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  async next (signal?: AbortSignal): Promise<Record<string, unknown> | null> {
    while (true) {
      const frame = this.frames.shift()
      if (frame !== undefined) {
        this.queued -= frame.bytes
        this.maybeResume()
        return frame.value
      }
      if (this.decodeError !== undefined) throw this.decodeError
      if (this.ended) {
        if (this.error !== undefined) throw new RpcError(RPC_ERRORS.connectionClosed, `the stream was reset (${this.error.message})`)
        try {
          this.decoder.finish()
        } catch (err) {
          throw rpcError(err)
        }
        return null
      }
      signal?.throwIfAborted()
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => { this.wake = undefined; reject(signal!.reason) }
        this.wake = () => { signal?.removeEventListener('abort', onAbort); resolve() }
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    }
  }

  dispose (): void {
    this.stream.removeEventListener('message', this.onMessage as any)
    this.stream.removeEventListener('end', this.onEnd)
    this.stream.removeEventListener('close', this.onClose)
    this.frames = []
    this.queued = 0
  }
}

/**
 * Waits until the stream can take more data. Not `stream.onDrain()`: in @libp2p/utils 7.4 its
 * promise is never reset after the first drain, so every later call resolves at once and a
 * writer that relies on it buffers without bound.
 */
export async function waitForDrain (stream: Stream, signal?: AbortSignal): Promise<void> {
  while (stream.writableNeedsDrain) {
    if (stream.writeStatus !== 'writable' && stream.writeStatus !== 'closing') throw new Error(`the stream is ${stream.writeStatus}`)
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        stream.removeEventListener('drain', onDrain)
        stream.removeEventListener('close', onClose)
        signal?.removeEventListener('abort', onAbort)
      }
      const onDrain = (): void => { cleanup(); resolve() }
      const onClose = (evt: Event): void => { cleanup(); reject((evt as Event & { error?: Error }).error ?? new Error('the stream closed')) }
      const onAbort = (): void => { cleanup(); reject(signal!.reason) }
      stream.addEventListener('drain', onDrain)
      stream.addEventListener('close', onClose)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    // The stream resumes sending in a microtask queued by the same event; let it run, then look
    // again (a connection-level drain does not mean this stream's window has room).
    await Promise.resolve()
    await Promise.resolve()
  }
}

