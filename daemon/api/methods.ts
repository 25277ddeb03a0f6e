// The method table: every method the daemon serves, to clients on its socket and to peers over
// the mesh, declared once with its params schema, its result type, whether it streams, and who
// may call it. The schemas validate at the boundary (`bindMethods`): a bad param is an
// `invalid` error naming the field (`runs.get: params.name: expected a string, got 1`), never
// a crash, and the handler gets typed, checked params. The TypeScript types the client is
// typed by (ClientMethods) are derived from the same table.
//
// Adding a method is one entry here plus its implementation where `bindMethods` is called
// (handlers.ts for clients, peers.ts for peers): the compiler asks for the latter.
//
// Schemas are valibot's: small and tree-shaken (what a method table needs: objects, strings,
// integers, arrays, records, checks), and its issues carry the path of the bad field. zod
// costs several times more to import and the config schema kit is for YAML documents (lines
// and columns, dstack's coercions), not RPC params. The `dstack` client imports this file
// for types only, so it never loads valibot at all.
import * as v from 'valibot'
import { RPC_ERRORS, RpcError } from '../../mesh/rpc/protocol.ts'
import type { Handlers, HandlerContext } from '../../mesh/rpc/server.ts'
import type {
  ArtifactFile, CodePiece, FleetView, JobView, LogItem, OfferList, PeerLogItem, Plan, RunDetail, RunView, ServerInfo, StateEvent
} from './views.ts'
import type { ProjectView, UserKeyView, UserView } from './users.ts'

/**
 * Who may call a method (daemon/api/access.ts): `client` a member of the session's project,
 * `admin` a global admin, `user` any user (the method checks the rest itself), `peer` only a
 * member of the mesh over libp2p.
 */
export type Access = 'client' | 'admin' | 'user' | 'peer'

interface Method<A extends Access, P extends v.GenericSchema, R, S extends boolean> {
  access: A
  params: P
  /** True: the answer is a stream of R; false: one R. */
  stream: S
  /** Never set: carries the result type. */
  result?: R
}

/** The result type of a method, for the table (a type, not a schema: results are ours). */
function returns<R> (): R | undefined { return undefined }

function unary<A extends Access, P extends v.GenericSchema, R> (access: A, params: P, _result: R | undefined): Method<A, P, R, false> {
  return { access, params, stream: false }
}

function streaming<A extends Access, P extends v.GenericSchema, R> (access: A, params: P, _item: R | undefined): Method<A, P, R, true> {
  return { access, params, stream: true }
}

// Pieces the params share.
const text = v.pipe(v.string(), v.maxLength(4096))
const count = v.pipe(v.number(), v.integer(), v.minValue(0))
const epochMs = v.pipe(v.number(), v.finite())
const flag = v.optional(v.boolean())
/** A method that takes no params. */
const none = v.nullish(v.object({}))
/** A run or job submission id. */
const id = v.pipe(v.string(), v.regex(/^[0-9a-f-]{1,64}$/i, 'expected an id'))
/** A relative path that stays inside the directory it is written to. */
const relativePath = v.pipe(text, v.check(p => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0'), 'must stay inside the job\'s directory'))
/** A user's or a project's name (dstack's rule for project names). */
const name = v.pipe(v.string(), v.regex(/^[a-zA-Z0-9_-]{1,50}$/, 'expected 1 to 50 letters, digits, - or _'))
const projectRole = v.picklist(['admin', 'manager', 'user'])
/** A configuration: checked by the configuration language (daemon/config), which names the field and line. */
const configuration = v.unknown()

/** What `runs.submit` and `runs.apply` take: a run to submit, with its env and code. */
const submission = v.object({
  configuration,
  env: v.nullish(v.record(v.string(), v.string())),
  name: v.nullish(text),
  configuration_path: v.nullish(text),
  /** registry_auth with `${{ env.X }}` resolved by the client (as templates: `$` doubled); never stored in clear. */
  registry_auth: v.nullish(v.object({ username: v.string(), password: v.string() })),
  /** The older workflows format's workflow, recorded with the run. */
  workflow: v.nullish(v.object({
    name: text,
    artifacts: v.array(v.object({ path: relativePath, mount: v.boolean() })),
    cache: v.array(v.object({ path: relativePath }))
  })),
  force: flag,
  /** The files the run takes along; `data` is base64. */
  code: v.nullish(v.array(v.object({
    path: relativePath,
    data: v.optional(v.string()),
    mode: v.optional(v.pipe(count, v.maxValue(0o777)))
  })))
})

export const methods = {
  'server.info': unary('client', none, returns<ServerInfo>()),
  /** The mesh's join token: a secret (it carries the swarm key). */
  'mesh.token': unary('admin', none, returns<{ token: string }>()),

  'runs.plan': unary('client', v.object({ configuration }), returns<Plan>()),
  'runs.submit': unary('client', submission, returns<{ run: RunView, action: 'submitted' | 'updated' | 'unchanged' }>()),
  /**
   * `runs.plan` and `runs.submit` in one round trip, for `dstack apply -y`: the plan, and what
   * was done by it. Nothing is submitted when the plan's `existing` says `unchanged` (unless
   * `force`) or `impossible`: `action` is then `unchanged` or `refused`.
   */
  'runs.apply': unary('client', submission, returns<{ plan: Plan, run: RunView | null, action: 'submitted' | 'updated' | 'unchanged' | 'refused' }>()),
  'runs.list': unary('client', v.nullish(v.object({ all: flag, limit: v.nullish(count) })), returns<{ project: string, runs: RunView[] }>()),
  'runs.get': unary('client', v.object({ name: text }), returns<RunDetail>()),
  /** The active runs (or the one named) at once, then at every change. */
  'runs.watch': streaming('client', v.nullish(v.object({ name: v.optional(text) })), returns<{ runs: RunView[], index: number }>()),
  'runs.stop': unary('client', v.object({ names: v.pipe(v.array(text), v.minLength(1, 'expected at least one run name')), abort: flag }), returns<{ stopped: string[], abort: boolean }>()),
  /** A job's output (base64 pieces), wherever it runs; `follow` waits for more. */
  logs: streaming('client', v.object({
    run: text, replica: v.nullish(count), job: v.nullish(count), follow: flag, since: v.nullish(epochMs)
  }), returns<LogItem>()),
  'jobs.get': unary('client', v.object({ run: text }), returns<JobView[]>()),
  /**
   * A job's port, reachable through this daemon for as long as the stream stays open: the one
   * item says where this host listens (127.0.0.1) and relays each connection to the port of
   * the job, wherever it runs (api/ports.ts).
   */
  'jobs.forward': streaming('client', v.object({
    run: text, replica: v.nullish(count), job: v.nullish(count), port: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535))
  }), returns<{ host: string, port: number }>()),

  'offers.list': unary('client', v.nullish(v.object({ configuration: v.optional(configuration) })), returns<OfferList>()),
  'fleets.list': unary('client', none, returns<{ project: string, fleets: FleetView[] }>()),
  'fleets.get': unary('client', v.object({ name: text }), returns<FleetView>()),
  /** Deletes hosts of the mesh's fleet by number (`dstack fleet delete NAME -i N`). */
  'fleets.delete': unary('admin', v.object({ name: text, instances: v.nullish(v.array(count)) }), returns<{ fleet: string, deleted: string[] }>()),

  'events.list': streaming('client', v.nullish(v.object({ after: v.nullish(count), run: v.optional(text), follow: flag })), returns<StateEvent>()),
  'artifacts.list': unary('client', v.object({ run: text }), returns<{ run: string, files: ArtifactFile[] }>()),
  'artifacts.read': streaming('client', v.object({ run: text, path: text }), returns<{ data: string }>()),

  /** Users and projects (daemon/api/users.ts): who may do what is checked there. */
  'users.list': unary('user', none, returns<{ users: UserView[] }>()),
  /** The new user's token is in the answer, and only there. */
  'users.create': unary('user', v.object({
    name, global_role: v.optional(v.picklist(['admin', 'user'])), project: v.nullish(name), role: v.nullish(projectRole)
  }), returns<{ user: UserView, token: string }>()),
  'users.delete': unary('user', v.object({ name }), returns<{ deleted: string }>()),
  'users.rotate_token': unary('user', v.object({ name }), returns<{ user: string, token: string }>()),
  /**
   * SSH public keys (the gateway, daemon/ssh/): the caller's own, or with `user` another's (a
   * global admin). Adding the same key twice changes nothing; a key belongs to one user only.
   */
  'users.keys.add': unary('user', v.object({ publicKey: v.pipe(v.string(), v.maxLength(8192)), user: v.optional(name) }), returns<{ fingerprint: string }>()),
  'users.keys.list': unary('user', v.nullish(v.object({ user: v.optional(name) })), returns<UserKeyView[]>()),
  'users.keys.delete': unary('user', v.object({ fingerprint: text, user: v.optional(name) }), returns<{ deleted: string }>()),
  /** The projects the caller is a member of (a global admin: all). */
  'projects.list': unary('user', none, returns<{ projects: ProjectView[] }>()),
  'projects.create': unary('user', v.object({ name }), returns<ProjectView>()),
  'projects.delete': unary('user', v.object({ name }), returns<{ deleted: string }>()),
  /** Adds a user to a project, changes their role, or (role null) removes them. */
  'projects.set_member': unary('user', v.object({ project: name, user: name, role: v.nullable(projectRole) }), returns<ProjectView>()),

  /** A job's output, asked of the host that runs it. */
  'peer.logs': streaming('peer', v.object({ submission: id, since: v.nullish(epochMs), follow: flag }), returns<PeerLogItem>()),
  /** A run's code, asked of the host that took the submission. */
  'peer.code': streaming('peer', v.object({ run: id }), returns<CodePiece>())
} as const

export type Methods = typeof methods
export type MethodName = keyof Methods
type NamesFor<A extends Access> = { [K in MethodName]: Methods[K]['access'] extends A ? K : never }[MethodName]
type ResultOf<K extends MethodName> = Methods[K] extends Method<any, any, infer R, any> ? R : never

/** What a caller sees of the methods `A` may call: params as sent, result or stream item. */
export type MethodTypesFor<A extends Access> = {
  [K in NamesFor<A>]: { params: v.InferInput<Methods[K]['params']>, result: ResultOf<K>, stream: Methods[K]['stream'] }
}
/** The socket's methods, for `dstack` (daemon/api/client.ts). */
export type ClientMethods = MethodTypesFor<'client' | 'admin' | 'user'>
/** The methods hosts call on each other (peers.ts). */
export type PeerMethods = MethodTypesFor<'peer'>

/** A method's checked params, as its implementation receives them. */
export type ParamsOf<K extends MethodName> = v.InferOutput<Methods[K]['params']>
export type Implementation<K extends MethodName> = (params: ParamsOf<K>, ctx: HandlerContext) =>
  Methods[K]['stream'] extends true ? AsyncIterable<ResultOf<K>> | Promise<AsyncIterable<ResultOf<K>>> : Promise<ResultOf<K>> | ResultOf<K>
/** Every method `A` may call, implemented. */
export type Implementations<A extends Access> = { [K in NamesFor<A>]: Implementation<K> }

/**
 * The engine's handlers for the methods of `access`: each checks its params against the
 * table's schema first, so an implementation never sees a bad one.
 */
export function bindMethods<A extends Access> (access: readonly A[], implementations: Implementations<A>): Handlers {
  const handlers: Handlers = {}
  for (const [name, method] of Object.entries(methods) as Array<[MethodName, Method<Access, v.GenericSchema, unknown, boolean>]>) {
    if (!access.includes(method.access as A)) continue
    const implementation = (implementations as Record<string, (params: unknown, ctx: HandlerContext) => unknown>)[name]!
    handlers[name] = (params, ctx) => implementation(checkParams(name, method.params, params), ctx)
  }
  return handlers
}

/** The params if they fit the schema; else an `invalid` RpcError naming every bad field. */
export function checkParams (method: string, schema: v.GenericSchema, params: unknown): any {
  const result = v.safeParse(schema, params)
  if (result.success) return result.output
  const problems = result.issues.map(issue => `params${pathOf(issue)}: ${describeIssue(issue)}`)
  throw new RpcError(RPC_ERRORS.invalid, `${method}: ${problems.join('; ')}`, { fields: result.issues.map(i => `params${pathOf(i)}`) })
}

function pathOf (issue: v.GenericIssue): string {
  return (issue.path ?? []).map(p => typeof p.key === 'number' ? `[${p.key}]` : `.${String(p.key)}`).join('')
}

const ARTICLES: Record<string, string> = { string: 'a string', number: 'a number', boolean: 'true or false', Object: 'an object', Array: 'a list', null: 'null', undefined: 'nothing' }

function describeIssue (issue: v.GenericIssue): string {
  if (issue.kind !== 'schema') {
    // A check's own words, or valibot's "Invalid length: Expected >=1 but received 0".
    return issue.message.startsWith('Invalid ') ? `expected ${issue.expected ?? 'something else'}, got ${issue.received}` : `${issue.message}, got ${issue.received}`
  }
  if (issue.type === 'object' && issue.received === 'undefined' && issue.expected?.startsWith('"') === true) return 'is required'
  const expected = (issue.expected ?? '').split(' | ').map(e => ARTICLES[e] ?? e).join(' or ')
  return `expected ${expected}, got ${issue.received}`
}
