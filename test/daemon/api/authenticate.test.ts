// The engine's `authenticate` over the real Unix socket: the auth frame's token and project
// reach it, what it answers reaches every handler of the session, a refusal ends the session,
// and a project that is not a string is a bad frame.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectApi } from '../../../daemon/api/client.ts'
import { createApiServer, type ApiServer } from '../../../daemon/api/server.ts'
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from '../../../mesh/frames.ts'
import type { HandlerContext } from '../../../mesh/rpc/server.ts'

const dir = mkdtempSync(join(tmpdir(), 'dstackd-auth-'))
const socketPath = join(dir, 'api.sock')
let server: ApiServer
const asked: Array<{ token: string, project?: string }> = []

test.before(async () => {
  server = await createApiServer({
    socketPath,
    authenticate: credentials => {
      asked.push(credentials)
      return credentials.token === 'good' ? { who: 'alice', project: credentials.project ?? 'main' } : undefined
    },
    handlers: { 'server.info': (_p: unknown, ctx: HandlerContext) => ctx.caller }
  })
})

test.after(async () => {
  await server?.close()
  rmSync(dir, { recursive: true, force: true })
})

test('the project travels with the token; the handler sees what authenticate answered', async () => {
  const client = await connectApi({ socketPath, token: 'good', project: 'team' })
  try {
    assert.equal(await client.call('server.info'), { who: 'alice', project: 'team' })
    assert.equal(asked.at(-1), { token: 'good', project: 'team' })
  } finally {
    await client.close()
  }
  const plain = await connectApi({ socketPath, token: 'good' })
  try {
    assert.equal(await plain.call('server.info'), { who: 'alice', project: 'main' })
  } finally {
    await plain.close()
  }
})

test('credentials authenticate refuses: the session is refused as a wrong token', async () => {
  try {
    await connectApi({ socketPath, token: 'bad', project: 'team' })
    assert.unreachable('refused')
  } catch (err) {
    assert.is((err as { code: string }).code, 'unauthenticated')
  }
})

test('an auth frame whose project is not a string is a bad frame', async () => {
  const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const socket = net.connect(socketPath)
    const decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES })
    socket.on('data', chunk => decoder.feed(chunk, frame => { resolve(frame as Record<string, unknown>); socket.destroy() }))
    socket.on('error', reject)
    socket.write(encodeFrame({ type: 'auth', token: 'good', project: 7 }, MAX_FRAME_BYTES))
  })
  assert.is(reply.type, 'error')
  assert.match((reply.error as { message: string }).message, /"project" must be a string/)
})

test.run()
