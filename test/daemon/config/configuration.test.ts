// Whole configuration files, as users write them (SPEC §1, §2, §7): what each type accepts and
// normalizes, and every rule that rejects a file, with the path and position it names.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ConfigError, parseConfiguration, type Configuration } from '../../../daemon/config/index.ts'

function parse (yaml: string): any {
  return parseConfiguration(yaml, { file: 'x.dstack.yml' }) as any
}

function errorOf (yaml: string): ConfigError {
  try {
    parse(yaml)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error(`expected an error for:\n${yaml}`)
}

/** [name, yaml, path, message fragment] — the file is rejected with an issue at path saying that. */
const INVALID: Array<[string, string, string, string]> = [
  ['no type', 'commands: [ls]', 'type', 'is required'],
  ['unknown type, with a guess', 'type: tsak', 'type', 'did you mean "task"'],
  ['presets are out of scope', 'type: preset', 'type', 'not supported'],
  ['unknown key, with a guess', 'type: task\ncommands: [ls]\nresorces: {}', 'resorces', 'did you mean "resources"?'],
  ['unknown nested key', 'type: task\ncommands: [ls]\nresources: {gpuu: 1}', 'resources.gpuu', 'unknown field'],
  ['resources: null', 'type: task\ncommands: [ls]\nresources:\n#  gpu: 1\n', 'resources', 'not null'],
  ['commands as a string', 'type: task\ncommands: "echo hi"', 'commands', 'list'],
  ['neither commands nor image', 'type: task\nname: abc', 'commands', 'Either `commands` or `image` must be set'],
  ['invalid name', 'type: task\nname: Train_1\ncommands: [ls]', 'name', 'not a valid name'],
  ['python out of range', 'type: task\npython: 3.8\ncommands: [ls]', 'python', 'unsupported Python version'],
  ['image with python', 'type: task\nimage: ubuntu\npython: "3.11"\ncommands: [ls]', 'python', 'mutually exclusive'],
  ['image with docker', 'type: task\nimage: ubuntu\ndocker: true\ncommands: [ls]', 'docker', 'mutually exclusive'],
  ['python with docker', 'type: task\npython: "3.11"\ndocker: true\ncommands: [ls]', 'docker', 'mutually exclusive'],
  ['nvcc with docker', 'type: task\nnvcc: true\ndocker: true\ncommands: [ls]', 'docker', 'mutually exclusive'],
  ['user with three parts', 'type: task\nuser: a:b:c\ncommands: [ls]', 'user', 'more than two parts'],
  ['user with an empty part', 'type: task\nuser: "a:"\ncommands: [ls]', 'user', 'empty part'],
  ['user with a negative id', 'type: task\nuser: "-1"\ncommands: [ls]', 'user', 'negative'],
  ['relative working_dir', 'type: task\nworking_dir: src\ncommands: [ls]', 'working_dir', 'absolute'],
  ['zsh', 'type: task\nshell: zsh\ncommands: [ls]', 'shell', 'unsupported shell'],
  ['priority above 100', 'type: task\npriority: 101\ncommands: [ls]', 'priority', 'at most 100'],
  ['two repos', 'type: task\ncommands: [ls]\nrepos: [".", "../other"]', 'repos', 'A maximum of one repo is currently supported'],
  ['registry_auth without password', 'type: task\nimage: x\nregistry_auth: {username: u}', 'registry_auth.password', 'expected'],
  ['duplicate env', 'type: task\ncommands: [ls]\nenv: [A=1, A=2]', 'env[1]', 'duplicate environment variable A'],
  ['secrets only in env values', 'type: task\ncommands: [ls]\nenv: {A: "${{ run.args }}"}', 'env.A', 'run.args'],
  ['duplicate ports', 'type: task\ncommands: [ls]\nports: [8080, "8080"]', 'ports', 'Port 8080 is already in use'],
  ['port out of range', 'type: task\ncommands: [ls]\nports: [70000]', 'ports[0]', '65535'],
  ['nodes with groups', 'type: task\nnodes: 2\ngroups: [{commands: [ls]}]', 'nodes', 'mutually exclusive'],
  ['groups: []', 'type: task\ngroups: []', 'groups', 'at least one group'],
  ['top-level commands with groups', 'type: task\ncommands: [ls]\ngroups: [{commands: [ls]}]', 'commands', 'top level'],
  ['group without commands', 'type: task\ngroups: [{nodes: 2}]', 'groups[0].commands', 'needs `commands`'],
  ['duplicate group names', 'type: task\ngroups: [{name: a, commands: [ls]}, {name: a, commands: [ls]}]', 'groups[1].name', 'used twice'],
  ['bad group name', 'type: task\ngroups: [{name: A_B, commands: [ls]}]', 'groups[0].name', 'not a valid group name'],
  ['nodes: 0', 'type: task\nnodes: 0\ncommands: [ls]', 'nodes', 'at least 1'],
  ['duration with two units', 'type: task\ncommands: [ls]\nmax_duration: 1h30m', 'max_duration', 'duration'],
  ['upper-case duration unit', 'type: task\ncommands: [ls]\nmax_duration: 2H', 'max_duration', 'duration'],
  ['negative max_duration', 'type: task\ncommands: [ls]\nmax_duration: -5', 'max_duration', ''],
  ['ssh is not a backend', 'type: task\ncommands: [ls]\nbackends: [ssh]', 'backends[0]', 'not a backend'],
  ['unknown backend', 'type: task\ncommands: [ls]\nbackends: [aws, awz]', 'backends[1]', 'expected one of'],
  ['empty retry events', 'type: task\ncommands: [ls]\nretry: {on_events: []}', 'retry.on_events', 'at least one'],
  ['unknown retry event', 'type: task\ncommands: [ls]\nretry: {on_events: [oom]}', 'retry.on_events[0]', 'expected one of'],
  ['spot policy', 'type: task\ncommands: [ls]\nspot_policy: cheap', 'spot_policy', '"on-demand"'],
  ['max_price zero', 'type: task\ncommands: [ls]\nmax_price: 0', 'max_price', 'greater than 0'],
  ['bad cron', 'type: task\ncommands: [ls]\nschedule: {cron: "* * *"}', 'schedule.cron', '5-field'],
  ['empty instances', 'type: task\ncommands: [ls]\ninstances: []', 'instances', 'must not be empty'],
  ['bad tag key', 'type: task\ncommands: [ls]\ntags: {"a b": x}', 'tags["a b"]', 'tag key'],
  ['utilization window too short', 'type: task\ncommands: [ls]\nutilization_policy: {min_gpu_utilization: 10, time_window: 1m}', 'utilization_policy.time_window', 'at least 5m'],
  ['entity ref with an empty part', 'type: task\ncommands: [ls]\nfleets: ["a/"]', 'fleets[0]', 'project/name'],
  ['dev-env commands', 'type: dev-environment\nide: vscode\ncommands: [ls]', 'commands', 'init'],
  ['dev-env entrypoint', 'type: dev-environment\nide: vscode\nentrypoint: x', 'entrypoint', 'cannot set'],
  ['dev-env version without ide', 'type: dev-environment\nversion: "1.80"', 'version', 'needs `ide`'],
  ['windsurf version form', 'type: dev-environment\nide: windsurf\nversion: "1.2.3"', 'version', 'windsurf'],
  ['dev-env ide', 'type: dev-environment\nide: emacs', 'ide', 'expected one of'],
  ['dstack with inactivity', 'type: dev-environment\nide: vscode\ndstack: true\ninactivity_duration: 1h', 'inactivity_duration', 'dstack: true'],
  ['service without port', 'type: service\ncommands: [ls]', 'port', 'required'],
  ['service ports', 'type: service\ncommands: [ls]\nport: 80\nports: [80]', 'ports', 'one `port`'],
  ['replica range without scaling', 'type: service\ncommands: [ls]\nport: 80\nreplicas: 0..2', 'replicas', 'needs `scaling`'],
  ['scaling with fixed replicas', 'type: service\ncommands: [ls]\nport: 80\nreplicas: 2\nscaling: {metric: rps, target: 1}', 'scaling', 'range'],
  ['replicas without max', 'type: service\ncommands: [ls]\nport: 80\nreplicas: 1..\nscaling: {metric: rps, target: 1}', 'replicas', 'maximum'],
  ['scaling window', 'type: service\ncommands: [ls]\nport: 80\nreplicas: 0..2\nscaling: {metric: rps, target: 1, window: 45s}', 'scaling.window', '30s, 60s or 300s'],
  ['scaling target', 'type: service\ncommands: [ls]\nport: 80\nreplicas: 0..2\nscaling: {metric: rps, target: 0}', 'scaling.target', 'greater than 0'],
  ['rate limit prefix', 'type: service\ncommands: [ls]\nport: 80\nrate_limits: [{prefix: "api", rps: 1}]', 'rate_limits[0].prefix', 'start with "/"'],
  ['rate limit rps', 'type: service\ncommands: [ls]\nport: 80\nrate_limits: [{rps: 0.001}]', 'rate_limits[0].rps', '1/60'],
  ['rate limit prefixes unique', 'type: service\ncommands: [ls]\nport: 80\nrate_limits: [{rps: 1}, {prefix: /, rps: 2}]', 'rate_limits[1].prefix', 'twice'],
  ['probe body with get', 'type: service\ncommands: [ls]\nport: 80\nprobes: [{type: http, body: x}]', 'probes[0].body', 'cannot have a body'],
  ['probe url', 'type: service\ncommands: [ls]\nport: 80\nprobes: [{type: http, url: health}]', 'probes[0].url', 'start with "/"'],
  ['probe timeout cap', 'type: service\ncommands: [ls]\nport: 80\nprobes: [{type: http, timeout: 10m}]', 'probes[0].timeout', 'at most 300s'],
  ['probes unique', 'type: service\ncommands: [ls]\nport: 80\nprobes: [{type: http}, {type: http}]', 'probes[1]', 'twice'],
  ['replicas with groups', 'type: service\nport: 80\nreplicas: 2\ngroups: [{commands: [ls]}]', 'replicas', 'mutually exclusive'],
  ['scaling with groups', 'type: service\nport: 80\nscaling: {metric: rps, target: 1}\ngroups: [{commands: [ls]}]', 'scaling', 'top level'],
  ['image at both levels', 'type: service\nport: 80\nimage: a\ngroups: [{image: b, commands: [ls]}]', 'groups[0].image', 'at both'],
  ['image vs group python', 'type: service\nport: 80\nimage: a\ngroups: [{python: "3.12", commands: [ls]}]', 'groups[0].python', 'mutually exclusive'],
  ['group privileged false with docker', 'type: service\nport: 80\ngroups: [{docker: true, privileged: false, commands: [ls]}]', 'groups[0].privileged', 'docker: true'],
  ['router group replicas', 'type: service\nport: 80\ngroups: [{replicas: 2, router: {type: sglang}, commands: [ls]}, {commands: [ls]}]', 'groups[0].replicas', 'replicas: 1'],
  ['two routers', 'type: service\nport: 80\ngroups: [{router: {type: sglang}, commands: [ls]}, {router: {type: dynamo}, commands: [ls]}]', 'groups', 'at most one'],
  ['group without commands or image', 'type: service\nport: 80\ngroups: [{replicas: 1}]', 'groups[0].commands', 'needs `commands` or an `image`'],
  ['fleet without nodes or ssh_config', 'type: fleet\nname: f1', '', 'either `nodes`'],
  ['fleet with both', 'type: fleet\nnodes: 1\nssh_config: {user: u, identity_file: k, hosts: [h]}', 'nodes', ''],
  ['ssh fleet with a backend field', 'type: fleet\nresources: {gpu: 1}\nssh_config: {user: u, identity_file: k, hosts: [h]}', 'resources', 'backend fleets'],
  ['backend fleet with env', 'type: fleet\nnodes: 1\nenv: [A=1]', 'env', 'SSH fleets'],
  ['ssh host without user', 'type: fleet\nssh_config: {identity_file: k, hosts: [h1]}', 'ssh_config.hosts[0]', 'no user'],
  ['ssh host without key', 'type: fleet\nssh_config: {user: u, hosts: [h1]}', 'ssh_config.hosts[0]', 'no key'],
  ['internal_ip on some hosts', 'type: fleet\nssh_config: {user: u, identity_file: k, hosts: [{hostname: a, internal_ip: 10.0.0.1}, b]}', 'ssh_config.hosts', 'every host or on none'],
  ['internal_ip with network', 'type: fleet\nssh_config: {user: u, identity_file: k, network: 10.0.0.0/24, hosts: [{hostname: a, internal_ip: 10.0.0.1}]}', 'ssh_config.network', 'cannot be combined'],
  ['public network', 'type: fleet\nssh_config: {user: u, identity_file: k, network: 8.8.8.0/24, hosts: [a]}', 'ssh_config.network', 'not a private network'],
  ['fleet nodes order', 'type: fleet\nnodes: {min: 2, target: 1}', 'nodes', 'below min'],
  ['fleet blocks', 'type: fleet\nnodes: 1\nblocks: 0', 'blocks', 'at least 1'],
  ['fleet placement', 'type: fleet\nnodes: 1\nplacement: rack', 'placement', 'expected one of'],
  ['volume without backend', 'type: volume\nname: v1\nregion: r\nsize: 10GB', '', '`backend` is required'],
  ['volume backend', 'type: volume\nbackend: azure\nregion: r\nsize: 10GB', '', 'expected one of'],
  ['aws volume without region', 'type: volume\nbackend: aws\nsize: 10GB', 'region', 'expected a string'],
  ['new volume without size', 'type: volume\nbackend: gcp\nregion: r', 'size', 'is required'],
  ['kubernetes access mode', 'type: volume\nbackend: kubernetes\nsize: 1GB\naccess_modes: [ReadWrite]', 'access_modes[0]', 'expected one of'],
  ['gateway without region', 'type: gateway\nbackend: aws', 'region', 'expected a string'],
  ['gateway certificate', 'type: gateway\nbackend: aws\nregion: r\ncertificate: {type: self}', 'certificate.type', 'lets-encrypt'],
  ['gateway empty instance type', 'type: gateway\nbackend: aws\nregion: r\ninstance_type: ""', 'instance_type', 'must not be empty'],
  ['gateway replicas', 'type: gateway\nbackend: aws\nregion: r\nreplicas: 0', 'replicas', 'at least 1'],
  ['gateway domain template', 'type: gateway\nbackend: aws\nregion: r\ndomain: "${{ secrets.x }}.example.com"', 'domain', 'secrets.x']
]

for (const [name, yaml, path, fragment] of INVALID) {
  test(`rejects: ${name}`, () => {
    const err = errorOf(yaml)
    const hit = err.issues.find(i => err.message.includes(fragment) && (path === '' ? true : formatted(i.path) === path))
    assert.ok(hit, `expected an issue at "${path}" containing "${fragment}", got:\n${err.message}`)
    assert.ok(err.message.includes(fragment), `expected "${fragment}" in:\n${err.message}`)
  })
}

function formatted (path: ReadonlyArray<string | number>): string {
  return path.map((p, i) => typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][\w-]*$/.test(p) ? (i ? `.${p}` : p) : `[${JSON.stringify(p)}]`).join('')
}

test('every mistake in a file is reported at once, with file:line:col, in file order', () => {
  const err = errorOf([
    'type: task', //            1
    'python: 3.10', //          2
    'comands:', //              3
    '  - echo hi', //           4
    'resources:', //            5
    '  gpu: A100:2:3', //       6
    '  memroy: 8GB', //         7
    'ports: [70000]', //        8
    'max_duration: 1h30m' //    9
  ].join('\n'))
  const lines = err.message.split('\n')
  assert.is(lines.length, 5)
  assert.match(lines[0]!, /^x\.dstack\.yml:3:1: comands: unknown field "comands" \(did you mean "commands"\?\)$/)
  assert.match(lines[1]!, /^x\.dstack\.yml:6:8: resources\.gpu: .*two counts/)
  assert.match(lines[2]!, /^x\.dstack\.yml:7:3: resources\.memroy: unknown field "memroy" \(did you mean "memory"\?\)$/)
  assert.match(lines[3]!, /^x\.dstack\.yml:8:9: ports\[0\]: /)
  assert.match(lines[4]!, /^x\.dstack\.yml:9:15: max_duration: /)
})

test('YAML syntax errors carry their position', () => {
  const err = errorOf('type: task\ncommands: [ls\n')
  assert.match(err.message, /^x\.dstack\.yml:\d+:\d+: invalid YAML/)
})

test('duplicate keys are an error, not a silent overwrite', () => {
  assert.match(errorOf('type: task\ncommands: [a]\ncommands: [b]').message, /invalid YAML/)
})

test('an empty file says what it needs', () => {
  assert.match(errorOf('').message, /empty/)
  assert.match(errorOf('- a\n- b').message, /mapping with a `type`/)
})

test('YAML 1.1 scalars: yes/no are booleans, python 3.10 stays 3.10', () => {
  const c = parse('type: task\npython: 3.10\ncommands: [ls]\nprivileged: yes\nsingle_branch: no')
  assert.is(c.python, '3.10')
  assert.is(c.privileged, true)
  assert.is(c.single_branch, false)
})

test('compute_capability: 8.0 in YAML is the float dstack reads, 8 is rejected', () => {
  assert.equal(parse('type: task\ncommands: [ls]\nresources: {gpu: {name: A100, compute_capability: 8.0}}').resources.gpu.compute_capability, [8, 0])
  assert.match(errorOf('type: task\ncommands: [ls]\nresources: {gpu: {compute_capability: 8}}').message, /compute_capability/)
})

test('lax coercions: numbers as strings, "yes" as true, "8000" as a port', () => {
  const c = parse('type: service\nimage: x\nport: "8000"\nenv: {PORT: 8080}\nauth: "yes"')
  assert.equal(c.port, { local_port: 80, container_port: 8000 })
  assert.equal(c.env, { PORT: '8080' })
  assert.is(c.auth, true)
})

test('task: every default filled in', () => {
  const c = parse('type: task\ncommands: [echo hi]')
  assert.is(c.type, 'task')
  assert.is(c.name, null)
  assert.is(c.nodes, 1)
  assert.is(c.groups, null)
  assert.equal(c.resources, {
    cpu: { arch: null, count: { min: 2, max: null } },
    memory: { min: 8, max: null },
    shm_size: null,
    gpu: { vendor: null, name: null, count: { min: 0, max: null }, memory: null, total_memory: null, compute_capability: null },
    disk: { size: { min: 100, max: null } }
  })
  assert.is(c.shell, '/bin/bash')
  assert.is(c.single_branch, true)
  assert.is(c.privileged, false)
  assert.is(c.spot_policy, 'on-demand')
  assert.is(c.retry, false)
  assert.is(c.max_duration, 'off')
  assert.is(c.stop_duration, 300)
  assert.is(c.idle_duration, 300)
  assert.is(c.creation_policy, 'reuse-or-create')
  assert.is(c.startup_order, 'any')
  assert.is(c.stop_criteria, 'all-done')
  assert.is(c.home_dir, '/root')
  assert.equal(c.env, {})
  assert.equal(c.ports, [])
})

test('a custom image makes /bin/sh the default shell; docker forces privileged', () => {
  assert.is(parse('type: task\nimage: alpine\ncommands: [ls]').shell, '/bin/sh')
  const d = parse('type: task\ndocker: true\ncommands: [docker ps]')
  assert.is(d.privileged, true)
})

test('the dstack docs: a distributed task', () => {
  const c = parse(`type: task
name: train-distrib
nodes: 2
python: 3.12
env:
  - NCCL_DEBUG=INFO
commands:
  - git clone https://github.com/pytorch/examples.git pytorch-examples
  - cd pytorch-examples/distributed/ddp-tutorial-series
  - |
    torchrun \\
      --nproc-per-node=$DSTACK_GPUS_PER_NODE \\
      --node-rank=$DSTACK_NODE_RANK \\
      --nnodes=$DSTACK_NODES_NUM \\
      --master-addr=$DSTACK_MASTER_NODE_IP \\
      multinode.py 50 10
resources:
  gpu: 24GB:1..2
  shm_size: 24GB
`)
  assert.is(c.nodes, 2)
  assert.is(c.python, '3.12')
  assert.equal(c.env, { NCCL_DEBUG: 'INFO' })
  assert.equal(c.resources.gpu.memory, { min: 24, max: 24 })
  assert.equal(c.resources.gpu.count, { min: 1, max: 2 })
  assert.is(c.resources.shm_size, 24)
  assert.is(c.commands.length, 3)
})

test('task groups: unnamed groups take their index; resources are not inherited', () => {
  const c = parse('type: task\nresources: {gpu: H100:8}\ngroups:\n  - {nodes: 1, commands: [a], resources: {cpu: 4}}\n  - {name: workers, nodes: 3, commands: [b]}')
  assert.is(c.groups[0].name, '0')
  assert.is(c.groups[1].name, 'workers')
  assert.is(c.groups[1].nodes, 3)
  assert.equal(c.groups[1].resources.gpu.count, { min: 0, max: null })
  assert.is(c.nodes, null)
})

test('a task with groups and an image needs no group commands', () => {
  const c = parse('type: task\nimage: x\ngroups: [{nodes: 2}]')
  assert.is(c.groups[0].commands, null)
})

test('run args and node IPs are allowed in task commands', () => {
  const c = parse('type: task\ngroups:\n  - commands: ["python train.py ${{ run.args }}", "ping ${{ groups[0].nodes[1].IP_ADDRESS }}"]\n    nodes: 2')
  assert.is(c.groups[0].commands.length, 2)
})

test('dev-environment: the docs example', () => {
  const c = parse('type: dev-environment\nname: vscode\npython: "3.11"\nide: vscode\nresources:\n  gpu: 24GB')
  assert.is(c.ide, 'vscode')
  assert.is(c.single_branch, false)
  assert.is(c.inactivity_duration, null)
  assert.equal(c.init, [])
  assert.equal(c.resources.gpu.count, { min: 1, max: null })
})

test('dev-environment: inactivity duration flavours', () => {
  assert.is(parse('type: dev-environment\ninactivity_duration: 2h').inactivity_duration, 7200)
  assert.is(parse('type: dev-environment\ninactivity_duration: off').inactivity_duration, null)
  assert.is(parse('type: dev-environment\ninactivity_duration: true').inactivity_duration, null)
})

test('service: model shorthand, default probe, replicas range with scaling', () => {
  const c = parse(`type: service
name: llama31
python: "3.11"
env:
  - HF_TOKEN
  - MODEL_ID=meta-llama/Meta-Llama-3.1-8B-Instruct
commands:
  - pip install vllm
  - vllm serve $MODEL_ID --max-model-len 4096
port: 8000
model: meta-llama/Meta-Llama-3.1-8B-Instruct
replicas: 1..4
scaling:
  metric: rps
  target: 10
resources:
  gpu: 24GB
`)
  assert.equal(c.port, { local_port: 80, container_port: 8000 })
  assert.equal(c.model, { type: 'chat', name: 'meta-llama/Meta-Llama-3.1-8B-Instruct', format: 'openai', prefix: '/v1' })
  assert.equal(c.replicas, { min: 1, max: 4 })
  assert.equal(c.scaling, { metric: 'rps', target: 10, window: 60, scale_up_delay: 300, scale_down_delay: 600 })
  assert.is(c.probes.length, 1)
  assert.is(c.probes[0].url, '/v1/chat/completions')
  assert.is(c.probes[0].method, 'post')
  assert.is(c.probes[0].timeout, 30)
  assert.equal(c.env, { HF_TOKEN: null, MODEL_ID: 'meta-llama/Meta-Llama-3.1-8B-Instruct' })
  assert.is(c.https, true)
  assert.is(c.auth, true)
  assert.is(c.strip_prefix, true)
  assert.is(c.gateway, null)
})

test('service: probes [] means none even with a model; "L:C" port; gateway name', () => {
  const c = parse('type: service\nimage: x\nport: "8080:8000"\nmodel: m\nprobes: []\ngateway: my-gw\nhttps: auto')
  assert.equal(c.probes, [])
  assert.equal(c.port, { local_port: 8080, container_port: 8000 })
  assert.is(c.gateway, 'my-gw')
  assert.is(c.https, 'auto')
})

test('service: a replica range without a min starts at 0', () => {
  const c = parse('type: service\nimage: x\nport: 80\nreplicas: {max: 3}\nscaling: {metric: rps, target: 1}')
  assert.equal(c.replicas, { min: 0, max: 3 })
})

test('service: replica groups are written back as replicas with count', () => {
  const c = parse(`type: service
port: 8000
python: "3.12"
groups:
  - name: prefill
    replicas: 1..2
    scaling: {metric: rps, target: 5}
    commands: [serve --prefill]
  - replicas: 1
    router: {type: sglang}
    commands: [router]
`)
  assert.is(c.groups, undefined)
  assert.is(c.replicas.length, 2)
  assert.equal(c.replicas[0].count, { min: 1, max: 2 })
  assert.is(c.replicas[1].name, '1')
  assert.equal(c.replicas[1].router, { type: 'sglang' })
  // The legacy spelling reads back the same.
  const again = parseConfiguration(c) as any
  assert.equal(again, c)
})

test('service: rate limits and probes with defaults', () => {
  const c = parse('type: service\nimage: x\nport: 80\nrate_limits: [{prefix: /api, rps: 2, key: {type: header, header: X-Key}}]\nprobes: [{type: http, url: /health}]')
  assert.equal(c.rate_limits[0], { prefix: '/api', key: { type: 'header', header: 'X-Key' }, rps: 2, burst: 0 })
  assert.equal(c.probes[0], { type: 'http', url: '/health', method: 'get', headers: [], body: null, timeout: 10, interval: 15, ready_after: 1, until_ready: false })
})

test('profile parameters: retry, durations, schedule, instances, tags', () => {
  const c = parse(`type: task
commands: [ls]
retry:
  on_events: [no-capacity, error]
  duration: 1h
max_duration: 2h
stop_duration: off
idle_duration: off
max_price: 1.5
schedule:
  cron: "0 8 * * mon-fri"
instances: [my-box, {hostname: 10.0.0.5}, {fleet: gpus, instance: 2}]
tags: {team: ml}
`)
  assert.equal(c.retry, { on_events: ['no-capacity', 'error'], duration: 3600 })
  assert.is(c.max_duration, 7200)
  assert.is(c.stop_duration, 'off')
  assert.is(c.idle_duration, -1)
  assert.is(c.max_price, 1.5)
  assert.equal(c.schedule, { cron: ['0 8 * * mon-fri'] })
  assert.equal(c.instances, [{ name: 'my-box' }, { hostname: '10.0.0.5' }, { fleet: 'gpus', instance: 2 }])
  assert.equal(c.tags, { team: 'ml' })
})

test('retry: true means every event for an hour', () => {
  assert.equal(parse('type: task\ncommands: [ls]\nretry: true').retry, { on_events: ['no-capacity', 'interruption', 'error'], duration: 3600 })
  assert.equal(parse('type: task\ncommands: [ls]\nretry: {duration: 2h}').retry, { on_events: ['no-capacity', 'interruption', 'error'], duration: 7200 })
})

test('volumes, repos and files in a run', () => {
  const c = parse('type: task\ncommands: [ls]\nvolumes: ["my-vol:/data", "/mnt/cache:/cache"]\nrepos: [".:/workflow"]\nfiles: ["requirements.txt"]')
  assert.equal(c.volumes[0], { name: 'my-vol', path: '/data' })
  assert.equal(c.volumes[1], { instance_path: '/mnt/cache', path: '/cache', optional: false })
  assert.is(c.repos[0].local_path, '.')
  assert.is(c.files[0].local_path, 'requirements.txt')
})

test('backend fleet: nodes forms and defaults', () => {
  const a = parse('type: fleet\nname: my-fleet\nnodes: 2\nplacement: cluster\nresources:\n  gpu: 24GB')
  assert.equal(a.nodes, { min: 2, target: 2, max: 2 })
  assert.is(a.placement, 'cluster')
  assert.is(a.idle_duration, 259200)
  assert.is(a.spot_policy, 'on-demand')
  assert.is(a.blocks, 1)
  assert.equal(parse('type: fleet\nnodes: 0..4').nodes, { min: 0, target: 0, max: 4 })
  assert.equal(parse('type: fleet\nnodes: {min: 1, max: 3}').nodes, { min: 1, target: 1, max: 3 })
  assert.equal(parse('type: fleet\nnodes: 1..').nodes, { min: 1, target: 1, max: null })
  assert.is(parse('type: fleet\nnodes: 1\nblocks: auto').blocks, 'auto')
})

test('SSH fleet: hosts inherit user, key, port and proxy jump', () => {
  const c = parse(`type: fleet
name: my-ssh-fleet
placement: cluster
env: [HF_HOME=/data/hf]
ssh_config:
  user: ubuntu
  identity_file: ~/.ssh/id_rsa
  proxy_jump: {hostname: 1.2.3.4, user: jump, identity_file: ~/.ssh/jump}
  hosts:
    - 3.255.177.51
    - hostname: 3.255.177.52
      port: 2222
      user: admin
      blocks: 2
`)
  const [h1, h2] = c.ssh_config.hosts
  assert.equal(h1, { hostname: '3.255.177.51', port: 22, user: 'ubuntu', identity_file: '~/.ssh/id_rsa', proxy_jump: { hostname: '1.2.3.4', port: 22, user: 'jump', identity_file: '~/.ssh/jump' }, internal_ip: null, blocks: 1 })
  assert.is(h2.port, 2222)
  assert.is(h2.user, 'admin')
  assert.is(h2.blocks, 2)
  assert.is(c.resources, null)
  assert.is(c.nodes, null)
  assert.equal(c.env, { HF_HOME: '/data/hf' })
})

test('volumes: each backend', () => {
  const aws = parse('type: volume\nname: my-volume\nbackend: aws\nregion: eu-central-1\nsize: 100GB')
  assert.equal(aws, { type: 'volume', backend: 'aws', name: 'my-volume', size: 100, auto_cleanup_duration: -1, tags: null, region: 'eu-central-1', availability_zone: null, volume_id: null })
  assert.is(parse('type: volume\nbackend: aws\nregion: r\nvolume_id: vol-123').size, null)
  const k8s = parse('type: volume\nbackend: kubernetes\nclaim_name: data')
  assert.equal(k8s.access_modes, ['ReadWriteOnce'])
  assert.is(k8s.region, '')
  assert.is(parse('type: volume\nbackend: runpod\nregion: EU-SE-1\nsize: 1TB\nauto_cleanup_duration: 1d').auto_cleanup_duration, 86400)
})

test('gateway: defaults, and certificate null means none', () => {
  const g = parse('type: gateway\nname: example-gateway\nbackend: aws\nregion: eu-west-1\ndomain: "${{ run.project_name }}.example.com"')
  assert.equal(g.certificate, { type: 'lets-encrypt' })
  assert.is(g.public_ip, true)
  assert.is(g.default, null)
  assert.is(g.replicas, 1)
  assert.is(parse('type: gateway\nbackend: aws\nregion: r\ncertificate: null').certificate, null)
  assert.equal(parse('type: gateway\nbackend: aws\nregion: r\ncertificate: {type: acm, arn: "arn:x"}').certificate, { type: 'acm', arn: 'arn:x' })
})

test('0.18-era fields dstack still accepts are read and have no effect', () => {
  const f = parse('type: fleet\nnodes: 1\ntermination_idle_time: 1h\ntermination_policy: destroy-after-idle')
  assert.is(f.termination_idle_time, '1h')
  assert.is(f.idle_duration, 259200)
  const t = parse('type: task\ncommands: [ls]\npool_name: p\ninstance_name: i\nretry_policy: {retry: true, duration: 1h}\ntermination_idle_time: 300')
  assert.equal(t.retry_policy, { retry: true, duration: 3600 })
  assert.is(t.retry, false, 'the old retry_policy does not turn retry on')
  assert.match(errorOf('type: fleet\nnodes: 1\ntermination_policy: sometimes').message, /termination_policy/)
})

test('profiles: the configuration wins over the profile', () => {
  const c = parseConfiguration('type: task\ncommands: [ls]\nspot_policy: spot', { profile: { spot_policy: 'auto', max_price: 2, backends: ['aws'] } }) as any
  assert.is(c.spot_policy, 'spot')
  assert.is(c.max_price, 2)
  assert.equal(c.backends, ['aws'])
})

test('normalizing a normalized configuration changes nothing (every type)', () => {
  const docs = [
    'type: task\ncommands: [ls]\nresources: {gpu: A100:80GB:2, cpu: x86:8..}\nports: ["*:8080", "3000:3000"]\nretry: true',
    'type: task\nimage: x\ngroups: [{nodes: 2}, {name: w, commands: [a]}]',
    'type: service\nimage: x\nport: 80\nmodel: m\nreplicas: 0..3\nscaling: {metric: rps, target: 2}',
    'type: dev-environment\nide: cursor\ninit: [ls]\nports: [8888]',
    'type: fleet\nnodes: 0..2\nresources: {gpu: 24GB..:1..}',
    'type: fleet\nssh_config: {user: u, identity_file: k, hosts: [a, b]}\nblocks: auto',
    'type: volume\nbackend: gcp\nregion: r\nsize: 0.5GB',
    'type: gateway\nbackend: gcp\nregion: r\ncertificate: null'
  ]
  for (const d of docs) {
    const once = parse(d) as Configuration
    assert.equal(parseConfiguration(JSON.parse(JSON.stringify(once))), once, d)
  }
})

test.run()
