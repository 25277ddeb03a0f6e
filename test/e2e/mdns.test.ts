// mDNS: two hosts on one LAN (network namespaces on a bridge). The second holds the mesh's
// token, but the address in it is stale (as if the first host had moved): with --mdns it finds
// the first on the LAN anyway and joins. Needs root and iproute2; skipped, loudly, without them.
import * as assert from 'uvu/assert'
import { formatJoinToken, parseJoinToken } from '../../mesh/token.ts'
import { dstackd, startHost, type Host } from './cluster.ts'
import { dstack } from './harness.ts'
import { lan, netnsMissing } from './netns.ts'
import { waitFor } from '../poll.ts'
import { suiteNeeding } from '../skip.ts'

const test = suiteNeeding(import.meta.url, 'root and iproute2', netnsMissing())

const net = lan(79, 2)
const hosts: Host[] = []

test.before(() => { net.setup() })

test.after(async () => {
  for (const h of hosts) await h.cleanup().catch(() => undefined)
  net.teardown()
})

test('--mdns: a host whose token carries a stale address finds the mesh on the LAN', async () => {
  const h1 = await startHost('h1', ['--mdns'], undefined, net.where(1))
  hosts.push(h1)
  const t = await dstackd(['token', '--data-dir', h1.dataDir], h1.env)
  assert.is(t.code, 0, t.stderr)
  const id1 = (await h1.status()).peer_id
  // Where h1 was before it moved: nothing answers there.
  const stale = formatJoinToken({ ...parseJoinToken(t.stdout.trim()), bootstrap: [`/ip4/${net.address(1).replace(/\d+$/, '99')}/tcp/10100/p2p/${id1}`] })
  const h2 = await startHost('h2', ['--join', stale, '--mdns'], undefined, net.where(2))
  hosts.push(h2)
  const id2 = (await h2.status()).peer_id
  await waitFor(async () => (await h1.status()).learners.includes(id2), { what: 'h2 to join through mDNS', timeout: 30_000 }).catch(err => {
    console.error(`--- h2\n${h2.log().split('\n').slice(-10).join('\n')}`)
    throw err
  })
  const r = await waitFor(async () => {
    const f = await dstack(h2, ['fleet', '--json'])
    const names = JSON.parse(f.stdout).fleets.flatMap((x: any) => x.instances.map((i: any) => i.name)).sort()
    return names.length === 2 ? names : null
  }, { what: 'both hosts in h2\'s fleet' })
  assert.equal(r, ['h1', 'h2'])
  assert.is((await h2.status()).leader, id1)
})

test.run()
