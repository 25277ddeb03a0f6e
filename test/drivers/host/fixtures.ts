// Tool outputs captured byte for byte on real hosts by scripts/gpu/check.sh (as JSON string
// literals, so every space and newline is kept). Not a suite: imported by inventory.test.ts.

/**
 * One NVIDIA H100 80GB HBM3 (SXM), driver 580.159.04, CUDA 13.0, MIG disabled; Ubuntu 24.04.3,
 * Linux 6.18 VM, 16 vCPUs (Intel Xeon), 125 GiB. Captured 2026-11-23.
 */
export const H100_SXM = {
  /** `nvidia-smi --query-gpu=name,memory.total,uuid,driver_version --format=csv,noheader,nounits` (NVIDIA_SMI_ARGS) */
  query: 'NVIDIA H100 80GB HBM3, 81559, GPU-1d2d0a8b-13e5-74a9-9a1c-cdc042a9e1fb, 580.159.04\n',
  /** `nvidia-smi -L` */
  list: 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1d2d0a8b-13e5-74a9-9a1c-cdc042a9e1fb)\n',
  /** `nvidia-smi --query-gpu=name,memory.total,uuid,driver_version,pci.bus_id,compute_cap,memory.used,mig.mode.current --format=csv` */
  queryWithUnits: 'name, memory.total [MiB], uuid, driver_version, pci.bus_id, compute_cap, memory.used [MiB], mig.mode.current\n' +
    'NVIDIA H100 80GB HBM3, 81559 MiB, GPU-1d2d0a8b-13e5-74a9-9a1c-cdc042a9e1fb, 580.159.04, 00000000:00:06.0, 9.0, 0 MiB, Disabled\n',
  /** /sys/module/nvidia/version */
  moduleVersion: '580.159.04\n'
}
