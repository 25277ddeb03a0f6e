// What a host has (DESIGN.md, "Layout": drivers/host). Knows nothing of the daemon.
export {
  getInventory, detectGpuVendor, parseNvidiaSmi, parseAmdSmi, parseHlSmi, cpuArch, execTool,
  TOOL_TIMEOUT_MS, NVIDIA_SMI_ARGS, AMD_SMI_ARGS, HL_SMI_ARGS,
  type Inventory, type InventoryOptions, type ReportedGpu, type GpuVendor, type GpuReport, type ToolReport, type ExecFn
} from './inventory.ts'
export { engineEndpoint, describeEndpoint, probeEngine, DEFAULT_ENGINE_SOCKET, type EngineEndpoint, type EngineFacts } from './engine.ts'
