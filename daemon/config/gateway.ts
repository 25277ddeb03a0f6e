// `type: gateway` (SPEC §1.8): the public entry point for services.
import { fail, show } from './errors.ts'
import { backend, tags } from './profile.ts'
import { runName, templated } from './run.ts'
import { asBool, asIntIn, asString, isMapping } from './scalars.ts'
import { opt, record } from './schema.ts'

const certificate = (v: unknown) => {
  if (isMapping(v) && v.type === 'acm') return record({ type: () => 'acm' as const, arn: (x: unknown) => asString(x) })(v)
  return record({ type: (x: unknown) => {
    if (x !== 'lets-encrypt' && x !== 'acm') fail(`expected "lets-encrypt" or "acm", got ${show(x)}`)
    return 'lets-encrypt' as const
  } })(v)
}

export const parseGateway = record({
  type: () => 'gateway' as const,
  name: opt(runName, null),
  backend,
  region: (v: unknown) => asString(v),
  domain: opt(templated(['run']), null),
  default: opt(asBool, null),
  public_ip: opt(asBool, true),
  // Omitted means Let's Encrypt; an explicit null means no certificate at all.
  certificate: (v: unknown) => v === undefined ? { type: 'lets-encrypt' as const } : v === null ? null : certificate(v),
  instance_type: opt((v: unknown) => {
    const s = asString(v)
    if (s === '') fail('must not be empty')
    return s
  }, null),
  replicas: opt((v: unknown) => asIntIn(v, 1), 1),
  tags: opt(tags, null)
})

export type GatewayConfiguration = ReturnType<typeof parseGateway>
