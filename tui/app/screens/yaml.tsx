// A run's configuration as YAML (`y` on Runs): what was applied, with defaults filled in.
import { useEffect, useState, type ReactElement } from 'react'
import type { Screen, ScreenProps } from '../screen.ts'
import { Lines } from '../components/lines.tsx'
import { useCall } from '../data/stream.ts'

function YamlView (props: ScreenProps): ReactElement {
  const detail = useCall(props.client, 'runs.get', { name: props.arg ?? '' })
  const [lines, setLines] = useState<string[]>([])
  useEffect(() => {
    if (detail.data === undefined) return
    let live = true
    // yaml is loaded when a YAML is shown, as the commands load it.
    void import('yaml').then(({ stringify }) => { if (live) setLines(stringify(detail.data!.configuration).trimEnd().split('\n')) })
    return () => { live = false }
  }, [detail.data])
  return <Lines lines={lines} width={props.width} height={props.height} filter={props.filter} active={props.active} empty={detail.error ?? 'loading…'} />
}

export const yamlScreen: Screen = {
  name: 'yaml',
  aliases: ['config'],
  title: 'YAML',
  keys: [{ key: '↑↓ pgup pgdn g G', help: 'scroll' }],
  Component: YamlView
}
