// What clients see of runs, jobs, fleets, offers, plans and the cluster: the API's view types,
// declared once here (the method table, methods.ts, names them as results) and the functions
// that make them from the state, with the `ps` status texts of SPEC §3.3 already worked out, so
// every client shows the same words.
import { formatResources, type Offer, type RunConfiguration } from '../config/index.ts'
import { latest, retryEventFor } from '../state/lifecycle.ts'
import type { Fleet, Instance, Job, JobSubmission, Run, State } from '../state/types.ts'
import type { UpdateVerdict } from './update.ts'

export type { StateEvent } from '../state/types.ts'
export type { ArtifactFile } from '../agent/artifacts.ts'

export interface JobView {
  id: string
  job_num: number
  replica_num: number
  job_name: string
  group: string | null
  submission_id: string
  submission_num: number
  status: JobSubmission['status']
  status_text: string
  termination_reason: JobSubmission['termination_reason']
  error: string | null
  exit_status: number | null
  submitted_at: number
  started_at: number | null
  finished_at: number | null
  hostname: string | null
  instance: string | null
  resources: string
  waiting_reason: string | null
  limits_note: string | null
  /** While pulling: how far the pull is (`12/30/45MB`); null otherwise. */
  progress: string | null
  /** For a resubmitted job, how its previous submission ended and where (`ps -v` shows it). */
  previous: string | null
}

export interface RunView {
  id: string
  name: string
  project: string
  user: string
  type: string
  submitted_at: number
  finished_at: number | null
  status: Run['status']
  status_text: string
  termination_reason: Run['termination_reason']
  error: string | null
  priority: number
  deployment_num: number
  backend: string | null
  region: string | null
  price: number | null
  resources: string
  jobs: JobView[]
  configuration_path: string | null
  workflow: string | null
}

/** A job's STATUS text (§3.3). */
export function jobStatusText (sub: JobSubmission): string {
  const reason = sub.termination_reason
  switch (sub.status) {
    case 'done': return 'exited (0)'
    case 'failed':
      if (reason === 'container_exited_with_error') return `exited (${sub.exit_status ?? '?'})`
      if (reason === 'failed_to_start_due_to_no_capacity') return sub.termination_reason_message?.includes('No matching fleet found') ? 'no fleets' : 'no capacity'
      if (reason === 'interrupted_by_no_capacity') return 'interrupted'
      return 'error'
    case 'terminated':
      if (reason === 'terminated_by_user') return 'stopped'
      if (reason === 'aborted_by_user') return 'aborted'
      return 'terminated'
    case 'aborted': return 'aborted'
    case 'pulling': return sub.progress ? `pulling ${sub.progress}` : 'pulling'
    default: return sub.status
  }
}

function jobError (sub: JobSubmission): string | null {
  if (sub.status === 'done') return null
  return sub.termination_reason_message ?? (sub.termination_reason && sub.status !== 'running' ? sub.termination_reason.replaceAll('_', ' ') : null)
}

/** `retried after attempt 1 on h1: <why it ended>`, for a job with an earlier submission. */
function previousOf (job: Job): string | null {
  const prev = job.submissions[job.submissions.length - 2]
  if (prev === undefined) return null
  const where = prev.placement ? ` on ${prev.placement.instance_name ?? prev.placement.hostname}` : ''
  return `retried after attempt ${prev.submission_num + 1}${where}: ${jobError(prev) ?? jobStatusText(prev)}`
}

/** A run's STATUS text (§3.3): a finished run shows its latest job's text. */
export function runStatusText (run: Run, jobs: Job[]): string {
  const subs = jobs.map(latest)
  if (['done', 'failed', 'terminated'].includes(run.status)) {
    const last = [...subs].sort((a, b) => (b.finished_at ?? 0) - (a.finished_at ?? 0))[0]
    if (run.termination_reason === 'retry_limit_exceeded' && last?.status !== 'failed') return 'failed'
    return last ? jobStatusText(last) : run.status
  }
  // One job: its progress too, as dstack's ps shows a single job's row.
  if (subs.length > 0 && subs.every(s => s.status === 'pulling')) return subs.length === 1 ? jobStatusText(subs[0]!) : 'pulling'
  if ((run.status === 'submitted' || run.status === 'pending') && run.resubmissions > 0 && subs.some(s => retryEventFor(s.termination_reason) === 'no-capacity')) return 'retrying'
  if (run.spec.configuration.type === 'service' && jobs.length === 0) return 'waiting for requests'
  return run.status
}

export function jobView (job: Job): JobView {
  const sub = latest(job)
  return {
    id: job.id,
    job_num: job.spec.job_num,
    replica_num: job.spec.replica_num,
    job_name: job.spec.job_name,
    group: job.spec.group,
    submission_id: sub.id,
    submission_num: sub.submission_num,
    status: sub.status,
    status_text: jobStatusText(sub),
    termination_reason: sub.termination_reason,
    error: jobError(sub),
    exit_status: sub.exit_status,
    submitted_at: sub.submitted_at,
    started_at: sub.started_at,
    finished_at: sub.finished_at,
    hostname: sub.placement?.hostname ?? null,
    instance: sub.placement?.instance_name ?? sub.placement?.instance ?? null,
    resources: formatResources(job.spec.resources),
    waiting_reason: sub.waiting_reason,
    limits_note: sub.limits_note,
    progress: sub.status === 'pulling' ? sub.progress ?? null : null,
    previous: previousOf(job)
  }
}

export function runView (state: State, run: Run): RunView {
  const jobs = run.job_ids.map(id => state.jobs[id]!).filter(Boolean)
  const placed = jobs.map(latest).find(s => s.placement)?.placement
  const instance = placed ? state.instances[placed.instance] : undefined
  const firstFailed = jobs.map(latest).find(s => s.status === 'failed')
  return {
    id: run.id,
    name: run.name,
    project: run.project,
    user: run.user,
    type: run.spec.configuration.type,
    submitted_at: run.submitted_at,
    finished_at: run.finished_at,
    status: run.status,
    status_text: runStatusText(run, jobs),
    termination_reason: run.termination_reason,
    error: run.status_message ?? (firstFailed ? jobError(firstFailed) : null),
    priority: run.priority,
    deployment_num: run.deployment_num,
    backend: instance ? backendOf(instance) : null,
    region: instance?.offer.region ?? null,
    price: instance ? instance.offer.price : null,
    resources: jobs[0] ? formatResources(jobs[0].spec.resources) : formatResources(run.spec.configuration.resources),
    jobs: jobs.map(jobView),
    configuration_path: run.spec.configuration_path,
    workflow: run.spec.workflow?.name ?? null
  }
}

function backendOf (i: Instance): string {
  return i.offer.backend
}

export interface InstanceView {
  id: string
  name: string
  num: number
  fleet: string
  hostname: string
  status: Instance['status']
  status_text: string
  unreachable: boolean
  backend: string
  region: string
  resources: string
  offer: Offer
  created_at: number
  warnings: string[]
}

export interface FleetView {
  id: string
  name: string
  status: Fleet['status']
  created_at: number
  instances: InstanceView[]
}

export function offerResources (o: Offer): string {
  const gpus = o.gpus.length === 0 ? '' : ` gpu=${o.gpus[0]!.name}:${o.gpus[0]!.memory}GB:${o.gpus.length}`
  return `cpu=${o.cpus} mem=${round(o.memory)}GB disk=${round(o.disk)}GB${gpus}`
}

function round (n: number): number {
  return Math.round(n * 10) / 10
}

export function fleetView (state: State, fleet: Fleet): FleetView {
  return {
    id: fleet.id,
    name: fleet.name,
    status: fleet.status,
    created_at: fleet.created_at,
    // A deleted instance keeps its number (`fleet delete -i N` names it), and is not listed.
    instances: fleet.instance_ids.flatMap((id, num) => {
      const i = state.instances[id]!
      if (i.status === 'terminated') return []
      return [{
        id: i.id, name: i.name, num, fleet: fleet.name, hostname: i.hostname, status: i.status,
        status_text: `${i.status}${i.unreachable ? ' (unreachable)' : ''}`, unreachable: i.unreachable,
        backend: backendOf(i), region: i.offer.region, resources: offerResources(i.offer), offer: i.offer,
        created_at: i.created_at, warnings: i.warnings
      }]
    })
  }
}

export interface OfferView {
  backend: string
  region: string
  instance_type: string
  instance: string
  resources: string
  price: number
  spot: boolean
  availability: 'idle' | 'busy' | 'not available'
  offer: Offer
}

export function offerView (i: Instance): OfferView {
  return {
    backend: i.offer.backend,
    region: i.offer.region,
    instance_type: i.offer.instance_type,
    instance: i.name,
    resources: offerResources(i.offer),
    price: i.offer.price,
    spot: i.offer.spot,
    availability: i.unreachable || i.status === 'terminated' ? 'not available' : i.status === 'busy' ? 'busy' : 'idle',
    offer: i.offer
  }
}

/** An instance that cannot take a run, and why. */
export interface Rejection { instance: string, reason: string }

/** `runs.plan`: what `dstack apply` shows before it asks. */
export interface Plan {
  project: string
  user: string
  type: string
  resources: string
  spot_policy: string
  max_price: number | null
  retry: false | { on_events: string[], duration: number }
  idle_duration: string
  max_duration: string
  offers: OfferView[]
  total_offers: number
  rejected: Rejection[]
  /** The active run of the same name, and what applying would do to it. */
  existing: null | ({ name: string, status: string } & UpdateVerdict)
}

/** `offers.list`: what this mesh could run. */
export interface OfferList {
  project: string
  user: string
  requirements: { resources: string, spot_policy: string, max_price: number | null }
  offers: OfferView[]
  total_offers: number
  rejected: Rejection[]
}

/** `runs.get`: a run with its configuration. */
export type RunDetail = RunView & { configuration: RunConfiguration }

/** This node's place in the mesh, for `server.info` and `dstackd status`. */
export interface ClusterInfo {
  role: 'leader' | 'voter' | 'member' | 'candidate' | 'joining'
  term: number
  leader: string | null
  applied: number
  commit: number
  voters: string[]
  learners: string[]
  peers: Array<{ id: string, name: string | null, role: 'leader' | 'voter' | 'member' | 'joining', alive: boolean, addresses: string[] }>
  addresses: string[]
}

/** `server.info`. */
export interface ServerInfo {
  version: string
  node: string
  project: string
  user: string
  role: ClusterInfo['role']
  index: number
  cluster: ClusterInfo
  /** This node's SSH gateway (daemon/ssh/), absent when it runs none. */
  ssh?: SshInfo
}

/** Where a node's SSH gateway listens, and the host key a client pins. */
export interface SshInfo {
  port: number
  /** The OpenSSH public key line of the host key: `ssh-ed25519 AAAA…`. */
  hostKey: string
}

/** A piece of a job's output; `data` is base64. */
export interface LogItem { submission: number, at: number, data: string }
/** A piece of a job's output as the host that runs it sends it; `data` is base64. */
export interface PeerLogItem { at: number, offset: number, data: string }
/** A piece of a run's code file; `data` is base64. */
export interface CodePiece { path: string, mode: number, offset: number, data: string }
