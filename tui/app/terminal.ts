// The real terminal under the app: the alternate screen, a hidden cursor, raw input and mouse
// reporting (SGR) while it runs, all put back however the app ends (quit, Ctrl+C, SIGTERM,
// SIGHUP, an uncaught error) and while a command it starts (ssh, attach) has the terminal.
// Mouse reports never reach the screens: the wheel becomes arrow keys, the rest is dropped.
import { EventEmitter } from 'node:events'

const ENTER = '\x1b[?1049h\x1b[H\x1b[2J\x1b[?25l\x1b[?1000h\x1b[?1006h'
const LEAVE = '\x1b[?1000l\x1b[?1006l\x1b[0m\x1b[?25h\x1b[?1049l'
const WHEEL_LINES = 3

// SGR mouse reports: ESC [ < button ; column ; row (M press | m release).
const MOUSE = /\x1b\[<(\d+);\d+;\d+[Mm]/g

/** Input with the mouse reports taken out; the wheel (buttons 64 and 65) as arrow keys. */
export function translateMouse (input: string): string {
  return input.replace(MOUSE, (_, button: string) => {
    const b = Number(button)
    if (b === 64) return '\x1b[A'.repeat(WHEEL_LINES)
    if (b === 65) return '\x1b[B'.repeat(WHEEL_LINES)
    return ''
  })
}

/**
 * What ink reads input from: process.stdin's data, mouse reports translated. Detached while a
 * suspended command has the terminal.
 */
export class AppInput extends EventEmitter {
  readonly isTTY = true
  private queue: string[] = []
  private raw = false
  private attached = false
  constructor (private readonly real: NodeJS.ReadStream) {
    super()
  }

  private onData = (chunk: string | Buffer): void => {
    const text = translateMouse(typeof chunk === 'string' ? chunk : chunk.toString('utf8'))
    if (text === '') return
    this.queue.push(text)
    this.emit('readable')
  }

  read (): string | null { return this.queue.shift() ?? null }
  setEncoding (): this { return this }
  setRawMode (on: boolean): this {
    this.raw = on
    if (on) this.attach()
    else this.detach()
    return this
  }

  ref (): this { this.real.ref(); return this }
  unref (): this { this.real.unref(); return this }
  resume (): this { return this }
  pause (): this { return this }

  attach (): void {
    if (this.attached) return
    this.attached = true
    this.real.setRawMode(true)
    this.real.setEncoding('utf8')
    this.real.on('data', this.onData)
    this.real.resume()
  }

  detach (): void {
    if (!this.attached) return
    this.attached = false
    this.real.off('data', this.onData)
    this.real.setRawMode(false)
    this.real.pause()
  }

  /** Gives the terminal to someone else, then takes it back as it was. */
  async lend<T> (fn: () => Promise<T>): Promise<T> {
    const was = this.raw && this.attached
    this.detach()
    try {
      return await fn()
    } finally {
      if (was) this.attach()
    }
  }
}

export interface Terminal {
  input: AppInput
  /** Puts the terminal back as it was (idempotent): alternate screen left, cursor shown, raw mode and mouse off. */
  restore (): void
  /** Runs `argv` with the terminal as a shell has it, then takes the app's screen back. */
  suspend (argv: string[], redraw: () => void): Promise<number>
}

/** Takes the terminal for the app; every way the process can end puts it back. */
export function takeTerminal (stdin: NodeJS.ReadStream = process.stdin, stdout: NodeJS.WriteStream = process.stdout): Terminal {
  const input = new AppInput(stdin)
  let taken = true
  stdout.write(ENTER)
  const restore = (): void => {
    if (!taken) return
    taken = false
    input.detach()
    try { stdin.setRawMode(false) } catch { /* not a terminal any more */ }
    stdout.write(LEAVE)
  }
  process.once('exit', restore)
  const fatal = (err: unknown): void => {
    restore()
    process.stderr.write(`dstack: the app failed: ${(err as Error)?.stack ?? String(err)}\n`)
    process.exit(1)
  }
  process.on('uncaughtException', fatal)
  process.on('unhandledRejection', fatal)
  for (const [signal, code] of [['SIGTERM', 143], ['SIGHUP', 129], ['SIGINT', 130]] as const) {
    process.once(signal, () => { restore(); process.exit(code) })
  }
  return {
    input,
    restore,
    async suspend (argv, redraw) {
      return await input.lend(async () => {
        stdout.write(LEAVE)
        try {
          const { spawn } = await import('node:child_process')
          // `dstack …` is this very program (whichever way it was started).
          const [cmd, ...args] = argv[0] === 'dstack' ? [process.execPath, process.argv[1]!, ...argv.slice(1)] : argv
          return await new Promise<number>((resolve, reject) => {
            const child = spawn(cmd!, args, { stdio: 'inherit' })
            child.once('error', reject)
            child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)))
          })
        } finally {
          stdout.write(ENTER)
          redraw()
        }
      })
    }
  }
}
