// The image a container job runs in (SPEC §1.2) and the daemon's table that names them.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { chooseImage, dstackImageTable, loadImageTable, parseImageTable, type ImageSource } from '../../../daemon/agent/images.ts'

const dstack = dstackImageTable()
const table = { ...dstack, python: { '3.12': 'local/python:3.12' } }

test('dstack\'s own images by default', () => {
  assert.equal(dstack, {
    default: 'dstackai/base:0.14-base-ubuntu24.04',
    nvcc: 'dstackai/base:0.14-devel-ubuntu24.04',
    docker: 'dstackai/dind',
    python: {}
  })
})

const cases: Array<[string, ImageSource, string, string | null, RegExp]> = [
  ['image set: that image', { image: 'ghcr.io/org/app:1' }, 'ghcr.io/org/app:1', null, /configuration's image/],
  ['image and nvcc (not rejected): the image', { image: 'my/img', nvcc: true }, 'my/img', null, /configuration's image/],
  ['docker: true: the DinD image', { docker: true }, 'dstackai/dind', null, /docker: true/],
  ['docker: false is no docker', { docker: false }, 'dstackai/base:0.14-base-ubuntu24.04', null, /default image/],
  ['python with an image in the table: that image', { python: '3.12' }, 'local/python:3.12', null, /python: 3\.12 \(this daemon's image for it\)/],
  ['python not in the table: the default image, python set up with uv', { python: '3.11' }, 'dstackai/base:0.14-base-ubuntu24.04', '3.11', /python: 3\.11, set up with uv/],
  ['nvcc: the devel image', { nvcc: true }, 'dstackai/base:0.14-devel-ubuntu24.04', null, /nvcc: true \(the devel image\)$/],
  ['nvcc and python: the devel image, python with uv (the compiler wins over a python image)', { nvcc: true, python: '3.12' }, 'dstackai/base:0.14-devel-ubuntu24.04', '3.12', /devel image\), python 3\.12 set up with uv/],
  ['nothing: the default image', {}, 'dstackai/base:0.14-base-ubuntu24.04', null, /^the default image$/],
  ['nulls as the configuration gives them: the default image', { image: null, python: null, nvcc: null, docker: null }, 'dstackai/base:0.14-base-ubuntu24.04', null, /^the default image$/]
]
for (const [name, source, image, python, why] of cases) {
  test(`chooseImage: ${name}`, () => {
    const choice = chooseImage(source, table)
    assert.is(choice.image, image)
    assert.is(choice.python, python)
    assert.match(choice.why, why)
  })
}

test('a table file overrides what it names, keeps the rest', () => {
  const t = parseImageTable('{"default": "local/debian:bookworm", "python": {"3.12": "local/py312"}}', 'images.json', dstack)
  assert.equal(t, { ...dstack, default: 'local/debian:bookworm', python: { '3.12': 'local/py312' } })
  assert.equal(dstack.python, {}, 'the base table is not changed')
})

test('a YAML table: quoted versions; 3.10 unquoted reads as 3.1 and says so', () => {
  const t = parseImageTable('docker: local/dind:latest\npython:\n  "3.10": local/py310\n  3.12: local/py312\n', 'images.yml', dstack, parseYaml)
  assert.equal(t.python, { '3.10': 'local/py310', '3.12': 'local/py312' })
  assert.is(t.docker, 'local/dind:latest')
  assert.throws(() => parseImageTable('python:\n  3.10: x\n', 'images.yml', dstack, parseYaml), /^images\.yml: python: unsupported version "3\.1": use one of 3\.9, .* \(quoted: YAML reads 3\.10 as 3\.1\)$/)
})

const bad: Array<[string, string, RegExp]> = [
  ['not a mapping', '["x"]', /^t\.json: expected a mapping with any of default, nvcc, docker, python$/],
  ['an unknown key', '{"cuda": "x"}', /^t\.json: unknown key "cuda": expected default, nvcc, docker or python$/],
  ['an image that is not a string', '{"nvcc": 5}', /^t\.json: nvcc: expected an image name \(no spaces\), got 5$/],
  ['an image with a space', '{"default": "a b"}', /^t\.json: default: expected an image name/],
  ['python not a mapping', '{"python": "3.12"}', /^t\.json: python: expected a mapping of versions to images/],
  ['a python image that is empty', '{"python": {"3.12": ""}}', /^t\.json: python\.3\.12: expected an image name/],
  ['broken JSON', '{', /^t\.json: /]
]
for (const [name, text, error] of bad) test(`a bad table: ${name}`, () => { assert.throws(() => parseImageTable(text, 't.json', dstack), error) })

test('loadImageTable: the file, then --default-image over it; a missing file is named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dstackd-images-'))
  const file = join(dir, 'images.yml')
  writeFileSync(file, 'default: local/busybox\nnvcc: local/debian:bookworm\n')
  assert.equal(await loadImageTable({ file, defaultImage: 'local/debian:bookworm' }), { ...dstack, default: 'local/debian:bookworm', nvcc: 'local/debian:bookworm' })
  assert.equal(await loadImageTable({}), dstack)
  const err = await loadImageTable({ file: join(dir, 'none.yml') }).then(() => null, (e: Error) => e.message)
  assert.match(String(err), /^--image-table .*none\.yml: ENOENT/)
  const flag = await loadImageTable({ defaultImage: '' }).then(() => null, (e: Error) => e.message)
  assert.match(String(flag), /^--default-image: expected an image name/)
})

test.run()
