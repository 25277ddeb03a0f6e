// What a leader knows about one follower's log, and how hard it may push entries at it.
//   probe:     one append in flight at a time, until the follower answers (or a heartbeat does);
//   replicate: entries are streamed optimistically, up to a window of unacknowledged messages;
//   snapshot:  a snapshot is on its way; nothing else is sent until it is acknowledged or times out.

export type ProgressState = 'probe' | 'replicate' | 'snapshot'

export class Progress {
  match = 0
  next: number
  state: ProgressState = 'probe'
  /** Probe: an append is in flight, wait for an answer before the next one. */
  probeSent = false
  /** Snapshot: the index of the snapshot sent, and the ticks since it was sent. */
  pendingSnapshot = 0
  snapshotTicks = 0
  /** Heard from since the last CheckQuorum round. */
  recentActive = false
  /** Replicate: the last index of each append still unacknowledged, oldest first. */
  private inflight: number[] = []
  private inflightHead = 0

  constructor (next: number, private readonly maxInflight: number) {
    this.next = next
  }

  inflightCount (): number { return this.inflight.length - this.inflightHead }

  isPaused (): boolean {
    switch (this.state) {
      case 'probe': return this.probeSent
      case 'replicate': return this.inflightCount() >= this.maxInflight
      case 'snapshot': return true
    }
  }

  becomeProbe (): void {
    // After a snapshot the follower holds at least the snapshot, so probe right after it.
    this.next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1
    this.reset('probe')
  }

  becomeReplicate (): void {
    this.next = this.match + 1
    this.reset('replicate')
  }

  becomeSnapshot (index: number): void {
    this.reset('snapshot')
    this.pendingSnapshot = index
  }

  private reset (state: ProgressState): void {
    this.state = state
    this.probeSent = false
    this.pendingSnapshot = 0
    this.snapshotTicks = 0
    this.inflight = []
    this.inflightHead = 0
  }

  /** An accepted append up to `index`: true when it told us something new. */
  maybeUpdate (index: number): boolean {
    let updated = false
    if (this.match < index) {
      this.match = index
      this.probeSent = false
      updated = true
    }
    this.next = Math.max(this.next, index + 1)
    return updated
  }

  /**
   * A rejected append at `rejected`, the follower suggesting `matchHint` as the last index that
   * might match. False when the rejection is stale (answers an append we have moved past).
   */
  maybeDecrTo (rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
    this.probeSent = false
    return true
  }

  /** Records an append just sent whose last entry is `last` (undefined: no entries). */
  sentEntries (last: number | undefined): void {
    if (this.state === 'replicate') {
      if (last !== undefined) {
        this.next = last + 1
        this.inflight.push(last)
      }
    } else if (this.state === 'probe') {
      this.probeSent = true
    }
  }

  /** Frees the window slots of appends up to `index`, which the follower acknowledged. */
  freeInflightUpTo (index: number): void {
    while (this.inflightHead < this.inflight.length && this.inflight[this.inflightHead]! <= index) this.inflightHead++
    if (this.inflightHead > 64 && this.inflightHead * 2 > this.inflight.length) {
      this.inflight = this.inflight.slice(this.inflightHead)
      this.inflightHead = 0
    }
  }

  /** Frees one window slot: a heartbeat answered, so the stream is alive even if appends were lost. */
  freeFirstInflight (): void {
    if (this.inflightCount() > 0) this.inflightHead++
  }
}
