'use strict'
// The resident client: one Node process per user (and HOME) that keeps the client's bundle loaded
// and runs a submission from a script (`dstack apply -d -y`, one after another, as `sbatch` is
// scripted) without starting Node for it: Node's own start is most of such a command's time.
// tui/launch.sh, which `dstack` runs as a program, finds it through DIR (~/.dstack/resident,
// mode 0700):
//   DIR/pid       "PID STARTTIME" of this process (/proc/PID/stat), written last
//   DIR/PID/in    a FIFO: one line per command, "LAUNCHER REPLY" (LAUNCHER: the launcher's
//                 shell; REPLY: a FIFO it made for the answer, REPLY.1 and REPLY.2 beside it)
//   DIR/PID/life  a FIFO this process holds open: reading it ends when this process ends
// The command line, environment, working directory and umask are the launcher's own, read
// from /proc/PID; its standard output and error are opened through /proc/PID/fd, so the output
// goes where the launcher's goes, in order. The answer is "decline" (the launcher starts Node as
// before), or "run" and then "exit CODE". Commands run one at a time.
// What it runs: only what main's residentServes accepts (a submission that asks nothing, reads no
// standard input and does not follow the run), only for the launcher of this checkout's
// tui/bin.js, only for a process of this user, and only with output to pipes, terminals or
// /dev/null (a regular file's offset could not be shared). It ends after IDLE_MS without a
// command, when DIR goes away, or when the bundle is no longer fresh.
// Started by tui/start.cjs after a command that it would have served found none running.
const fs = require('node:fs')
const net = require('node:net')
const tty = require('node:tty')
const { Console } = require('node:console')
const { Writable } = require('node:stream')
const { execFileSync } = require('node:child_process')
const { join, resolve } = require('node:path')
const entry = require('../scripts/entry.cjs')

const IDLE_MS = 60_000
const dir = process.argv[2]
const uid = process.getuid()
const bin = fs.realpathSync(join(__dirname, 'bin.js'))
const bundlePath = join(entry.root, 'dist', 'dstack.cjs')
const built = fs.statSync(join(entry.root, 'dist', 'BUILT')).mtimeMs
const self = fs.statSync(__filename).mtimeMs
/** The bundle this process loaded is still the one to run (not rebuilt, no source changed), and so is this file. */
function fresh () {
  return fs.statSync(join(entry.root, 'dist', 'BUILT')).mtimeMs === built && fs.statSync(__filename).mtimeMs === self && entry.bundleIsFresh('dstack')
}
const bundle = entry.loadWithCodeCache(bundlePath)

/** Field 22 of /proc/PID/stat: when the process started, so that a reused PID is not taken for it. */
function startTime (pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
}

function mkfifo (path) {
  execFileSync('mkfifo', ['-m', '600', path], { stdio: 'ignore' })
}

function alive (pid) {
  try { process.kill(pid, 0); return true } catch { return false }
}

let me
const own = join(dir, String(process.pid))
try {
  me = `${process.pid} ${startTime(process.pid)}\n`
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const st = fs.statSync(dir)
  if (st.uid !== uid || (st.mode & 0o077) !== 0) throw new Error(`${dir} is not this user's alone (mode 0700)`)
  // What residents killed with -9 left.
  for (const name of fs.readdirSync(dir)) if (/^\d+$/.test(name) && !alive(Number(name))) fs.rmSync(join(dir, name), { recursive: true, force: true })
  fs.rmSync(own, { recursive: true, force: true })
  fs.mkdirSync(own, { mode: 0o700 })
  mkfifo(join(own, 'in'))
  mkfifo(join(own, 'life'))
} catch (err) {
  // No FIFOs here (a file system without them, say): say so once, for tui/start.cjs to stop trying.
  try { fs.writeFileSync(join(dir, 'unusable'), `${err.message}\n`) } catch {}
  process.exit(1)
}
// Between commands it stands in /, which cannot go away under it as the directory it was started in can.
process.chdir('/')
const inFd = fs.openSync(join(own, 'in'), fs.constants.O_RDWR | fs.constants.O_NONBLOCK)
fs.openSync(join(own, 'life'), fs.constants.O_RDWR) // held open until this process ends
// Last, in one step: launchers find this process (DIR/PID/in, DIR/PID/life) by DIR/pid.
fs.writeFileSync(join(dir, `pid.${process.pid}`), me)
fs.renameSync(join(dir, `pid.${process.pid}`), join(dir, 'pid'))

/** Whether DIR/pid still names this process (another resident started at the same time replaces it). */
function current () {
  try { return fs.readFileSync(join(dir, 'pid'), 'latin1') === me } catch { return false }
}

let stopping = false
/** Leaves: no new launcher finds this process; those already in its FIFO are answered first. */
function stop () {
  if (stopping) return
  stopping = true
  if (current()) fs.rmSync(join(dir, 'pid'), { force: true })
  // A launcher that read DIR/pid just before has its line in the FIFO within moments: answer it.
  setTimeout(() => {
    fs.rmSync(own, { recursive: true, force: true })
    process.exit(0)
  }, 1000)
}

let idle = setTimeout(stop, IDLE_MS)
setInterval(() => { if (!current()) stop() }, 1000).unref()

/**
 * A stream whose writes go to FD in order, done when write() returns (as Node's own stdout on a
 * pipe). TERMINAL: the path of the terminal FD is, for its size and colours.
 */
function syncStream (fd, terminal) {
  const stream = new Writable({
    write (chunk, _encoding, cb) {
      try {
        for (let off = 0; off < chunk.length;) off += fs.writeSync(fd, chunk, off)
        cb()
      } catch (err) { cb(err) }
    }
  })
  stream.on('error', () => {}) // the reader is gone: the rest of the output is lost, as it would be
  stream.fd = fd
  stream.isTTY = terminal !== null
  if (terminal !== null) {
    const t = new tty.WriteStream(fs.openSync(terminal, fs.constants.O_WRONLY | fs.constants.O_NOCTTY))
    stream.columns = t.columns
    stream.rows = t.rows
    const depth = t.getColorDepth()
    stream.getColorDepth = () => depth
    stream.hasColors = (n = 16) => 2 ** depth >= n
    t.destroy()
  }
  return stream
}

/**
 * The launcher's standard stream N opened here, where output written to it lands where the
 * launcher's would: a pipe, a terminal, /dev/null, or a file it appends to (`>>`). Null for the
 * others: a socket cannot be opened, and a file written from an offset (`>`) would not see the
 * launcher's offset move. Their output goes through a FIFO that the launcher copies (relay).
 */
function openDirect (pid, n) {
  const path = `/proc/${pid}/fd/${n}`
  const s = fs.statSync(path)
  let append = 0
  if (s.isFile()) {
    const flags = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${n}`, 'latin1'))
    if (!flags || (parseInt(flags[1], 8) & fs.constants.O_APPEND) === 0) return null
    append = fs.constants.O_APPEND
  } else if (!s.isFIFO() && !s.isCharacterDevice()) {
    return null
  }
  const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_NOCTTY | append)
  return syncStream(fd, tty.isatty(fd) ? path : null)
}

/**
 * The FIFO PATH, which the launcher copies to its stream (`cat`): opened once the launcher reads
 * it. Should the launcher end first, the open is let through (a reader of our own) and the
 * output goes nowhere.
 */
async function openRelay (path, pid) {
  if (!fs.lstatSync(path).isFIFO()) throw new Error(`${path} is not a FIFO`)
  const watch = setInterval(() => {
    if (!alive(pid)) try { fs.closeSync(fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)) } catch {}
  }, 50)
  try {
    const fd = await new Promise((resolve, reject) => fs.open(path, fs.constants.O_WRONLY, (err, fd) => err ? reject(err) : resolve(fd)))
    fs.rmSync(path, { force: true })
    return syncStream(fd, null)
  } finally {
    clearInterval(watch)
  }
}

/** What a launcher asks for: its command line, environment, directory, umask and streams; null when this process does not run it. */
function request (pid) {
  if (fs.statSync(`/proc/${pid}`).uid !== uid) return null
  const cwd = fs.readlinkSync(`/proc/${pid}/cwd`)
  if (!fs.statSync(cwd).isDirectory()) return null // (a removed one reads "DIR (deleted)")
  const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1)
  // sh BIN ARGS...: BIN as the launcher was started, relative to its directory.
  if (cmdline.length < 2 || fs.realpathSync(resolve(cwd, cmdline[1])) !== bin) return null
  const env = {}
  for (const kv of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=')
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1)
  }
  const umask = /^Umask:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'))
  return { argv: cmdline.slice(2), env, cwd, umask: umask ? parseInt(umask[1], 8) : null }
}

/** Runs main(argv) as if this process were the launcher's Node, and puts everything back. */
async function runAs (r, out, err) {
  const saved = { env: { ...process.env }, cwd: process.cwd(), argv: process.argv, console: globalThis.console, stdout: Object.getOwnPropertyDescriptor(process, 'stdout'), stderr: Object.getOwnPropertyDescriptor(process, 'stderr') }
  const setEnv = env => {
    for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k]
    Object.assign(process.env, env)
  }
  const umask = r.umask === null ? null : process.umask(r.umask)
  try {
    setEnv(r.env)
    process.chdir(r.cwd)
    process.argv = [process.execPath, bin, ...r.argv]
    Object.defineProperty(process, 'stdout', { configurable: true, enumerable: saved.stdout.enumerable, get: () => out })
    Object.defineProperty(process, 'stderr', { configurable: true, enumerable: saved.stderr.enumerable, get: () => err })
    globalThis.console = new Console({ stdout: out, stderr: err })
    return await bundle.main(r.argv)
  } finally {
    // Put back what the command's process would have lost at its exit: errors here are not its.
    globalThis.console = saved.console
    Object.defineProperty(process, 'stdout', saved.stdout)
    Object.defineProperty(process, 'stderr', saved.stderr)
    process.argv = saved.argv
    try { process.chdir(saved.cwd) } catch { process.chdir('/') }
    setEnv(saved.env)
    if (umask !== null) process.umask(umask)
  }
}

async function serve (line) {
  const [pidText, reply] = line.split(' ')
  const pid = Number(pidText)
  if (!Number.isInteger(pid) || pid <= 0 || !reply) return
  let replyFd
  try {
    if (!fs.lstatSync(reply).isFIFO()) return
    // The launcher holds its end open, so this does not wait; it removes nothing itself after an answer.
    replyFd = fs.openSync(reply, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
    fs.rmSync(reply, { force: true })
  } catch { return } // the launcher is gone
  const answer = text => { try { fs.writeSync(replyFd, text) } catch {} }
  const streams = []
  try {
    let r = null
    try {
      if (!stopping && current() && fresh()) {
        r = request(pid)
      } else {
        stop()
      }
    } catch { r = null }
    const out = r && openDirect(pid, 1)
    if (out) streams.push(out)
    const err = r && openDirect(pid, 2)
    if (err) streams.push(err)
    if (!r || !(await bundle.residentServes(r.argv))) {
      answer('decline\n')
      return
    }
    // "run", and the streams that the launcher copies from REPLY.1 and REPLY.2.
    answer(`run${out ? '' : ' 1'}${err ? '' : ' 2'}\n`)
    for (const [n, direct] of [[1, out], [2, err]]) if (direct) fs.rmSync(`${reply}.${n}`, { force: true })
    const stdout = out ?? await openRelay(`${reply}.1`, pid)
    if (!out) streams.push(stdout)
    const stderr = err ?? await openRelay(`${reply}.2`, pid)
    if (!err) streams.push(stderr)
    let code
    try {
      code = await runAs(r, stdout, stderr)
    } catch (e) {
      stderr.write(`dstack: ${e?.message ?? e}\n`)
      code = 1
    }
    // The output ends (the launcher's copies see its end) before the exit code is told.
    for (const s of streams.splice(0)) try { fs.closeSync(s.fd) } catch {}
    answer(`exit ${code}\n`)
  } finally {
    for (const s of streams) try { fs.closeSync(s.fd) } catch {}
    try { fs.closeSync(replyFd) } catch {}
  }
}

let queue = Promise.resolve()
let buffered = ''
const input = new net.Socket({ fd: inFd, readable: true, writable: false })
input.setEncoding('utf8')
input.on('data', chunk => {
  buffered += chunk
  let i
  while ((i = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, i)
    buffered = buffered.slice(i + 1)
    clearTimeout(idle)
    queue = queue.then(() => serve(line)).catch(() => {}).then(() => {
      if (!stopping) { clearTimeout(idle); idle = setTimeout(stop, IDLE_MS) }
    })
  }
})
// Something a command left behind failed: this process's state is not known any more.
process.on('uncaughtException', stop)
process.on('unhandledRejection', stop)
process.title = 'dstack-resident'
