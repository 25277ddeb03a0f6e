// States for the scheduler's tests, built through the state machine as the leader's replicated
// state is: instances, runs, and what a pass decided, committed.
import * as assert from 'uvu/assert'
import { parseConfiguration, type Offer, type RunConfiguration } from '../../../daemon/config/index.ts'
import type { Decision } from '../../../daemon/scheduler/index.ts'
import { jobSpecsFor } from '../../../daemon/state/jobs.ts'
import { apply, type Command } from '../../../daemon/state/machine.ts'
import type { State } from '../../../daemon/state/types.ts'

/** Applies `cmd`, failing the test if the state machine refuses it. */
export function ok (state: State, cmd: Command): void {
  const res = apply(state, cmd)
  assert.ok(res.ok, JSON.stringify(res))
}

/** Registers instance `id` (its name, node and hostname `id` unless given) with an 8-CPU, GPU-less offer unless given. */
export function register (state: State, id: string, offer: Partial<Offer> = {}, names: { name?: string, node?: string, hostname?: string } = {}): void {
  ok(state, {
    type: 'instance.register', at: 1, fleet: { id: 'local', name: 'local' },
    instance: {
      id, name: names.name ?? id, node: names.node ?? id, hostname: names.hostname ?? id, address: '127.0.0.1', warnings: [],
      offer: { backend: 'local', region: 'local', instance_type: 'x', price: 0, spot: false, cpu_arch: 'x86', cpus: 8, memory: 64, disk: 100, gpus: [], ...offer }
    }
  })
}

/** Submits run `id` (jobs `<id>-j0`, `<id>-j1`, …, first submissions `<id>-j<n>-s0`) from a whole configuration. */
export function submitRun (state: State, id: string, yaml: string, { at = 1000, priority = 0 } = {}): void {
  const configuration = parseConfiguration(yaml) as RunConfiguration
  ok(state, {
    type: 'run.submit', at,
    run: { id, name: id, name_base: 'x', project: 'main', user: 'admin', priority, spec: { run_name: '', configuration, configuration_path: null, workflow: null } },
    jobs: jobSpecsFor(configuration, {}).map((spec, i) => ({ id: `${id}-j${i}`, submission_id: `${id}-j${i}-s0`, spec }))
  })
}

/** Commits the assignments and wait reasons of a pass, as the controller would. */
export function commit (state: State, decisions: Decision[]): void {
  for (const d of decisions) {
    if (d.kind === 'assign') ok(state, { type: 'job.assign', at: 2000, job_id: d.job.id, submission_id: d.submission_id, placement: d.placement })
    if (d.kind === 'wait') ok(state, { type: 'job.wait', at: 2000, job_id: d.job.id, submission_id: d.submission_id, reason: d.reason })
  }
}

/** The decisions by job id: the instance for an assignment, else the reason or message. */
export function outcome (decisions: Decision[]): Record<string, string> {
  return Object.fromEntries(decisions.map(d => [d.job.id, d.kind === 'assign' ? d.placement.instance : d.kind === 'wait' ? `wait: ${d.reason}` : `never: ${d.message}`]))
}
