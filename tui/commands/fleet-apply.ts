// `dstack apply -f fleet.dstack.yml` of an SSH fleet (SPEC §1.8, §5): the plan (its hosts),
// confirm, then each host's progress live — connecting, checking, uploading n%, starting,
// joined — or its error with the fix, every host on its own. The key files the configuration
// names are read here, where they are, and go to the daemon with the request.
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { resolve } from 'node:path'
import type { FleetConfiguration } from '../../daemon/config/index.ts'
import type { ApiClient } from '../../daemon/api/client.ts'
import { confirm, interruptSignal, table } from '../format.ts'
import { dim, green, red } from '../style.ts'

function expand (p: string, base: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') ? resolve(homedir(), p.slice(2)) : resolve(base, p)
}

/** The contents of every key file the fleet names, by the path as written. */
export function readKeys (c: FleetConfiguration, base: string): Record<string, string> {
  const paths = new Set(c.ssh_config!.hosts.flatMap(h => [h.identity_file!, ...(h.proxy_jump ? [h.proxy_jump.identity_file] : [])]))
  const keys: Record<string, string> = {}
  for (const p of paths) {
    try {
      keys[p] = readFileSync(expand(p, base), 'utf8')
    } catch (err) {
      throw new Error(`identity_file ${p}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
    }
  }
  return keys
}

function hostRows (c: FleetConfiguration): string[][] {
  return c.ssh_config!.hosts.map((h, i) => [String(i), `${h.user}@${h.hostname}${h.port === 22 ? '' : `:${h.port}`}`, h.proxy_jump ? `via ${h.proxy_jump.user}@${h.proxy_jump.hostname}` : '', String(h.blocks)])
}

export async function applySshFleet (client: ApiClient, c: FleetConfiguration, a: { base: string, yes: boolean }): Promise<number> {
  if (c.name === null) throw new Error('an SSH fleet needs a `name`')
  const keys = readKeys(c, a.base)
  process.stdout.write(` Project        ${process.env.DSTACK_PROJECT ?? 'main'}\n Type           fleet (SSH, ${c.ssh_config!.hosts.length} hosts)\n Name           ${c.name}\n\n`)
  process.stdout.write(table(['#', 'HOST', 'PROXY JUMP', 'BLOCKS'], hostRows(c)) + '\n\n')
  if (!a.yes && !(await confirm(`Create the fleet ${c.name}?`))) return 1
  const last = new Map<string, string>()
  let failed = 0
  let joined = 0
  for await (const item of client.stream('fleets.apply', { configuration: c, keys }, { signal: interruptSignal() })) {
    if ('progress' in item) {
      const p = item.progress
      // Upload progress in steps of a quarter, so a fast upload is a few lines, not a hundred.
      const text = p.stage === 'uploading' ? `uploading ${p.percent === 100 ? 100 : Math.floor((p.percent ?? 0) / 25) * 25}%${p.message ? ` (${p.message})` : ''}` : p.stage
      if (last.get(p.host) === text) continue
      last.set(p.host, text)
      if (p.stage === 'failed') process.stderr.write(red(`${p.host}  failed: ${p.message?.replace(`${p.host}: `, '')}`) + '\n')
      else process.stdout.write(`${p.host}  ${p.stage === 'joined' ? green(text) : text}\n`)
    } else {
      failed = item.done.hosts.filter(h => !h.ok).length
      joined = item.done.hosts.length - failed
    }
  }
  process.stdout.write(`\nFleet ${c.name}: ${joined} host(s) joined${failed ? `, ${failed} failed` : ''}${dim(' (dstack fleet shows them)')}\n`)
  return failed > 0 ? 1 : 0
}
