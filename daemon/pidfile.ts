// Which process serves a data dir: DIR/dstackd.pid, written once the node is up (so after it
// holds the Raft db's exclusive lock: a second dstackd on the same dir fails before it gets
// here) and removed when it stops. `dstackd stop` reads it. The start time of the process
// (/proc/PID/stat) goes along, so a pid reused by another program after a crash is not taken
// for the daemon.
import { readFileSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { pidPathOf } from './datadir.ts'

export interface ProcessRecord {
  pid: number
  /** Clock ticks after boot at which the process started; null where /proc is not there. */
  started: number | null
}

/** Field 22 of /proc/PID/stat; the command name before it may hold spaces and parentheses. */
export function startTimeOf (pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const started = Number(fields[19])
    return Number.isFinite(started) ? started : null
  } catch {
    return null
  }
}

export function isRunning (record: ProcessRecord): boolean {
  try {
    process.kill(record.pid, 0)
  } catch (err) {
    // EPERM: alive, but another user's.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  return record.started === null || startTimeOf(record.pid) === record.started
}

export async function writeProcessRecord (dataDir: string): Promise<void> {
  const record: ProcessRecord = { pid: process.pid, started: startTimeOf(process.pid) }
  await writeFile(pidPathOf(dataDir), JSON.stringify(record) + '\n', { mode: 0o600 })
}

/** The record, or undefined when there is none or it is not one. */
export async function readProcessRecord (dataDir: string): Promise<ProcessRecord | undefined> {
  let value: unknown
  try {
    value = JSON.parse(await readFile(pidPathOf(dataDir), 'utf8'))
  } catch {
    return undefined
  }
  const r = value as Partial<ProcessRecord> | null
  if (typeof r?.pid !== 'number' || !Number.isInteger(r.pid) || r.pid <= 0) return undefined
  return { pid: r.pid, started: typeof r.started === 'number' ? r.started : null }
}

/** Removes the record if it is this process's own (a newer daemon may have written its own). */
export async function removeProcessRecord (dataDir: string): Promise<void> {
  const r = await readProcessRecord(dataDir)
  if (r?.pid === process.pid) await rm(pidPathOf(dataDir), { force: true })
}
