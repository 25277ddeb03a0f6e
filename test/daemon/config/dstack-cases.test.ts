// dstack's own test cases, row by row, asserted against our API (SPEC §1, §2, §7). Each suite is
// one dstack test file (dstackai/dstack, `src/tests/_internal/...`); each test is named after
// the dstack test it ports (`Class::test_name[param id]`). Where we deliberately differ from
// dstack (SPEC says otherwise, we report every error at once, or our messages are our own
// wording of the same rule) the row asserts our behaviour and its label says `(ours: …)`.
// Shapes are ours: sizes in GB, durations in seconds, ranges {min, max}.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  ConfigError, checkImageRequirements, combineIdleDuration, formatGpuSpec, formatResources, combineRequirements, combineSpotPolicy, formatPath,
  inferGpuVendor, intersectRanges, mergeEnv, mergePorts, mergeTags, normalizeAmdName, normalizeNvidiaName, offerMatches,
  parseComputeCapability, parseConfiguration, parseCpuSpec, parseDuration, parseEnv, parseEnvArg, parseFileMapping,
  parseGpuSpec, parseIdleDuration, parseMemory, parseMountPoint, parseOffableDuration, parsePortMapping, parseProfiles,
  loadYaml, parseRange, parseRepoSpec, parseResources, parseTemplate, resolveEnv, checkTemplate, interpolate, volumeNameForNode,
  type Offer, type OfferGpu, type Range, type Requirements
} from '../../../daemon/config/index.ts'
import { entityRef, tags } from '../../../daemon/config/profile.ts'

// -- helpers --------------------------------------------------------------------------------------

const parse = (v: unknown): any => parseConfiguration(v) as any
const r = (min: number | null, max: number | null): Range => ({ min, max })

/** `fn` throws a ConfigError; when given, some issue sits at `path` (as formatPath writes it) and matches `re`. */
function rejects (fn: () => unknown, path?: string, re?: RegExp): void {
  let caught: unknown
  try { fn() } catch (err) { caught = err }
  if (caught === undefined) assert.unreachable(`expected a ConfigError${path !== undefined ? ` at ${path}` : ''}`)
  assert.instance(caught, ConfigError)
  const issues = (caught as ConfigError).issues
  if (path === undefined && re === undefined) return
  assert.ok(issues.some(i => (path === undefined || formatPath(i.path) === path) && (re === undefined || re.test(i.message))),
    `${JSON.stringify(issues)} has no issue${path !== undefined ? ` at ${JSON.stringify(path)}` : ''}${re ? ` matching ${re}` : ''}`)
}

const task = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'task', commands: ['true'], ...over })
const service = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'service', port: 8000, ...over })

function offer (gpus: OfferGpu[] = [], over: Partial<Offer> = {}): Offer {
  return { backend: 'aws', region: 'r', instance_type: 'x', price: 1, spot: false, cpu_arch: 'x86', cpus: 8, memory: 32, disk: 200, gpus, ...over }
}
const gpu = (name = 'A100', memory = 80, vendor: OfferGpu['vendor'] = 'nvidia'): OfferGpu => ({ vendor, name, memory })
function req (resources: unknown = {}, over: Partial<Omit<Requirements, 'resources'>> = {}): Requirements {
  return { resources: parseResources(resources), spot: null, max_price: null, reservation: null, ...over }
}

// == core/models/test_resources.py ================================================================

const resources = suite('dstack core/models/test_resources.py')

resources('TestMemory::test_mb, test_gb, test_tb, test_float, test_int', () => {
  assert.is(parseMemory('512MB'), 0.5)
  assert.is(parseMemory('16 Gb'), 16)
  assert.is(parseMemory('1 TB '), 1024)
  assert.is(parseMemory(1.5), 1.5)
  assert.is(parseMemory(1), 1)
})

resources('TestMemory::test_invalid', () => rejects(() => parseMemory('1.5xb'), '', /memory/))

resources('TestComputeCapability::test_str, test_tuple', () => {
  assert.equal(parseComputeCapability('3.5'), [3, 5])
  assert.equal(parseComputeCapability([7, 5]), [7, 5])
})

resources('TestComputeCapability::test_float (8.0 as YAML writes it)', () => {
  const c = parseConfiguration('type: task\ncommands: [ls]\nresources:\n  gpu:\n    compute_capability: 8.0\n') as any
  assert.equal(c.resources.gpu.compute_capability, [8, 0])
  assert.equal(parseComputeCapability(8.5), [8, 5])
})

resources('TestComputeCapability::test_invalid_len, test_invalid_type', () => {
  rejects(() => parseComputeCapability('3.5.1'), '', /compute capability/)
  rejects(() => parseComputeCapability('3.x'), '', /compute capability/)
})

resources('TestIntRange::test_int, test_exact, test_from, test_to, test_dict', () => {
  assert.equal(parseRange(1, 'count'), r(1, 1))
  assert.equal(parseRange('1', 'count'), r(1, 1))
  assert.equal(parseRange('1..', 'count'), r(1, null))
  assert.equal(parseRange('..1', 'count'), r(null, 1))
  assert.equal(parseRange({ min: 1, max: 3 }, 'count'), r(1, 3))
})

resources('TestIntRange::test_invalid_range, test_range_typo, test_unordered', () => {
  rejects(() => parseRange('..', 'count'), '', /empty range/)
  rejects(() => parseRange('1...3', 'count'), '', /two dots/)
  rejects(() => parseRange('3..1', 'count'), '', /min 3 is greater than max 1/)
})

resources('TestMemoryRange::test_mb, test_from, test_to, test_range, test_dict', () => {
  assert.equal(parseRange('512MB', 'memory'), r(0.5, 0.5))
  assert.equal(parseRange('512MB..', 'memory'), r(0.5, null))
  assert.equal(parseRange('..1 TB', 'memory'), r(null, 1024))
  assert.equal(parseRange('512..1 TB', 'memory'), r(512, 1024))
  assert.equal(parseRange({ min: '512MB', max: '1TB' }, 'memory'), r(0.5, 1024))
})

resources('TestMemoryRange::test_invalid_range', () => rejects(() => parseRange('...', 'memory')))

resources('TestCPU::test_integer, test_valid_string[1..2, X86, x86:2, 2..:ARM]', () => {
  assert.equal(parseCpuSpec(1), { arch: null, count: r(1, 1) })
  assert.equal(parseCpuSpec('1..2'), { arch: null, count: r(1, 2) })
  assert.equal(parseCpuSpec('X86'), { arch: 'x86', count: r(2, null) }, 'arch only: DEFAULT_CPU_COUNT 2..')
  assert.equal(parseCpuSpec('x86:2'), { arch: 'x86', count: r(2, 2) })
  assert.equal(parseCpuSpec('2..:ARM'), { arch: 'arm', count: r(2, null) })
})

resources('TestCPU::test_invalid_string[arm:, 2:foo, arm:x86, 2:arm:2]', () => {
  rejects(() => parseCpuSpec('arm:'), '', /empty token/)
  rejects(() => parseCpuSpec('2:foo'), '', /unknown CPU arch "foo"/)
  rejects(() => parseCpuSpec('arm:x86'), '', /two arches/)
  rejects(() => parseCpuSpec('2:arm:2'), '', /two counts/)
})

resources('TestCPU::test_range_object, test_range_dict, test_valid_dict', () => {
  assert.equal(parseCpuSpec(r(1, 2)), { arch: null, count: r(1, 2) })
  assert.equal(parseCpuSpec({ min: 1, max: 2 }), { arch: null, count: r(1, 2) })
  assert.equal(parseCpuSpec({ arch: 'ARM', count: { min: 1, max: 2 } }), { arch: 'arm', count: r(1, 2) })
})

resources('TestCPU::test_invalid_dict', () => rejects(() => parseCpuSpec({ arch: 'x86', min: 1, max: 2 }), 'min', /unknown field/))

resources('TestGPU::test_count', () => assert.equal(parseGpuSpec('1'), parseGpuSpec({ count: 1 })))

resources('TestGPU::test_vendor_in_string_form[vendor-only-mixedcase, vendor-lowercase-and-name, tpu-lowercase-and-name, name-and-tpu-uppercase, name-and-vendor-uppercase]', () => {
  const rows: Array<[string, Record<string, unknown>]> = [
    ['Nvidia', { vendor: 'nvidia' }],
    ['google:v3-64', { vendor: 'google', name: ['v3-64'] }],
    ['tpu:v5p-1024', { vendor: 'google', name: ['v5p-1024'] }],
    ['v5litepod-64:TPU', { vendor: 'google', name: ['v5litepod-64'] }],
    ['MI300X:AMD', { vendor: 'amd', name: ['MI300X'] }]
  ]
  for (const [s, obj] of rows) assert.equal(parseGpuSpec(s), parseGpuSpec(obj), s)
})

resources('TestGPU::test_vendor_in_object_form[null, uppercase, lowercase, mixedcase, tpu-lowercase, tpu-uppercase, enum-value]', () => {
  const rows: Array<[unknown, string | null]> = [
    [null, null], ['NVIDIA', 'nvidia'], ['amd', 'amd'], ['Google', 'google'], ['tpu', 'google'], ['TPU', 'google'], ['google', 'google']
  ]
  for (const [v, want] of rows) {
    assert.equal(parseGpuSpec({ vendor: v }), parseGpuSpec({ vendor: want }), String(v))
    assert.is(parseGpuSpec({ vendor: v }).vendor, want, String(v))
  }
})

resources('TestGPU::test_name, test_name_with_tpu_prefix, test_memory, test_names_count, test_memory_range', () => {
  assert.equal(parseGpuSpec('A100'), parseGpuSpec({ name: ['A100'] }))
  assert.equal(parseGpuSpec('tpu-v3-2048').name, ['v3-2048'])
  assert.equal(parseGpuSpec('16GB'), parseGpuSpec({ memory: '16GB' }))
  assert.equal(parseGpuSpec('16GB').memory, r(16, 16))
  assert.equal(parseGpuSpec('A10,A10G:2'), parseGpuSpec({ name: ['A10', 'A10G'], count: 2 }))
  assert.equal(parseGpuSpec('16GB..32'), parseGpuSpec({ memory: { min: 16, max: 32 } }))
})

resources('TestGPU::test_empty_name, test_empty_token', () => {
  rejects(() => parseGpuSpec('A100,:2'), '', /empty GPU name/)
  rejects(() => parseGpuSpec('A100:'), '', /empty token/)
})

resources('TestGPU::test_vendor_conflict, test_count_conflict', () => {
  rejects(() => parseGpuSpec('Nvidia:A100:2:AMD'), '', /vendor conflict/)
  rejects(() => parseGpuSpec('A100:2:3'), '', /count conflict/)
})

resources('test_intersect_ranges (both orders)', () => {
  const rows: Array<[Range, Range, Range | null]> = [
    [r(1, 2), r(3, 4), null],
    [r(1, 2), r(2, 3), r(2, 2)],
    [r(1, 2), r(1, 2), r(1, 2)],
    [r(1, 3), r(2, 4), r(2, 3)],
    [r(1, 4), r(2, 3), r(2, 3)],
    [r(null, 1), r(2, null), null],
    [r(null, 1), r(1, null), r(1, 1)],
    [r(null, 2), r(1, null), r(1, 2)],
    [r(null, 1), r(null, 2), r(null, 1)],
    [r(1, null), r(2, null), r(2, null)],
    [r(1, null), r(null, 2), r(1, 2)]
  ]
  for (const [a, b, want] of rows) {
    assert.equal(intersectRanges(a, b), want, `${JSON.stringify(a)} ∩ ${JSON.stringify(b)}`)
    assert.equal(intersectRanges(b, a), want, `${JSON.stringify(b)} ∩ ${JSON.stringify(a)}`)
  }
})

resources.run()

// == core/models/test_configurations.py ==========================================================

const configurations = suite('dstack core/models/test_configurations.py')

configurations('TestParseConfiguration::test_server_access_supported[task, dev-environment, service]', () => {
  assert.is(parse({ type: 'task', dstack: true, commands: ['true'] }).dstack, true)
  assert.is(parse({ type: 'dev-environment', dstack: true }).dstack, true)
  assert.is(parse({ type: 'service', dstack: true, commands: ['true'], port: 8000 }).dstack, true)
})

configurations('TestParseConfiguration::test_server_access_not_supported_with_inactivity_duration', () => {
  rejects(() => parse({ type: 'dev-environment', dstack: true, inactivity_duration: '1h' }), 'inactivity_duration', /dstack: true/)
})

configurations('TestParseConfiguration::test_server_access_and_inactivity_duration_allowed_separately', () => {
  parse({ type: 'dev-environment', dstack: true })
  assert.is(parse({ type: 'dev-environment', inactivity_duration: '1h' }).inactivity_duration, 3600)
})

configurations('TestParseConfiguration::test_server_access_allows_unresolved_passthrough_env', () => {
  const c = parse(task({ dstack: true, env: ['DSTACK_TOKEN'] }))
  assert.ok(Object.hasOwn(c.env, 'DSTACK_TOKEN'))
  assert.is(c.env.DSTACK_TOKEN, null)
})

configurations('TestParseConfiguration::test_service_model_probes_none_when_omitted (ours: the default model probe is filled in at parse, SPEC §1.2 "null = default")', () => {
  const c = parse(service({ commands: ['python3 -m http.server'], model: 'meta-llama/Meta-Llama-3.1-8B-Instruct' }))
  assert.is(c.probes.length, 1)
  assert.is(c.probes[0].url, '/v1/chat/completions')
  assert.is(c.probes[0].method, 'post')
})

configurations('TestParseConfiguration::test_service_model_does_not_override_explicit_probes, test_service_model_explicit_empty_probes_no_default', () => {
  const base = service({ commands: ['python3 -m http.server'], model: 'meta-llama/Meta-Llama-3.1-8B-Instruct' })
  const c = parse({ ...base, probes: [{ type: 'http', url: '/health' }] })
  assert.is(c.probes.length, 1)
  assert.is(c.probes[0].url, '/health')
  assert.equal(parse({ ...base, probes: [] }).probes, [])
})

configurations('TestParseConfiguration::test_services_replicas_and_scaling', () => {
  const conf = (replicas: unknown, scaling?: unknown): unknown => service({ commands: ['python3 -m http.server'], replicas, ...(scaling ? { scaling } : {}) })
  assert.equal(parse(conf(1)).replicas, r(1, 1))
  assert.equal(parse(conf('2')).replicas, r(2, 2))
  assert.equal(parse(conf('3..3')).replicas, r(3, 3))
  rejects(() => parse(conf('0..10')), 'replicas', /needs `scaling`/)
  assert.equal(parse(conf('0..10', { metric: 'rps', target: 10 })).replicas, r(0, 10))
  rejects(() => parse(conf('0..10', { metric: 'rpc', target: 10 })), 'scaling.metric', /"rps"/)
})

configurations('TestParseConfiguration::test_replica_group_router', () => {
  const c = parse(service({
    replicas: [
      { name: 'router', count: 1, commands: ['sglang serve'], router: { type: 'sglang' } },
      { name: 'worker', count: 2, commands: ['worker'] }
    ]
  }))
  assert.ok(Array.isArray(c.replicas))
  assert.equal(c.replicas.find((g: any) => g.name === 'router').router, { type: 'sglang' })
})

configurations('TestParseConfiguration::test_spot_policy_set_at_both_service_and_group_rejected, test_reservation_set_at_both_service_and_group_rejected', () => {
  rejects(() => parse(service({ spot_policy: 'spot', replicas: [{ count: 1, commands: ['x'], spot_policy: 'on-demand' }] })),
    'replicas[0].spot_policy', /`spot_policy` is set at both/)
  rejects(() => parse(service({ image: 'x', reservation: 'svc-res', replicas: [{ count: 1, reservation: 'grp-res' }] })),
    'replicas[0].reservation', /`reservation` is set at both/)
})

configurations('TestParseConfiguration::test_shell_valid[None, sh, bash, /usr/bin/zsh] (ours: None resolves to the default shell)', () => {
  assert.is(parse(task({ commands: ['sleep inf'] })).shell, '/bin/bash')
  for (const shell of ['sh', 'bash', '/usr/bin/zsh']) assert.is(parse(task({ shell, commands: ['sleep inf'] })).shell, shell)
})

configurations('TestParseConfiguration::test_shell_invalid', () => {
  rejects(() => parse(task({ shell: 'zsh', commands: ['sleep inf'] })), 'shell', /sh, bash or an absolute path/)
})

configurations('TestReplicaGroupContainerFields::test_replica_group_accepts_image_python_nvcc_docker, test_replica_group_accepts_privileged', () => {
  const c = parse(service({
    replicas: [
      { name: 'a', count: 1, image: 'nginx:latest', commands: ['x'] },
      { name: 'b', count: 1, python: '3.12', commands: ['x'] },
      { name: 'c', count: 1, nvcc: true, commands: ['x'] },
      { name: 'd', count: 1, docker: true, commands: ['x'] }
    ]
  }))
  const g = Object.fromEntries(c.replicas.map((x: any) => [x.name, x]))
  assert.is(g.a.image, 'nginx:latest')
  assert.is(g.b.python, '3.12')
  assert.is(g.c.nvcc, true)
  assert.is(g.d.docker, true)
  assert.is(parse(service({ replicas: [{ name: 'a', count: 1, image: 'x', privileged: true, commands: ['x'] }] })).replicas[0].privileged, true)
})

configurations('TestReplicaGroupContainerFields::test_replica_group_python_yaml_coercion[3.1 (YAML 3.10), 3.12, "3.10", "3.12"]', () => {
  const yaml = (v: string): string => `type: service\nport: 8000\nreplicas:\n  - count: 1\n    python: ${v}\n    commands: [x]\n`
  assert.is((parseConfiguration(yaml('3.10')) as any).replicas[0].python, '3.10')
  assert.is((parseConfiguration(yaml('3.12')) as any).replicas[0].python, '3.12')
  assert.is((parseConfiguration(yaml('"3.10"')) as any).replicas[0].python, '3.10')
  assert.is((parseConfiguration(yaml('"3.12"')) as any).replicas[0].python, '3.12')
})

configurations('TestReplicaGroupContainerFields::test_replica_group_{image_python,image_docker,python_docker,nvcc_docker}_mutex', () => {
  const rows: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ image: 'x', python: '3.12' }, 'replicas[0].python', /`image` and `python` are mutually exclusive/],
    [{ image: 'x', docker: true }, 'replicas[0].docker', /`image` and `docker` are mutually exclusive/],
    [{ python: '3.12', docker: true }, 'replicas[0].docker', /`python` and `docker` are mutually exclusive/],
    [{ nvcc: true, docker: true }, 'replicas[0].docker', /`nvcc` and `docker` are mutually exclusive/]
  ]
  for (const [g, path, re] of rows) rejects(() => parse(service({ replicas: [{ count: 1, commands: ['x'], ...g }] })), path, re)
})

configurations('TestReplicaGroupContainerFields::test_replica_group_python_nvcc_allowed_together', () => {
  const c = parse(service({ replicas: [{ count: 1, python: '3.12', nvcc: true, commands: ['x'] }] }))
  assert.is(c.replicas[0].python, '3.12')
  assert.is(c.replicas[0].nvcc, true)
})

configurations('TestReplicaGroupContainerFields::test_replica_group_docker_with_privileged_false_rejected, ..._unset_allowed', () => {
  rejects(() => parse(service({ replicas: [{ count: 1, docker: true, privileged: false, commands: ['x'] }] })),
    'replicas[0].privileged', /`privileged: false` cannot be combined with `docker: true`/)
  parse(service({ replicas: [{ count: 1, docker: true, commands: ['x'] }] }))
})

configurations('TestReplicaGroupContainerFields::test_{image,docker,python,nvcc,privileged}_set_at_both_service_and_group_rejected', () => {
  const rows: Array<[Record<string, unknown>, Record<string, unknown>, string]> = [
    [{ image: 'svc:1.0' }, { image: 'grp:1.0' }, 'image'],
    [{ docker: true }, { docker: true }, 'docker'],
    [{ python: '3.12' }, { python: '3.12' }, 'python'],
    [{ nvcc: true }, { nvcc: true }, 'nvcc'],
    [{ privileged: true }, { image: 'x', privileged: true }, 'privileged']
  ]
  for (const [top, g, k] of rows) {
    rejects(() => parse(service({ ...top, replicas: [{ count: 1, commands: ['x'], ...g }] })), `replicas[0].${k}`, new RegExp(`\`${k}\` is set at both`))
  }
})

configurations('TestReplicaGroupContainerFields::test_image_at_service_with_groups_inheriting_allowed, test_docker_at_service_with_groups_inheriting_allowed', () => {
  parse(service({ image: 'svc:1.0', replicas: [{ count: 1, commands: ['x'] }, { count: 1, commands: ['x'] }] }))
  parse(service({ docker: true, replicas: [{ count: 1, commands: ['x'] }, { count: 1, commands: ['x'] }] }))
})

configurations('TestReplicaGroupContainerFields::test_partial_mix_rejected (the group named b is reported)', () => {
  rejects(() => parse(service({ image: 'svc:1.0', replicas: [{ name: 'a', count: 1, commands: ['x'] }, { name: 'b', count: 1, image: 'g:2', commands: ['x'] }] })),
    'replicas[1].image', /`image` is set at both/)
})

configurations('TestReplicaGroupContainerFields::test_service_{image,docker,python,nvcc}_conflicts_with_group_{...}_rejected', () => {
  const rows: Array<[Record<string, unknown>, Record<string, unknown>, string, string]> = [
    [{ image: 'alpine' }, { docker: true }, 'image', 'docker'],
    [{ image: 'alpine' }, { python: '3.12' }, 'image', 'python'],
    [{ image: 'alpine' }, { nvcc: true }, 'image', 'nvcc'],
    [{ docker: true }, { image: 'alpine' }, 'docker', 'image'],
    [{ docker: true }, { python: '3.12' }, 'docker', 'python'],
    [{ docker: true }, { nvcc: true }, 'docker', 'nvcc'],
    [{ python: '3.12' }, { image: 'alpine' }, 'python', 'image'],
    [{ python: '3.12' }, { docker: true }, 'python', 'docker'],
    [{ nvcc: true }, { image: 'alpine' }, 'nvcc', 'image'],
    [{ nvcc: true }, { docker: true }, 'nvcc', 'docker']
  ]
  for (const [top, g, a, b] of rows) {
    rejects(() => parse(service({ ...top, replicas: [{ count: 1, commands: ['x'], ...g }] })), `replicas[0].${b}`,
      new RegExp(`(\`${a}\` and \`${b}\`|\`${b}\` and \`${a}\`) are mutually exclusive \\(one is set on the service`))
  }
})

configurations('TestReplicaGroupContainerFields::test_service_python_with_group_nvcc_allowed, test_service_nvcc_with_group_python_allowed', () => {
  parse(service({ python: '3.12', replicas: [{ count: 1, nvcc: true, commands: ['x'] }] }))
  parse(service({ nvcc: true, replicas: [{ count: 1, python: '3.12', commands: ['x'] }] }))
})

configurations('TestReplicaGroupContainerFields::test_replica_group_with_only_image_no_commands_allowed, test_service_level_image_satisfies_groups_runnable_check', () => {
  parse(service({ replicas: [{ count: 1, image: 'nginx:latest' }] }))
  parse(service({ image: 'svc:1.0', replicas: [{ count: 1 }, { count: 1 }] }))
})

configurations('TestReplicaGroupContainerFields::test_replica_group_with_only_{python,nvcc,docker}_no_commands_rejected, test_empty_replica_group_rejected', () => {
  for (const g of [{ python: '3.12' }, { nvcc: true }, { docker: true }, {}]) {
    rejects(() => parse(service({ replicas: [{ count: 1, ...g }] })), 'replicas[0].commands', /`commands` or an `image`/)
  }
})

configurations('TestRepoSpec::test_parse_local_path_no_path[., rel/path, /abs/path/], test_parse_local_path_with_path', () => {
  for (const v of ['.', 'rel/path', '/abs/path/']) {
    const s = parseRepoSpec(v)
    assert.equal([s.local_path, s.url, s.path], [v, null, '.'], v)
  }
  for (const [v, local] of [['.:/repo', '.'], ['rel/path:/repo', 'rel/path'], ['/abs/path/:/repo', '/abs/path/']] as const) {
    const s = parseRepoSpec(v)
    assert.equal([s.local_path, s.url, s.path], [local, null, '/repo'], v)
  }
})

configurations('TestRepoSpec::test_parse_windows_abs_local_path_{no,with}_path, test_parse_{url,scp}_{no,with}_path', () => {
  const rows: Array<[string, string | null, string | null, string]> = [
    ['C:\\repo', 'C:\\repo', null, '.'],
    ['C:\\repo:/repo', 'C:\\repo', null, '/repo'],
    ['https://example.com/repo.git', null, 'https://example.com/repo.git', '.'],
    ['https://example.com/repo.git:/repo', null, 'https://example.com/repo.git', '/repo'],
    ['git@example.com:repo.git', null, 'git@example.com:repo.git', '.'],
    ['git@example.com:repo.git:/repo', null, 'git@example.com:repo.git', '/repo']
  ]
  for (const [v, local, url, path] of rows) {
    const s = parseRepoSpec(v)
    assert.equal([s.local_path, s.url, s.path], [local, url, path], v)
  }
})

configurations('TestRepoSpec::test_path_tilde[~, ~/repo], test_error_path_tilde_username_not_supported', () => {
  assert.is(parseRepoSpec({ local_path: '.', path: '~' }).path, '~')
  assert.is(parseRepoSpec({ local_path: '.', path: '~/repo' }).path, '~/repo')
  rejects(() => parseRepoSpec({ local_path: '.', path: '~alice/repo' }), 'path', /syntax is not supported/)
})

configurations('TestRepoSpec::test_error_invalid_mapping_if_more_than_two_parts, test_error_local_path_url_mutually_exclusive, test_error_local_path_or_url_required', () => {
  rejects(() => parseRepoSpec('./foo:bar:baz'), '', /Invalid repo/)
  rejects(() => parseRepoSpec({ local_path: '.', url: 'https://example.com/repo.git' }), 'url', /mutually exclusive/)
  rejects(() => parseRepoSpec({}), '', /must be specified/)
})

configurations('TestDevEnvironmentConfigurationParams::test_windsurf_version_*, test_*_version_not_validated, test_zed_ide_allowed, test_ide_optional', () => {
  const dev = (over: Record<string, unknown>): any => parse({ type: 'dev-environment', ...over })
  assert.is(dev({ ide: 'windsurf', version: '1.106.0@8951cd3ad688e789573d7f51750d67ae4a0bea7d' }).version, '1.106.0@8951cd3ad688e789573d7f51750d67ae4a0bea7d')
  assert.is(dev({ ide: 'windsurf', version: '1.0.0@abc123' }).version, '1.0.0@abc123')
  assert.is(dev({ ide: 'windsurf', version: null }).version, null)
  for (const v of ['1.106.0', '1.106.0@', '@8951cd3ad688e789573d7f51750d67ae4a0bea7d', '1.106.0@ghijklmnop']) {
    rejects(() => dev({ ide: 'windsurf', version: v }), 'version', /windsurf versions look like/)
  }
  assert.is(dev({ ide: 'vscode', version: '1.80.0' }).version, '1.80.0')
  assert.is(dev({ ide: 'cursor', version: '0.40.0' }).version, '0.40.0')
  assert.equal([dev({ ide: 'zed' }).ide, dev({ ide: 'zed' }).version], ['zed', null])
  assert.is(dev({ ide: 'zed', version: '0.100.0' }).version, '0.100.0')
  assert.equal([dev({}).ide, dev({}).version], [null, null])
})

configurations('TestDevEnvironmentConfigurationParams::test_version_requires_ide', () => {
  rejects(() => parse({ type: 'dev-environment', version: '1.80.0' }), 'version', /needs `ide`/)
})

configurations('TestNodeGroups::test_parses_int_nodes, test_omitted_nodes_defaults_to_one_node_group (ours: omitted nodes is 1, not None)', () => {
  const c = parse({ type: 'task', nodes: 2, commands: ['true'] })
  assert.equal([c.nodes, c.groups], [2, null])
  assert.equal([parse({ type: 'task', commands: ['true'] }).nodes, parse({ type: 'task', commands: ['true'] }).groups], [1, null])
})

configurations('TestNodeGroups::test_parses_groups_and_defaults_names', () => {
  const c = parse({ type: 'task', image: 'debian', groups: [{ nodes: 2, commands: ['echo head'] }, { name: 'workers', nodes: 1, commands: ['echo worker'] }] })
  assert.equal(c.groups.map((g: any) => [g.name, g.nodes, g.commands]), [['0', 2, ['echo head']], ['workers', 1, ['echo worker']]])
})

configurations('TestNodeGroups::test_rejects_nodes_with_groups, test_rejects_nodes_and_groups_together', () => {
  for (const nodes of [1, 2]) {
    rejects(() => parse({ type: 'task', image: 'debian', nodes, groups: [{ nodes: 1, commands: ['true'] }] }), 'nodes', /`nodes` and `groups` are mutually exclusive/)
  }
})

configurations('TestNodeGroups::test_groups_round_trip_via_model_dump (our normalized output parses back to itself)', () => {
  const c = parse({ type: 'task', image: 'debian', groups: [{ nodes: 2, commands: ['echo head'], ports: [8000] }, { name: 'workers', nodes: 1, commands: ['echo worker'] }] })
  const dumped = JSON.parse(JSON.stringify(c))
  assert.is(dumped.nodes, null)
  const again = parse(dumped)
  assert.equal(again, c)
  assert.equal(again.groups.map((g: any) => g.name), ['0', 'workers'])
  assert.is(again.groups[0].ports[0].container_port, 8000)
})

configurations('TestNodeGroups::test_rejects_auto_name_collision_with_explicit_name, test_rejects_duplicate_group_names, test_rejects_invalid_group_name', () => {
  rejects(() => parse({ type: 'task', image: 'debian', groups: [{ name: '1', nodes: 1, commands: ['true'] }, { nodes: 1, commands: ['true'] }] }), 'groups[1].name', /used twice/)
  rejects(() => parse({ type: 'task', image: 'debian', groups: [{ name: 'head', nodes: 1, commands: ['true'] }, { name: 'head', nodes: 1, commands: ['true'] }] }), 'groups[1].name', /used twice/)
  rejects(() => parse({ type: 'task', image: 'debian', groups: [{ name: 'Bad_Name', nodes: 1, commands: ['true'] }] }), 'groups[0].name', /not a valid group name/)
})

configurations('TestNodeGroups::test_rejects_empty_groups, test_rejects_top_level_{commands,ports,entrypoint}_with_groups, test_rejects_group_without_commands_or_image', () => {
  rejects(() => parse({ type: 'task', image: 'debian', groups: [] }), 'groups', /at least one group/)
  rejects(() => parse({ type: 'task', image: 'debian', commands: ['echo top'], groups: [{ nodes: 1, commands: ['echo group'] }] }), 'commands', /top level/)
  rejects(() => parse({ type: 'task', image: 'debian', ports: [8000], groups: [{ nodes: 1, commands: ['true'] }] }), 'ports', /top level/)
  rejects(() => parse({ type: 'task', image: 'debian', entrypoint: 'python', groups: [{ nodes: 1, commands: ['echo ok'] }] }), 'entrypoint', /top level/)
  rejects(() => parse({ type: 'task', groups: [{ name: 'head', nodes: 1 }] }), 'groups[0].commands', /needs `commands`/)
})

configurations('TestNodeGroups::test_accepts_top_level_resources_with_groups (a group does not inherit them)', () => {
  const c = parse({ type: 'task', image: 'debian', resources: { gpu: 'H100' }, groups: [{ nodes: 1, commands: ['true'] }] })
  assert.equal(c.groups[0].resources, parseResources(undefined))
  assert.equal(c.resources.gpu.name, ['H100'])
})

configurations.run()

// == core/models/test_replica_groups.py (the `replica_groups` spelling) ==========================

const replicaGroups = suite('dstack core/models/test_replica_groups.py')

replicaGroups('TestReplicaGroupConfiguration::* (ours: that draft spelling `replica_groups` is not dstack\'s released syntax; SPEC §1.2 has `groups` / `replicas: [...]`)', () => {
  rejects(() => parse(service({ commands: ['python3 app.py'], replica_groups: [{ name: 'g', replicas: 1 }] })), 'replica_groups', /unknown field/)
})

replicaGroups('TestReplicaGroupConfiguration::test_basic_replica_groups, test_replica_groups_with_ranges (as SPEC `groups`)', () => {
  const c = parse(service({
    groups: [
      { name: 'h100-group', replicas: 1, resources: { gpu: 'H100:1' }, commands: ['python3 app.py'] },
      { name: 'rtx5090-group', replicas: '1..3', resources: { gpu: 'RTX5090:1' }, commands: ['python3 app.py'], scaling: { metric: 'rps', target: 10 } }
    ]
  }))
  assert.equal(c.replicas.map((g: any) => [g.name, g.count, g.resources.gpu.name]), [['h100-group', r(1, 1), ['H100']], ['rtx5090-group', r(1, 3), ['RTX5090']]])
})

replicaGroups('TestReplicaGroupConfiguration::test_replica_groups_xor_replicas, test_replica_groups_unique_names, test_replica_groups_empty_name, test_replica_groups_range_requires_scaling, test_replica_groups_cannot_be_empty (as SPEC `groups`)', () => {
  const g = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'group1', replicas: 1, commands: ['x'], ...over })
  rejects(() => parse(service({ replicas: 2, groups: [g()] })), 'replicas', /mutually exclusive/)
  rejects(() => parse(service({ groups: [g(), g()] })), 'groups[1].name', /used twice/)
  rejects(() => parse(service({ groups: [g({ name: '' })] })), 'groups[0].name', /not a valid group name/)
  rejects(() => parse(service({ groups: [g({ replicas: '1..3' })] })), 'groups[0].replicas', /needs `scaling`/)
  rejects(() => parse(service({ groups: [] })), 'groups', /at least one group/)
})

replicaGroups('TestBackwardCompatibility::test_legacy_service_config, test_legacy_autoscaling_config', () => {
  assert.equal(parse(service({ commands: ['python3 app.py'], replicas: 2, resources: { gpu: 'A100:1' } })).replicas, r(2, 2))
  const c = parse(service({ commands: ['python3 app.py'], replicas: '0..5', resources: { gpu: 'A100:1' }, scaling: { metric: 'rps', target: 10 } }))
  assert.equal(c.replicas, r(0, 5))
  assert.equal(c.scaling, { metric: 'rps', target: 10, window: 60, scale_up_delay: 300, scale_down_delay: 600 })
})

replicaGroups.run()

// == core/models/test_profiles.py ================================================================

const profiles = suite('dstack core/models/test_profiles.py')

profiles('TestValidateProfileBackendOptions::test_duplicate_backend_type_raises_validation_error', () => {
  rejects(() => parse(task({ backend_options: [{ type: 'vastai', min_score: 100 }, { type: 'vastai', min_score: 200 }] })), 'backend_options[1].type', /"vastai"/)
})

profiles('TestValidateProfileBackendOptions::test_single_entry_per_backend_is_valid, test_none_backend_options_is_valid, test_empty_list_backend_options_is_valid', () => {
  assert.is(parse(task({ backend_options: [{ type: 'vastai', min_score: 100 }] })).backend_options.length, 1)
  assert.is(parse(task({ backend_options: null })).backend_options, null)
  assert.equal(parse(task({ backend_options: [] })).backend_options, [])
})

profiles('TestProfileInstances::test_string_is_parsed_as_instance_name_selector, test_object_selectors_are_parsed', () => {
  const rows: Array<[unknown, unknown]> = [
    ['my-fleet-1', { name: 'my-fleet-1' }],
    [{ name: 'my-fleet-1' }, { name: 'my-fleet-1' }],
    [{ hostname: 'worker-1' }, { hostname: 'worker-1' }],
    [{ fleet: 'my-fleet', instance: 3 }, { fleet: 'my-fleet', instance: 3 }],
    [{ fleet: 'other-project/my-fleet', instance: 3 }, { fleet: 'other-project/my-fleet', instance: 3 }]
  ]
  for (const [v, want] of rows) assert.equal(parse(task({ instances: [v] })).instances, [want], JSON.stringify(v))
})

profiles('TestProfileInstances::test_parses_fleet_selector_object_notation (ours: normalized to "project/name")', () => {
  assert.equal(parse(task({ instances: [{ fleet: { project: 'main', name: 'my-fleet' }, instance: 0 }] })).instances, [{ fleet: 'main/my-fleet', instance: 0 }])
})

profiles('ProfileParams.fleets (FleetReferenceOrShorthand, the model the tests above exercise): a name, project/name, or {project, name}', () => {
  assert.equal(parse(task({ fleets: ['my-fleet', 'other/my-fleet', { project: 'main', name: 'f' }, { name: 'g' }] })).fleets, ['my-fleet', 'other/my-fleet', 'main/f', 'g'])
  rejects(() => parse(task({ fleets: [{ project: 'main' }] })), 'fleets[0].name')
})

profiles('TestProfileInstances::test_invalid_selector_is_rejected, test_empty_instances_list_is_rejected', () => {
  const rows: unknown[] = [
    '',
    { name: 'my-fleet-1', hostname: 'worker-1' },
    { name: '' },
    { hostname: '' },
    { fleet: '', instance: 0 },
    { fleet: 'project/name/extra', instance: 0 },
    { fleet: 'my-fleet' },
    { fleet: 'my-fleet', instance: -1 },
    { hostname: 'worker-1', extra: 'value' }
  ]
  for (const v of rows) rejects(() => parse(task({ instances: [v] })), undefined, undefined)
  for (const v of rows) {
    let err: ConfigError | undefined
    try { parse(task({ instances: [v] })) } catch (e) { err = e as ConfigError }
    assert.ok(err?.issues.every(i => formatPath(i.path).startsWith('instances[0]')), `${JSON.stringify(v)}: ${JSON.stringify(err?.issues)}`)
  }
  rejects(() => parse(task({ instances: [] })), 'instances', /must not be empty/)
})

profiles('TestProfileInstancesCompatibilityExcludes::test_excludes_unset_instances (ours: unset is null)', () => {
  assert.is(parse(task()).instances, null)
})

profiles.run()

// == core/models/test_fleets.py ==================================================================

const fleets = suite('dstack core/models/test_fleets.py')

fleets('TestFleetConfiguration::test_parses_nodes[int, closed-range, range-without-min, range-without-max, dict-without-target, dict-with-all-attributes, dict-without-min, dict-empty]', () => {
  const rows: Array<[unknown, { min: number, target: number, max: number | null }]> = [
    [1, { min: 1, target: 1, max: 1 }],
    ['1..2', { min: 1, target: 1, max: 2 }],
    ['..2', { min: 0, target: 0, max: 2 }],
    ['1..', { min: 1, target: 1, max: null }],
    [{ min: 1, max: 2 }, { min: 1, target: 1, max: 2 }],
    [{ min: 1, target: 2, max: 3 }, { min: 1, target: 2, max: 3 }],
    [{ target: 2, max: 3 }, { min: 0, target: 2, max: 3 }],
    [{}, { min: 0, target: 0, max: null }]
  ]
  for (const [nodes, want] of rows) assert.equal(parse({ type: 'fleet', nodes }).nodes, want, JSON.stringify(nodes))
})

fleets('TestFleetConfiguration::test_rejects_nodes[min-gt-max, negative-min, negative-target, target-gt-max, min-gt-max, min-gt-target]', () => {
  for (const nodes of ['2..1', { min: -1 }, { target: -1 }, { target: 2, max: 1 }, { min: 2, max: 1 }, { min: 2, target: 1 }]) {
    let err: ConfigError | undefined
    try { parse({ type: 'fleet', nodes }) } catch (e) { err = e as ConfigError }
    assert.instance(err, ConfigError, JSON.stringify(nodes))
    assert.ok(err!.issues.every(i => formatPath(i.path).startsWith('nodes')), JSON.stringify(err!.issues))
  }
})

fleets.run()

// == core/models/test_volumes.py =================================================================

const volumes = suite('dstack core/models/test_volumes.py')

volumes('TestVolumeMountPoint::test_parse, test_path_normalization', () => {
  assert.equal(parseMountPoint('my-vol:/path/./to///dir/'), { name: 'my-vol', path: '/path/to/dir' })
  assert.equal(parseMountPoint({ name: 'my-vol', path: '/path/./to///dir/' }), { name: 'my-vol', path: '/path/to/dir' })
})

volumes('TestVolumeMountPoint::test_parse_error_invalid_format[my-vol, vol, my-vol:/run:ro, vol:/path/to:ro]', () => {
  for (const v of ['my-vol', 'vol', 'my-vol:/run:ro', 'vol:/path/to:ro']) rejects(() => parseMountPoint(v), '', /exactly one colon/)
})

volumes('TestVolumeMountPoint::test_validation_error_empty_path, test_validation_error_rel_path, test_validation_error_parent_dir', () => {
  rejects(() => parseMountPoint({ name: 'vol', path: '' }), 'path', /empty/)
  rejects(() => parseMountPoint({ name: 'vol', path: 'rel/path' }), 'path', /path must be absolute/)
  rejects(() => parseMountPoint({ name: 'vol', path: '/path/../to' }), 'path', /must not contain "\.\."/)
})

volumes('TestInstanceBindMountPoint::test_parse, test_path_normalization', () => {
  assert.equal(parseMountPoint('/host/.//path/:/run//./path'), { instance_path: '/host/path', path: '/run/path', optional: false })
  assert.equal(parseMountPoint({ instance_path: '/host/.//path/', path: '/run//./path' }), { instance_path: '/host/path', path: '/run/path', optional: false })
})

volumes('TestInstanceBindMountPoint::test_parse_error_invalid_format[/path, /host/path:/run/path:ro]', () => {
  for (const v of ['/path', '/host/path:/run/path:ro']) rejects(() => parseMountPoint(v), '', /exactly one colon/)
})

volumes('TestInstanceBindMountPoint::test_validation_error_{empty_path,rel_path,parent_dir}[instance_path, path]', () => {
  for (const field of ['instance_path', 'path']) {
    const with_ = (v: string): Record<string, string> => ({ instance_path: '/instance_path', path: '/run_path', [field]: v })
    rejects(() => parseMountPoint(with_('')), field, /empty/)
    rejects(() => parseMountPoint(with_('./rel/path')), field, /path must be absolute/)
    rejects(() => parseMountPoint(with_('/path/../to')), field, /must not contain "\.\."/)
  }
})

volumes('TestParseMountPoint::test_parse_volume_mount, test_parse_instance_mount', () => {
  assert.equal(parseMountPoint('my-vol:/path//to'), { name: 'my-vol', path: '/path/to' })
  assert.equal(parseMountPoint('/host:/run/'), { instance_path: '/host', path: '/run', optional: false })
})

volumes('TestParseMountPoint::test_parse_error_invalid_format, test_validation_error_rel_local_path', () => {
  for (const v of ['my-vol', 'my-vol:/run:ro', '/path', '/host/path:/run/path:ro']) rejects(() => parseMountPoint(v), '', /exactly one colon/)
  for (const v of ['path/to:/run', './path:/run', 'path/:/run']) rejects(() => parseMountPoint(v), '', /path must be absolute/)
})

volumes.run()

// == core/models/test_duration.py ================================================================

const durations = suite('dstack core/models/test_duration.py')

durations('TestDuration::test_parses_seconds_and_shorthands[int, numeric-string, float-truncates, seconds, minutes, hours, space-before-unit, days, weeks]', () => {
  const rows: Array<[unknown, number]> = [[90, 90], ['90', 90], [1.9, 1], ['30s', 30], ['5m', 300], ['2h', 7200], ['2 h', 7200], ['1d', 86400], ['1w', 604800]]
  for (const [v, want] of rows) assert.is(parseDuration(v), want, String(v))
})

durations('TestDuration::test_rejects_unparsable[not-a-duration, unsupported-unit, unit-before-amount, empty]', () => {
  for (const v of ['bogus', '2y', 'h2', '']) rejects(() => parseDuration(v), '', /duration/)
})

durations('TestOptionalOffableDuration::test_normalizes[shorthand, seconds, off-string, false-means-off, true-means-default, unspecified] (ours: the default is resolved, here 300)', () => {
  const rows: Array<[unknown, number | 'off']> = [['2h', 7200], [7200, 7200], ['off', 'off'], [false, 'off'], [true, 300], [null, 300]]
  for (const [v, want] of rows) assert.is(parseOffableDuration(v, 300), want, String(v))
})

durations('TestOptionalOffableDuration::test_rejects_negative[-1, -300, "-1"]', () => {
  for (const v of [-1, -300, '-1']) rejects(() => parseOffableDuration(v, 'off'), '', /negative/)
})

durations('TestOptionalIdleDuration::test_normalizes (ours: the default is resolved, here 600)', () => {
  const rows: Array<[unknown, number]> = [['5m', 300], [300, 300], ['off', -1], [false, -1], [true, 600], [null, 600]]
  for (const [v, want] of rows) assert.is(parseIdleDuration(v, 600), want, String(v))
})

durations('TestOptionalIdleDuration::test_accepts_negative_for_backward_compatibility[minus-one, other-negative, minus-one-string]', () => {
  for (const v of [-1, -300, '-1']) assert.ok(parseIdleDuration(v, 600) < 0, String(v))
})

durations('server background tasks test_process_running_jobs.py::test_inactivity_duration[duration-exceeded, duration-off, duration-false, duration-none] (the dev-environment field)', () => {
  const dev = (inactivity_duration: unknown): any => parse({ type: 'dev-environment', ide: 'vscode', inactivity_duration })
  assert.is(dev('1h').inactivity_duration, 3600)
  for (const v of ['off', false, null]) assert.is(dev(v).inactivity_duration, null, String(v))
})

durations.run()

// == core/models/test_files.py ===================================================================

const files = suite('dstack core/models/test_files.py')

files('TestFilePathMapping::test_parse_only_local_path[./file, file, ~/file, /file], test_parse_both_paths, test_parse_windows_abs_path', () => {
  for (const v of ['./file', 'file', '~/file', '/file']) assert.equal(parseFileMapping(v), { local_path: v, path: v }, v)
  assert.equal(parseFileMapping('./foo:./bar'), { local_path: './foo', path: './bar' })
  assert.equal(parseFileMapping('C:\\dir:dir'), { local_path: 'C:\\dir', path: 'dir' })
})

files('TestFilePathMapping::test_error_invalid_mapping_if_more_than_two_parts, test_error_must_be_unix_path[C:\\, d:/path/to]', () => {
  rejects(() => parseFileMapping('./foo:bar:baz'), '', /at most one colon/)
  for (const v of ['C:\\', 'd:/path/to']) rejects(() => parseFileMapping(v), '', /Unix path/)
})

files.run()

// == core/models/test_common.py ==================================================================

const common = suite('dstack core/models/test_common.py')

common('TestEntityReferenceParse::test_valid[fleet, project/fleet]', () => {
  assert.is(entityRef('fleet'), 'fleet')
  assert.is(entityRef('project/fleet'), 'project/fleet')
})

common('TestEntityReferenceParse::test_invalid["", /name, name/, /, a/b/c]', () => {
  for (const v of ['', '/name', 'name/', '/', 'a/b/c']) rejects(() => entityRef(v), '', /"name" or "project\/name"/)
})

common.run()

// == core/models/test_unix.py (the `user` field) =================================================

const unix = suite('dstack core/models/test_unix.py')

unix('TestUnixUser::test_ok[0, 1000, debian, 1000:2000, 1000:wheel, root:0, admin:wheel]', () => {
  for (const user of ['0', '1000', 'debian', '1000:2000', '1000:wheel', 'root:0', 'admin:wheel']) assert.is(parse(task({ user })).user, user)
})

unix('TestUnixUser::test_too_many_parts, test_empty_user, test_negative_uid, test_empty_group, test_negative_gid', () => {
  const rows: Array<[string, RegExp]> = [
    ['1000:1000:', /more than two parts/], ['user:group:foo:bar', /more than two parts/],
    ['', /empty part/], [':group', /empty part/],
    ['-1', /negative/], ['-1:group', /negative/],
    ['user:', /empty part/],
    ['1000:-1000', /negative/]
  ]
  for (const [user, re] of rows) rejects(() => parse(task({ user })), 'user', re)
})

unix.run()

// == core/models/test_runs.py and test_run_spec_validators.py (the configuration part of RunSpec) ====

const runs = suite('dstack core/models/test_runs.py, test_run_spec_validators.py')

runs('TestRunSpec::test_extra_ignored_on_read_path[configuration, profile, nested-in-configuration] (unknown keys are rejected, naming them)', () => {
  rejects(() => parse({ type: 'dev-environment', new_prop: 1 }), 'new_prop', /unknown field/)
  rejects(() => parseProfiles('profiles:\n  - name: default\n    new_prop: 1\n'), 'profiles[0].new_prop', /unknown field/)
  rejects(() => parse({ type: 'dev-environment', resources: { gpu: { name: ['A100'], new_prop: 1 } } }), 'resources.gpu.new_prop', /unknown field/)
})

runs('TestRunSpec::test_configuration_profile_params_override_profile, test_merging_does_not_mutate_the_passed_profile', () => {
  const profile = { spot_policy: 'on-demand', max_price: 1.5 }
  const c = parseConfiguration({ type: 'dev-environment', spot_policy: 'spot' }, { profile }) as any
  assert.equal([c.spot_policy, c.max_price, c.creation_policy], ['spot', 1.5, 'reuse-or-create'])
  assert.equal(profile, { spot_policy: 'on-demand', max_price: 1.5 })
})

const dynamoService = (router: string | null, extra: Record<string, unknown> = {}): Record<string, unknown> => service({
  replicas: [
    { name: 'worker', commands: ['echo hi'], count: 1 },
    ...(router ? [{ name: 'router', router: { type: router }, commands: ['echo router'], count: 1 }] : [])
  ],
  ...extra
})

runs('TestDynamoNoRetryValidator::test_dynamo_router_with_retry_at_profile_level_is_rejected, test_dynamo_router_with_retry_in_configuration_is_rejected', () => {
  rejects(() => parseConfiguration(dynamoService('dynamo'), { profile: { retry: { on_events: ['error'] } } }), 'retry', /Dynamo/)
  rejects(() => parse(dynamoService('dynamo', { retry: { on_events: ['error'] } })), 'retry', /Dynamo/)
})

runs('TestDynamoNoRetryValidator::test_dynamo_router_without_retry_is_accepted, test_sglang_router_with_retry_is_accepted, test_service_without_router_with_retry_is_accepted, test_non_service_run_with_retry_is_accepted', () => {
  parse(dynamoService('dynamo'))
  parseConfiguration(dynamoService('sglang'), { profile: { retry: { on_events: ['error'] } } })
  parseConfiguration(dynamoService(null), { profile: { retry: { on_events: ['error'] } } })
  parseConfiguration({ type: 'task', commands: ['echo hi'] }, { profile: { retry: { on_events: ['error'] } } })
})

runs.run()

// == server/services/runs/test_spec.py (validate_run_spec_and_set_defaults) ========================

const spec = suite('dstack server/services/runs/test_spec.py')

spec('TestValidateRunSpecRetryDuration::test_rejects_negative_retry_duration_for_new_run_specs', () => {
  rejects(() => parse(task({ retry: { duration: -1 } })), 'retry.duration', /negative/)
})

spec('TestValidateRunSpecGroupsIpRefs::test_rejects_typo_groups_ref_in_node_group_commands, test_accepts_valid_groups_ref, test_rejects_groups_ref_in_env', () => {
  rejects(() => parse({ type: 'task', image: 'debian', groups: [{ name: 'head', nodes: 1, commands: ['echo ${{ groups[0].nodes[0].IP }}'] }] }),
    'groups[0].commands[0]', /illegal reference name/)
  parse({ type: 'task', image: 'debian', groups: [{ name: 'head', nodes: 1, commands: ['echo ${{ groups[0].nodes[0].IP_ADDRESS }}'] }] })
  rejects(() => parse({ type: 'task', image: 'debian', commands: ['echo ok'], env: { PREFILL_URL: 'http://${{ groups[1].nodes[0].IP_ADDRESS }}' } }),
    'env.PREFILL_URL', /allowed only in task commands/)
})

spec('TestSetRunSpecResourcesDefaultsGpuVendor::test_sets_vendor_detected_by_gpu_names[A100, a40,l40, Mi300X, Gaudi2, n300, v5litepod-8]', () => {
  const rows: Array<[string, string]> = [['A100', 'nvidia'], ['a40,l40', 'nvidia'], ['Mi300X', 'amd'], ['Gaudi2', 'intel'], ['n300', 'tenstorrent'], ['v5litepod-8', 'google']]
  for (const [g, want] of rows) assert.is(inferGpuVendor(parseGpuSpec(g), { image: 'ubuntu' }).vendor, want, g)
})

spec('TestSetRunSpecResourcesDefaultsGpuVendor::test_does_not_set_vendor_if_gpu_names_are_ambiguous, test_does_not_override_vendor_set_by_the_user', () => {
  for (const g of ['UNKNOWN1000', 'A100,UNKNOWN1000', 'A100,MI300X']) assert.is(inferGpuVendor(parseGpuSpec(g), { image: 'ubuntu' }).vendor, null, g)
  assert.is(inferGpuVendor(parseGpuSpec({ vendor: 'amd', name: ['A100'] }), { image: 'ubuntu' }).vendor, 'amd')
})

spec('TestSetRunSpecResourcesDefaultsGpuVendor::test_sets_nvidia_if_the_default_image_is_used, test_does_not_set_vendor_if_the_default_image_is_not_used, test_does_not_set_vendor_if_no_gpu_requested, test_sets_default_gpu_spec_if_gpu_is_null', () => {
  assert.is(inferGpuVendor(parseGpuSpec('1'), {}).vendor, 'nvidia')
  assert.is(inferGpuVendor(parseGpuSpec('1'), { image: 'ubuntu' }).vendor, null)
  assert.is(inferGpuVendor(parseGpuSpec('1'), { docker: true }).vendor, null)
  assert.is(inferGpuVendor(parseGpuSpec('0'), {}).vendor, null)
  const g = inferGpuVendor(parse(task({ resources: { gpu: null } })).resources.gpu, {})
  assert.equal([g.name, g.count, g.vendor], [null, r(0, null), 'nvidia'])
})

spec('TestSetRunSpecResourcesDefaultsReplicaGroups / NodeGroups::test_sets_defaults_for_every_group, test_infers_vendor_from_the_image_used_by_the_group, test_sets_defaults_for_top_level_resources', () => {
  const groups = parse(service({ replicas: [
    { count: 1, commands: ['echo'], resources: { gpu: 'MI300X' } },
    { count: 1, commands: ['echo'], resources: { gpu: 'GH200' } },
    { count: 1, commands: ['echo'] }
  ] })).replicas
  assert.equal(groups.map((g: any) => inferGpuVendor(g.resources.gpu, { image: g.image }).vendor), ['amd', 'nvidia', 'nvidia'])
  const rows: Array<[string | null, string | null, string | null]> = [[null, null, 'nvidia'], [null, 'ubuntu', null], ['ubuntu', null, null]]
  for (const [svcImage, groupImage, want] of rows) {
    const c = parse(service({ ...(svcImage ? { image: svcImage } : {}), replicas: [{ count: 1, commands: ['echo'], resources: { gpu: '1' }, ...(groupImage ? { image: groupImage } : {}) }] }))
    const g = c.replicas[0]
    assert.is(inferGpuVendor(g.resources.gpu, { image: g.image ?? c.image }).vendor, want, `${svcImage} / ${groupImage}`)
  }
  const t = parse({ type: 'task', groups: [{ nodes: 1, commands: ['echo'] }], resources: { gpu: 'H100' } })
  assert.is(inferGpuVendor(t.resources.gpu, {}).vendor, 'nvidia')
})

const IMAGE_MSG = /`image` must be set when the requested accelerator is not supported by the default image/

spec('TestValidateRunSpecGpuVendorAndImage::test_rejects_gpu_not_supported_by_the_default_image[amd, MI300X, intel, Gaudi2, tenstorrent, n300], test_allows_any_gpu_if_the_default_image_is_not_used', () => {
  for (const g of ['amd', 'MI300X', 'intel', 'Gaudi2', 'tenstorrent', 'n300']) {
    const res = parseResources({ gpu: g })
    assert.match(checkImageRequirements(res, {}).join('\n'), IMAGE_MSG, g)
    assert.equal(checkImageRequirements(res, { image: 'rocm' }), [], `${g} with image`)
    assert.equal(checkImageRequirements(res, { docker: true }), [], `${g} with docker`)
  }
})

spec('TestValidateRunSpecGpuVendorAndImage::test_allows_gpu_supported_by_the_default_image[nvidia, H100, google, v5litepod-8, UNKNOWN1000], test_allows_any_vendor_if_no_gpu_requested', () => {
  for (const g of ['nvidia', 'H100', 'google', 'v5litepod-8', 'UNKNOWN1000']) assert.equal(checkImageRequirements(parseResources({ gpu: g }), {}), [], g)
  assert.equal(checkImageRequirements(parseResources({ gpu: { vendor: 'amd', count: 0 } }), {}), [])
})

spec('TestValidateRunSpecGpuVendorAndImage::test_reports_{replica,node}_groups_requiring_image, test_allows_replica_group_with_its_own_image, test_allows_node_group_with_task_level_image (group prefixes are the caller\'s)', () => {
  const svc = parse(service({ replicas: ['MI300X', 'H100', 'n300'].map(g => ({ count: 1, commands: ['echo'], resources: { gpu: g } })) }))
  assert.equal(svc.replicas.map((g: any, i: number) => checkImageRequirements(g.resources, { image: g.image ?? svc.image }).length ? i : -1).filter((i: number) => i >= 0), [0, 2])
  const own = parse(service({ replicas: [{ count: 1, image: 'rocm', resources: { gpu: 'MI300X' } }] })).replicas[0]
  assert.equal(checkImageRequirements(own.resources, { image: own.image }), [])
  const t = parse({ type: 'task', groups: ['MI300X', 'H100', 'n300'].map(g => ({ nodes: 1, commands: ['echo'], resources: { gpu: g } })) })
  assert.equal(t.groups.map((g: any, i: number) => checkImageRequirements(g.resources, { image: t.image }).length ? i : -1).filter((i: number) => i >= 0), [0, 2])
  const ti = parse({ type: 'task', image: 'rocm', groups: [{ nodes: 1, commands: ['echo'], resources: { gpu: 'MI300X' } }] })
  assert.equal(checkImageRequirements(ti.groups[0].resources, { image: ti.image }), [])
})

spec('TestValidateRunSpecCpuArchAndImage::test_rejects_arm_without_image, test_allows_arm_gpu_without_image, test_allows_arm_with_image, test_rejects_arm_with_dind, test_allows_x86_without_image', () => {
  assert.equal(checkImageRequirements(parseResources({ cpu: 'arm:2' }), {}), ['`image` must be set when ARM CPU requested'])
  assert.equal(checkImageRequirements(parseResources({ gpu: 'GH200' }), {}), [])
  assert.equal(checkImageRequirements(parseResources({ cpu: 'arm:2' }), { image: 'ubuntu' }), [])
  assert.equal(checkImageRequirements(parseResources({ cpu: 'arm:2' }), { docker: true }), ['`docker: true` is not supported on ARM CPU'])
  for (const res of [undefined, { cpu: 'x86:2' }, { gpu: 'H100' }]) assert.equal(checkImageRequirements(parseResources(res), {}), [], JSON.stringify(res))
})

spec('TestValidateRunSpecCpuArchAndImage::test_reports_{replica,node}_groups_requiring_image, test_allows_replica_group_with_its_own_image, test_allows_node_group_with_task_level_image', () => {
  const svc = parse(service({ replicas: [{ cpu: 'arm:2' }, {}, { cpu: 'arm:4' }].map(res => ({ count: 1, commands: ['echo'], resources: res })) }))
  assert.equal(svc.replicas.map((g: any, i: number) => checkImageRequirements(g.resources, { image: g.image ?? svc.image }).length ? i : -1).filter((i: number) => i >= 0), [0, 2])
  const own = parse(service({ replicas: [{ count: 1, image: 'ubuntu', resources: { cpu: 'arm:2' } }] })).replicas[0]
  assert.equal(checkImageRequirements(own.resources, { image: own.image }), [])
  const ti = parse({ type: 'task', image: 'ubuntu', groups: [{ nodes: 1, commands: ['echo'], resources: { cpu: 'arm:2' } }] })
  assert.equal(checkImageRequirements(ti.groups[0].resources, { image: ti.image }), [])
})

spec.run()

// == server/services/jobs/configurators/test_service.py (TestProbes) ==============================

const jobService = suite('dstack server/services/jobs/configurators/test_service.py')

jobService('TestProbes::test_default_probe_when_model_set (ours: filled in when the configuration is parsed)', () => {
  const c = parse({ type: 'service', port: 80, image: 'debian', model: { name: 'meta-llama/Meta-Llama-3.1-8B-Instruct', format: 'openai' } })
  assert.is(c.probes.length, 1)
  const p = c.probes[0]
  assert.equal([p.type, p.method, p.url, p.timeout], ['http', 'post', '/v1/chat/completions', 30])
  assert.equal(p.headers, [{ name: 'Content-Type', value: 'application/json' }])
  assert.ok(p.body.includes('meta-llama/Meta-Llama-3.1-8B-Instruct') && p.body.includes('max_tokens'))
})

jobService('TestProbes::test_explicit_probes_not_overridden, test_explicit_empty_probes, test_no_probe_when_no_model', () => {
  const model = { name: 'meta-llama/Meta-Llama-3.1-8B-Instruct', format: 'openai' }
  assert.equal(parse({ type: 'service', port: 80, image: 'debian', model, probes: [{ type: 'http', url: '/health' }] }).probes.map((p: any) => p.url), ['/health'])
  assert.equal(parse({ type: 'service', port: 80, image: 'debian', model, probes: [] }).probes, [])
  assert.equal(parse({ type: 'service', port: 80, image: 'debian' }).probes, [])
})

jobService.run()

// == server/services/services/test_services.py (TestServiceConfigurationHttps) =====================

const services = suite('dstack server/services/services/test_services.py')

services('TestServiceConfigurationHttps::test_accepts_unset (ours: unset resolves to the default, true), test_accepts_auto', () => {
  assert.is(parse(service({ commands: ['python serve.py'] })).https, true)
  assert.is(parse(service({ commands: ['python serve.py'], https: 'auto' })).https, 'auto')
})

services('gateway configurations these tests build: certificate lets-encrypt (default), none, or acm', () => {
  const gw = (over: Record<string, unknown> = {}): any => parse({ type: 'gateway', backend: 'aws', region: 'us-east-1', ...over })
  assert.equal(gw().certificate, { type: 'lets-encrypt' })
  assert.is(gw({ certificate: null }).certificate, null)
  assert.equal(gw({ certificate: { type: 'acm', arn: 'arn:aws:acm:us-east-1:123:cert/abc' } }).certificate, { type: 'acm', arn: 'arn:aws:acm:us-east-1:123:cert/abc' })
})

services.run()

// == server/services/test_volumes.py (TestValidateVolumeConfiguration) ===========================

const serverVolumes = suite('dstack server/services/test_volumes.py')

serverVolumes('TestValidateVolumeConfiguration::test_regional_volume_requires_size_only_when_managed[aws, gcp, runpod, kubernetes]', () => {
  for (const [backend, id] of [['aws', 'volume_id'], ['gcp', 'volume_id'], ['runpod', 'volume_id'], ['kubernetes', 'claim_name']]) {
    rejects(() => parse({ type: 'volume', backend, region: 'us' }), 'size', /required/)
    parse({ type: 'volume', backend, region: 'us', [id!]: 'existing-volume' })
  }
})

serverVolumes('TestValidateVolumeConfiguration::test_external_volume_with_auto_cleanup_duration_raises_error, ..._int_raises_error', () => {
  for (const d of ['1h', 3600]) {
    rejects(() => parse({ type: 'volume', backend: 'aws', region: 'us-east-1', volume_id: 'vol-123456', auto_cleanup_duration: d }), 'auto_cleanup_duration', /existing volume/)
  }
})

serverVolumes('TestValidateVolumeConfiguration::test_external_volume_with_auto_cleanup_disabled_succeeds, test_external_volume_without_auto_cleanup_succeeds, test_new_volume_with_auto_cleanup_duration_succeeds', () => {
  for (const d of ['off', -1]) assert.is(parse({ type: 'volume', backend: 'aws', region: 'us-east-1', volume_id: 'vol-123456', auto_cleanup_duration: d }).auto_cleanup_duration, -1)
  assert.is(parse({ type: 'volume', backend: 'aws', region: 'us-east-1', volume_id: 'vol-123456' }).auto_cleanup_duration, -1)
  assert.is(parse({ type: 'volume', backend: 'aws', region: 'us-east-1', size: 100, auto_cleanup_duration: '1h' }).auto_cleanup_duration, 3600)
})

serverVolumes.run()

// == cli/services/configurators/test_run.py ======================================================

const cliRun = suite('dstack cli/services/configurators/test_run.py')

cliRun('TestApplyArgs::test_env, test_env_override', () => {
  assert.equal(mergeEnv({}, Object.fromEntries([parseEnvArg('A=1'), parseEnvArg('B=2')])), { A: '1', B: '2' })
  assert.equal(mergeEnv(parseEnv({ A: '0' }), Object.fromEntries([parseEnvArg('A=1'), parseEnvArg('B=2')])), { A: '1', B: '2' })
})

cliRun('TestApplyArgs::test_ports, test_ports_override, test_any_port', () => {
  assert.equal(mergePorts([], ['80', '8080'].map(parsePortMapping)), [{ local_port: 80, container_port: 80 }, { local_port: 8080, container_port: 8080 }])
  assert.equal(mergePorts([parsePortMapping('80')], ['8000:80', '8001:8000'].map(parsePortMapping)),
    [{ local_port: 8000, container_port: 80 }, { local_port: 8001, container_port: 8000 }])
  assert.equal(mergePorts([parsePortMapping('8000')], [parsePortMapping('*:8000')]), [{ local_port: null, container_port: 8000 }])
})

cliRun('TestApplyArgs::test_container_ports_conflict, test_local_ports_conflict', () => {
  rejects(() => mergePorts([], ['8000:80', '8001:80'].map(parsePortMapping)), '', /Port 80 is already in use/)
  rejects(() => mergePorts([parsePortMapping('3000')], [parsePortMapping('3000:4000')]), '', /Port 3000 is already in use/)
})

cliRun('TestApplyArgs::test_interpolates_env (registry_auth from ${{ env.X }})', () => {
  const c = parse({ type: 'task', image: 'my_image', registry_auth: { username: '${{ env.REGISTRY_USERNAME }}', password: '${{ env.REGISTRY_PASSWORD }}' }, env: { REGISTRY_USERNAME: 'test_user', REGISTRY_PASSWORD: 'test_password' } })
  const env = resolveEnv(c.env, {})
  const lookup = (ref: { ns: string, name: string }): string | undefined => ref.ns === 'env' ? env[ref.name] : undefined
  assert.equal([interpolate(c.registry_auth.username, lookup), interpolate(c.registry_auth.password, lookup)], ['test_user', 'test_password'])
})

cliRun('TestValidateGPUVendorAndImage (older CLI-side checks; the server-side rules of test_spec.py are the same wherever they overlap)', () => {
  assert.is(parse({ type: 'task', commands: ['x'] }).resources.gpu.vendor, null, 'test_no_gpu: not written to the spec')
  assert.equal(parse({ type: 'task', commands: ['x'] }).resources.gpu.count, r(0, null))
  for (const [g, want] of [['nvidia', 'nvidia'], ['tpu', 'google'], ['google', 'google']] as const) assert.is(parseGpuSpec(g).vendor, want, g)
  for (const [g, want] of [['a40,l40', 'nvidia'], ['V3-64', 'google']] as const) assert.is(inferGpuVendor(parseGpuSpec(g), {}).vendor, want, g)
  for (const g of ['MI300X', 'MI300x', 'mi300x']) assert.is(inferGpuVendor(parseGpuSpec(g), { image: 'tgi:rocm' }).vendor, 'amd', g)
  for (const g of ['foo', 'foo,bar', 'A1000,v4', 'v3-64,foo']) assert.is(inferGpuVendor(parseGpuSpec(g), {}).vendor, null, g)
  for (const g of ['A1000,mi300x', 'MI300x,v3-64', 'foo,MI300X']) {
    assert.is(inferGpuVendor(parseGpuSpec(g), { image: 'tgi:rocm' }).vendor, null, g)
    assert.match(checkImageRequirements(parseResources({ gpu: g }), {}).join(), IMAGE_MSG, g)
    assert.equal(checkImageRequirements(parseResources({ gpu: g }), { image: 'tgi:rocm' }), [], g)
  }
  assert.match(checkImageRequirements(parseResources({ gpu: 'AMD' }), {}).join(), /\['amd'\]/)
  for (const g of ['MI300X', 'MI300x', 'mi300x']) assert.match(checkImageRequirements(parseResources({ gpu: g }), {}).join(), /\['amd'\]/, g)
  for (const g of ['AMD', 'MI300X']) assert.equal(checkImageRequirements(parseResources({ gpu: g }), { docker: true }), [], g)
  for (const g of ['n150', 'n300']) {
    assert.is(inferGpuVendor(parseGpuSpec(g), { docker: true }).vendor, 'tenstorrent', g)
    assert.match(checkImageRequirements(parseResources({ gpu: g }), {}).join(), /\['tenstorrent'\]/, g)
  }
})

cliRun('TestValidateCPUArchAndImage (older CLI-side checks) — ours follows SPEC §2.5 and test_spec.py: ARM is never inferred from a GPU name', () => {
  for (const g of [undefined, 'GH200', 'H100']) assert.equal(checkImageRequirements(parseResources({ cpu: 'arm:1..', ...(g ? { gpu: g } : {}) }), { image: 'ubuntu' }), [], `test_explicit_arm_with_image[${g}]`)
  assert.equal(checkImageRequirements(parseResources({ cpu: '1..', gpu: 'GH200' }), { image: 'ubuntu' }), [], 'test_inferred_arm_with_image')
  assert.equal(checkImageRequirements(parseResources({ cpu: 'arm:1..', gpu: 'GH200' }), {}), ['`image` must be set when ARM CPU requested'], 'test_arm_no_image[arm:1..]')
  assert.equal(checkImageRequirements(parseResources({ cpu: '1..', gpu: 'GH200' }), {}), [], 'test_arm_no_image[1..] (ours: allowed, as test_spec.py::test_allows_arm_gpu_without_image)')
  for (const cpu of ['1..', 'x86:1..']) for (const image of [undefined, 'ubuntu']) {
    assert.equal(checkImageRequirements(parseResources({ cpu, gpu: 'H100' }), { image }), [], `test_x86[${cpu}, ${image}]`)
  }
})

cliRun.run()

// == cli/services/configurators/test_fleet.py ====================================================

const cliFleet = suite('dstack cli/services/configurators/test_fleet.py')

cliFleet('TestFleetConfigurator::test_env, test_env_override', () => {
  const conf = parse({ type: 'fleet', ssh_config: { hosts: ['1.2.3.4'], user: 'u', identity_file: '~/.ssh/id' } })
  assert.equal(mergeEnv(conf.env, Object.fromEntries(['A=1', 'B=2'].map(parseEnvArg))), { A: '1', B: '2' })
  assert.equal(mergeEnv(parseEnv({ A: '0' }), Object.fromEntries(['A=1', 'B=2'].map(parseEnvArg))), { A: '1', B: '2' })
})

cliFleet('TestFleetConfigurator::test_env_value_from_environ, test_env_value_from_environ_not_set', () => {
  const env = mergeEnv(parseEnv({ FROM_CONF: '1' }), Object.fromEntries([parseEnvArg('FROM_ENV')]))
  assert.equal(resolveEnv(env, { FROM_ENV: '2' }), { FROM_CONF: '1', FROM_ENV: '2' })
  rejects(() => resolveEnv(env, {}), 'FROM_ENV', /FROM_ENV is not set/)
})

cliFleet.run()

// == server/services/requirements/test_combine.py ================================================

const combine = suite('dstack server/services/requirements/test_combine.py')

combine('TestCombineFleetAndRunRequirements::test_returns_the_same_requirements_if_requirements_identical', () => {
  const q = req({ gpu: { count: '2..' } }, { max_price: 100, spot: false, reservation: 'r-1' })
  assert.equal(combineRequirements(q, q), q)
})

combine('TestCombineFleetAndRunRequirements::test_combines_requirements[compatible_requirements, incompatible_requirements]', () => {
  const got = combineRequirements(req({ gpu: { count: '1..3' } }, { max_price: 100, spot: false }), req({ gpu: { count: '3..4' } }, { max_price: 50, spot: null }))
  assert.equal(got, req({ gpu: { count: 3 } }, { max_price: 50, spot: false }))
  assert.is(combineRequirements(req({ gpu: { count: '1..2' } }), req({ gpu: { count: '3..4' } })), null)
})

combine('TestCombineFleetAndRunProfiles::test_combines_profiles (the parts we combine: spot_policy, idle_duration, tags)', () => {
  assert.is(combineSpotPolicy('auto', 'spot'), 'spot')
  assert.is(combineIdleDuration(3600, 7200), 3600)
  assert.equal(mergeTags({ tag1: 'value1' }, { tag2: 'value2' }), { tag1: 'value1', tag2: 'value2' })
  assert.is(combineSpotPolicy('spot', 'on-demand'), null, 'incompatible_profiles')
})

combine('TestIntersectLists (GPU names): overlapping, order of the first, duplicates kept; (ours: no common name is incompatible, where dstack keeps [] — which then matches any GPU)', () => {
  const names = (a: string[], b: string[]): string[] | null | undefined => combineRequirements(req({ gpu: { name: a } }), req({ gpu: { name: b } }))?.resources.gpu.name
  assert.equal(names(['a', 'b', 'c', 'd'], ['b', 'c', 'e', 'f']), ['b', 'c'])
  assert.equal(names(['c', 'a', 'b'], ['a', 'b', 'c']), ['c', 'a', 'b'])
  assert.equal(names(['a', 'b', 'a', 'c'], ['a', 'c', 'd']), ['a', 'a', 'c'])
  assert.equal(combineRequirements(req({ gpu: 1 }), req({ gpu: { name: ['x', 'y', 'z'] } }))?.resources.gpu.name, ['x', 'y', 'z'])
  assert.is(names(['a', 'b'], ['c', 'd']), undefined)
})

combine('TestCombineIdleDuration (ours, SPEC §2.6: a finite value wins over off; dstack rejects finite + off)', () => {
  assert.is(combineIdleDuration(3600, 7200), 3600)
  assert.is(combineIdleDuration(7200, 3600), 3600)
  assert.is(combineIdleDuration(0, 0), 0)
  assert.is(combineIdleDuration(0, 3600), 0)
  assert.is(combineIdleDuration(3600, 0), 0)
  assert.ok(combineIdleDuration(-1, -2) < 0, 'both off: off')
  assert.is(combineIdleDuration(3600, -1), 3600)
  assert.is(combineIdleDuration(-1, 3600), 3600)
  assert.is(combineIdleDuration(0, -1), 0)
  assert.is(combineIdleDuration(-1, 0), 0)
})

combine('TestCombineSpotPolicy::*', () => {
  const rows: Array<['spot' | 'on-demand' | 'auto', 'spot' | 'on-demand' | 'auto', string | null]> = [
    ['auto', 'spot', 'spot'], ['auto', 'on-demand', 'on-demand'], ['spot', 'auto', 'spot'], ['on-demand', 'auto', 'on-demand'],
    ['auto', 'auto', 'auto'], ['spot', 'spot', 'spot'], ['on-demand', 'on-demand', 'on-demand'], ['spot', 'on-demand', null], ['on-demand', 'spot', null]
  ]
  for (const [a, b, want] of rows) assert.is(combineSpotPolicy(a, b), want, `${a} + ${b}`)
})

combine('TestCombineResources::test_combines_all_resource_specs', () => {
  const a = req({ cpu: 'x86:2..8', memory: '4GB..16GB', shm_size: 2, gpu: { vendor: 'nvidia' }, disk: '100GB..500GB' })
  const b = req({ cpu: 'x86:4..6', memory: '8GB..12GB', shm_size: 1, gpu: { vendor: 'nvidia' }, disk: '100GB..400GB' })
  assert.equal(combineRequirements(a, b)!.resources, parseResources({ cpu: 'x86:4..6', memory: '8GB..12GB', shm_size: 1, gpu: { vendor: 'nvidia' }, disk: '100GB..400GB' }))
})

combine('TestCombineCpu::*', () => {
  const cpu = (x: string, y: string): unknown => combineRequirements(req({ cpu: x }), req({ cpu: y }))?.resources.cpu
  assert.equal(cpu('x86:2..8', 'x86:4..6'), { arch: 'x86', count: r(4, 6) })
  assert.is(cpu('x86:2..4', 'arm:2..4'), undefined)
  assert.is(cpu('x86:1..2', 'x86:4..6'), undefined)
  assert.equal(cpu('2..4', 'x86:2..4'), { arch: 'x86', count: r(2, 4) })
  assert.equal(cpu('2..4', '3..5'), { arch: null, count: r(3, 4) })
})

combine('TestCombineGpu::test_combines_compatible_gpu_specs (ours: compute capability takes the stricter 7.8, dstack the looser 7.0)', () => {
  const a = req({ gpu: { vendor: 'nvidia', name: ['A100', 'V100'], count: '1..4', memory: '8GB..32GB', compute_capability: [7, 0] } })
  const b = req({ gpu: { vendor: 'nvidia', name: ['V100', 'T4'], count: '2..3', memory: '16GB..24GB', compute_capability: [7, 8] } })
  assert.equal(combineRequirements(a, b)!.resources.gpu,
    parseGpuSpec({ vendor: 'nvidia', name: ['V100'], count: '2..3', memory: '16GB..24GB', compute_capability: [7, 8] }))
})

combine('TestCombineGpu::test_incompatible_vendors_raises_error, test_non_overlapping_count_ranges_raises_error, test_non_overlapping_memory_ranges_raises_error', () => {
  assert.is(combineRequirements(req({ gpu: { vendor: 'nvidia', count: '1..2' } }), req({ gpu: { vendor: 'amd', count: '1..2' } })), null)
  assert.is(combineRequirements(req({ gpu: { count: '1..2' } }), req({ gpu: { count: '4..6' } })), null)
  assert.is(combineRequirements(req({ gpu: { count: '1..2', memory: '8GB..16GB' } }), req({ gpu: { count: '1..2', memory: '32GB..64GB' } })), null)
})

combine.run()

// == core/backends/base/test_offers.py (gpu_matches_gpu_spec, through offerMatches) ================

const gpuMatch = suite('dstack core/backends/base/test_offers.py')

const matches = (g: OfferGpu, spec: Record<string, unknown>): boolean => offerMatches(offer([g]), req({ gpu: spec }))

gpuMatch('TestGpuMatchesGpuSpec::test_empty_spec_matches_any_gpu, test_vendor_matches, test_vendor_mismatch', () => {
  assert.ok(matches(gpu('A100', 80, 'amd'), {}))
  assert.ok(matches(gpu('A100', 80, 'nvidia'), { vendor: 'nvidia' }))
  assert.not.ok(matches(gpu('A100', 80, 'amd'), { vendor: 'nvidia' }))
})

gpuMatch('TestGpuMatchesGpuSpec::test_name_matches, test_name_match_is_case_insensitive, test_name_matches_any_in_list, test_name_mismatch, test_name_not_in_list', () => {
  assert.ok(matches(gpu('A100'), { name: 'A100' }))
  for (const [n, s] of [['A100', 'a100'], ['a100', 'A100'], ['H100', 'h100']]) assert.ok(matches(gpu(n), { name: s }), `${n} ~ ${s}`)
  assert.ok(matches(gpu('A100'), { name: ['V100', 'A100'] }))
  assert.not.ok(matches(gpu('A100'), { name: 'V100' }))
  assert.not.ok(matches(gpu('A100'), { name: ['V100', 'H100'] }))
})

gpuMatch('TestGpuMatchesGpuSpec::test_memory_{within_range,equal_to_min,equal_to_max,below_min,above_max}', () => {
  assert.ok(matches(gpu('A100', 40), { memory: '16GB..80GB' }))
  assert.ok(matches(gpu('A100', 16), { memory: '16GB..' }))
  assert.ok(matches(gpu('A100', 80), { memory: '..80GB' }))
  assert.not.ok(matches(gpu('A100', 15), { memory: '16GB..' }))
  assert.not.ok(matches(gpu('A100', 100), { memory: '..80GB' }))
})

gpuMatch('TestGpuMatchesGpuSpec::test_compute_capability_*', () => {
  assert.ok(matches(gpu('A100'), { compute_capability: '8.0' }))
  assert.ok(matches(gpu('A100'), { compute_capability: '7.0' }))
  assert.not.ok(matches(gpu('A100'), { compute_capability: '9.0' }))
  assert.not.ok(matches(gpu('MI300X', 80, 'amd'), { compute_capability: '8.0' }))
  assert.not.ok(matches(gpu('UnknownGPU'), { compute_capability: '8.0' }))
})

gpuMatch('TestGpuMatchesGpuSpec::test_all_constraints_match, test_single_failing_constraint_rejects_gpu', () => {
  assert.ok(matches(gpu('A100', 80), { vendor: 'nvidia', name: 'A100', memory: '40GB..80GB', compute_capability: '8.0' }))
  assert.not.ok(matches(gpu('A100', 24), { vendor: 'nvidia', name: 'A100', memory: '40GB..80GB' }))
})

gpuMatch.run()

// == server/services/jobs/configurators/test_base.py (interpolate_job_volumes) ====================

const jobVolumes = suite('dstack server/services/jobs/configurators/test_base.py')

jobVolumes('TestInterpolateJobVolumes::test_interpolates_volumes[no_interpolation, instance_mount, job_num_and_node_rank]', () => {
  assert.is(volumeNameForNode('volume', 0), 'volume')
  assert.equal(parseMountPoint('/volume:/volume'), { instance_path: '/volume', path: '/volume', optional: false })
  assert.is(volumeNameForNode('job${{dstack.job_num}}-rank${{dstack.node_rank}}', 2), 'job2-rank2')
})

jobVolumes('TestInterpolateJobVolumes::test_raises_server_client_error[invalid_syntax, unknown_namespace, unknown_var] (ours: rejected when the configuration is parsed)', () => {
  for (const name of ['${{}', '${{ unknown.namespace }}', '${{ dstack.var }}']) {
    rejects(() => parse(task({ volumes: [{ name, path: '/volume' }] })), 'volumes[0].name', undefined)
    rejects(() => volumeNameForNode(name, 0))
  }
})

jobVolumes.run()

// == utils/test_gpu.py ===========================================================================

const gpuNames = suite('dstack utils/test_gpu.py')

gpuNames('TestConvertGpuName::test_convert_nvidia_gpu_name', () => {
  const rows: Array<[string, string]> = [
    ['NVIDIA GeForce RTX 4060 Ti', 'RTX4060Ti'], ['NVIDIA GeForce RTX 4060', 'RTX4060'], ['NVIDIA RTX 4000 Ada Generation', 'RTX4000Ada'],
    ['NVIDIA L4', 'L4'], ['NVIDIA GH200 120GB', 'GH200'], ['NVIDIA A100-SXM4-80GB', 'A100'], ['NVIDIA A10G', 'A10G'],
    ['NVIDIA L40S', 'L40S'], ['NVIDIA H100 NVL', 'H100NVL'], ['NVIDIA H100 80GB HBM3', 'H100'], ['Tesla T4', 'T4']
  ]
  for (const [reported, want] of rows) assert.is(normalizeNvidiaName(reported), want, reported)
})

gpuNames('TestConvertGpuName::test_convert_amd_gpu_name', () => {
  assert.is(normalizeAmdName('MI300X-O'), 'MI300X')
  assert.is(normalizeAmdName('MI300A'), 'MI300A')
})

gpuNames.run()

// == utils/test_common.py (TestPrettyResources, the rows a ResourcesSpec can express) ===============

const pretty = suite('dstack utils/test_common.py')

pretty('TestPrettyResources::test_gpu_count_with_name, test_gpu_with_name_and_memory, test_gpu_with_total_memory_without_name, test_gpu_with_name_memory_and_total_memory, test_gpu_with_compute_capability', () => {
  assert.is(formatGpuSpec(parseGpuSpec({ name: 'A100', count: 1 })), 'A100:1')
  assert.is(formatGpuSpec(parseGpuSpec({ name: 'A100', memory: '40GB', count: 1 })), 'A100:40GB:1')
  assert.is(formatGpuSpec(parseGpuSpec({ count: 1, total_memory: '80GB' })), '1:80GB')
  assert.is(formatGpuSpec(parseGpuSpec({ name: 'A100', memory: '40GB', count: 2, total_memory: '80GB' })), 'A100:40GB:2:80GB')
  assert.is(formatGpuSpec(parseGpuSpec({ count: 1, compute_capability: '8.0' })), '1:8.0')
})

pretty('TestPrettyResources::test_gpu_zero_count_range (the default spec)', () => {
  assert.is(formatResources(parseResources({ cpu: 2, memory: '8GB', disk: '100GB' })), 'cpu=2 mem=8GB disk=100GB gpu=0..')
})

pretty.run()

// == utils/test_interpolator.py and test_nodes_interpolator.py ====================================

const interpolator = suite('dstack utils/test_interpolator.py, test_nodes_interpolator.py')

// dstack's test interpolator knows run.args = "qwerty" and skips (keeps) secrets.
const qwerty = (s: string): string => interpolate(s, ref => ref.key === 'run.args' ? 'qwerty' : undefined, { keepUnknown: true })
const once = (s: string): string => interpolate(s, ref => ref.key === 'run.args' ? 'qwerty' : undefined)

interpolator('TestVariablesInterpolator::test_empty, test_bash, test_escaped_dollar, test_escaped_dollar_middle, test_args, test_secrets', () => {
  assert.is(once(''), '')
  assert.is(once('${ENV}'), '${ENV}')
  assert.is(once('$${{ENV}}'), '${{ENV}}')
  assert.is(once('echo $${{ENV}}'), 'echo ${{ENV}}')
  assert.is(once('${{ run.args }}'), 'qwerty')
  assert.is(qwerty('${{ secrets.password  }}'), '${{ secrets.password  }}')
})

interpolator('TestVariablesInterpolator::test_missing (ours: a missing reference is an error naming it)', () => {
  rejects(() => once('${{ env.name }}'), '', /env\.name is not set/)
})

interpolator('TestVariablesInterpolator::test_unclosed_pattern, test_illegal_name', () => {
  rejects(() => parseTemplate('${{ secrets.password }'), '', /unclosed template/)
  for (const s of ['${{ secrets.pass-word }}', '${{ .password }}', '${{ password. }}', '${{ secrets.password.hash }}', '${{ secrets.007 }}']) {
    rejects(() => parseTemplate(s), '', /illegal reference name/)
  }
})

interpolator('TestFindGroupsIpRefs::*', () => {
  const refs = (s: string): Array<[number, number]> => parseTemplate(s).flatMap(p => typeof p !== 'string' && p.group ? [[p.group.index, p.group.member] as [number, number]] : [])
  assert.equal(refs('ray start --address=${{ groups[0].nodes[0].IP_ADDRESS }}:6379'), [[0, 0]])
  assert.equal(refs('${{ groups[0].nodes[1].IP_ADDRESS }} ${{groups[2].nodes[0].IP_ADDRESS}}'), [[0, 1], [2, 0]])
  assert.equal(refs('echo hello'), [])
  assert.equal(refs('$${{ groups[0].nodes[0].IP_ADDRESS }}'), [])
})

interpolator('TestValidateGroupsRefs::*', () => {
  checkTemplate('ray start --address=${{ groups[0].nodes[0].IP_ADDRESS }}:6379', ['groups.nodes'])
  for (const s of ['${{ groups[0].nodes[0].IP }}', '${{ groups[0].node[0].IP_ADDRESS }}', '${{ groups.prefill.nodes[0].IP_ADDRESS }}']) {
    rejects(() => checkTemplate(s, ['groups.nodes']), '', /illegal reference name/)
  }
  checkTemplate('echo $${{ groups[0].bad }}', ['groups.nodes'])
})

interpolator('TestInterpolateGroupsIpAddress::test_replaces_ip, test_replaces_nested_node, test_raises_when_ip_missing, test_raises_on_invalid_ref', () => {
  const ips = [['10.0.0.1', '10.0.0.2'], ['10.0.0.3']]
  const byIp = (table: string[][]) => (s: string): string => interpolate(s, ref => ref.group ? (table[ref.group.index]?.[ref.group.member] || undefined) : undefined)
  assert.is(byIp(ips)('ray start --address=${{ groups[0].nodes[0].IP_ADDRESS }}:6379'), 'ray start --address=10.0.0.1:6379')
  assert.is(byIp([['10.0.0.1'], ['10.0.0.2']])('${{ groups[1].nodes[0].IP_ADDRESS }}'), '10.0.0.2')
  rejects(() => byIp([['']])('${{ groups[0].nodes[0].IP_ADDRESS }}'), '', /is not set/)
  rejects(() => byIp([['10.0.0.1']])('${{ groups[1].nodes[0].IP_ADDRESS }}'), '', /is not set/)
  rejects(() => byIp([['10.0.0.1']])('${{ groups[0].nodes[0].IP }}'), '', /illegal reference name/)
})

interpolator.run()

// == utils/test_tags.py (the `tags` field) ======================================================

const tagSuite = suite('dstack utils/test_tags.py')

tagSuite('TestIsValidTagKey, TestIsValidTagValue, TestValidateTags', () => {
  for (const k of ['Environment', 'Project123', 'special-chars_', 'a'.repeat(60)]) assert.equal(tags({ [k]: 'v' }), { [k]: 'v' }, k)
  for (const k of ['key\twith\nweird\nspaces', '', 'a'.repeat(61), 'Invalid#Char']) rejects(() => tags({ [k]: 'v' }), undefined, /tag key/)
  for (const v of ['Production', 'v1.0', '', 'a'.repeat(256)]) assert.equal(tags({ k: v }), { k: v }, v)
  for (const v of ['a'.repeat(257), 'Invalid#Value']) rejects(() => tags({ k: v }), 'k', /tag value/)
  assert.equal(tags({ Environment: 'Production', project: 'Tag_Validator' }), { Environment: 'Production', project: 'Tag_Validator' })
  rejects(() => parse(task({ tags: { 'invalidkey!': 'SomeValue' } })), undefined, /tag key/)
  rejects(() => parse(task({ tags: { ValidKey: 'Invalid#Value' } })), 'tags.ValidKey', /tag value/)
})

tagSuite.run()

// == dstack's source, row by row: cases from dstack's own files and docs ============================
// Each row names the dstack source that decides it (dstackai/dstack at the commit in
// test/fixtures/dstack-repo/COMMIT). Text rows go through the YAML reader, as files do.

const source = suite('dstack source: YAML scalars, rate limits, compute capability, working_dir, fleet env')

const parseText = (yaml: string): any => parseConfiguration(yaml, { file: 'x.dstack.yml' }) as any

/** [YAML plain scalar, what PyYAML's resolver (yaml/resolver.py) reads it as]. */
const PYYAML_SCALARS: Array<[string, unknown]> = [
  ['.', '.'], // `repos: [.]`, the docs' way to mount the current repo: not a float to PyYAML
  ['y', 'y'], ['n', 'n'], ['Y', 'Y'], // not booleans in PyYAML (only yes/no/true/false/on/off)
  ['1e5', '1e5'], ['1.0e5', '1.0e5'], // a float's exponent needs a sign and a dot before it
  ['-.5', '-.5'], ['._', '._'], // a leading-dot float has no sign
  ['1.0e+5', 100000], ['.5', 0.5], ['1_000', 1000], ['0x1F', 31], ['010', 8], ['1:30', 90], ['yes', true], ['off', false]
]

source('PyYAML\'s implicit scalars (yaml/resolver.py), not the yaml library\'s wider YAML 1.1', () => {
  for (const [yaml, value] of PYYAML_SCALARS) assert.is((loadYaml(`a: ${yaml}\n`).value as any).a, value, yaml)
  // Keys too: `y` and `true` are two keys to PyYAML, not one repeated.
  assert.equal(loadYaml('y: 1\ntrue: 2\n').value, { y: 1, true: 2 })
  assert.equal(parseText('type: task\ncommands: [ls]\nrepos: [.]\n').repos, [parseRepoSpec('.')])
  assert.is(parseText('type: task\ncommands: [ls]\nrepos:\n  - .:/repo\n').repos[0].local_path, '.')
  rejects(() => parseText('type: task\ncommands: [ls]\nname: y\n'), 'name', /not a valid name/) // the string "y", not true
})

source('RateLimitKey header: pattern ^[a-zA-Z0-9-_]+$, at most 500 characters (core/models/configurations.py)', () => {
  const limit = (header: unknown) => parse(service({ commands: ['x'], rate_limits: [{ rps: 1, key: { type: 'header', header } }] }))
  for (const h of ['X-API-Key', 'x_user', 'A1-b_2', 'a'.repeat(500)]) assert.is(limit(h).rate_limits[0].key.header, h)
  for (const h of ['X API', 'X-Key;', 'a{b}', '', 'a\nb', 'ключ']) rejects(() => limit(h), 'rate_limits[0].key.header', /not a header name/)
  rejects(() => limit('a'.repeat(501)), 'rate_limits[0].key.header', /at most 500/)
})

source('ComputeCapability.validate: a float, "X.Y" or [X, Y]; a bare integer is "Invalid compute capability: 8" (core/models/resources.py)', () => {
  const cc = (yaml: string) => parseText(`type: task\ncommands: [ls]\nresources:\n  gpu:\n    compute_capability: ${yaml}\n`).resources.gpu.compute_capability
  assert.equal(cc('8.0'), [8, 0])
  assert.equal(cc('"8.6"'), [8, 6])
  assert.equal(cc('[9, 0]'), [9, 0])
  // dstack rejects an int (not float, str, tuple or list), so `compute_capability: 8` is refused, saying how to write it.
  rejects(() => cc('8'), 'resources.gpu.compute_capability', /write "8.0"/)
})

source('working_dir: the model takes any string, `dstack apply` refuses a relative one (cli/services/configurators/run.py: "working_dir must be absolute")', () => {
  for (const w of ['/workflow', '/root/app', '~', '~/app']) assert.is(parse(task({ working_dir: w })).working_dir, w)
  // The server maps a relative working_dir under /workflow only for pre-0.20 clients; dstack's
  // CLI refuses it before submitting, and so does ours.
  rejects(() => parse(task({ working_dir: 'app' })), 'working_dir', /must be absolute/)
})

source('fleet env: an SSH fleet\'s field; a backend fleet with a non-default env is "Backend fleet configuration does not support the following fields: [\'env\']" (server/services/fleets.py)', () => {
  const ssh = { type: 'fleet', ssh_config: { user: 'u', identity_file: 'k', hosts: ['10.0.0.1'] } }
  assert.equal(parse({ ...ssh, env: ['A=1'] }).env, { A: '1' })
  assert.equal(parse({ type: 'fleet', nodes: 1, env: {} }).env, {}) // the default is no change
  rejects(() => parse({ type: 'fleet', nodes: 1, env: { A: '1' } }), 'env', /SSH fleets/)
})

source.run()
