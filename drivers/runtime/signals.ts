// Signal names as SSH gives them (`INT`) and as Node wants them (`SIGINT`), for exec sessions.
import { constants } from 'node:os'

const byNumber = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]))

/** `'INT'` or `'SIGINT'` → `'SIGINT'`; throws on a name Node does not know. */
export function signalName (name: string): NodeJS.Signals {
  const full = name.startsWith('SIG') ? name : `SIG${name}`
  if (!Object.hasOwn(constants.signals, full)) throw new Error(`unknown signal ${JSON.stringify(name)}`)
  return full as NodeJS.Signals
}

/** 9 → 'SIGKILL'; undefined for a number Node does not name. */
export function signalOfNumber (n: number): string | undefined {
  return byNumber.get(n)
}
