import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  computeCapabilityOf,
  defaultImageSupports,
  gpuVendorOfNames,
  gpuVendorsOfName,
  isTpuName,
  knownGpus,
  meetsComputeCapability,
  normalizeAmdName,
  normalizeGpuName,
  normalizeIntelName,
  normalizeNvidiaName,
  parseReportedMemoryMib,
  snapGpuMemoryGib,
  tenstorrentDevices,
} from '../../../daemon/config/gpus.ts'
import { ConfigError } from '../../../daemon/config/errors.ts'
import type { GpuVendor } from '../../../daemon/config/types.ts'

// GPU-NAMES.md §3, rows 1–64: a host tool's string, dstack's short name, and whether gpuhunt knows it.
type Vendor = 'nvidia' | 'amd' | 'intel'
const NAME_ROWS: Array<[number, Vendor, string, string, boolean]> = [
  [1, 'nvidia', 'NVIDIA A100-SXM4-80GB', 'A100', true],
  [2, 'nvidia', 'NVIDIA A100-SXM4-40GB', 'A100', true],
  [3, 'nvidia', 'NVIDIA A100 80GB PCIe', 'A100', true],
  [4, 'nvidia', 'NVIDIA A100-PCIE-40GB', 'A100', true],
  [5, 'nvidia', 'NVIDIA H100 80GB HBM3', 'H100', true],
  [6, 'nvidia', 'NVIDIA H100 PCIe', 'H100', true],
  [7, 'nvidia', 'NVIDIA H100 NVL', 'H100NVL', true],
  [8, 'nvidia', 'NVIDIA H200', 'H200', true],
  [9, 'nvidia', 'NVIDIA H200 NVL', 'H200NVL', true],
  [10, 'nvidia', 'NVIDIA GH200 120GB', 'GH200', true],
  [11, 'nvidia', 'NVIDIA GH200 480GB', 'GH200', true],
  [12, 'nvidia', 'NVIDIA GH200 144G HBM3e', 'GH200', true],
  [13, 'nvidia', 'NVIDIA B200', 'B200', true],
  [14, 'nvidia', 'NVIDIA GB200', 'GB200', true],
  [15, 'nvidia', 'NVIDIA B300 SXM6 AC', 'B300SXM6AC', false],
  [16, 'nvidia', 'NVIDIA GB300', 'GB300', false],
  [17, 'nvidia', 'NVIDIA L4', 'L4', true],
  [18, 'nvidia', 'NVIDIA L40S', 'L40S', true],
  [19, 'nvidia', 'NVIDIA L40', 'L40', true],
  [20, 'nvidia', 'NVIDIA A10G', 'A10G', true],
  [21, 'nvidia', 'NVIDIA A10', 'A10', true],
  [22, 'nvidia', 'NVIDIA A40', 'A40', true],
  [23, 'nvidia', 'NVIDIA A16', 'A16', true],
  [24, 'nvidia', 'Tesla T4', 'T4', true],
  [25, 'nvidia', 'Tesla V100-SXM2-16GB', 'V100', true],
  [26, 'nvidia', 'Tesla P100-SXM2-16GB', 'P100', true],
  [27, 'nvidia', 'NVIDIA RTX A6000', 'A6000', true],
  [28, 'nvidia', 'NVIDIA RTX A4000H', 'A4000', true],
  [29, 'nvidia', 'NVIDIA RTX A2000 12GB', 'A2000', false],
  [30, 'nvidia', 'NVIDIA RTX 6000 Ada Generation', 'RTX6000Ada', true],
  [31, 'nvidia', 'NVIDIA RTX 4000 Ada Generation', 'RTX4000Ada', true],
  [32, 'nvidia', 'NVIDIA RTX 4000 SFF Ada Generation', 'RTX4000SFFAda', false],
  [33, 'nvidia', 'NVIDIA GeForce RTX 4090', 'RTX4090', true],
  [34, 'nvidia', 'NVIDIA GeForce RTX 4090 D', 'RTX4090D', false],
  [35, 'nvidia', 'NVIDIA GeForce RTX 4060 Ti', 'RTX4060Ti', true],
  [36, 'nvidia', 'NVIDIA GeForce RTX 4070 Ti SUPER', 'RTX4070TiSUPER', true],
  [37, 'nvidia', 'NVIDIA GeForce RTX 2070 Super', 'RTX2070SUPER', true],
  [38, 'nvidia', 'NVIDIA GeForce RTX 5090', 'RTX5090', true],
  [39, 'nvidia', 'Quadro RTX 6000', 'RTX6000', true],
  [40, 'nvidia', 'Quadro RTX 8000', 'RTX8000', false],
  [41, 'nvidia', 'NVIDIA RTX PRO 6000 Blackwell Server Edition', 'RTXPRO6000BlackwellServerEdition', false],
  [42, 'nvidia', 'NVIDIA RTX PRO 4500 Blackwell', 'RTXPRO4500Blackwell', false],
  [43, 'nvidia', 'NVIDIA H20-3e', 'H20', false],
  [44, 'nvidia', 'NVIDIA GeForce RTX 3080 Ti Laptop GPU', 'RTX3080TiLaptopGPU', false],
  [45, 'amd', 'MI300X-O', 'MI300X', true],
  [46, 'amd', 'MI300A', 'MI300A', true],
  [47, 'amd', 'MI308X', 'MI308X', true],
  [48, 'amd', 'MI300XHF', 'MI300XHF', false],
  [49, 'amd', 'AMD Instinct MI300X HF', 'MI300X', true],
  [50, 'amd', 'AMD Instinct MI300X', 'MI300X', true],
  [51, 'amd', 'AMD Instinct MI300X VF', 'MI300X', true],
  [52, 'amd', 'AMD Instinct MI308X VF', 'MI308X', true],
  [53, 'amd', 'AMD Instinct MI325X', 'MI325X', true],
  [54, 'amd', 'AMD Instinct MI350X', 'MI350X', true],
  [55, 'amd', 'AMD Instinct MI355X', 'MI355X', true],
  [56, 'amd', 'AMD Instinct MI210', 'MI210', true],
  [57, 'amd', 'Instinct MI210', 'MI210', true],
  [58, 'amd', 'AMD INSTINCT MI250 (MCM) OAM AC MBA', 'MI250', true],
  [59, 'amd', 'AMD Instinct MI250X', 'MI250X', true],
  [60, 'amd', 'AMD Instinct MI250X / MI250', 'MI250X', true],
  [61, 'amd', 'AMD Instinct MI250X/MI250', 'AMD Instinct MI250X/MI250', false],
  [62, 'amd', 'AMD Radeon PRO V710', 'AMD Radeon PRO V710', false],
  [63, 'intel', 'HL-225', 'Gaudi2', true],
  [64, 'intel', 'HL-325L', 'Gaudi3', true],
]

const BY_VENDOR = { nvidia: normalizeNvidiaName, amd: normalizeAmdName, intel: normalizeIntelName }

for (const [row, vendor, reported, short, known] of NAME_ROWS) {
  test(`§3 row ${row}: ${vendor} ${JSON.stringify(reported)} → ${short}${known ? '' : ' (unknown)'}`, () => {
    assert.is(BY_VENDOR[vendor](reported), short)
    assert.is(normalizeGpuName(vendor, reported), short)
    if (vendor === 'nvidia') assert.is(normalizeGpuName(undefined, reported), short, 'a missing vendor is nvidia')
    assert.is(knownGpus(short).length > 0, known)
    assert.equal([...gpuVendorsOfName(short)], known ? [vendor] : [])
  })
}

// §3 rows 65–72: tt-smi board entries, grouped by the shim into devices.
interface Board { board_type: string, board_id: string, bus_id: string }
const pci = (i: number): string => `0000:${i.toString(16).padStart(2, '0')}:00.0`
const board = (board_type: string, board_id: string, bus_id: string): Board => ({ board_type, board_id, bus_id })
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

const TT_ROWS: Array<[number, string, Array<[Board[], Array<{ name: string, memory_gib: number }>]>, boolean]> = [
  [65, 'n150 L', [
    [[board('n150 L', '100014511708024', pci(4))], [{ name: 'n150', memory_gib: 12 }]],
  ], true],
  [66, 'n300 L plus n300 R', [
    [[board('n300 L', '010001851172e05b', pci(7)), board('n300 R', '010001851172e05b', 'N/A')], [{ name: 'n300', memory_gib: 24 }]],
  ], true],
  [67, 'tt-galaxy-wh L ×32', [
    [range(32).map(i => board('tt-galaxy-wh L', `0100018611703${(i >> 2).toString(16)}`, i % 4 === 0 ? pci(i + 1) : 'N/A')),
      range(32).map(() => ({ name: 'tt-galaxy-wh', memory_gib: 12 }))],
  ], true],
  [68, 'tt-galaxy-bh ×32', [
    [range(32).map(i => board('tt-galaxy-bh', `0000047311c1${i.toString(16).padStart(4, '0')}`, pci(i + 1))),
      range(32).map(() => ({ name: 'tt-galaxy-bh', memory_gib: 32 }))],
  ], true],
  [69, 'p100a / bh-scrappy / p100', ['p100a', 'bh-scrappy', 'p100'].map(t =>
    [[board(t, '0000043611722a1c', pci(1))], [{ name: 'p100a', memory_gib: 28 }]]), true],
  [70, 'p150a / p150b / p150c', ['p150a', 'p150b', 'p150c'].map(t =>
    [[board(t, '00000431317220f4', pci(1))], [{ name: 'p150', memory_gib: 32 }]]), true],
  [71, 'p300a / p300b / p300c', ['p300a', 'p300b', 'p300c'].flatMap((t): Array<[Board[], Array<{ name: string, memory_gib: number }>]> => [
    // Both chips on PCIe: two 32 GiB devices.
    [[board(t, '0000045131500e1b', pci(1)), board(t, '0000045131500e1b', pci(2))],
      [{ name: 'p300', memory_gib: 32 }, { name: 'p300', memory_gib: 32 }]],
    // One chip on PCIe, the other reached through it: one 64 GiB device.
    [[board(t, '0000045131500e1b', pci(1)), board(t, '0000045131500e1b', 'N/A')],
      [{ name: 'p300', memory_gib: 64 }]],
  ]), true],
  [72, 'e150, nb_cb, wh_4u', ['e150', 'nb_cb', 'wh_4u'].map(t =>
    [[board(t, '00000111111a0b0c', pci(1))], [{ name: t, memory_gib: 0 }]]), false],
]

for (const [row, label, cases, known] of TT_ROWS) {
  test(`§3 row ${row}: tt-smi ${label}`, () => {
    for (const [boards, devices] of cases) {
      assert.equal(tenstorrentDevices(boards), devices, JSON.stringify(boards.map(b => b.board_type)))
      for (const d of devices) {
        assert.is(knownGpus(d.name).length > 0, known)
        assert.is(normalizeGpuName('tenstorrent', d.name), d.name, 'the server keeps tenstorrent names')
        if (known) {
          assert.equal([...gpuVendorsOfName(d.name)], ['tenstorrent'])
          assert.ok(knownGpus(d.name)[0]!.memory_gib.includes(d.memory_gib), `gpuhunt knows ${d.name} with ${d.memory_gib} GiB`)
        }
      }
    }
  })
}

test('tenstorrent: two n300 boards are two 24 GiB devices, each R joining its own L', () => {
  const boards = [
    board('n300 L', 'aaaa', pci(1)), board('n300 L', 'bbbb', pci(2)),
    board('n300 R', 'bbbb', 'N/A'), board('n300 R', 'aaaa', 'N/A'),
  ]
  assert.equal(tenstorrentDevices(boards), [{ name: 'n300', memory_gib: 24 }, { name: 'n300', memory_gib: 24 }])
})

test('tenstorrent: an R chip with no L on its board adds nothing; a remote Blackhole chip with no host is dropped', () => {
  assert.equal(tenstorrentDevices([board('n300 R', 'aaaa', 'N/A')]), [])
  assert.equal(tenstorrentDevices([board('p300c', 'aaaa', 'N/A')]), [])
  assert.equal(tenstorrentDevices([board('p150a', 'aaaa', pci(1)), board('p300c', 'aaaa', 'N/A')]), [{ name: 'p150', memory_gib: 32 }], 'the name must match')
})

test('tenstorrent: unsuffixed Wormhole chips on one board join one device (old tt-smi)', () => {
  assert.equal(tenstorrentDevices([board('n300', 'aaaa', pci(1)), board('n300', 'aaaa', pci(2))]), [{ name: 'n300', memory_gib: 24 }])
})

test('tenstorrent: board types are trimmed around and inside the suffix', () => {
  assert.equal(tenstorrentDevices([board('  n300  L ', 'aaaa', pci(1)), board('n300 R', 'aaaa', ' n/a ')]), [{ name: 'n300', memory_gib: 24 }])
})

test('tenstorrent: devices are numbered in the shim\'s order, L chips before unsuffixed ones', () => {
  const boards = [board('p150a', 'cccc', pci(3)), board('n150 L', 'aaaa', pci(1)), board('p150b', 'dddd', pci(4))]
  assert.equal(tenstorrentDevices(boards).map(d => d.name), ['n150', 'p150', 'p150'])
})

// §4 worked examples, the 16 GiB window edges, and the half-to-even fallback.
const SNAP_ROWS: Array<[string, number, number]> = [
  ['H100NVL', 95830, 94],
  ['L40S', 46068, 48],
  ['A10G', 23028, 24],
  ['A10', 4096, 4],
  ['unknown', 8200.1, 8],
  ['T4', 15360, 16],
  ['MI300X', 196592, 192],
  ['Gaudi3', 131072, 128],
  ['Gaudi2', 98304, 96],
  ['GH200', 146081, 143],
  ['A100', 61440, 60],
  ['T4', 15237, 15],
  ['T4', 15238, 16],
  ['T4', 17530, 16],
  ['T4', 17531, 17],
  ['P100', 15237, 15],
  ['P100', 15238, 16],
  ['P100', 17530, 16],
  ['P100', 17531, 17],
  ['unknown', 2560, 2],
  ['unknown', 3584, 4],
  ['unknown', 2560.5, 3],
  ['unknown', 1536, 2],
  ['unknown', 512, 0],
  ['A100', 40960, 40],
  ['A100', 81559, 80],
  ['A100', 39000, 40],
  ['V100', 32510, 32],
  ['V100', 16160, 16],
  ['t4', 15360, 16],
  ['h100nvl', 95830, 94],
]

for (const [name, mib, gib] of SNAP_ROWS) {
  test(`§4 snapGpuMemoryGib(${name}, ${mib}) → ${gib}`, () => {
    assert.is(snapGpuMemoryGib(name, mib), gib)
  })
}

test('§4 a TPU name does not divide by zero: it rounds', () => {
  assert.is(snapGpuMemoryGib('v5litepod', 0), 0)
  assert.is(snapGpuMemoryGib('v6e', 32768), 32)
  assert.is(snapGpuMemoryGib('v5litepod-8', 131072), 128)
})

test('§1 step 3: old shims send "N MiB"; new ones send a number', () => {
  assert.is(parseReportedMemoryMib(81559), 81559)
  assert.is(parseReportedMemoryMib('81559 MiB'), 81559)
  assert.is(parseReportedMemoryMib('131072 MiB'), 131072)
  assert.is(parseReportedMemoryMib(' 16384mib '), 16384)
  assert.is(parseReportedMemoryMib('15360.5 MIB'), 15360.5)
  assert.is(parseReportedMemoryMib('24576'), 24576)
  for (const bad of ['', 'MiB', 'N/A', '0x10 MiB', '12 GiB']) {
    assert.throws(() => parseReportedMemoryMib(bad), (e: unknown) => e instanceof ConfigError, bad)
  }
  assert.throws(() => parseReportedMemoryMib(Number.NaN), (e: unknown) => e instanceof ConfigError)
})

test('§1: the server converts by vendor; tenstorrent and google names pass through', () => {
  assert.is(normalizeGpuName(null, 'NVIDIA H100 80GB HBM3'), 'H100')
  assert.is(normalizeGpuName('tenstorrent', 'p100'), 'p100')
  assert.is(normalizeGpuName('google', 'v5litepod-8'), 'v5litepod-8')
  assert.is(normalizeGpuName('amd', 'NVIDIA H100 80GB HBM3'), 'NVIDIA H100 80GB HBM3')
})

test('§2.1 nvidia: step order and letter case', () => {
  assert.is(normalizeNvidiaName('NVIDIA GeForce RTX 4080 super'), 'RTX4080SUPER')
  assert.is(normalizeNvidiaName('NVIDIA GeForce RTX 2060 SUPER'), 'RTX2060SUPER')
  assert.is(normalizeNvidiaName('NVIDIA A100-SXM4-80GB/2g.20gb'), 'A100', 'the token ends at /')
  assert.is(normalizeNvidiaName('nvidia h100'), 'nvidiah100', 'brand removal and step 5 are case-sensitive')
  assert.is(normalizeNvidiaName('NVIDIA RTX A'), 'A', 'RTX A with no digits: spaces removed')
  assert.is(normalizeNvidiaName('NVIDIA B200'), 'B200')
})

test('§2.2 amd: the MI300X-O fix-up is case-sensitive; other case is kept', () => {
  assert.is(normalizeAmdName('mi300x-o'), 'mi300x-o')
  assert.is(normalizeAmdName('amd instinct mi300x'), 'mi300x')
  assert.is(normalizeAmdName('AMD Instinct MI300X\tOAM'), 'MI300X')
  assert.is(normalizeAmdName('AMD Instinct MI300X\u00a0OAM'), 'AMD Instinct MI300X\u00a0OAM', 'only ASCII whitespace ends the token')
  assert.is(normalizeAmdName('NAVI32'), 'NAVI32')
  assert.is(normalizeAmdName('AMD Instinct MI300X-VF_2 x'), 'MI300X-VF_2')
})

test('§2.3 intel: prefixes in order; others kept', () => {
  assert.is(normalizeIntelName('HL-205'), 'Gaudi')
  assert.is(normalizeIntelName('HL-338'), 'Gaudi3')
  assert.is(normalizeIntelName('HL-1000'), 'HL-1000')
  assert.is(normalizeIntelName('hl-225'), 'hl-225')
})

test('knownGpus: case-insensitive, every entry, and a copy', () => {
  const a100 = knownGpus('a100')
  assert.equal(a100, [{ vendor: 'nvidia', name: 'A100', memory_gib: [40, 80], compute_capability: [8, 0] }])
  a100[0]!.memory_gib.push(1)
  assert.equal(knownGpus('A100')[0]!.memory_gib, [40, 80])
  assert.equal(knownGpus('MI300X'), [{ vendor: 'amd', name: 'MI300X', memory_gib: [192], compute_capability: null }])
  assert.equal(knownGpus('nope'), [])
})

test('§5.1 TPU names: <version>-<digits>, lowercased first, ASCII digits only', () => {
  const rows: Array<[string, boolean]> = [
    ['v3', false], ['v3-x', false], ['V3-64', true], ['v5e-8', false], ['v5litepod-8', true],
    ['v6e-256', true], ['v2-', false], ['v3-8-1', false], ['tpu-v3-8', false], ['v3-²', false], ['v3-٣', false],
  ]
  for (const [name, tpu] of rows) {
    assert.is(isTpuName(name), tpu, name)
    assert.equal([...gpuVendorsOfName(name)], tpu ? ['google'] : [], name)
  }
})

test('§5.1 vendor of one name: exact names ignoring case; p100a is tenstorrent, P100 nvidia', () => {
  assert.equal([...gpuVendorsOfName('p100a')], ['tenstorrent'])
  assert.equal([...gpuVendorsOfName('P100')], ['nvidia'])
  assert.equal([...gpuVendorsOfName('P100A')], ['tenstorrent'])
  assert.equal([...gpuVendorsOfName('mi300x')], ['amd'])
  assert.equal([...gpuVendorsOfName('GAUDI2')], ['intel'])
  assert.equal([...gpuVendorsOfName('UNKNOWN1000')], [])
  assert.equal([...gpuVendorsOfName('v5litepod')], [], 'a bare TPU version is no name')
})

test('§5.2 case 4: one shared vendor only when every name is known', () => {
  const rows: Array<[string[], GpuVendor | null]> = [
    [['H100', 'MI300X'], null],
    [['H100', 'UNKNOWN1000'], null],
    [['UNKNOWN1', 'UNKNOWN2'], null],
    [[], null],
    [['H100'], 'nvidia'],
    [['h100', 'A100', 'RTX4090'], 'nvidia'],
    [['MI300X', 'mi325x'], 'amd'],
    [['Gaudi2', 'Gaudi3'], 'intel'],
    [['p100a', 'n300'], 'tenstorrent'],
    [['P100'], 'nvidia'],
    [['v5litepod-8', 'V6E-16'], 'google'],
    [['v5litepod-8', 'H100'], null],
  ]
  for (const [names, vendor] of rows) assert.is(gpuVendorOfNames(names), vendor, names.join(','))
})

test('§6 compute capability: from the NVIDIA table, any case', () => {
  assert.equal(computeCapabilityOf('H100'), [9, 0])
  assert.equal(computeCapabilityOf('rtx5090'), [12, 0])
  assert.is(computeCapabilityOf('MI300X'), null)
  assert.is(computeCapabilityOf('B300SXM6AC'), null)
})

test('§6 meetsComputeCapability: known NVIDIA only, major then minor', () => {
  const rows: Array<[GpuVendor | null, string, [number, number], boolean, string]> = [
    ['nvidia', 'B300SXM6AC', [7, 0], false, 'unknown name fails'],
    ['nvidia', 'UNKNOWN1000', [1, 0], false, 'unknown name fails'],
    ['amd', 'MI300X', [1, 0], false, 'AMD fails'],
    ['google', 'H100', [1, 0], false, 'another vendor fails even with an NVIDIA name'],
    ['nvidia', 'T4', [7, 5], true, 'equal passes'],
    ['nvidia', 'T4', [8, 0], false, 'lower fails'],
    ['nvidia', 'A10', [8, 9], false, 'same major, lower minor fails'],
    ['nvidia', 'L4', [8, 6], true, 'same major, higher minor passes'],
    ['nvidia', 'RTX5090', [8, 9], true, 'higher major passes despite a lower minor'],
    ['nvidia', 'A100', [9, 0], false, 'lower major fails despite minor'],
    ['nvidia', 'h100', [9, 0], true, 'any letter case'],
    [null, 'H100', [9, 0], true, 'a missing vendor is nvidia'],
  ]
  for (const [vendor, name, required, ok, why] of rows) {
    assert.is(meetsComputeCapability({ vendor, name }, required), ok, `${vendor} ${name} ≥ ${required.join('.')}: ${why}`)
  }
})

test('§7 item 7: the default image works with nvidia and google only', () => {
  assert.ok(defaultImageSupports('nvidia'))
  assert.ok(defaultImageSupports('google'))
  assert.not.ok(defaultImageSupports('amd'))
  assert.not.ok(defaultImageSupports('intel'))
  assert.not.ok(defaultImageSupports('tenstorrent'))
})

test.run()
