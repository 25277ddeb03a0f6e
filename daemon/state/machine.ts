// The state machine: a command in, the state changed and its events out. Deterministic — it
// reads time only from the command (stamped by whoever proposed it) and takes every id and
// random choice from the command — so every replica that applies the same log ends equal.
// It never throws on a command: one that does not fit the state is refused with a reason.
import { activeJobsOn, lowestFreeName, noteAssigned, noteCompacted, noteFinished, noteSubmitted, runsNamed } from './active.ts'
import { backoffSeconds, isFinal, judgeReplica, jobStatusFor, latest, RESUBMIT_MESSAGE, RUN_REASONS } from './lifecycle.ts'
import {
  FINAL_RUN_STATUSES, type Instance, type Job, type JobSpec, type JobStatus, type JobSubmission,
  type JobTerminationReason, type Placement, type Run, type RunSpec, type RunStatus, type State, type StateEvent
} from './types.ts'
import { applyUserCommand, type UserCommand } from './users.ts'

/**
 * Commands the leader's scheduler plans carry `term`, the Raft term it led in when it planned
 * them: one committed in another term is refused ('fenced'), so a deposed leader's plans, made
 * from a state that may be stale, never take effect even when forwarded to the new leader.
 */
type Fence = { term?: number }

export type Command =
  | { type: 'instance.register', at: number, fleet: { id: string, name: string }, instance: Pick<Instance, 'id' | 'name' | 'node' | 'hostname' | 'address' | 'offer' | 'warnings'> } & Fence
  | { type: 'instance.reachable', at: number, instance_id: string, reachable: boolean } & Fence
  | { type: 'instance.delete', at: number, instance_id: string, by: string }
  | { type: 'instance.lost', at: number, instance_id: string, grace: number } & Fence
  | { type: 'run.submit', at: number, run: { id: string, name: string | null, name_base: string, project: string, user: string, priority: number, spec: RunSpec }, jobs: Array<{ id: string, submission_id: string, spec: JobSpec }> }
  | { type: 'run.update', at: number, run_id: string, spec: RunSpec, priority: number }
  | { type: 'run.stop', at: number, run_id: string, abort: boolean }
  | { type: 'run.resubmit', at: number, run_id: string, submissions: Array<{ job_id: string, submission_id: string }> } & Fence
  | { type: 'job.assign', at: number, job_id: string, submission_id: string, placement: Placement } & Fence
  | { type: 'job.wait', at: number, job_id: string, submission_id: string, reason: string } & Fence
  | { type: 'job.status', at: number, job_id: string, submission_id: string, status: JobStatus, reason?: JobTerminationReason | null, message?: string | null, exit_status?: number | null, limits_note?: string | null, progress?: string | null } & Fence
  /** Drops finished runs and their jobs from the state (the leader's retention, state/retention.ts). */
  | { type: 'runs.compact', at: number, run_ids: string[] } & Fence
  | UserCommand

/** Where a command sits in the replicated log. */
export interface LogPosition { index: number, term: number }

export type ApplyResult =
  | { ok: true, events: StateEvent[], run?: Run, compacted?: Compacted[] }
  | { ok: false, code: string, message: string, events: StateEvent[] }

/** A run that left the state, with its jobs: each host deletes what it kept of them. */
export interface Compacted { run: Run, jobs: Job[] }

/** Events kept in the state; older ones fall off (the audit stream, not a history of record). */
const MAX_EVENTS = 5000

export function apply (state: State, cmd: Command, position?: LogPosition): ApplyResult {
  const events: StateEvent[] = []
  const emit = (e: Omit<StateEvent, 'seq' | 'at'>) => {
    const event = { seq: ++state.event_seq, at: cmd.at, ...e }
    state.events.push(event)
    events.push(event)
  }
  const refuse = (code: string, message: string): ApplyResult => ({ ok: false, code, message, events })
  if ('term' in cmd && cmd.term !== undefined && position !== undefined && cmd.term !== position.term) {
    return refuse('fenced', `${cmd.type} was planned by the leader of term ${cmd.term} and committed in term ${position.term}: refused`)
  }
  switch (cmd.type) {
    case 'instance.register': {
      const existing = state.instances[cmd.instance.id]
      if (existing?.status === 'terminated') return refuse('deleted', `instance ${existing.name} was deleted: a host comes back only with a new identity (a fresh data dir)`)
      const fleet = state.fleets[cmd.fleet.id] ??= { id: cmd.fleet.id, name: cmd.fleet.name, status: 'active', created_at: cmd.at, instance_ids: [] }
      if (!fleet.instance_ids.includes(cmd.instance.id)) fleet.instance_ids.push(cmd.instance.id)
      state.instances[cmd.instance.id] = {
        ...cmd.instance,
        fleet: fleet.name,
        status: existing?.status === 'busy' ? 'busy' : 'idle',
        created_at: existing?.created_at ?? cmd.at,
        unreachable: false,
        unreachable_since: null
      }
      if (!existing) emit({ kind: 'instance.created', message: `Instance ${cmd.instance.name} registered`, instance: cmd.instance.name })
      else if (existing.unreachable) emit({ kind: 'instance.reachable', message: `Instance ${cmd.instance.name} is reachable again`, instance: cmd.instance.name })
      return { ok: true, events }
    }
    case 'instance.reachable': {
      const instance = state.instances[cmd.instance_id]
      if (!instance) return refuse('not_found', `no instance ${cmd.instance_id}`)
      if (instance.unreachable === !cmd.reachable) return { ok: true, events }
      instance.unreachable = !cmd.reachable
      instance.unreachable_since = cmd.reachable ? null : cmd.at
      emit({
        kind: cmd.reachable ? 'instance.reachable' : 'instance.unreachable',
        message: cmd.reachable ? `Instance ${instance.name} is reachable again` : `Instance ${instance.name} is unreachable: no heartbeat; its jobs keep their status for the grace, then fail`,
        instance: instance.name
      })
      return { ok: true, events }
    }
    case 'instance.lost': {
      // Unreachable past the grace: its jobs are given up, so their runs retry elsewhere or end.
      // Should it answer again, it kills them there (the agent ends what the state has ended).
      const instance = state.instances[cmd.instance_id]
      if (!instance) return refuse('not_found', `no instance ${cmd.instance_id}`)
      if (!instance.unreachable || instance.status === 'terminated') return refuse('stale', `instance ${instance.name} is not unreachable`)
      const lost = endJobsOn(state, instance, `instance ${instance.name} unreachable for more than ${cmd.grace}s: the job was given up (the host stops it if it answers again)`, cmd.at, emit)
      if (lost > 0) emit({ kind: 'instance.lost', message: `Instance ${instance.name} unreachable for more than ${cmd.grace}s: ${lost} job(s) failed with instance_unreachable`, instance: instance.name })
      return { ok: true, events }
    }
    case 'instance.delete': {
      const instance = state.instances[cmd.instance_id]
      if (!instance) return refuse('not_found', `no instance ${cmd.instance_id}`)
      if (instance.status === 'terminated') return { ok: true, events }
      endJobsOn(state, instance, `instance ${instance.name} was deleted from fleet ${instance.fleet}`, cmd.at, emit)
      instance.status = 'terminated'
      emit({ kind: 'instance.deleted', message: `Instance ${instance.name} deleted from fleet ${instance.fleet} by ${cmd.by}`, instance: instance.name })
      return { ok: true, events }
    }
    case 'run.submit': {
      const { run: r } = cmd
      if (state.runs[r.id]) return refuse('conflict', `run id ${r.id} exists`)
      const name = r.name ?? lowestFreeName(state, r.project, r.name_base)
      const active = runsNamed(state, r.project, name).find(run => !isRunFinal(run.status))
      if (active) return refuse('conflict', `run ${name} is active: stop it first`)
      const run: Run = {
        id: r.id, project: r.project, user: r.user, name, submitted_at: cmd.at, status: 'submitted',
        termination_reason: null, status_message: null, priority: r.priority, deployment_num: 0,
        spec: { ...r.spec, run_name: name }, job_ids: [], resubmit_at: null, resubmissions: 0, finished_at: null
      }
      state.runs[run.id] = run
      noteSubmitted(state, run)
      for (const j of cmd.jobs) {
        const spec = { ...j.spec, job_name: `${name}-${j.spec.job_num}-${j.spec.replica_num}` }
        state.jobs[j.id] = { id: j.id, run_id: run.id, spec, submissions: [newSubmission(j.submission_id, 0, cmd.at)] }
        run.job_ids.push(j.id)
      }
      emit({ kind: 'run.submitted', message: `Run ${name} submitted by ${r.user}`, run: name, project: r.project })
      return { ok: true, events, run }
    }
    case 'run.update': {
      const run = state.runs[cmd.run_id]
      if (!run || isRunFinal(run.status)) return refuse('not_found', `no active run ${cmd.run_id}`)
      run.spec = { ...cmd.spec, run_name: run.name }
      run.priority = cmd.priority
      run.deployment_num++
      emit({ kind: 'run.updated', message: `Run ${run.name} updated in place (deployment ${run.deployment_num})`, run: run.name, project: run.project })
      return { ok: true, events, run }
    }
    case 'run.stop': {
      const run = state.runs[cmd.run_id]
      if (!run) return refuse('not_found', `no run ${cmd.run_id}`)
      if (isRunFinal(run.status)) return { ok: true, events, run }
      // An abort may follow a stop that is still waiting on its grace period.
      if (run.status === 'terminating' && !(cmd.abort && run.termination_reason === 'stopped_by_user')) return { ok: true, events, run }
      terminate(state, run, cmd.abort ? 'aborted_by_user' : 'stopped_by_user', cmd.at, emit)
      refresh(state, run, cmd.at, emit)
      return { ok: true, events, run }
    }
    case 'run.resubmit': {
      const run = state.runs[cmd.run_id]
      if (!run || isRunFinal(run.status) || run.status === 'terminating') return refuse('not_found', `no run ${cmd.run_id} waiting to be resubmitted`)
      for (const s of cmd.submissions) {
        const job = state.jobs[s.job_id]
        if (!job || job.run_id !== run.id || !isFinal(latest(job).status)) continue
        job.submissions.push(newSubmission(s.submission_id, job.submissions.length, cmd.at))
      }
      run.resubmit_at = null
      run.resubmissions++
      emit({ kind: 'run.resubmitted', message: `Run ${run.name} resubmitted (attempt ${run.resubmissions + 1})`, run: run.name, project: run.project })
      refresh(state, run, cmd.at, emit)
      return { ok: true, events, run }
    }
    case 'job.assign': {
      const found = submissionOf(state, cmd.job_id, cmd.submission_id)
      if (!found || found.sub.status !== 'submitted') return refuse('stale', `job ${cmd.job_id} is not waiting for placement`)
      const { job, sub, run } = found
      sub.status = 'provisioning'
      // The assignment carries its place in the log: the proof, for the agent, that it was committed.
      sub.placement = { ...cmd.placement, instance_name: state.instances[cmd.placement.instance]?.name ?? cmd.placement.hostname, gpu_slots: freeGpuSlots(state, cmd.placement), ...(position === undefined ? {} : { term: position.term, index: position.index }) }
      sub.waiting_reason = null
      noteAssigned(state, job, cmd.placement.instance)
      const instance = state.instances[cmd.placement.instance]
      if (instance) instance.status = 'busy'
      emit({ kind: 'job.assigned', message: `Job ${job.spec.job_name} placed on ${cmd.placement.hostname}`, run: run.name, project: run.project, job: job.spec.job_name })
      refresh(state, run, cmd.at, emit)
      return { ok: true, events, run }
    }
    case 'job.wait': {
      const found = submissionOf(state, cmd.job_id, cmd.submission_id)
      if (!found || found.sub.status !== 'submitted') return refuse('stale', `job ${cmd.job_id} is not waiting`)
      found.sub.waiting_reason = cmd.reason
      return { ok: true, events, run: found.run }
    }
    case 'job.status': {
      const found = submissionOf(state, cmd.job_id, cmd.submission_id)
      if (!found) return refuse('stale', `no submission ${cmd.submission_id} of job ${cmd.job_id}`)
      const { job, sub, run } = found
      if (isFinal(sub.status)) return { ok: true, events, run }
      // Pull progress comes while the job starts: once it runs or is told to stop, a late one
      // changes nothing. A job told to stop stays terminating when its start is reported.
      if (cmd.status === 'pulling' && sub.status !== 'provisioning' && sub.status !== 'pulling') return { ok: true, events, run }
      if (cmd.status === 'running' && sub.status === 'terminating') {
        sub.started_at ??= cmd.at
        if (cmd.limits_note !== undefined) sub.limits_note = cmd.limits_note
        sub.progress = null
        return { ok: true, events, run }
      }
      const before = sub.status
      let status = cmd.status
      const reason = cmd.reason ?? (isFinal(status) || status === 'terminating' ? sub.termination_reason : null)
      // A job asked to terminate ends with the status its termination reason says, however
      // its process ended (SIGINT makes most programs exit non-zero).
      if (isFinal(status) && sub.status === 'terminating' && sub.termination_reason) status = jobStatusFor(sub.termination_reason)
      sub.status = status
      if (reason !== undefined) sub.termination_reason = reason ?? null
      if (cmd.message !== undefined) sub.termination_reason_message = cmd.message
      if (cmd.exit_status !== undefined) sub.exit_status = cmd.exit_status
      if (cmd.limits_note !== undefined) sub.limits_note = cmd.limits_note
      sub.progress = status === 'pulling' ? cmd.progress ?? sub.progress ?? null : null
      if (status === 'running' && sub.started_at === null) sub.started_at = cmd.at
      if (isFinal(status)) {
        sub.finished_at = cmd.at
        releaseInstance(state, sub.placement)
      }
      // Progress alone is no event: the audit stream keeps the steps, not every megabyte.
      if (status === 'pulling' && before === 'pulling') return { ok: true, events, run }
      emit({ kind: 'job.status', message: `Job ${job.spec.job_name} ${status}${sub.termination_reason && isFinal(status) ? ` (${sub.termination_reason})` : ''}`, run: run.name, project: run.project, job: job.spec.job_name })
      refresh(state, run, cmd.at, emit)
      return { ok: true, events, run }
    }
    case 'mesh.seed':
    case 'user.create':
    case 'user.delete':
    case 'user.token':
    case 'project.create':
    case 'project.delete':
    case 'project.member':
    case 'user.key.add':
    case 'user.key.delete': {
      const result = applyUserCommand(state, cmd, emit)
      return result.ok ? { ok: true, events } : refuse(result.code, result.message)
    }
    case 'runs.compact': {
      // Only what has finished, all of it: an unfinished run, or one with a job still active,
      // is never dropped whoever asks.
      const compacted: Compacted[] = []
      for (const id of cmd.run_ids) {
        const run = state.runs[id]
        if (!run || !isRunFinal(run.status)) continue
        const jobs = run.job_ids.map(j => state.jobs[j]).filter((j): j is Job => j !== undefined)
        if (jobs.some(j => !isFinal(latest(j).status))) continue
        for (const j of jobs) delete state.jobs[j.id]
        delete state.runs[id]
        noteCompacted(state, run)
        compacted.push({ run, jobs })
      }
      if (compacted.length > 0) emit({ kind: 'runs.compacted', message: `${compacted.length} finished run${compacted.length === 1 ? '' : 's'} compacted out of the history` })
      return { ok: true, events, compacted }
    }
  }
}

/**
 * Ends the unfinished jobs placed on an instance that is gone (deleted, or unreachable past the
 * grace) with `instance_unreachable`: on such a host nothing else would ever end them, and a
 * host still up kills what the state says has ended. A job already asked to terminate ends as
 * its termination reason says. Their runs retry by policy. Returns how many jobs ended.
 */
function endJobsOn (state: State, instance: Instance, message: string, at: number, emit: Emit): number {
  const runs = new Set<Run>()
  let ended = 0
  for (const { job, sub } of activeJobsOn(state, instance.id)) {
    const run = state.runs[job.run_id]!
    if (sub.status === 'terminating' && sub.termination_reason !== null) {
      sub.status = jobStatusFor(sub.termination_reason)
      sub.termination_reason_message ??= message
    } else {
      sub.status = jobStatusFor('instance_unreachable')
      sub.termination_reason = 'instance_unreachable'
      sub.termination_reason_message = message
    }
    sub.finished_at = at
    emit({ kind: 'job.status', message: `Job ${job.spec.job_name} ${sub.status} (${sub.termination_reason}: ${message})`, run: run.name, project: run.project, job: job.spec.job_name })
    runs.add(run)
    ended++
  }
  if (instance.status === 'busy') instance.status = 'idle'
  for (const run of runs) refresh(state, run, at, emit)
  return ended
}

function newSubmission (id: string, num: number, at: number): JobSubmission {
  return {
    id, submission_num: num, submitted_at: at, status: 'submitted', termination_reason: null,
    termination_reason_message: null, exit_status: null, placement: null, started_at: null, finished_at: null,
    waiting_reason: null, limits_note: null, progress: null
  }
}

function submissionOf (state: State, jobId: string, submissionId: string): { job: Job, sub: JobSubmission, run: Run } | null {
  const job = state.jobs[jobId]
  if (!job) return null
  const sub = latest(job)
  if (sub.id !== submissionId) return null
  const run = state.runs[job.run_id]
  return run ? { job, sub, run } : null
}

export function isRunFinal (status: RunStatus): boolean {
  return FINAL_RUN_STATUSES.includes(status)
}

/** The lowest GPU positions of the instance that no active job holds: which devices the job sees. */
function freeGpuSlots (state: State, placement: Placement): number[] {
  if (placement.gpus <= 0) return []
  const held = new Set<number>()
  for (const { sub } of activeJobsOn(state, placement.instance)) {
    for (const slot of sub.placement!.gpu_slots ?? []) held.add(slot)
  }
  const out: number[] = []
  for (let slot = 0; out.length < placement.gpus && slot < 1024; slot++) if (!held.has(slot)) out.push(slot)
  return out
}

function releaseInstance (state: State, placement: Placement | null): void {
  if (!placement) return
  const instance = state.instances[placement.instance]
  if (!instance) return
  const stillBusy = activeJobsOn(state, instance.id).length > 0
  if (!stillBusy && instance.status === 'busy') instance.status = 'idle'
}

type Emit = (e: Omit<StateEvent, 'seq' | 'at'>) => void

/** Moves the run to terminating and every unfinished job with it (§3.1). */
function terminate (state: State, run: Run, reason: NonNullable<Run['termination_reason']>, at: number, emit: Emit): void {
  run.status = 'terminating'
  run.termination_reason = reason
  run.resubmit_at = null
  const jobReason = RUN_REASONS[reason].jobReason
  for (const id of run.job_ids) {
    const job = state.jobs[id]!
    const sub = latest(job)
    if (isFinal(sub.status)) continue
    // A job already ending for a reason of its own (inactivity_duration, …) keeps it; an abort
    // overrides, since the agent kills rather than stops an aborted job.
    if (sub.status !== 'terminating' || sub.termination_reason === null || jobReason === 'aborted_by_user') sub.termination_reason = jobReason
    if (sub.placement === null) {
      // Never placed: nothing to stop.
      sub.status = jobStatusFor(jobReason)
      sub.finished_at = at
    } else {
      sub.status = 'terminating'
    }
  }
  emit({ kind: 'run.terminating', message: `Run ${run.name} terminating (${reason})`, run: run.name, project: run.project })
}

/** Re-derives the run's status from its jobs (§3.1): the first matching rule wins. */
function refresh (state: State, run: Run, at: number, emit: Emit): void {
  if (isRunFinal(run.status)) return
  const jobs = run.job_ids.map(id => state.jobs[id]!)
  if (run.status !== 'terminating') {
    const replicas = new Map<number, Job[]>()
    for (const j of jobs) replicas.set(j.spec.replica_num, [...(replicas.get(j.spec.replica_num) ?? []), j])
    const verdicts = [...replicas.values()].map(js => ({ jobs: js, verdict: judgeReplica(run, js, at) }))
    const failed = verdicts.find(v => v.verdict.kind === 'failed')
    const master = jobs.find(j => j.spec.job_num === 0 && j.spec.replica_num === 0)
    if (failed && failed.verdict.kind === 'failed') {
      terminate(state, run, failed.verdict.reason, at, emit)
    } else if (run.spec.configuration.stop_criteria === 'master-done' && master && latest(master).status === 'done') {
      terminate(state, run, 'all_jobs_done', at, emit)
    } else {
      // A retrying replica's other jobs are stopped so the whole replica can be resubmitted.
      for (const v of verdicts) {
        if (v.verdict.kind !== 'retry') continue
        for (const j of v.jobs) {
          const s = latest(j)
          if (isFinal(s.status) || s.status === 'terminating') continue
          s.termination_reason = 'terminated_by_server'
          s.termination_reason_message = RESUBMIT_MESSAGE
          if (s.placement === null) { s.status = 'terminated'; s.finished_at = at } else s.status = 'terminating'
        }
      }
      const active = verdicts.filter(v => v.verdict.kind === 'active').map(v => (v.verdict as { status: RunStatus }).status)
      const retrying = verdicts.filter(v => v.verdict.kind === 'retry')
      if (active.length > 0) {
        run.status = active.includes('running') ? 'running' : active.includes('provisioning') ? 'provisioning' : 'submitted'
      } else if (retrying.length === 0) {
        terminate(state, run, 'all_jobs_done', at, emit)
      } else {
        // Only retrying replicas are left: wait out the back-off once their jobs have all stopped.
        const settled = retrying.every(v => v.jobs.every(j => isFinal(latest(j).status)))
        run.status = 'pending'
        if (settled && run.resubmit_at === null) {
          run.resubmit_at = at + backoffSeconds(run.resubmissions) * 1000
          emit({ kind: 'run.retrying', message: `Run ${run.name} will be resubmitted in ${backoffSeconds(run.resubmissions)}s`, run: run.name, project: run.project })
        }
      }
    }
  }
  if (run.status === 'terminating' && jobs.every(j => isFinal(latest(j).status))) {
    const reason = run.termination_reason ?? 'all_jobs_done'
    run.status = RUN_REASONS[reason].status
    run.status_message = RUN_REASONS[reason].error
    run.finished_at = at
    noteFinished(state, run)
    emit({ kind: 'run.finished', message: `Run ${run.name} ${run.status}${reason !== 'all_jobs_done' ? ` (${reason})` : ''}`, run: run.name, project: run.project })
  }
}

/**
 * Keeps the event list bounded; called by the store after each apply. It trims a tenth at a
 * time: dropping one event per command moved the whole list every time.
 */
export function trimEvents (state: State): void {
  if (state.events.length > MAX_EVENTS * 1.1) state.events.splice(0, state.events.length - MAX_EVENTS)
}
