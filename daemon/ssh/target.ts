// Which job an SSH login name means (the rules are in ./types.ts): `PROJECT/RUN` is job 0 of
// replica 0, `PROJECT/RUN-REPLICA-JOB` another job; any other name targets no job. Resolved
// from the replicated state at each channel, after the user's membership of PROJECT is checked,
// so a refusal never tells whether another project or its runs exist.
import { findRun } from '../api/handlers.ts'
import { mustSeeProject, type Principal } from '../api/access.ts'
import { isFinal, latest } from '../state/lifecycle.ts'
import { isRunFinal } from '../state/machine.ts'
import type { State } from '../state/types.ts'
import type { JobTarget } from './types.ts'

/** What a login name asks for: a project and a run name (perhaps ending in `-REPLICA-JOB`). */
export interface LoginTarget { project: string, name: string }

/** The project and run of a login name, or undefined for a name that targets no job. */
export function parseLoginName (login: string): LoginTarget | undefined {
  const slash = login.indexOf('/')
  if (slash <= 0 || slash === login.length - 1) return undefined
  return { project: login.slice(0, slash), name: login.slice(slash + 1) }
}

/** A refusal meant for the user: the gateway writes it on the channel's stderr. */
export class TargetError extends Error {}

/**
 * The running job a login names, for `who`. Throws a TargetError saying why there is none:
 * not a member (the socket's words), no such run, a run that finished or does not run yet.
 */
export function resolveTarget (state: State, who: Principal, login: LoginTarget): JobTarget {
  try {
    mustSeeProject(state, who, login.project)
  } catch (err) {
    throw new TargetError((err as Error).message)
  }
  let run = findRun(state, login.project, login.name)
  let replica = 0
  let jobNum = 0
  if (run === undefined) {
    const m = /^(.+)-(\d{1,6})-(\d{1,6})$/.exec(login.name)
    if (m !== null) {
      run = findRun(state, login.project, m[1]!)
      replica = Number(m[2])
      jobNum = Number(m[3])
    }
  }
  if (run === undefined) throw new TargetError(`run ${login.name} not found in project ${login.project}`)
  if (isRunFinal(run.status)) throw new TargetError(`run ${run.name} has finished (${run.status}); nothing to connect to`)
  const job = run.job_ids.map(id => state.jobs[id]).find(j => j !== undefined && j.spec.replica_num === replica && j.spec.job_num === jobNum)
  if (job === undefined) throw new TargetError(`run ${run.name} has no job ${jobNum} in replica ${replica}`)
  const sub = latest(job)
  if (isFinal(sub.status)) throw new TargetError(`job ${job.spec.job_name} of run ${run.name} has finished (${sub.status}); nothing to connect to`)
  if (sub.status !== 'running' || sub.placement === null) throw new TargetError(`run ${run.name} is not running yet (${sub.status}); nothing to connect to until it runs`)
  return { project: run.project, run: run.name, job: sub.id, node: sub.placement.node, replica, jobNum }
}
