import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { jobDevices } from '../../../daemon/agent/devices.ts'

const host = [
  { vendor: 'nvidia', index: 0, uuid: 'GPU-a' },
  { vendor: 'nvidia', index: 1, uuid: 'GPU-b' },
  { vendor: 'amd', index: 0 }
]

test('gpu_slots are positions in the host\'s GPU list, mapped to vendor, index and UUID in slot order', () => {
  assert.equal(jobDevices(host, [1]), [{ vendor: 'nvidia', index: 1, uuid: 'GPU-b' }])
  assert.equal(jobDevices(host, [2, 0]), [{ vendor: 'amd', index: 0 }, { vendor: 'nvidia', index: 0, uuid: 'GPU-a' }])
})

test('no slots: no devices', () => {
  assert.equal(jobDevices(host, []), [])
  assert.equal(jobDevices([], []), [])
})

test('a slot the host does not have is an error naming it', () => {
  assert.throws(() => jobDevices(host, [0, 3]), /placement.gpu_slots: slot 3 is not a GPU of this host \(it has 3\)/)
})

test.run()
