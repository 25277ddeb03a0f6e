// The docker runtime: jobs as containers of the host's engine (dockerode), behind the Runtime
// interface. `dockerRuntime(opts)` is its face; the rest says how a job's paths look inside.
export { dockerRuntime, type DockerRuntimeOptions } from './runtime.ts'
export { containerPath, hostWorkDir, WORK_MOUNT, JOB_LABEL, DIR_LABEL } from './create.ts'
