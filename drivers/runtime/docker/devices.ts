// What a container needs to see exactly the accelerators the scheduler gave its job, and an
// engine inside it for `docker: true`. (Filled in by the docker-devices work.)
import type { ContainerCreateOptions } from 'dockerode'
import type { ContainerSpec } from '../types.ts'

export function deviceOptions (spec: ContainerSpec): NonNullable<ContainerCreateOptions['HostConfig']> {
  void spec
  return {}
}
