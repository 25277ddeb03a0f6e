// How Raft nodes reach each other (etcd's Transport): one-way batches of Raft messages, and
// proposals a follower forwards to the leader. `meshTransport` carries them over the mesh;
// `memoryNetwork` inside this process, for tests (nodes can be cut off and joined again).
//
// Messages: a node's batches to one peer arrive in the order sent, or not at all (Raft
// retransmits). Forwarding: `forward` resolves with the leader's answer; it rejects with an
// error whose `code` says what happened — with `remote: true`, the leader's own refusal
// (`not_leader`, `unavailable`, …); `unreachable` or `no_handler`, the proposal never
// reached a leader; anything else, it may or may not have been taken.
import type { Mesh } from '../index.ts'
import { RpcError as MeshRpcError } from '../rpc/protocol.ts'
import type { Message } from './types.ts'

/** Raft messages between members. */
export const RAFT_PROTOCOL = '/dstack/raft/2.0.0'
/** Proposals forwarded from a follower to the leader. */
export const RAFT_PROPOSE_PROTOCOL = '/dstack/raft-propose/1.0.0'

/** A proposal on its way to the leader: JSON data, or bytes as base64. */
export interface ForwardedProposal { data?: unknown, bytes?: string, timeoutMs?: number }

export interface RaftHandlers {
  /** A frame from `from`, as received: the node checks it is `{ msgs: Message[] }`. */
  deliver (frame: { msgs?: unknown }, from: string): void
  /** A proposal forwarded to this node; resolves once it is committed and applied here. */
  propose (body: ForwardedProposal, signal?: AbortSignal): Promise<{ index: number, term: number }>
}

export interface RaftTransport {
  /** This node's id. */
  readonly self: string
  /** Starts delivering to `handlers`. */
  listen (handlers: RaftHandlers): Promise<void>
  send (peer: string, msgs: Message[]): void
  forward (leader: string, body: ForwardedProposal, timeoutMs: number): Promise<{ index: number, term: number }>
  /** When something last came from `peer`, epoch ms. */
  lastHeard (peer: string): number | undefined
  /** How many peers are connected (for error messages). */
  peerCount (): number
  close (): Promise<void>
}

export interface MeshTransportOptions {
  /** How long opening a stream to a peer, or a write it does not read, may take, in ms. */
  messageTimeoutMs: number
}

/**
 * Over the mesh: a channel (mesh/channel.ts) on RAFT_PROTOCOL, one long-lived stream per peer
 * and one frame `{ msgs }` per batch; forwarded proposals are requests on RAFT_PROPOSE_PROTOCOL.
 */
export function meshTransport (mesh: Mesh, options: MeshTransportOptions): RaftTransport {
  let channel: Awaited<ReturnType<Mesh['channel']>> | null = null
  return {
    self: mesh.peerId,
    async listen (handlers) {
      channel = await mesh.channel(RAFT_PROTOCOL, (body, from) => handlers.deliver(body as { msgs?: unknown }, from), { timeoutMs: options.messageTimeoutMs })
      await mesh.handle(RAFT_PROPOSE_PROTOCOL, async (body: ForwardedProposal, ctx) => await handlers.propose(body, ctx.signal))
    },
    send (peer, msgs) { channel?.send(peer, { msgs }) },
    async forward (leader, body, timeoutMs) {
      return await mesh.request<{ index: number, term: number }>(leader, RAFT_PROPOSE_PROTOCOL, body, { timeoutMs: timeoutMs + 1000 })
    },
    lastHeard: peer => channel?.lastHeard(peer),
    peerCount: () => mesh.peers().length,
    async close () {
      await channel?.close()
      await mesh.unhandle(RAFT_PROPOSE_PROTOCOL).catch(() => {})
    }
  }
}

export interface MemoryNetwork {
  /** A node's transport on this network. */
  transport (id: string): RaftTransport
  /** Cuts `id` off from every other node (both ways), or joins it again. */
  isolate (id: string, isolated: boolean): void
}

/**
 * Nodes in one process. What crosses it is copied through JSON, as it would be on a wire;
 * delivery is asynchronous and in order per sender and receiver.
 */
export function memoryNetwork (): MemoryNetwork {
  const nodes = new Map<string, { handlers: RaftHandlers, heard: Map<string, number> }>()
  const isolated = new Set<string>()
  const wire = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T
  const reachable = (a: string, b: string): boolean => !isolated.has(a) && !isolated.has(b)
  return {
    isolate (id, on) { if (on) isolated.add(id); else isolated.delete(id) },
    transport (self) {
      return {
        self,
        async listen (handlers) { nodes.set(self, { handlers, heard: new Map() }) },
        send (peer, msgs) {
          const frame = wire({ msgs })
          queueMicrotask(() => {
            const to = nodes.get(peer)
            if (to === undefined || !reachable(self, peer)) return
            to.heard.set(self, Date.now())
            to.handlers.deliver(frame, self)
          })
        },
        async forward (leader, body, timeoutMs) {
          const to = nodes.get(leader)
          if (to === undefined || !reachable(self, leader)) throw new MeshRpcError('unreachable', `${leader} cannot be reached`)
          try {
            return wire(await to.handlers.propose(wire(body), AbortSignal.timeout(timeoutMs + 1000)))
          } catch (err) {
            const e = err as { code?: string, message?: string }
            throw new MeshRpcError(e.code ?? 'failed', e.message ?? String(err), true)
          }
        },
        lastHeard: peer => nodes.get(self)?.heard.get(peer),
        peerCount: () => [...nodes.keys()].filter(id => id !== self && reachable(self, id)).length,
        async close () { nodes.delete(self) }
      }
    }
  }
}
