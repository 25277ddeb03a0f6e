// The mesh: a libp2p node (TCP + Noise + Yamux inside a private network), and on top of it
// join tokens, discovery and reconnection, membership events, JSON RPC over streams and gossip.
// It knows nothing of runs: the daemon builds on it.
//
//   const mesh = await createMesh({ dataDir, listen: ['/ip4/0.0.0.0/tcp/0'] })
//   const token = mesh.joinToken()                       // give this to the next node
//   const other = await createMesh({ dataDir: dir2, join: token })
//   await mesh.handle('/dstack/echo/1', body => body)
//   await other.request(mesh.peerId, '/dstack/echo/1', { hi: 1 })
import './polyfill.ts'
import { gossipsub, TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { setMaxListeners } from 'node:events'
import { readFile } from 'node:fs/promises'
import { join as joinPath } from 'node:path'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { ensureDataDir, loadOrCreateIdentity, MeshKeyError, newSwarmKey, readSwarmKey, swarmKeyFile, writeFileAtomic, writeSwarmKey } from './keys.ts'
import { openChannel, type Channel, type ChannelHandler } from './channel.ts'
import { MAX_FRAME_BYTES } from './frames.ts'
import { openSession, type RpcClient } from './rpc/client.ts'
import { streamTransport } from './rpc/libp2p.ts'
import { RPC_ERRORS, RpcError } from './rpc/protocol.ts'
import { serveSession, type Handlers } from './rpc/server.ts'
import { linkedSignal } from './signals.ts'
import { formatJoinToken, parseJoinToken } from './token.ts'

export { formatJoinToken, JoinTokenError, parseJoinToken, JOIN_TOKEN_PREFIX, type JoinToken } from './token.ts'
export type { Channel, ChannelHandler } from './channel.ts'
export { RpcError as MeshRpcError, RPC_ERRORS } from './rpc/protocol.ts'
export { MAX_FRAME_BYTES } from './frames.ts'

/** What a handler served with `handle()` knows about the call it serves. */
export interface RpcContext {
  /** The caller's peer id. */
  peerId: string
  /** The protocol the call came in on. */
  protocol: string
  /** Aborted when the caller goes away (the stream closes) or the mesh stops. */
  signal: AbortSignal
}

/**
 * Serves one protocol. Return (or resolve) a JSON value for request/response; return an
 * AsyncIterable (an `async function *`) to stream items, which `stream()` on the caller yields
 * in order. Throw an error with a string `code` to send that code.
 */
export type RpcHandler = (body: any, ctx: RpcContext) => unknown

export interface RequestOptions {
  /** Cancels the call (the caller gets a `cancelled` error). */
  signal?: AbortSignal
  /**
   * For `request()`: the whole call, dial included. For `stream()` and `dial()`: opening the
   * stream only; end a long stream with `signal` or by leaving the loop.
   * Default: the mesh's `requestTimeoutMs`.
   */
  timeoutMs?: number
}
export { MeshKeyError, readSwarmKey, IDENTITY_FILE, SWARM_KEY_FILE } from './keys.ts'

/** The default listen address (dstack's reserved range is 10000–10999). */
export const DEFAULT_LISTEN = '/ip4/0.0.0.0/tcp/10100'
/** Where a node remembers the members it has met, to find them again after a restart. */
export const PEERS_FILE = 'peers.json'
/** The protocol members use to tell each other about the rest of the mesh. */
export const PEER_EXCHANGE_PROTOCOL = '/dstack/mesh/peers/1.0.0'
/** The mDNS service dstack nodes announce and look for. */
export const MDNS_SERVICE_TAG = '_dstack._udp.local'

export interface MeshOptions {
  /**
   * The node's directory: `identity.key` (its Ed25519 key, so its peer id survives restarts),
   * `swarm.key` (the mesh's pre-shared key) and `peers.json` (members met so far). Created with
   * mode 0700 when missing; the key files are written with mode 0600.
   */
  dataDir: string
  /**
   * Multiaddrs to listen on. Default `['/ip4/0.0.0.0/tcp/10100']`. A TCP port of 0 picks a free
   * port; `addresses()` and `joinToken()` report the one actually bound.
   */
  listen?: string[]
  /**
   * Addresses to advertise to peers and put in join tokens instead of the bound ones (a public
   * address in front of a NAT, say). Default: the bound addresses.
   */
  announce?: string[]
  /**
   * A join token (see `joinToken()`): the node takes the mesh's swarm key from it and connects
   * to its bootstrap peers. Without it the node starts a new mesh, or rejoins the one its data
   * dir belongs to. A data dir that belongs to another mesh is refused.
   */
  join?: string
  /** Find members on the local network with mDNS (and dial them). Default false. */
  mdns?: boolean
  /**
   * The largest message on a `channel()` (Raft's: a snapshot goes in one), in bytes. Default
   * 16 MiB. RPC sessions always use the engine's one limit, MAX_FRAME_BYTES.
   */
  maxFrameBytes?: number
  /** The largest gossip payload accepted or sent, in bytes (JSON text). Default 1 MiB. */
  maxGossipBytes?: number
  /** Timeout of each dial to a peer, in milliseconds. Default 5000. */
  dialTimeoutMs?: number
  /** Default timeout of `request()` and of opening a `stream()`, in milliseconds. Default 10000. */
  requestTimeoutMs?: number
  /** First delay before redialing a member whose connection dropped, in ms. Default 500. */
  reconnectMinDelayMs?: number
  /** The longest delay between two redials of a member that stays away, in ms. Default 30000. */
  reconnectMaxDelayMs?: number
  /**
   * How often each connection is pinged, in ms; a connection whose ping fails is closed, so a
   * peer that vanishes without closing its sockets shows up in `peer:disconnect`. Default 5000.
   */
  pingIntervalMs?: number
  /**
   * Members to keep connections open to by itself (bootstrap peers, those met through peer
   * exchange, redials). Beyond it the node connects only when it has something to send.
   * Default: all of them. A big mesh wants a bound: every connection costs both ends.
   */
  maxPeers?: number
  /** Where the mesh reports what went wrong without failing anything. Default: nowhere. */
  log?: (message: string) => void
}

/** A connected member. */
export interface MeshPeer {
  /** Its peer id. */
  id: string
  /** The remote addresses of the open connections to it. */
  addresses: string[]
  /** Round-trip time measured by the last ping, in ms, when known. */
  rttMs?: number
}

/** Where a gossip message came from. */
export interface GossipMeta {
  topic: string
  /** The peer id of the node that published it (messages are signed). */
  from: string
}

export type GossipHandler = (value: any, meta: GossipMeta) => void | Promise<void>

export interface MeshEvents {
  /** The first connection to a peer opened. */
  'peer:connect': (peerId: string) => void
  /** The last connection to a peer closed. */
  'peer:disconnect': (peerId: string) => void
}

export interface Mesh {
  /** This node's peer id (stable across restarts with the same data dir). */
  readonly peerId: string
  /** The underlying libp2p node, for what this interface does not cover. */
  readonly libp2p: Libp2p
  /** The addresses this node listens on (or announces), each ending in /p2p/<peerId>. */
  addresses(): string[]
  /** A token that lets another node join this mesh: these addresses and the swarm key. */
  joinToken(): string
  /** The members connected now. */
  peers(): MeshPeer[]
  /**
   * Resolves once at least `count` (default 1) members are connected. Rejects after
   * `timeoutMs` (default: the mesh's `requestTimeoutMs`) or when `signal` fires.
   */
  waitForPeers(count?: number, options?: { signal?: AbortSignal, timeoutMs?: number }): Promise<MeshPeer[]>
  /**
   * Dials a multiaddr (ending in /p2p/<id>); resolves to the peer id once connected. Fails with
   * an error whose `code` is `timeout`, `handshake_failed` (another swarm key), `unreachable` or
   * `cancelled`.
   */
  connect(address: string, options?: { signal?: AbortSignal }): Promise<string>
  /**
   * Stops redialing a member, closes its connections and refuses it from then on, both ways
   * (it was deleted from the fleet). Until this node restarts: the caller forgets it again then.
   */
  forget(peerId: string): Promise<void>
  /**
   * Serves `protocol` with the RPC engine (mesh/rpc/): each inbound stream is one session
   * (no token: the private network admitted the peer) dispatching to `handlers` by method
   * name; a handler's `ctx.peer` is the caller's peer id. Replaces an earlier service.
   */
  serve(protocol: string, handlers: Handlers): Promise<void>
  /**
   * Opens a stream for `protocol` to a peer and a session of the RPC engine on it; close it
   * when done. Fails with a MeshRpcError: `bad_peer_id`, `unreachable`, `no_handler`,
   * `timeout`, `cancelled`, `stopped`.
   */
  dial(peerId: string, protocol: string, options?: RequestOptions): Promise<RpcClient>
  /** Serves `protocol` as one method of the same name (see RpcHandler); built on `serve`. */
  handle(protocol: string, handler: RpcHandler): Promise<void>
  unhandle(protocol: string): Promise<void>
  /**
   * Calls `protocol` on a peer with a JSON body and resolves to the JSON answer. Fails with a
   * MeshRpcError: the handler's own code (`remote: true`), or `timeout`, `cancelled`,
   * `unreachable`, `no_handler`, `connection_closed`, `bad_frame`, `frame_too_large`, `is_stream`.
   * A call to this node's own peer id runs the local handler.
   */
  request<T = unknown>(peerId: string, protocol: string, body?: unknown, options?: RequestOptions): Promise<T>
  /** Calls a streaming handler; yields its items in order. Leaving the loop closes the stream. */
  stream<T = unknown>(peerId: string, protocol: string, body?: unknown, options?: RequestOptions): AsyncIterable<T>
  /**
   * One-way messages on `protocol` over one long-lived stream per peer (channel.ts): for many
   * small messages that need no answer. `onMessage` gets each JSON object from any peer.
   * `timeoutMs` bounds opening a stream and a write the peer does not read (default: the
   * mesh's `requestTimeoutMs`).
   */
  channel(protocol: string, onMessage: ChannelHandler, options?: { timeoutMs?: number }): Promise<Channel>
  /** Publishes a JSON value on a gossip topic; resolves to the number of peers it was sent to. */
  publish(topic: string, value: unknown): Promise<number>
  /** Calls `handler` for each valid message on `topic` from other nodes. Returns an unsubscribe function. */
  subscribe(topic: string, handler: GossipHandler): () => void
  /** Peers known to be subscribed to `topic`. */
  subscribers(topic: string): string[]
  /** Listens for membership events; returns a function that removes the listener. */
  on<E extends keyof MeshEvents>(event: E, listener: MeshEvents[E]): () => void
  off<E extends keyof MeshEvents>(event: E, listener: MeshEvents[E]): void
  /** Closes every connection and stops the node. */
  stop(): Promise<void>
}

/** libp2p's listen errors carry stack traces in their message: keep the address and the reason. */
function listenError (err: unknown): Error {
  const e = err as Error
  if (e?.name !== 'UnsupportedListenAddressesError') return e
  const reasons = [...e.message.matchAll(/^\s+(\/\S+): (?:\w*Error: )?(.*)$/gm)].map(m => `${m[1]} (${m[2]})`)
  const out = new Error(`cannot listen on ${reasons.length > 0 ? reasons.join(', ') : 'the configured addresses'}`)
  Object.assign(out, { code: 'listen_failed', cause: e })
  return out
}

interface KnownPeer {
  addrs: string[]
  /** Dials that failed, or connections that dropped within FLAP_MS, in a row. */
  failures: number
  /** When the current connection opened. */
  connectedAt?: number
  nextAttempt: number
  dialing: boolean
}

const MAX_ADDRS_PER_PEER = 16

/** What went wrong, in words: libp2p sometimes rejects with a close Event instead of an Error. */
function reasonOf (err: unknown): string {
  if (err instanceof Event) return (err as Event & { error?: Error }).error?.message ?? `the connection closed (${err.type})`
  return (err as Error)?.message ?? String(err)
}
const PEER_EXCHANGE_INTERVAL_MS = 30_000
const MAX_EXCHANGED_PEERS = 256
/** A connection that closes sooner than this counts as a failure: a peer that takes our
 * connections and drops them at once (it refuses us) is redialed with a growing delay. */
const FLAP_MS = 5000

export async function createMesh (opts: MeshOptions): Promise<Mesh> {
  const log = opts.log ?? (() => {})
  const maxFrameBytes = opts.maxFrameBytes ?? MAX_FRAME_BYTES
  const maxGossipBytes = opts.maxGossipBytes ?? 1024 * 1024
  const dialTimeoutMs = opts.dialTimeoutMs ?? 5000
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000
  const minDelay = opts.reconnectMinDelayMs ?? 500
  const maxDelay = opts.reconnectMaxDelayMs ?? 30_000
  const maxPeers = opts.maxPeers ?? Infinity

  // Parse everything before touching the disk: a bad token must not leave a half-made data dir.
  const token = opts.join === undefined ? undefined : parseJoinToken(opts.join)
  const listen = (opts.listen ?? [DEFAULT_LISTEN])
  for (const a of [...listen, ...(opts.announce ?? [])]) {
    try { multiaddr(a) } catch (err) { throw new Error(`invalid listen/announce address ${JSON.stringify(a)}: ${(err as Error).message}`) }
  }

  await ensureDataDir(opts.dataDir)
  let swarmKey = await readSwarmKey(opts.dataDir)
  if (token !== undefined) {
    if (swarmKey !== undefined && Buffer.compare(Buffer.from(swarmKey), Buffer.from(token.swarmKey)) !== 0) {
      throw new MeshKeyError('other_mesh', `${opts.dataDir} already belongs to another mesh (its swarm key differs from the token's); use a fresh data dir to join this one`)
    }
    if (swarmKey === undefined) {
      swarmKey = token.swarmKey
      await writeSwarmKey(opts.dataDir, swarmKey)
    }
  } else if (swarmKey === undefined) {
    swarmKey = newSwarmKey()
    await writeSwarmKey(opts.dataDir, swarmKey)
  }
  const privateKey = await loadOrCreateIdentity(opts.dataDir)

  const peerDiscovery = []
  if (opts.mdns === true) {
    const { mdns } = await import('@libp2p/mdns')
    // Our own service name, so that only dstack nodes are dialed (they still need the swarm key).
    peerDiscovery.push(mdns({ serviceTag: MDNS_SERVICE_TAG }))
  }

  // Members deleted from the fleet (`forget`): no connection to or from them.
  const refused = new Set<string>()
  const node = await createLibp2p({
    start: false,
    connectionGater: {
      denyDialPeer: peerId => refused.has(peerId.toString()),
      denyInboundEncryptedConnection: peerId => refused.has(peerId.toString())
    },
    privateKey,
    addresses: { listen, announce: opts.announce },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // A window no larger than a stream's read buffer (4 MiB), so that a paused stream (a slow
    // reader, see FrameReader) holds the sender back instead of overflowing and being aborted.
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: 2 * 1024 * 1024 } })],
    connectionProtector: preSharedKey({ psk: new TextEncoder().encode(swarmKeyFile(swarmKey)) }),
    peerDiscovery,
    connectionManager: {
      // libp2p refuses more than 5 inbound connections a second from one host by default, which
      // refuses real members on loopback and behind one NAT (STACK.md).
      allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'],
      inboundConnectionThreshold: 50,
      dialTimeout: dialTimeoutMs,
      // A peer without the swarm key can leave an inbound upgrade waiting on garbage.
      inboundUpgradeTimeout: Math.max(2000, dialTimeoutMs),
      // Our own loop redials members; libp2p's would give up after a few tries.
      reconnectRetries: 0
    },
    connectionMonitor: { pingInterval: opts.pingIntervalMs ?? 5000 },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        globalSignaturePolicy: 'StrictSign',
        maxInboundDataLength: maxGossipBytes + 64 * 1024,
        // Gossipsub's sybil defence scores down more than ten peers from one IP, and then drops
        // their messages. Every member here holds the swarm key, and hosts behind one NAT (or
        // daemons on one machine) share an IP: the defence would silence the eleventh host.
        scoreParams: { IPColocationFactorWeight: 0 }
      })
    }
  })
  const pubsub = node.services.pubsub as GossipSub
  const selfId = node.peerId.toString()

  const stopController = new AbortController()
  // Every call in flight listens on it.
  setMaxListeners(Infinity, stopController.signal)
  let stopping = false
  const listeners = new Map<keyof MeshEvents, Set<(peerId: string) => void>>()
  const emit = (event: keyof MeshEvents, peerId: string): void => {
    for (const l of listeners.get(event) ?? []) {
      try { l(peerId) } catch (err) { log(`${event} listener failed: ${(err as Error).message}`) }
    }
  }

  // ---- members we know, and redialing them ----
  const known = new Map<string, KnownPeer>()
  const peersPath = joinPath(opts.dataDir, PEERS_FILE)
  let saveTimer: NodeJS.Timeout | undefined
  let saving: Promise<void> = Promise.resolve()
  const save = (): void => {
    if (saveTimer !== undefined || stopping) return
    saveTimer = setTimeout(() => { saveTimer = undefined; void flush() }, 200)
    saveTimer.unref()
  }
  const flush = async (): Promise<void> => {
    const data = JSON.stringify({ version: 1, peers: [...known].map(([id, k]) => ({ id, addrs: k.addrs })) }, null, 1)
    saving = saving.then(() => writeFileAtomic(peersPath, data)).catch(err => log(`cannot save ${peersPath}: ${(err as Error).message}`))
    await saving
  }

  const cleanAddrs = (id: string, addrs: Array<string | Multiaddr>): string[] => {
    const out: string[] = []
    for (const a of addrs) {
      try {
        let ma = typeof a === 'string' ? multiaddr(a) : a
        const comps = ma.getComponents()
        const last = comps[comps.length - 1]
        if (last?.name === 'p2p') {
          if (last.value !== id) continue
          ma = ma.decapsulateCode(last.code)
        }
        if (!comps.some(c => c.name === 'tcp')) continue
        const s = ma.toString()
        if (!out.includes(s)) out.push(s)
      } catch {}
    }
    return out.slice(0, MAX_ADDRS_PER_PEER)
  }

  const remember = (id: string, addrs: Array<string | Multiaddr>, dialSoon: boolean): void => {
    if (id === selfId) return
    const clean = cleanAddrs(id, addrs)
    const k = known.get(id)
    if (k === undefined) {
      if (clean.length === 0) return
      known.set(id, { addrs: clean, failures: 0, nextAttempt: dialSoon ? 0 : Date.now() + minDelay, dialing: false })
      save()
      return
    }
    const merged = [...clean, ...k.addrs.filter(a => !clean.includes(a))].slice(0, MAX_ADDRS_PER_PEER)
    if (merged.join() !== k.addrs.join()) { k.addrs = merged; save() }
    if (dialSoon && k.failures > 0) k.nextAttempt = 0
  }

  try {
    const text = await readFile(peersPath, 'utf8')
    const data = JSON.parse(text) as { peers?: Array<{ id?: unknown, addrs?: unknown }> }
    for (const p of Array.isArray(data.peers) ? data.peers : []) {
      if (typeof p?.id !== 'string' || !Array.isArray(p.addrs)) continue
      try { peerIdFromString(p.id) } catch { continue }
      remember(p.id, p.addrs.filter((a): a is string => typeof a === 'string'), true)
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log(`ignoring ${peersPath}: ${(err as Error).message}`)
  }
  for (const a of token?.bootstrap ?? []) {
    const comps = multiaddr(a).getComponents()
    const id = comps[comps.length - 1]!.value!
    remember(id, [a], true)
  }

  const isConnected = (id: string): boolean => {
    try { return node.getConnections(peerIdFromString(id)).length > 0 } catch { return false }
  }

  const backOff = (k: KnownPeer): void => {
    k.failures++
    const delay = Math.min(maxDelay, minDelay * 2 ** Math.min(k.failures, 20))
    k.nextAttempt = Date.now() + delay * (0.8 + Math.random() * 0.4)
  }

  const dialKnown = async (id: string, k: KnownPeer): Promise<void> => {
    k.dialing = true
    const linked = linkedSignal(dialTimeoutMs, stopController.signal)
    try {
      const targets = k.addrs.map(a => multiaddr(`${a}/p2p/${id}`))
      await node.dial(targets, { signal: linked.signal })
    } catch (err) {
      if (stopping) return
      backOff(k)
      if (k.failures === 1 || k.failures % 10 === 0) log(`cannot reach ${id} (${k.failures} tries): ${(err as Error).message}`)
    } finally {
      linked.dispose()
      k.dialing = false
    }
  }

  let lastExchange = Date.now()
  const tick = (): void => {
    if (stopping) return
    const now = Date.now()
    if (now - lastExchange > PEER_EXCHANGE_INTERVAL_MS) {
      // Now and then ask one member whom it knows, to heal a mesh that formed in pieces.
      lastExchange = now
      const connected = node.getPeers()
      if (connected.length > 0) void exchange(connected[Math.floor(Math.random() * connected.length)]!.toString())
    }
    const connected = new Set(node.getPeers().map(p => p.toString()))
    let room = maxPeers - connected.size
    for (const k of known.values()) if (k.dialing) room--
    if (room <= 0) return
    // In random order, so that a bound on peers does not send every node to the same few.
    const order = [...known]
    for (let i = order.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [order[i], order[j]] = [order[j]!, order[i]!] }
    for (const [id, k] of order) {
      if (room <= 0) break
      if (k.dialing || now < k.nextAttempt || connected.has(id)) continue
      room--
      void dialKnown(id, k)
    }
  }

  // ---- peer exchange: ask each new member whom it knows ----
  const exchange = async (id: string): Promise<void> => {
    if (stopping) return
    let answer: unknown
    try {
      answer = await request(id, PEER_EXCHANGE_PROTOCOL, {})
    } catch (err) {
      if (!stopping) log(`peer exchange with ${id} failed: ${(err as Error).message}`)
      return
    }
    const list = (answer as { peers?: unknown })?.peers
    if (!Array.isArray(list)) return
    for (const p of list.slice(0, MAX_EXCHANGED_PEERS)) {
      if (typeof p?.id !== 'string' || !Array.isArray(p.addrs)) continue
      try { peerIdFromString(p.id) } catch { continue }
      const fresh = !known.has(p.id)
      remember(p.id, p.addrs.filter((a: unknown): a is string => typeof a === 'string'), true)
      if (fresh) tick()
    }
  }

  const onConnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    const k = known.get(id)
    if (k !== undefined) k.connectedAt = Date.now()
    emit('peer:connect', id)
    // Wait for identify, so that both sides know each other's listen addresses.
    // Only if still connected: a request would dial again, and a peer that refuses us would
    // then be redialed every 300 ms.
    const t = setTimeout(() => { if (isConnected(id)) void exchange(id) }, 300)
    t.unref()
  }
  const onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    const k = known.get(id)
    if (k !== undefined && !k.dialing && !isConnected(id)) {
      if (k.connectedAt !== undefined && Date.now() - k.connectedAt < FLAP_MS) {
        backOff(k)
        if (k.failures === 1 || k.failures % 10 === 0) log(`${id} closed the connection right after it opened (${k.failures} in a row): it may refuse this node`)
      } else {
        k.failures = 0
        k.nextAttempt = Date.now() + minDelay
      }
    }
    emit('peer:disconnect', id)
  }
  const onIdentify = (evt: CustomEvent<{ peerId: PeerId, listenAddrs: Multiaddr[] }>): void => {
    remember(evt.detail.peerId.toString(), evt.detail.listenAddrs, false)
  }
  const onDiscovery = (evt: CustomEvent<{ id: PeerId, multiaddrs: Multiaddr[] }>): void => {
    const id = evt.detail.id.toString()
    if (id === selfId || isConnected(id) || evt.detail.multiaddrs.length === 0) return
    // Not remembered until it connects: a node of another mesh on the same LAN never will.
    const linked = linkedSignal(dialTimeoutMs, stopController.signal)
    node.dial(evt.detail.multiaddrs.map(m => m.toString().includes('/p2p/') ? m : m.encapsulate(`/p2p/${id}`)), { signal: linked.signal })
      .catch(err => { if (!stopping) log(`cannot dial discovered peer ${id}: ${(err as Error).message}`) })
      .finally(() => linked.dispose())
  }
  node.addEventListener('peer:connect', onConnect)
  node.addEventListener('peer:disconnect', onDisconnect)
  node.addEventListener('peer:identify', onIdentify as any)
  node.addEventListener('peer:discovery', onDiscovery as any)

  // ---- RPC: the engine of mesh/rpc/ over one libp2p stream per session ----
  const services = new Map<string, Handlers>()
  const openStream = (id: string, protocol: string) => async (signal: AbortSignal): Promise<Stream> => {
    let pid: PeerId
    try { pid = peerIdFromString(id) } catch { throw new RpcError(RPC_ERRORS.badPeerId, `${JSON.stringify(String(id).slice(0, 80))} is not a peer id`) }
    if (stopping) throw new RpcError(RPC_ERRORS.stopped, 'the mesh is stopped')
    const k = known.get(id)
    if (node.getConnections(pid).length === 0 && k !== undefined) {
      // Not connected: dial the addresses we know for it (libp2p's peer store may have none yet).
      await node.dial(k.addrs.map(a => multiaddr(`${a}/p2p/${id}`)), { signal })
    }
    return await node.dialProtocol(pid, protocol, { signal, maxOutboundStreams: 1024 })
  }
  const serve = async (protocol: string, handlers: Handlers): Promise<void> => {
    services.set(protocol, handlers)
    await node.handle(protocol, (stream: Stream, connection: Connection) => {
      const h = services.get(protocol)
      if (h === undefined) { stream.abort(new Error('no handler')); return }
      const peer = connection.remotePeer.toString()
      serveSession(streamTransport(stream, peer), {
        handlers: h,
        signal: stopController.signal,
        log: e => log(`rpc ${protocol} from ${peer}: ${String(e.message ?? e.error ?? e.event)}`)
      })
    }, { maxInboundStreams: 1024, maxOutboundStreams: 1024, force: true })
  }
  /** Opens a session; `linked` bounds the dial. Errors are the MeshRpcErrors callers expect. */
  const dialSession = async (peerId: string, protocol: string, signal: AbortSignal, why: () => RpcError | undefined): Promise<RpcClient> => {
    let stream: Stream
    try {
      stream = await openStream(peerId, protocol)(signal)
    } catch (err) {
      throw why() ?? (err instanceof RpcError ? err
        : (err as Error)?.name === 'UnsupportedProtocolError' ? new RpcError(RPC_ERRORS.noHandler, `${protocol} on ${peerId}: the peer does not serve this protocol`)
          : new RpcError(RPC_ERRORS.unreachable, `${protocol} on ${peerId}: cannot reach the peer (${reasonOf(err)})`))
    }
    return await openSession(streamTransport(stream, peerId), { remote: `${protocol} on ${peerId}` })
  }
  /** Why a call's signal fired: the caller's own signal, the timeout or the mesh stopping. */
  const abortReason = (what: string, linked: { signal: AbortSignal, timedOut: () => boolean }, timeoutMs: number, caller?: AbortSignal) => (): RpcError | undefined => {
    if (caller?.aborted === true) return new RpcError(RPC_ERRORS.cancelled, `${what}: cancelled by the caller`)
    if (linked.timedOut()) return new RpcError(RPC_ERRORS.timeout, `${what}: no answer within ${timeoutMs} ms`)
    if (linked.signal.aborted) return new RpcError(RPC_ERRORS.stopped, `${what}: the mesh is stopped`)
    return undefined
  }
  const dial = async (peerId: string, protocol: string, options?: RequestOptions): Promise<RpcClient> => {
    const timeoutMs = options?.timeoutMs ?? requestTimeoutMs
    const linked = linkedSignal(timeoutMs, options?.signal, stopController.signal)
    try {
      return await dialSession(peerId, protocol, linked.signal, abortReason(`${protocol} on ${peerId}`, linked, timeoutMs, options?.signal))
    } finally {
      linked.dispose()
    }
  }
  const registerHandler = async (protocol: string, handler: RpcHandler): Promise<void> => {
    await serve(protocol, { [protocol]: (body, ctx) => handler(body, { peerId: ctx.peer, protocol, signal: ctx.signal }) })
  }
  /** A call to ourselves: the local handler, with the same JSON round trip as a remote call. */
  const local = (protocol: string, body: unknown): { handler: RpcHandler, body: unknown } => {
    const handler = services.get(protocol)?.[protocol]
    if (handler === undefined) throw new RpcError(RPC_ERRORS.noHandler, `${protocol} on ${selfId}: this node does not serve this protocol`)
    return { handler: (b, ctx) => handler(b, { peer: ctx.peerId, method: protocol, signal: ctx.signal }), body: body === undefined ? undefined : JSON.parse(JSON.stringify(body)) }
  }
  const roundTrip = (v: unknown): unknown => v === undefined ? undefined : JSON.parse(JSON.stringify(v))
  const codeOf = (err: unknown): RpcError => err instanceof RpcError ? err : new RpcError(typeof (err as any)?.code === 'string' ? (err as any).code : RPC_ERRORS.internal, err instanceof Error ? err.message : String(err), undefined, true)

  async function request<T> (peerId: string, protocol: string, body?: unknown, options?: RequestOptions): Promise<T> {
    if (peerId === selfId) {
      const l = local(protocol, body)
      const ctx = { peerId: selfId, protocol, signal: options?.signal ?? stopController.signal }
      let result: unknown
      try { result = await l.handler(l.body, ctx) } catch (err) { throw codeOf(err) }
      if (result != null && typeof (result as any)[Symbol.asyncIterator] === 'function') throw new RpcError(RPC_ERRORS.isStream, 'the handler streams its answer: call stream() instead of request()')
      return roundTrip(result) as T
    }
    const timeoutMs = options?.timeoutMs ?? requestTimeoutMs
    const linked = linkedSignal(timeoutMs, options?.signal, stopController.signal)
    const why = abortReason(`${protocol} on ${peerId}`, linked, timeoutMs, options?.signal)
    let client: RpcClient | undefined
    try {
      client = await dialSession(peerId, protocol, linked.signal, why)
      return await client.call(protocol, body, { signal: linked.signal }) as T
    } catch (err) {
      throw why() ?? err
    } finally {
      linked.dispose()
      void client?.close()
    }
  }

  async function * stream<T> (peerId: string, protocol: string, body?: unknown, options?: RequestOptions): AsyncGenerator<T> {
    if (peerId === selfId) {
      const l = local(protocol, body)
      const signal = options?.signal ?? stopController.signal
      let result: unknown
      try { result = await l.handler(l.body, { peerId: selfId, protocol, signal }) } catch (err) { throw codeOf(err) }
      if (result == null || typeof (result as any)[Symbol.asyncIterator] !== 'function') { yield roundTrip(result) as T; return }
      try {
        for await (const item of result as AsyncIterable<unknown>) yield roundTrip(item) as T
      } catch (err) { throw codeOf(err) }
      return
    }
    // The timeout covers opening the stream; after that only the caller's signal ends it.
    const client = await dial(peerId, protocol, options)
    try {
      for await (const item of client.stream(protocol, body, { signal: options?.signal })) yield item as T
    } finally {
      void client.close()
    }
  }

  await registerHandler(PEER_EXCHANGE_PROTOCOL, (_body, ctx) => {
    const peers: Array<{ id: string, addrs: string[] }> = []
    for (const pid of node.getPeers()) {
      const id = pid.toString()
      const k = known.get(id)
      if (id === ctx.peerId || k === undefined) continue
      peers.push({ id, addrs: k.addrs })
    }
    return { peers: peers.slice(0, MAX_EXCHANGED_PEERS) }
  })

  // ---- gossip ----
  const subs = new Map<string, Set<GossipHandler>>()
  const decode = (data: Uint8Array): { ok: true, value: unknown } | { ok: false } => {
    if (data.byteLength > maxGossipBytes) return { ok: false }
    try {
      return { ok: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) }
    } catch {
      return { ok: false }
    }
  }
  const validator = (_peer: PeerId, msg: { data: Uint8Array }): TopicValidatorResult =>
    decode(msg.data).ok ? TopicValidatorResult.Accept : TopicValidatorResult.Reject
  pubsub.addEventListener('message', evt => {
    const msg = evt.detail
    const set = subs.get(msg.topic)
    if (set === undefined || set.size === 0 || msg.type !== 'signed') return
    const decoded = decode(msg.data)
    if (!decoded.ok) return
    const meta = { topic: msg.topic, from: msg.from.toString() }
    for (const h of set) {
      // Each handler gets its own copy, so one cannot change what the next one sees.
      const value = set.size === 1 ? decoded.value : roundTrip(decoded.value)
      try {
        const r = h(value, meta)
        if (r instanceof Promise) r.catch(err => log(`gossip handler for ${msg.topic} failed: ${(err as Error).message}`))
      } catch (err) {
        log(`gossip handler for ${msg.topic} failed: ${(err as Error).message}`)
      }
    }
  })

  // Everything listens before the node starts, so that no early connection goes unseen.
  try {
    await node.start()
  } catch (err) {
    try { await node.stop() } catch {}
    throw listenError(err)
  }
  const timer = setInterval(tick, 250)
  timer.unref()
  tick()

  const mesh: Mesh = {
    peerId: selfId,
    libp2p: node,
    addresses () {
      return node.getMultiaddrs().map(m => m.toString())
    },
    joinToken () {
      const addrs = this.addresses()
      if (addrs.length === 0) throw new Error('this node listens on no address, so it cannot hand out a join token')
      // Loopback addresses last: they only help a node on the same host.
      const sorted = [...addrs.filter(a => !/^\/ip[46]\/(127\.|::1\/)/.test(a)), ...addrs.filter(a => /^\/ip[46]\/(127\.|::1\/)/.test(a))]
      return formatJoinToken({ swarmKey: swarmKey!, bootstrap: sorted })
    },
    peers () {
      const byPeer = new Map<string, MeshPeer>()
      for (const c of node.getConnections()) {
        if (c.status !== 'open') continue
        const id = c.remotePeer.toString()
        let p = byPeer.get(id)
        if (p === undefined) { p = { id, addresses: [] }; byPeer.set(id, p) }
        const a = c.remoteAddr.toString()
        if (!p.addresses.includes(a)) p.addresses.push(a)
        if (typeof c.rtt === 'number') p.rttMs = c.rtt
      }
      return [...byPeer.values()]
    },
    async waitForPeers (count = 1, options) {
      const timeoutMs = options?.timeoutMs ?? requestTimeoutMs
      const linked = linkedSignal(timeoutMs, stopController.signal, options?.signal)
      const signal = linked.signal
      try {
        while (true) {
          const now = this.peers()
          if (now.length >= count) return now
          if (signal.aborted) {
            if (options?.signal?.aborted === true) throw new RpcError(RPC_ERRORS.cancelled, 'waiting for peers: cancelled')
            if (stopping) throw new RpcError(RPC_ERRORS.stopped, 'waiting for peers: the mesh is stopped')
            throw new RpcError(RPC_ERRORS.timeout, `waiting for peers: ${now.length} of ${count} connected after ${timeoutMs} ms`)
          }
          await new Promise<void>(resolve => {
            const done = (): void => { clearTimeout(t); node.removeEventListener('peer:connect', done); signal.removeEventListener('abort', done); resolve() }
            const t = setTimeout(done, 100)
            node.addEventListener('peer:connect', done)
            signal.addEventListener('abort', done, { once: true })
          })
        }
      } finally {
        linked.dispose()
      }
    },
    async connect (address, options) {
      const ma = multiaddr(address)
      const comps = ma.getComponents()
      const last = comps[comps.length - 1]
      if (last?.name !== 'p2p' || last.value == null) throw new Error(`${address} does not end in /p2p/<peer id>`)
      const linked = linkedSignal(dialTimeoutMs, stopController.signal, options?.signal)
      let conn: Connection
      try {
        conn = await node.dial(ma, { signal: linked.signal })
      } catch (err) {
        const e = err as Error
        const [code, why] = options?.signal?.aborted === true
          ? ['cancelled', 'cancelled']
          : linked.timedOut()
            ? ['timeout', `no connection within ${dialTimeoutMs} ms (unreachable, or a peer with another swarm key)`]
            : e?.name === 'EncryptionFailedError'
              ? ['handshake_failed', `the connection could not be secured: a peer with another swarm key, or not a dstack node (${e.message})`]
              : ['unreachable', e?.message ?? String(err)]
        throw Object.assign(new Error(`cannot connect to ${address}: ${why}`), { code, cause: err })
      } finally {
        linked.dispose()
      }
      const id = conn.remotePeer.toString()
      remember(id, [ma], false)
      return id
    },
    async forget (peerId) {
      refused.add(peerId)
      known.delete(peerId)
      save()
      try { await node.hangUp(peerIdFromString(peerId)) } catch {}
    },
    serve,
    dial,
    handle: registerHandler,
    async unhandle (protocol) {
      services.delete(protocol)
      await node.unhandle(protocol)
    },
    request,
    stream,
    async channel (protocol, onMessage, options) {
      return await openChannel({
        protocol,
        selfId,
        onMessage,
        open: async (peer, signal) => await openStream(peer, protocol)(signal),
        handle: async onStream => {
          await node.handle(protocol, (stream: Stream, connection: Connection) => onStream(stream, connection.remotePeer.toString()),
            { maxInboundStreams: 1024, maxOutboundStreams: 1024, force: true })
        },
        unhandle: async () => { if (!stopping) await node.unhandle(protocol) },
        maxFrameBytes,
        timeoutMs: options?.timeoutMs ?? requestTimeoutMs,
        stopSignal: stopController.signal,
        log
      })
    },
    async publish (topic, value) {
      const json = JSON.stringify(value)
      if (json === undefined) throw new TypeError(`gossip payloads must be JSON, not ${typeof value}`)
      const bytes = new TextEncoder().encode(json)
      if (bytes.byteLength > maxGossipBytes) throw new Error(`a gossip payload of ${bytes.byteLength} bytes is larger than the ${maxGossipBytes} allowed`)
      const r = await pubsub.publish(topic, bytes)
      return r.recipients.length
    },
    subscribe (topic, handler) {
      let set = subs.get(topic)
      if (set === undefined) {
        set = new Set()
        subs.set(topic, set)
        pubsub.topicValidators.set(topic, validator)
        pubsub.subscribe(topic)
      }
      set.add(handler)
      return () => {
        const s = subs.get(topic)
        if (s === undefined || !s.delete(handler) || s.size > 0) return
        subs.delete(topic)
        pubsub.topicValidators.delete(topic)
        if (!stopping) pubsub.unsubscribe(topic)
      }
    },
    subscribers (topic) {
      return pubsub.getSubscribers(topic).map(p => p.toString())
    },
    on (event, listener) {
      let set = listeners.get(event)
      if (set === undefined) { set = new Set(); listeners.set(event, set) }
      set.add(listener)
      return () => { set.delete(listener) }
    },
    off (event, listener) {
      listeners.get(event)?.delete(listener)
    },
    async stop () {
      if (stopping) return
      stopping = true
      clearInterval(timer)
      if (saveTimer !== undefined) { clearTimeout(saveTimer); saveTimer = undefined }
      stopController.abort(new RpcError(RPC_ERRORS.stopped, 'the mesh is stopped'))
      await flush()
      node.removeEventListener('peer:connect', onConnect)
      node.removeEventListener('peer:identify', onIdentify as any)
      node.removeEventListener('peer:discovery', onDiscovery as any)
      await node.stop()
      node.removeEventListener('peer:disconnect', onDisconnect)
      listeners.clear()
    }
  }
  return mesh
}
