// The one shape of an error that carries a machine-readable code, with optional details: the
// socket API, mesh RPC, Raft, join tokens and key files all throw subclasses of it. Imports
// nothing, so the CLI's client can load it without the mesh.
export class CodedError<C extends string = string> extends Error {
  readonly code: C
  readonly details?: unknown
  constructor (code: C, message: string, details?: unknown) {
    super(message)
    this.code = code
    if (details !== undefined) this.details = details
  }
}
