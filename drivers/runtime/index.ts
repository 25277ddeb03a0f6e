// How a job runs on a host. The agent talks to a Runtime; `process` runs jobs under a pty in
// detached runners (survives a daemon restart), with cgroup limits where the host allows them.
export type { ExitReason, JobExit, JobInfo, JobLimits, JobSpec, JobStats, LimitsStatus, LogChunk, LogsOptions, Runtime } from './types.ts'
export { isJobExit } from './types.ts'
export { processRuntime, RUNNER_PATH, type ProcessRuntimeOptions } from './process/runtime.ts'
