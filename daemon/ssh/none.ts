// The JobAccess of a node that cannot reach into jobs: every shell, command and forward is
// refused with a message the user sees on the channel. The daemon's real one runs them through
// the runtime and the mesh.
import type { JobAccess } from './types.ts'

const WHY = 'this dstackd cannot open shells or forwards into jobs'

export const noJobAccess: JobAccess = {
  exec: async () => { throw new Error(WHY) },
  forward: async () => { throw new Error(WHY) }
}
