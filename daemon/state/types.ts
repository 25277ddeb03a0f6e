// The replicated state (SPEC §3): runs, their jobs and job submissions, instances, fleets and
// events. Plain JSON-serializable data; the state machine in machine.ts is the only writer.
import type { Offer, ResourcesSpec, RunConfiguration, Retry } from '../config/index.ts'

export const RUN_STATUSES = ['pending', 'submitted', 'provisioning', 'running', 'terminating', 'terminated', 'failed', 'done'] as const
export type RunStatus = typeof RUN_STATUSES[number]
export const FINAL_RUN_STATUSES: readonly RunStatus[] = ['terminated', 'failed', 'done']

export const JOB_STATUSES = ['submitted', 'provisioning', 'pulling', 'running', 'terminating', 'terminated', 'aborted', 'failed', 'done'] as const
export type JobStatus = typeof JOB_STATUSES[number]
export const FINAL_JOB_STATUSES: readonly JobStatus[] = ['terminated', 'aborted', 'failed', 'done']

export type RunTerminationReason = 'all_jobs_done' | 'job_failed' | 'retry_limit_exceeded' | 'stopped_by_user' | 'aborted_by_user' | 'server_error' | 'gateway_error'

export type JobTerminationReason =
  | 'failed_to_start_due_to_no_capacity' | 'interrupted_by_no_capacity' | 'instance_unreachable'
  | 'waiting_instance_limit_exceeded' | 'waiting_runner_limit_exceeded' | 'terminated_by_user' | 'volume_error'
  | 'gateway_error' | 'scaled_down' | 'done_by_runner' | 'aborted_by_user' | 'terminated_by_server'
  | 'inactivity_duration_exceeded' | 'terminated_due_to_utilization_policy' | 'container_exited_with_error'
  | 'ports_binding_failed' | 'creating_container_error' | 'executor_error' | 'max_duration_exceeded' | 'log_quota_exceeded'

export type InstanceStatus = 'pending' | 'provisioning' | 'idle' | 'busy' | 'terminating' | 'terminated'

/** What one job runs: built from the configuration at submit time, fixed for the job's life. */
export interface JobSpec {
  job_num: number
  replica_num: number
  jobs_per_replica: number
  job_name: string
  group: string | null
  /** argv: `[shell, '-c', 'c1 && c2 && …']`. */
  command: string[]
  /** The user's env, pass-through names already resolved by the client. */
  env: Record<string, string>
  working_dir: string | null
  resources: ResourcesSpec
  max_duration: number | 'off'
  stop_duration: number | 'off'
  retry: Retry | false
  ports: Array<{ local_port: number | null, container_port: number }>
  image: string | null
  /** registry_auth, resolved and sealed with the mesh's key (agent/registry-auth.ts): open it only to pull. */
  registry_auth?: string | null
}

/** Where and with what a submission was placed. */
export interface Placement {
  instance: string
  node: string
  hostname: string
  address: string
  /** The share of the instance the job holds while it is active. */
  cpus: number
  memory: number
  gpus: number
  /** The instance's name when the job was placed (set when assigned). */
  instance_name?: string
  /** Which of the instance's GPUs (positions in its offer) the job holds: set when assigned. */
  gpu_slots?: number[]
  /** The Raft term and log index of the committed assignment (fencing: see state/machine.ts). */
  term?: number
  index?: number
}

export interface JobSubmission {
  id: string
  submission_num: number
  submitted_at: number
  status: JobStatus
  termination_reason: JobTerminationReason | null
  termination_reason_message: string | null
  exit_status: number | null
  placement: Placement | null
  started_at: number | null
  finished_at: number | null
  /** Why it waits (shown in `ps -v`), e.g. "waiting for cpu: 2 of 2 in use". */
  waiting_reason: string | null
  /** The runtime's word on cgroup limits, for `ps -v`. */
  limits_note: string | null
  /**
   * While `pulling`: how far the image pull is, in dstack's words (`12/30/45MB`, SPEC §3.3);
   * null otherwise. Absent in states from before this field.
   */
  progress?: string | null
}

export interface Job {
  id: string
  run_id: string
  spec: JobSpec
  submissions: JobSubmission[]
}

export interface RunSpec {
  run_name: string
  configuration: RunConfiguration
  configuration_path: string | null
  /** The node holding the files submitted with the run (the repo, `files`); hosts fetch them from it. */
  code_node?: string | null
  /** For runs of the older workflow format: the workflow's artifacts and cached folders. */
  workflow: { name: string, artifacts: Array<{ path: string, mount: boolean }>, cache: Array<{ path: string }> } | null
}

export interface Run {
  id: string
  project: string
  user: string
  name: string
  submitted_at: number
  status: RunStatus
  termination_reason: RunTerminationReason | null
  status_message: string | null
  priority: number
  deployment_num: number
  spec: RunSpec
  job_ids: string[]
  /** Set while the run waits out a retry back-off. */
  resubmit_at: number | null
  /** How many times a replica was resubmitted (picks the next back-off). */
  resubmissions: number
  finished_at: number | null
}

export interface Instance {
  id: string
  name: string
  fleet: string
  node: string
  hostname: string
  address: string
  status: InstanceStatus
  offer: Offer
  created_at: number
  unreachable: boolean
  /** When it was last marked unreachable (absent in states from before this field). */
  unreachable_since?: number | null
  /** Notes from the host's inventory (a GPU tool that failed, …). */
  warnings: string[]
}

export interface Fleet {
  id: string
  name: string
  status: 'submitted' | 'active' | 'terminating' | 'terminated' | 'failed'
  created_at: number
  instance_ids: string[]
}

/** dstack's global roles: an admin manages users and projects and reaches every project. */
export const GLOBAL_ROLES = ['admin', 'user'] as const
export type GlobalRole = typeof GLOBAL_ROLES[number]
/** dstack's project roles: an admin manages the project and its members, a manager its members, a user its runs. */
export const PROJECT_ROLES = ['admin', 'manager', 'user'] as const
export type ProjectRole = typeof PROJECT_ROLES[number]

export interface User {
  name: string
  global_role: GlobalRole
  /** sha256 of the token, hex: the token itself is never in the state (nor the Raft log). */
  token_hash: string
  created_at: number
  /** SSH public keys the user logs in to the gateway with (daemon/ssh/keys.ts); absent: none. */
  keys?: UserKey[]
}

/** A public key registered to a user (not a secret). */
export interface UserKey {
  /** OpenSSH's fingerprint: `SHA256:` and the unpadded base64 of the sha256 of the key blob. */
  fingerprint: string
  /** The key's type: `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, … */
  type: string
  /** The key blob, base64 (the second word of the one-line form). */
  data: string
  comment: string
  /** When it was registered (epoch ms). */
  added: number
}

/** What isolates runs and fleets (later volumes and secrets): a user reaches only their projects'. */
export interface Project {
  name: string
  created_at: number
  created_by: string
  /** Members by user name, with their role in the project. */
  members: Record<string, ProjectRole>
}

export interface StateEvent {
  seq: number
  at: number
  kind: string
  message: string
  run?: string
  /** The project of the run the event is about (absent in events from before projects: `main`). */
  project?: string
  job?: string
  instance?: string
}

export interface State {
  /** The index of the last applied log entry. */
  index: number
  runs: Record<string, Run>
  jobs: Record<string, Job>
  instances: Record<string, Instance>
  fleets: Record<string, Fleet>
  events: StateEvent[]
  event_seq: number
  users: Record<string, User>
  projects: Record<string, Project>
  /** Set once the first admin and the project `main` were created (state/users.ts, `mesh.seed`). */
  seeded: boolean
}

export function emptyState (): State {
  return { index: 0, runs: {}, jobs: {}, instances: {}, fleets: {}, events: [], event_seq: 0, users: {}, projects: {}, seeded: false }
}

/** A state from before users and projects (a snapshot of an older dstackd) gains them, empty: the leader seeds them. */
export function upgradeState (state: State): State {
  state.users ??= {}
  state.projects ??= {}
  state.seeded ??= false
  return state
}
