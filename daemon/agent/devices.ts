// The devices a job was given, as a runtime needs them: the placement's gpu_slots are positions
// in this host's GPU list (the order of its offer), mapped to each GPU's vendor, device index and
// (NVIDIA) UUID, which is what a container's device request names.
import type { JobDevice } from '../../drivers/runtime/types.ts'
import type { HostGpu } from './environment.ts'

/**
 * The job's devices, in slot order. Throws when a slot is not a GPU of this host (the host's GPUs
 * changed since the job was placed): a job must not run without the GPUs it was given.
 */
export function jobDevices (hostGpus: readonly HostGpu[], slots: readonly number[]): JobDevice[] {
  return slots.map(slot => {
    const gpu = hostGpus[slot]
    if (gpu === undefined) throw new Error(`placement.gpu_slots: slot ${slot} is not a GPU of this host (it has ${hostGpus.length})`)
    return gpu.uuid === undefined ? { vendor: gpu.vendor, index: gpu.index } : { vendor: gpu.vendor, index: gpu.index, uuid: gpu.uuid }
  })
}
