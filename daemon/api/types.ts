// The shapes clients receive: the wire contract of the API, re-exported for clients so they
// need not reach into the daemon's state.
export type { FleetView, InstanceView, JobView, RunView } from '../state/views.ts'
export type { OfferView } from './handlers.ts'
export type { StateEvent } from '../state/types.ts'
