// The runner of one job of the process runtime: `node runner.js JOBDIR`, started detached by
// dstackd so that the job survives `kill -9` of the daemon. Plain JavaScript, few imports: it
// must start fast. `node runner.js -` is a spare, started ahead of its job so that the job does
// not wait for Node to start: it reads JOBDIR from stdin (one line) and exits when stdin ends
// first (its daemon went away). Files in JOBDIR:
//   spec.json    (in)  the JobSpec written by the daemon
//   stop.json    (in)  {"action":"stop"|"kill","graceMs":N}, read when the runner gets SIGUSR2
//   runner.json  (out) {runnerPid, pid, startedAt, limits, cgroups}, once the command runs
//   output.log   (out) every byte the pty gave, appended synchronously
//   output.idx   (out) one line {"o":<byte offset>,"t":<epoch ms>} per chunk, written before the chunk
//   exit.json    (out) {exitCode, signal, reason, finishedAt, message?}, last, atomically
import fs from 'node:fs'
import tty from 'node:tty'
import { constants } from 'node:os'
import { join, dirname } from 'node:path'
import { createRequire } from 'node:module'

let preloadedPty = null
const dir = process.argv[2] === '-' ? jobDirFromStdin() : process.argv[2]
let job = null // { pid, startedAt }
let reason = null // set by stop, kill or the deadline
let stopping = false
let exited = null // { code, signal } once the command has exited
let drained = false
let finishing = false
let logError = null
let earlyGraceMs = 10000
const cgroupDirs = [] // the job's cgroups (one per controller on v1)
const cgroupHome = [] // where the runner itself came from, to go back after the fork

// Before anything else: a stop request must never kill the runner itself. (SIGUSR1 is Node's
// debugger signal, so stop requests use SIGUSR2.)
process.on('SIGUSR2', onStopRequest)
process.on('SIGHUP', () => {})
process.on('SIGINT', () => stop(10000))
process.on('SIGTERM', () => stop(10000))

const put = (name, value) => {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`)
  fs.writeFileSync(tmp, JSON.stringify(value) + '\n')
  fs.renameSync(tmp, join(dir, name))
}
const errText = e => (e && e.message) || String(e)

let spec, logFd, idxFd, offset
try {
  spec = JSON.parse(fs.readFileSync(join(dir, 'spec.json'), 'utf8'))
  logFd = fs.openSync(join(dir, 'output.log'), 'a', 0o600)
  idxFd = fs.openSync(join(dir, 'output.idx'), 'a', 0o600)
  offset = fs.fstatSync(logFd).size
} catch (e) {
  put('exit.json', { exitCode: null, signal: null, reason: 'exited', finishedAt: Date.now(), message: `dstackd runner could not read the job: ${errText(e)}` })
  process.exit(1)
}

const limits = setupCgroups(spec.id, spec.limits || {})
let t
try {
  const native = preloadedPty ?? loadPty()
  const env = { ...spec.env }
  if (env.TERM === undefined) env.TERM = 'xterm-256color'
  const argv = spec.command
  // Another user: the fork sets only uid and gid, so the supplementary groups it inherits are
  // set here first (the runner, still root, needs none of its own).
  const user = spec.user
  if (user && process.getuid() === 0) process.setgroups(user.groups && user.groups.length ? user.groups : [user.gid])
  // The native fork: its exit callback comes as soon as the command is reaped, before the pty is
  // drained, so the runner can end the rest of the job and then read every last byte.
  t = native.fork(argv[0], argv.slice(1), Object.entries(env).map(([k, v]) => `${k}=${v}`),
    spec.workingDir, 200, 50, user ? user.uid : -1, user ? user.gid : -1, true, '', onExit)
  if (user) { try { fs.chownSync(t.pty, user.uid, user.gid) } catch {} } // its own terminal, as after a login
} catch (e) {
  cleanupCgroups()
  put('exit.json', { exitCode: null, signal: null, reason: 'exited', finishedAt: Date.now(), message: `dstackd runner could not start the command: ${errText(e)}` })
  process.exit(1)
}
job = { pid: t.pid, startedAt: Date.now() }
// The forked command is in the cgroups now; the runner leaves them so that the job's limits
// neither OOM-kill nor throttle the process that records its output and enforces its deadline.
for (const home of cgroupHome) { try { fs.writeFileSync(join(home, 'cgroup.procs'), String(process.pid)) } catch {} }

// The pty is read with blocking reads in the thread pool, not through a libuv stream: libuv
// takes the hang-up that comes when the last writer closes the terminal for end-of-file after
// one partial read and drops whatever the kernel still holds (node-pty loses the last output of
// a command that way). A blocking read returns every byte, then EIO once no process holds the
// terminal. A tty.WriteStream on the master fd is the only way Node offers to clear O_NONBLOCK.
const blocking = new tty.WriteStream(t.fd)
blocking.unref()
const buf = Buffer.allocUnsafe(65536)
let reading = true
let readPending = false
const pump = () => { readPending = true; fs.read(t.fd, buf, 0, buf.length, null, onRead) }
const onRead = (err, n) => {
  readPending = false
  if (!reading) return
  if (err && err.code === 'EAGAIN') { setTimeout(pump, 5); return } // the fd is non-blocking after all
  if (err || n === 0) { reading = false; onDrained(); return } // EIO: every writer is gone
  try {
    fs.writeSync(idxFd, `{"o":${offset},"t":${Date.now()}}\n`)
    for (let w = 0; w < n;) w += fs.writeSync(logFd, buf, w, n - w)
    offset += n
  } catch (e) { logError = logError || errText(e) }
  pump()
}
pump()

put('runner.json', { runnerPid: process.pid, pid: job.pid, startedAt: job.startedAt, pty: t.pty, limits, cgroups: cgroupDirs })
// A request that came while the command was being started.
if (reason === 'killed') signalJob('SIGKILL')
else if (reason === 'stopped') { signalJob('SIGINT'); after(earlyGraceMs, () => signalJob('SIGKILL')) }

const maxMs = Number(spec.maxDurationSec) > 0 ? Number(spec.maxDurationSec) * 1000 : 0
if (maxMs) after(maxMs, () => {
  if (exited || reason) return
  reason = 'max_duration_exceeded'
  signalJob('SIGTERM')
  after(spec.killGraceMs ?? 10000, () => signalJob('SIGKILL'))
})

// A spare's job: blocking reads (it has nothing else to do), then stdin is let go so that the
// job no longer depends on the daemon, and the runner moves into JOBDIR as one started with it
// would be (its /proc cwd is how a restarted daemon knows it).
function jobDirFromStdin () {
  try { preloadedPty = loadPty() } catch {} // a failure shows where the job starts
  const buf = Buffer.alloc(4096)
  let text = ''
  while (!text.includes('\n')) {
    let n
    try { n = fs.readSync(0, buf, 0, buf.length, null) } catch (e) {
      if (e.code === 'EAGAIN') { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); continue }
      throw e
    }
    if (n === 0) process.exit(0)
    text += buf.toString('utf8', 0, n)
  }
  fs.closeSync(0)
  fs.openSync('/dev/null', 'r') // takes fd 0 again
  const jobDir = text.slice(0, text.indexOf('\n'))
  process.chdir(jobDir)
  return jobDir
}

// node-pty's native addon, loaded the way node-pty's lib does but without its JavaScript
// (a third of the runner's start-up time); node-pty's own export where the layout differs.
function loadPty () {
  const require = createRequire(import.meta.url)
  const root = dirname(dirname(require.resolve('node-pty')))
  for (const d of ['build/Release', 'build/Debug', `prebuilds/${process.platform}-${process.arch}`]) {
    if (fs.existsSync(join(root, d, 'pty.node'))) return require(join(root, d, 'pty.node'))
  }
  return require('node-pty').native
}

function after (ms, fn) { // setTimeout overflows past 2^31-1 ms
  const at = Date.now() + ms
  const tick = () => { const left = at - Date.now(); if (left <= 0) fn(); else setTimeout(tick, Math.min(left, 2 ** 31 - 1)) }
  setTimeout(tick, Math.min(ms, 2 ** 31 - 1))
}

function onStopRequest () {
  let req
  try { req = JSON.parse(fs.readFileSync(join(dir, 'stop.json'), 'utf8')) } catch { return }
  if (req.action === 'kill') kill()
  else stop(Number(req.graceMs) >= 0 ? Number(req.graceMs) : 10000)
}

function stop (graceMs) {
  if (exited || stopping || reason === 'killed') return
  stopping = true
  reason = 'stopped'
  if (!job) { earlyGraceMs = graceMs; return }
  signalJob('SIGINT')
  after(graceMs, () => signalJob('SIGKILL'))
}

function kill () {
  if (exited) return
  reason = 'killed'
  if (job) signalJob('SIGKILL')
}

function onExit (code, signal) {
  exited = { code, signal }
  // Background commands die with the job; so does anything that still holds the pty.
  signalJob('SIGKILL')
  setTimeout(() => { if (!drained) { signalJob('SIGKILL'); killPtyHolders() } }, 300)
  setTimeout(() => { if (!drained) { reading = false; onDrained() } }, 3000)
  if (drained) finish()
}

function onDrained () {
  drained = true
  if (exited) finish()
}

function finish () {
  if (finishing) return
  finishing = true
  const ooms = oomKills()
  cleanupCgroups()
  const { code, signal } = exited
  const sigName = signal ? (Object.keys(constants.signals).find(k => constants.signals[k] === signal) || `SIG${signal}`) : null
  const record = { exitCode: sigName ? null : code, signal: sigName, reason: reason || 'exited', finishedAt: Date.now() }
  const notes = []
  if (ooms) notes.push(`the memory limit was reached: ${ooms} process(es) OOM-killed`)
  if (logError) notes.push(`output could not be fully recorded: ${logError}`)
  if (notes.length) record.message = notes.join('; ')
  try { fs.closeSync(logFd); fs.closeSync(idxFd) } catch {}
  put('exit.json', record)
  // A read still blocked in the thread pool would keep process.exit waiting for ever.
  if (readPending) process.kill(process.pid, 'SIGKILL')
  process.exit(0)
}

// Every process of the job: its process group, its session (bash with job control gives
// background jobs their own groups) and whatever is left in its cgroups.
function jobPids () {
  const pids = new Set()
  const pid = job.pid
  for (const name of fs.readdirSync('/proc')) {
    const c = name.charCodeAt(0)
    if (c < 48 || c > 57) continue
    let s
    try { s = fs.readFileSync(`/proc/${name}/stat`, 'latin1') } catch { continue }
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ') // state ppid pgrp session …
    if (Number(f[2]) === pid || Number(f[3]) === pid) pids.add(Number(name))
  }
  for (const d of cgroupDirs) for (const p of readPids(d)) pids.add(p)
  pids.delete(process.pid)
  return pids
}

function signalJob (sig) {
  if (!job) return
  try { process.kill(-job.pid, sig) } catch {}
  for (const p of jobPids()) { try { process.kill(p, sig) } catch {} }
}

function killPtyHolders () { // a process that left the session but kept the terminal
  for (const name of fs.readdirSync('/proc')) {
    const c = name.charCodeAt(0)
    if (c < 48 || c > 57 || Number(name) === process.pid) continue
    let fds
    try { fds = fs.readdirSync(`/proc/${name}/fd`) } catch { continue }
    for (const fd of fds) {
      let target
      try { target = fs.readlinkSync(`/proc/${name}/fd/${fd}`) } catch { continue }
      if (target === t.pty) { try { process.kill(Number(name), 'SIGKILL') } catch {} break }
    }
  }
}

function oomKills () { // v1 memory.oom_control or v2 memory.events: `oom_kill N`
  let n = 0
  for (const d of cgroupDirs) {
    for (const f of ['memory.oom_control', 'memory.events']) {
      try { n += Number(/^oom_kill (\d+)$/m.exec(fs.readFileSync(join(d, f), 'utf8'))?.[1] ?? 0) } catch {}
    }
  }
  return n
}

function readPids (d) {
  try { return fs.readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number) } catch { return [] }
}

// cgroups: the runner joins the job's cgroups before forking, so the command and everything it
// starts inherit them. v1: one `dstackd/<id>` per controller under the runner's own cgroup;
// v2: `dstackd/<id>` under the first ancestor where the controllers can be delegated.
function setupCgroups (id, lim) {
  const wantMem = Number(lim.memoryBytes) > 0
  const wantCpu = Number(lim.cpus) > 0
  if (!wantMem && !wantCpu) return { applied: false, why: 'no limits requested' }
  try {
    const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers')
    return v2 ? setupV2(id, lim, wantMem, wantCpu) : setupV1(id, lim, wantMem, wantCpu)
  } catch (e) {
    cleanupCgroups()
    return { applied: false, why: `cgroups unavailable: ${errText(e)}` }
  }
}

function mounts () {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map(line => {
    const [pre, post] = line.split(' - ')
    const a = pre.split(' ')
    const b = (post || '').split(' ')
    return { root: a[3], point: a[4].replace(/\\040/g, ' '), type: b[0], opts: (b[2] || '').split(',') }
  })
}

function ownCgroup (controller) { // controller '' means the v2 hierarchy
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line)
    if (m && (controller ? m[1].split(',').includes(controller) : m[1] === '')) return m[2]
  }
  return null
}

function under (mount, path) {
  const rel = mount.root !== '/' && path.startsWith(mount.root) ? path.slice(mount.root.length) : path
  return join(mount.point, rel || '/')
}

function setupV1 (id, lim, wantMem, wantCpu) {
  const all = mounts()
  const done = []
  const failed = []
  const join1 = (controller, write) => {
    const m = all.find(x => x.type === 'cgroup' && x.opts.includes(controller))
    const own = ownCgroup(controller)
    if (!m || own === null) { failed.push(`cgroup v1 ${controller} controller not mounted`); return }
    const home = under(m, own)
    const d = join(home, 'dstackd', id)
    try {
      fs.mkdirSync(d, { recursive: true })
      cgroupDirs.push(d)
      write(d)
      fs.writeFileSync(join(d, 'cgroup.procs'), String(process.pid))
      cgroupHome.push(home)
      done.push(controller)
    } catch (e) {
      failed.push(`cgroup v1 ${controller} controller not writable (${e.code || errText(e)} on ${d})`)
      try { fs.rmdirSync(d); cgroupDirs.splice(cgroupDirs.indexOf(d), 1) } catch {}
    }
  }
  if (wantMem) join1('memory', d => {
    fs.writeFileSync(join(d, 'memory.limit_in_bytes'), String(Math.floor(lim.memoryBytes)))
    try { fs.writeFileSync(join(d, 'memory.memsw.limit_in_bytes'), String(Math.floor(lim.memoryBytes))) } catch {} // no swap past the limit, where swap accounting exists
  })
  if (wantCpu) join1('cpu', d => {
    fs.writeFileSync(join(d, 'cpu.cfs_period_us'), '100000')
    fs.writeFileSync(join(d, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(lim.cpus * 100000))))
  })
  return result(done, failed)
}

function setupV2 (id, lim, wantMem, wantCpu) {
  const m = mounts().find(x => x.type === 'cgroup2')
  const own = ownCgroup('')
  if (!m || own === null) return { applied: false, why: 'cgroup v2 hierarchy not found' }
  const need = [wantMem && 'memory', wantCpu && 'cpu'].filter(Boolean)
  const bases = [...new Set([own, dirname(own), '/'])]
  const errors = []
  for (const base of bases) {
    const b = under(m, base)
    const d = join(b, 'dstackd', id)
    try {
      const avail = fs.readFileSync(join(b, 'cgroup.controllers'), 'utf8').trim().split(/\s+/)
      const missing = need.filter(c => !avail.includes(c))
      if (missing.length) throw new Error(`controllers ${missing.join(', ')} not available`)
      const enable = p => {
        const on = fs.readFileSync(join(p, 'cgroup.subtree_control'), 'utf8').trim().split(/\s+/)
        const add = need.filter(c => !on.includes(c))
        if (add.length) fs.writeFileSync(join(p, 'cgroup.subtree_control'), add.map(c => '+' + c).join(' '))
      }
      enable(b)
      fs.mkdirSync(join(b, 'dstackd'), { recursive: true })
      enable(join(b, 'dstackd'))
      fs.mkdirSync(d)
      cgroupDirs.push(d)
      if (wantMem) {
        fs.writeFileSync(join(d, 'memory.max'), String(Math.floor(lim.memoryBytes)))
        try { fs.writeFileSync(join(d, 'memory.swap.max'), '0') } catch {}
      }
      if (wantCpu) fs.writeFileSync(join(d, 'cpu.max'), `${Math.max(1000, Math.round(lim.cpus * 100000))} 100000`)
      fs.writeFileSync(join(d, 'cgroup.procs'), String(process.pid))
      cgroupHome.push(under(m, own))
      return result(need, [])
    } catch (e) {
      errors.push(`${b}: ${e.code || errText(e)}`)
      if (cgroupDirs.includes(d)) { try { fs.rmdirSync(d) } catch {} cgroupDirs.splice(cgroupDirs.indexOf(d), 1) }
    }
  }
  return { applied: false, why: `cgroup v2 controllers not writable (${errors.join('; ')})` }
}

function result (done, failed) {
  const r = { applied: failed.length === 0 }
  if (failed.length) r.why = failed.join('; ') + (done.length ? `; applied only: ${done.join(', ')}` : '')
  if (cgroupDirs.length) r.cgroup = cgroupDirs[0]
  return r
}

function cleanupCgroups () {
  for (const d of cgroupDirs) {
    for (let i = 0; i < 50; i++) {
      const pids = readPids(d).filter(p => p !== process.pid)
      if (readPids(d).includes(process.pid)) { // still inside: leave for the parent
        try { fs.writeFileSync(join(dirname(dirname(d)), 'cgroup.procs'), String(process.pid)) } catch {}
      }
      if (pids.length === 0) break
      for (const p of pids) { try { process.kill(p, 'SIGKILL') } catch {} }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
    }
    try { fs.rmdirSync(d) } catch {}
  }
}
