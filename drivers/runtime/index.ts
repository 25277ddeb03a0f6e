// How a job runs on a host. The agent talks to a Runtime; `process` runs jobs under a pty in
// detached runners (survives a daemon restart), with cgroup limits where the host allows them.
export type { ContainerSpec, ExecOptions, ExecSession, JobDevice, StartHooks, ExitReason, JobExit, JobInfo, JobLimits, JobSpec, JobStats, JobUser, LimitsStatus, LogChunk, LogsOptions, Runtime } from './types.ts'
export { isJobExit } from './types.ts'
export { processRuntime, RUNNER_PATH, type ProcessRuntimeOptions } from './process/runtime.ts'
export { ensureJobUser, lookupUser, FALLBACK_JOB_ID, JOB_USER_NAME, type HostUser } from './process/users.ts'
export { dockerRuntime, containerPath, hostWorkDir, WORK_MOUNT, type DockerRuntimeOptions } from './docker/index.ts'
