// How a stream goes on after its connection was lost: for each streaming method that can be
// resumed, the params to ask again with and which of the items that come again to drop, so
// the caller sees every item once, in order. `logs` resumes from the last piece's time and
// drops the bytes before its end (by offset); `runs.watch` drops a state it already gave;
// `events.list` asks for the events after the last one.
import type { ClientMethods } from '../../daemon/api/methods.ts'
import type { LogItem, StateEvent } from '../../daemon/api/views.ts'

export interface Resumption<P, T> {
  /** The params of the next request (the first one's, then what resumes). */
  params (): P
  /** The item to give the caller (maybe trimmed), or undefined for one already given. */
  accept (item: T): T | undefined
}

type Params<K extends keyof ClientMethods> = ClientMethods[K]['params']
type Item<K extends keyof ClientMethods> = ClientMethods[K]['result']

function logs (first: Params<'logs'>): Resumption<Params<'logs'>, LogItem> {
  let last: { submission: number, at: number, end: number } | undefined
  return {
    params: () => last === undefined ? first : { ...first, since: Math.max(first.since ?? -Infinity, last.at) },
    accept (item) {
      const data = Buffer.from(item.data, 'base64')
      const end = item.offset + data.length
      if (last !== undefined && item.submission === last.submission) {
        if (end <= last.end) return undefined
        if (item.offset < last.end) item = { ...item, offset: last.end, data: data.subarray(last.end - item.offset).toString('base64') }
      } else if (last !== undefined && item.submission < last.submission) {
        return undefined
      }
      last = { submission: item.submission, at: item.at, end }
      return item
    }
  }
}

function runsWatch (first: Params<'runs.watch'>): Resumption<Params<'runs.watch'>, Item<'runs.watch'>> {
  let last: string | undefined
  return {
    params: () => first,
    accept (item) {
      const text = JSON.stringify(item.runs)
      if (text === last) return undefined
      last = text
      return item
    }
  }
}

function eventsList (first: Params<'events.list'>): Resumption<Params<'events.list'>, StateEvent> {
  let after: number | undefined
  return {
    params: () => after === undefined ? first : { ...first, after },
    accept (item) {
      if (after !== undefined && item.seq <= after) return undefined
      after = item.seq
      return item
    }
  }
}

const RESUMERS: Record<string, (params: any) => Resumption<any, any>> = {
  logs, 'runs.watch': runsWatch, 'events.list': eventsList
}

/** How `method` resumes, or undefined for a stream that cannot (it fails with the lost connection). */
export function resumption (method: string, params: unknown): Resumption<any, any> | undefined {
  return RESUMERS[method]?.(params)
}
