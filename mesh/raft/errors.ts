// The Raft core's one error type. It is thrown only for misuse (bad arguments, storage that
// cannot be right) and for broken invariants, which mean a bug: a caller that gets one of those
// must not carry on with this node's state.
import { CodedError } from '../errors.ts'

export type RaftErrorCode =
  /** The stored state handed to createRaft contradicts itself. */
  | 'corrupt_storage'
  /** An argument is out of range (compacting past what was applied, a bad config). */
  | 'invalid_argument'
  /** An invariant of the algorithm broke: a bug. */
  | 'internal'

export class RaftError extends CodedError<RaftErrorCode> {
  override name = 'RaftError'
  constructor (code: RaftErrorCode, message: string) {
    super(code, `raft: ${message}`)
  }
}
