// What every command and every scheduling pass looks up, kept apart from the history: the
// unfinished runs, the active jobs on each instance, the finished runs oldest first, and the
// run names taken. Derived from the state, never stored in it: a snapshot holds the state
// alone, and the index is built from it on first use (once per restored state), then kept up
// to date by the state machine, the state's only writer. So applying a command and a
// scheduling pass cost the same with a hundred finished runs or a hundred thousand.
//
// The sets of active things are supersets: a run or job that finished is dropped when it is
// next met, so the machine need only say when something starts. Whatever reads an index gets
// the same answer a scan of the whole state would give.
import { isFinal, latest } from './lifecycle.ts'
import { FINAL_RUN_STATUSES, type Job, type JobSubmission, type Run, type State } from './types.ts'

interface Index {
  /** Unfinished runs (and some just finished), in submission order. */
  active: Set<string>
  /** By instance: jobs placed there whose latest submission may still be active. */
  placed: Map<string, Set<string>>
  /** Finished runs in the order they finished; those before `head` are gone. */
  finished: string[]
  head: number
  /** How many finished runs the state holds. */
  count: number
  /** By project and name: the runs kept with that name. */
  names: Map<string, Set<string>>
  /** By project and base: n such that `<base>-1` … `<base>-(n-1)` are all taken. */
  lowest: Map<string, number>
}

const indexes = new WeakMap<State, Index>()

const runFinal = (run: Run): boolean => FINAL_RUN_STATUSES.includes(run.status)
const nameKey = (project: string, name: string): string => `${project}\n${name}`

function indexOf (state: State): Index {
  let ix = indexes.get(state)
  if (ix !== undefined) return ix
  ix = { active: new Set(), placed: new Map(), finished: [], head: 0, count: 0, names: new Map(), lowest: new Map() }
  const finished: Run[] = []
  for (const run of Object.values(state.runs)) {
    addName(ix, run)
    if (runFinal(run)) finished.push(run)
    else ix.active.add(run.id)
  }
  finished.sort((a, b) => (a.finished_at ?? 0) - (b.finished_at ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  ix.finished = finished.map(r => r.id)
  ix.count = finished.length
  for (const job of Object.values(state.jobs)) {
    const sub = latest(job)
    if (sub.placement !== null && !isFinal(sub.status)) addPlaced(ix, sub.placement.instance, job.id)
  }
  indexes.set(state, ix)
  return ix
}

function addName (ix: Index, run: Run): void {
  const key = nameKey(run.project, run.name)
  const ids = ix.names.get(key)
  if (ids === undefined) ix.names.set(key, new Set([run.id]))
  else ids.add(run.id)
}

function addPlaced (ix: Index, instance: string, jobId: string): void {
  const ids = ix.placed.get(instance)
  if (ids === undefined) ix.placed.set(instance, new Set([jobId]))
  else ids.add(jobId)
}

// ---- kept up to date by the state machine --------------------------------------------------

export function noteSubmitted (state: State, run: Run): void {
  const ix = indexOf(state)
  ix.active.add(run.id)
  addName(ix, run)
}

export function noteAssigned (state: State, job: Job, instance: string): void {
  addPlaced(indexOf(state), instance, job.id)
}

export function noteFinished (state: State, run: Run): void {
  const ix = indexOf(state)
  ix.finished.push(run.id)
  ix.count++
}

/** The run and its jobs left the state. */
export function noteCompacted (state: State, run: Run): void {
  const ix = indexOf(state)
  ix.active.delete(run.id)
  if (runFinal(run)) ix.count--
  const key = nameKey(run.project, run.name)
  const ids = ix.names.get(key)
  ids?.delete(run.id)
  if (ids?.size === 0) ix.names.delete(key)
  // Its name is free again: the lowest free number of its base may be this one.
  const m = /^(.*)-(\d+)$/.exec(run.name)
  if (m !== null) {
    const base = nameKey(run.project, m[1]!)
    const n = Number(m[2])
    if (n < (ix.lowest.get(base) ?? 1)) ix.lowest.set(base, n)
  }
  // Finished runs go oldest first, so the one compacted is almost always at the head.
  while (ix.head < ix.finished.length && state.runs[ix.finished[ix.head]!] === undefined) ix.head++
  if (ix.head > 1024 && ix.head * 2 > ix.finished.length) {
    ix.finished.splice(0, ix.head)
    ix.head = 0
  }
}

// ---- lookups ------------------------------------------------------------------------------

/** The unfinished runs, in submission order. */
export function activeRuns (state: State): Run[] {
  const ix = indexOf(state)
  const out: Run[] = []
  for (const id of ix.active) {
    const run = state.runs[id]
    if (run === undefined || runFinal(run)) ix.active.delete(id)
    else out.push(run)
  }
  return out
}

export interface ActiveJob { job: Job, sub: JobSubmission }

/** The jobs whose latest submission is placed on the instance and not finished, by job id. */
export function activeJobsOn (state: State, instance: string): ActiveJob[] {
  const ids = indexOf(state).placed.get(instance)
  if (ids === undefined) return []
  const out: ActiveJob[] = []
  for (const id of ids) {
    const job = state.jobs[id]
    const sub = job === undefined ? undefined : latest(job)
    if (job === undefined || sub!.placement?.instance !== instance || isFinal(sub!.status)) ids.delete(id)
    else out.push({ job, sub: sub! })
  }
  return out.sort((a, b) => a.job.id < b.job.id ? -1 : a.job.id > b.job.id ? 1 : 0)
}

/** Every placed job not finished, on any instance. */
export function activeJobs (state: State): ActiveJob[] {
  const out: ActiveJob[] = []
  for (const instance of indexOf(state).placed.keys()) out.push(...activeJobsOn(state, instance))
  return out
}

/** The finished runs, oldest first (in the order they finished). */
export function * finishedRuns (state: State): Generator<Run> {
  const ix = indexOf(state)
  for (let i = ix.head; i < ix.finished.length; i++) {
    const run = state.runs[ix.finished[i]!]
    if (run !== undefined) yield run
  }
}

/** How many finished runs the state holds. */
export function finishedCount (state: State): number {
  return indexOf(state).count
}

/** The runs of the project with that name, finished or not. */
export function runsNamed (state: State, project: string, name: string): Run[] {
  const ids = indexOf(state).names.get(nameKey(project, name))
  return ids === undefined ? [] : [...ids].map(id => state.runs[id]!).filter(r => r !== undefined)
}

/** `<base>-<n>` with n the lowest integer ≥ 1 that no run of the project holds (SPEC §3.8). */
export function lowestFreeName (state: State, project: string, base: string): string {
  const ix = indexOf(state)
  const key = nameKey(project, base)
  let n = ix.lowest.get(key) ?? 1
  while (ix.names.has(nameKey(project, `${base}-${n}`))) n++
  ix.lowest.set(key, n)
  return `${base}-${n}`
}
