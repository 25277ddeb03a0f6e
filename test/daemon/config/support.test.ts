// The one judgement of a file (parseRunConfiguration): what dstack accepts and this version
// does not run yet is refused with file:line:col, saying what is missing and what to do; the
// messages are true of this version (the mesh and multi-node scheduling are here).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ConfigError, formatPath, needsContainer, parseConfiguration, parseRunConfiguration } from '../../../daemon/config/index.ts'

function issuesOf (yaml: string): ConfigError['issues'] {
  try {
    parseRunConfiguration(yaml, { file: 'x.dstack.yml' })
  } catch (err) {
    if (err instanceof ConfigError) return err.issues
    throw err
  }
  return []
}

const SSH_FLEET = 'type: fleet\nssh_config:\n  user: ubuntu\n  identity_file: ~/.ssh/id\n  hosts: [10.0.0.1]\n'

/** [name, yaml (dstack accepts it), path, line, message fragments]. */
const REFUSED: Array<[string, string, string, number, RegExp[]]> = [
  ['an SSH fleet', SSH_FLEET, 'type', 1, [/fleet configurations are not supported yet/, /`dstack fleet`/, /SSH fleets and backend fleets come with later work/]],
  ['a backend fleet', 'type: fleet\nnodes: 2\nresources: {gpu: H100:8}\n', 'type', 1, [/fleet configurations are not supported yet/, /dstackd join/]],
  ['a volume', 'type: volume\nbackend: aws\nregion: eu-west-1\nsize: 100GB\n', 'type', 1, [/volume configurations are not supported yet/, /host's directories/]],
  ['a gateway', 'type: gateway\nbackend: aws\nregion: eu-west-1\ndomain: example.com\n', 'type', 1, [/gateway configurations are not supported yet/]],
  ['a preset', 'type: preset\n', 'type', 1, [/agent presets are not supported/, /external agent/]],
  ['a secret in env', 'type: task\ncommands: [ls]\nenv:\n  - HF_TOKEN=${{ secrets.hf_token }}\n', 'env.HF_TOKEN', 4,
    [/\$\{\{ secrets\.hf_token \}\}: secrets are not supported yet/, /`env: \[HF_TOKEN\]`/, /HF_TOKEN=… dstack apply/]],
  ['a node IP reference in a group', 'type: task\ngroups:\n  - name: head\n    commands: [ls]\n  - name: workers\n    nodes: 2\n    commands:\n      - connect ${{ groups[0].nodes[0].IP_ADDRESS }}\n',
    'groups[1].commands[0]', 8, [/references to a node's IP address are not supported yet/, /\$DSTACK_MASTER_NODE_IP/, /\$DSTACK_NODES_IPS/]]
]

for (const [name, yaml, path, line, fragments] of REFUSED) {
  test(`refuses, saying why and what to do: ${name}`, () => {
    if (name !== 'a preset') parseConfiguration(yaml) // dstack accepts it (a preset has no grammar here)
    const issues = issuesOf(yaml)
    const hit = issues.find(i => formatPath(i.path) === path)
    assert.ok(hit, `no issue at ${path}: ${JSON.stringify(issues)}`)
    assert.is(hit.line, line, 'line')
    for (const f of fragments) assert.match(hit.message, f)
    // True of this version: the mesh and the multi-node scheduler have landed.
    assert.not.match(hit.message, /land with the mesh|does not have yet/)
  })
}

test('every part not run yet is named at once, after dstack\'s own rules pass', () => {
  const issues = issuesOf('type: task\nimage: x\ncommands:\n  - echo ${{ groups[0].nodes[0].IP_ADDRESS }}\nenv:\n  A: ${{ secrets.a }}\n  B: ${{ secrets.b }}\n')
  assert.equal(issues.map(i => formatPath(i.path)).sort(), ['commands[0]', 'env.A', 'env.B'])
  // A file dstack rejects shows dstack's reasons only.
  assert.equal(issuesOf('type: task\nimage: x\ncommandz: [ls]\n').map(i => i.message), ['unknown field "commandz" (did you mean "commands"?)'])
})

test('containers are run: `image`, `docker: true` and `nvcc: true` are accepted, and they are what needs a container', () => {
  const cases: Array<[string, boolean]> = [
    ['type: task\nimage: ubuntu\ncommands: [ls]\n', true],
    ['type: dev-environment\nide: vscode\ndocker: true\n', true],
    ['type: task\nnvcc: true\ncommands: [nvcc --version]\n', true],
    ['type: task\npython: "3.12"\ncommands: [ls]\n', false],
    ['type: task\ncommands: [ls]\n', false],
    ['type: service\nimage: busybox\nport: 80\ncommands: [httpd -f -p 80]\n', true]
  ]
  for (const [yaml, needs] of cases) {
    assert.equal(issuesOf(yaml), [], yaml)
    assert.is(needsContainer(parseRunConfiguration(yaml)), needs, yaml)
  }
})

test('dstack\'s default-image rules are part of the judgement (SPEC §2.5)', () => {
  const issues = issuesOf('type: task\ncommands: [ls]\nresources:\n  gpu: MI300X:8\n')
  assert.ok(issues.some(i => formatPath(i.path) === 'resources' && /`image` must be set/.test(i.message)), JSON.stringify(issues))
  assert.ok(issuesOf('type: task\ncommands: [ls]\nresources:\n  cpu: arm:4\n').some(i => /ARM CPU/.test(i.message)))
})

test('what this version runs comes back normalized, and values are judged the same as text', () => {
  const yaml = 'type: task\nnodes: 2\ncommands: [echo $DSTACK_MASTER_NODE_IP]\nenv: [HF_TOKEN]\nresources: {gpu: 24GB}\n'
  const c = parseRunConfiguration(yaml)
  assert.equal(c, parseConfiguration(yaml))
  assert.equal(parseRunConfiguration(JSON.parse(JSON.stringify(c))), c)
  assert.throws(() => parseRunConfiguration(parseConfiguration(SSH_FLEET)), (e: unknown) => e instanceof ConfigError && /not supported yet/.test(e.message))
  // $$ escapes a template: a literal `${{ secrets.x }}` in a command is not a reference.
  parseRunConfiguration('type: task\ncommands:\n  - echo "$${{ secrets.x }}"\n')
})

test.run()
