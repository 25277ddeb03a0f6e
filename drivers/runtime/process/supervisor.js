// The supervisor of the process runtime: one per jobs area (`node supervisor.js ROOT SOCKET`),
// started detached by dstackd, so that jobs survive a `kill -9` of the daemon. It runs every job
// of the area under its own pty, records its output and its exit, and enforces its deadline;
// the daemon talks to it over a Unix socket (SOCKET, in a directory only its user can enter).
// Plain JavaScript, few imports. One long-lived process instead of a Node runner per job: a
// job then costs a fork and a few file writes instead of starting Node (~150 ms of CPU).
//
// Protocol, one JSON object a line. The daemon sends {"op":"start","dir":D}; the supervisor
// answers {"op":"started","dir":D} once runner.json (or, when the command could not start,
// exit.json) is written, and tells every connection {"op":"exit","dir":D} after exit.json.
// The files are the record; the messages only spare the daemon waiting on them. Files in D:
//   spec.json    (in)  the JobSpec written by the daemon
//   stop.json    (in)  {"action":"stop"|"kill","graceMs":N}, read when the supervisor gets SIGUSR2
//   runner.json  (out) {runnerPid, runnerStart, pid, startedAt, limits, cgroups}, once the command runs
//   output.log   (out) every byte the pty gave, appended synchronously
//   output.idx   (out) one line {"o":<byte offset>,"t":<epoch ms>} per chunk, written before the chunk
//   exit.json    (out) {exitCode, signal, reason, finishedAt, message?}, last, atomically
// Each record is written synchronously as its event happens: a supervisor that dies loses no
// record of a job that finished; a job it was running is found lost by the daemon (runnerPid
// and runnerStart name a process that is gone) and started afresh by its policy.
// With no daemon connected and no job left, it exits; dstackd starts a new one when needed.
import fs from 'node:fs'
import net from 'node:net'
import tty from 'node:tty'
import { constants } from 'node:os'
import { join, dirname, resolve, sep } from 'node:path'
import { createRequire } from 'node:module'

const root = resolve(process.argv[2] || '')
const socketPath = process.argv[3]
const IDLE_EXIT_MS = 2000
const jobs = new Map() // dir -> job
const clients = new Set()
const terminals = new Set() // the master fds of the terminals open in this process
const statBuf = Buffer.allocUnsafe(4096)
let socketIno = null // of the socket this supervisor listens on
let idleTimer = null
const ownGroups = process.getgroups ? process.getgroups() : []
const errText = e => (e && e.message) || String(e)
const startTicks = procStartTicks()
const native = loadPty()

// A stop request must never kill the supervisor itself (SIGUSR1 is Node's debugger signal).
process.on('SIGUSR2', () => { for (const job of jobs.values()) job.onStopRequest() })
process.on('SIGHUP', () => {})
process.on('SIGPIPE', () => {})
// Told to end: the jobs are stopped (SIGINT, then SIGKILL after 10 s), and the supervisor exits after them.
let ending = false
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    ending = true
    for (const job of jobs.values()) job.stop(10000)
    idleCheck()
  })
}
process.on('uncaughtException', e => { // one job's trouble must not end the others
  try { process.stderr.write(`${new Date().toISOString()} dstackd supervisor: ${e && e.stack ? e.stack : errText(e)}\n`) } catch {}
})

listen()

function listen () {
  const server = net.createServer(onConnection)
  server.on('error', e => {
    if (e.code !== 'EADDRINUSE') { process.stderr.write(`dstackd supervisor: cannot listen on ${socketPath}: ${errText(e)}\n`); process.exit(1) }
    // One already answers: this one is not needed. Nobody answers: a stale socket, taken over.
    const probe = net.connect(socketPath)
    probe.on('connect', () => { probe.destroy(); process.exit(0) })
    probe.on('error', () => {
      try { fs.unlinkSync(socketPath) } catch {}
      server.listen(socketPath, () => { try { socketIno = fs.statSync(socketPath).ino } catch {} })
    })
  })
  server.listen(socketPath, () => { try { socketIno = fs.statSync(socketPath).ino } catch {} })
  idleCheck()
}

function onConnection (sock) {
  clients.add(sock)
  let rest = ''
  sock.setEncoding('utf8')
  sock.on('data', text => {
    const lines = (rest + text).split('\n')
    rest = lines.pop()
    for (const line of lines) {
      let msg
      try { msg = JSON.parse(line) } catch { continue }
      if (msg && msg.op === 'start' && typeof msg.dir === 'string') startJob(msg.dir, sock)
    }
  })
  sock.on('error', () => {})
  sock.on('close', () => { clients.delete(sock); idleCheck() })
}

function tell (sock, op, dir) {
  const line = JSON.stringify({ op, dir }) + '\n'
  for (const s of sock ? [sock] : clients) { try { s.write(line) } catch {} }
}

function idleCheck () {
  if (idleTimer) clearTimeout(idleTimer)
  idleTimer = null
  if ((clients.size > 0 && !ending) || jobs.size > 0) return
  idleTimer = setTimeout(() => {
    if ((clients.size > 0 && !ending) || jobs.size > 0) return
    // The socket goes only if it is still ours (a newer supervisor may have taken the name).
    try { if (fs.statSync(socketPath).ino === socketIno) fs.unlinkSync(socketPath) } catch {}
    process.exit(0)
  }, IDLE_EXIT_MS)
}


const put = (dir, name, value) => {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`)
  fs.writeFileSync(tmp, JSON.stringify(value) + '\n')
  fs.renameSync(tmp, join(dir, name))
}

function startJob (dirIn, sock) {
  const dir = resolve(dirIn)
  // Only a job dir of this area, with a spec written by this supervisor's own user.
  if (!dir.startsWith(root + sep) || jobs.has(dir)) return tell(sock, 'started', dirIn)
  if (fs.existsSync(join(dir, 'runner.json')) || fs.existsSync(join(dir, 'exit.json'))) return tell(sock, 'started', dirIn)
  const job = newJob(dir)
  jobs.set(dir, job)
  if (idleTimer) { clearTimeout(idleTimer); idleTimer = null }
  job.start()
  tell(sock, 'started', dirIn)
}

function newJob (dir) {
  let spec, logFd, idxFd, offset, t, slaveFd = -1, stream
  let pid = 0 // the command, once forked
  let startedAt = 0
  let reason = null // set by stop, kill or the deadline
  let stopping = false
  let exited = null // { code, signal } once the command has exited
  let drained = false
  let finished = false
  let logError = null
  const timers = new Set()
  const cgroupDirs = [] // the job's cgroups (one per controller on v1)
  const cgroupHome = [] // where the supervisor came from, to go back after the fork
  const buf = Buffer.allocUnsafe(65536)

  const after = (ms, fn) => { // setTimeout overflows past 2^31-1 ms
    const at = Date.now() + ms
    const tick = () => {
      timers.delete(h)
      const left = at - Date.now()
      if (left <= 0) fn(); else { h = setTimeout(tick, Math.min(left, 2 ** 31 - 1)); timers.add(h) }
    }
    let h = setTimeout(tick, Math.min(ms, 2 ** 31 - 1))
    timers.add(h)
  }

  const fail = (message) => {
    cleanupCgroups()
    for (const fd of [logFd, idxFd]) { try { if (fd !== undefined) fs.closeSync(fd) } catch {} }
    try { put(dir, 'exit.json', { exitCode: null, signal: null, reason: 'exited', finishedAt: Date.now(), message }) } catch {}
    forget()
  }

  const forget = () => {
    finished = true
    for (const h of timers) clearTimeout(h)
    timers.clear()
    jobs.delete(dir)
    tell(null, 'exit', dir)
    idleCheck()
  }

  function start () {
    try {
      const st = fs.statSync(join(dir, 'spec.json'))
      if (st.uid !== process.getuid() || (st.mode & 0o022) !== 0) throw new Error('spec.json is not the daemon\'s own')
      spec = JSON.parse(fs.readFileSync(join(dir, 'spec.json'), 'utf8'))
      logFd = fs.openSync(join(dir, 'output.log'), 'a', 0o600)
      idxFd = fs.openSync(join(dir, 'output.idx'), 'a', 0o600)
      offset = fs.fstatSync(logFd).size
    } catch (e) {
      return fail(`dstackd supervisor could not read the job: ${errText(e)}`)
    }
    const limits = setupCgroups(spec.id, spec.limits || {})
    try {
      const env = { ...spec.env }
      if (env.TERM === undefined) env.TERM = 'xterm-256color'
      const user = spec.user
      // Another user: the fork sets only uid and gid, so the supplementary groups it inherits
      // are set here first, and ours are given back right after the fork.
      if (user && process.getuid() === 0) process.setgroups(user.groups && user.groups.length ? user.groups : [user.gid])
      const argv = withoutOtherTerminals(spec.command)
      try {
        // The native fork: its exit callback comes as soon as the command is reaped, before
        // the pty is drained, so the supervisor can end the rest of the job, then read every byte.
        t = native.fork(argv[0], argv.slice(1), Object.entries(env).map(([k, v]) => `${k}=${v}`),
          spec.workingDir, 200, 50, user ? user.uid : -1, user ? user.gid : -1, true, '', onExit)
      } finally {
        if (user && process.getuid() === 0) { try { process.setgroups(ownGroups) } catch {} }
        // The forked command is in the cgroups now; the supervisor leaves them so that the
        // job's limits neither OOM-kill nor throttle what records the output of every job.
        for (const home of cgroupHome) { try { fs.writeFileSync(join(home, 'cgroup.procs'), String(process.pid)) } catch {} }
      }
      if (user) { try { fs.chownSync(t.pty, user.uid, user.gid) } catch {} } // its own terminal, as after a login
    } catch (e) {
      return fail(`dstackd supervisor could not start the command: ${errText(e)}`)
    }
    pid = t.pid
    terminals.add(t.fd)
    startedAt = Date.now()
    // The supervisor holds the terminal's other end too, so that the command's exit never hangs
    // it up under a read: libuv takes a hang-up after a partial read for end-of-file and drops
    // what the kernel still holds. After the exit the supervisor lets go of its end and reads
    // the rest itself (a read after the hang-up returns every byte, then EIO).
    try { slaveFd = fs.openSync(t.pty, fs.constants.O_RDWR | fs.constants.O_NOCTTY) } catch {}
    stream = new tty.ReadStream(t.fd, { onread: { buffer: buf, callback: (n, b) => { record(b, n); return true } } })
    stream.on('error', () => { if (!exited) drainLater() })
    stream.on('end', () => {})
    stream.resume()
    put(dir, 'runner.json', { runnerPid: process.pid, runnerStart: startTicks, pid, startedAt, pty: t.pty, limits, cgroups: cgroupDirs })
    // A request that came while the command was being started.
    onStopRequest()
    const maxMs = Number(spec.maxDurationSec) > 0 ? Number(spec.maxDurationSec) * 1000 : 0
    if (maxMs) {
      after(maxMs, () => {
        if (exited || reason) return
        reason = 'max_duration_exceeded'
        signalJob('SIGTERM')
        after(spec.killGraceMs ?? 10000, () => signalJob('SIGKILL'))
      })
    }
  }

  function record (b, n) {
    if (n <= 0) return
    try {
      fs.writeSync(idxFd, `{"o":${offset},"t":${Date.now()}}\n`)
      for (let w = 0; w < n;) w += fs.writeSync(logFd, b, w, n - w)
      offset += n
    } catch (e) { logError = logError || errText(e) }
  }

  let draining = false
  function drainLater () { // from now on the supervisor reads the terminal itself, to its end
    if (draining) return
    draining = true
    try { stream.pause() } catch {}
    if (slaveFd >= 0) { try { fs.closeSync(slaveFd) } catch {} slaveFd = -1 }
    drain()
  }

  function drain () {
    if (drained) return
    for (;;) {
      let n
      try { n = fs.readSync(t.fd, buf, 0, buf.length, null) } catch (e) {
        if (e.code === 'EAGAIN') { after(10, drain); return } // a process of the job still holds the terminal
        break // EIO: every writer is gone and everything was read
      }
      if (n === 0) break
      record(buf, n)
    }
    onDrained()
  }

  function onStopRequest () {
    if (finished) return
    let req
    try { req = JSON.parse(fs.readFileSync(join(dir, 'stop.json'), 'utf8')) } catch { return }
    if (req.action === 'kill') kill()
    else stop(Number(req.graceMs) >= 0 ? Number(req.graceMs) : 10000)
  }

  function stop (graceMs) {
    if (finished || exited || stopping || reason === 'killed') return
    stopping = true
    reason = 'stopped'
    if (!pid) return
    signalJob('SIGINT')
    after(graceMs, () => signalJob('SIGKILL'))
  }

  function kill () {
    if (finished || exited) return
    reason = 'killed'
    if (pid) signalJob('SIGKILL')
  }

  function onExit (code, signal) {
    exited = { code, signal }
    // Background commands die with the job; so does anything that still holds the pty.
    signalJob('SIGKILL')
    after(300, () => { if (!drained) { signalJob('SIGKILL'); killPtyHolders() } })
    after(3000, () => { if (!drained) onDrained() })
    drainLater()
  }

  function onDrained () {
    if (drained) return
    drained = true
    if (exited) finish()
  }

  function finish () {
    const ooms = oomKills()
    cleanupCgroups()
    const { code, signal } = exited
    const sigName = signal ? (Object.keys(constants.signals).find(k => constants.signals[k] === signal) || `SIG${signal}`) : null
    const rec = { exitCode: sigName ? null : code, signal: sigName, reason: reason || 'exited', finishedAt: Date.now() }
    const notes = []
    if (ooms) notes.push(`the memory limit was reached: ${ooms} process(es) OOM-killed`)
    if (logError) notes.push(`output could not be fully recorded: ${logError}`)
    if (notes.length) rec.message = notes.join('; ')
    try { fs.closeSync(logFd); fs.closeSync(idxFd) } catch {}
    if (slaveFd >= 0) { try { fs.closeSync(slaveFd) } catch {} slaveFd = -1 }
    if (stream) {
      stream.once('close', () => terminals.delete(t.fd))
      try { stream.destroy() } catch { terminals.delete(t.fd) } // closes the terminal's master
    }
    try { put(dir, 'exit.json', rec) } catch (e) { process.stderr.write(`dstackd supervisor: ${dir}: cannot write exit.json: ${errText(e)}\n`) }
    forget()
  }

  // Every process of the job: its process group, its session (bash with job control gives
  // background jobs their own groups) and whatever is left in its cgroups.
  function jobPids () {
    const pids = new Set()
    // A process of the job's session or group was forked after the command, so its pid is
    // higher, unless pids wrapped around meanwhile: the last pid handed out is then lower, or,
    // for a job that ran long, may have gone all the way round. Otherwise older pids are
    // skipped unread (each read costs; a trivial job's scan was a third of its CPU here).
    const newerOnly = Date.now() - startedAt < 10_000 && lastPid() >= pid
    for (const name of fs.readdirSync('/proc')) {
      const c = name.charCodeAt(0)
      if (c < 48 || c > 57 || (newerOnly && Number(name) < pid)) continue
      const f = procStat(name) // state ppid pgrp session …
      if (f && (Number(f[2]) === pid || Number(f[3]) === pid)) pids.add(Number(name))
    }
    for (const d of cgroupDirs) for (const p of readPids(d)) pids.add(p)
    pids.delete(process.pid)
    return pids
  }

  function signalJob (sig) {
    if (!pid) return
    try { process.kill(-pid, sig) } catch {}
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

  // cgroups: the supervisor joins the job's cgroups just before the fork, so the command and
  // everything it starts inherit them, and leaves them right after. v1: one `dstackd/<id>` per
  // controller under the supervisor's own cgroup; v2: `dstackd/<id>` under the first ancestor
  // where the controllers can be delegated.
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
    if (wantMem) {
      join1('memory', d => {
        fs.writeFileSync(join(d, 'memory.limit_in_bytes'), String(Math.floor(lim.memoryBytes)))
        try { fs.writeFileSync(join(d, 'memory.memsw.limit_in_bytes'), String(Math.floor(lim.memoryBytes))) } catch {} // no swap past the limit, where swap accounting exists
      })
    }
    if (wantCpu) {
      join1('cpu', d => {
        fs.writeFileSync(join(d, 'cpu.cfs_period_us'), '100000')
        fs.writeFileSync(join(d, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(lim.cpus * 100000))))
      })
    }
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
    cgroupDirs.length = 0
  }

  return { start, stop, onStopRequest }
}

/**
 * node-pty's fork leaves the supervisor's other terminals (the masters of the jobs running)
 * open in the child: they are not close-on-exec, and Node cannot make them so. While there are
 * any, the command starts through bash, which closes them and then becomes the command (exec),
 * so that no job can read or write another's terminal.
 */
function withoutOtherTerminals (argv) {
  if (terminals.size === 0 || !fs.existsSync('/bin/bash')) return argv
  return ['/bin/bash', '-c', `exec ${[...terminals].map(fd => `${fd}<&-`).join(' ')}; exec "$@"`, 'bash', ...argv]
}

/** The last pid the kernel handed out in this pid namespace, or 0 when unknown. */
function lastPid () {
  try { return Number(fs.readFileSync('/proc/sys/kernel/ns_last_pid', 'latin1')) || 0 } catch { return 0 }
}

/** The fields of /proc/PID/stat after the command name ([0] state, [1] ppid, [2] pgrp, [3] session, …), or null. */
function procStat (pid) {
  let fd
  try { fd = fs.openSync(`/proc/${pid}/stat`, 'r') } catch { return null }
  try {
    const n = fs.readSync(fd, statBuf, 0, statBuf.length, 0)
    const s = statBuf.latin1Slice(0, n)
    return s.slice(s.lastIndexOf(')') + 2).split(' ')
  } catch { return null } finally { fs.closeSync(fd) }
}

function readPids (d) {
  try { return fs.readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number) } catch { return [] }
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

/** This process's start time in clock ticks since boot (/proc/self/stat field 22): with the pid, it names this supervisor. */
function procStartTicks () {
  return Number(procStat('self')?.[19] ?? 0)
}

// node-pty's native addon, loaded the way node-pty's lib does but without its JavaScript;
// node-pty's own export where the layout differs.
function loadPty () {
  const require = createRequire(import.meta.url)
  const base = dirname(dirname(require.resolve('node-pty')))
  for (const d of ['build/Release', 'build/Debug', `prebuilds/${process.platform}-${process.arch}`]) {
    if (fs.existsSync(join(base, d, 'pty.node'))) return require(join(base, d, 'pty.node'))
  }
  return require('node-pty').native
}
