// Apply: pick a configuration (a finder over the working directory, fuzzy; or type a path),
// see its mistakes inline at their lines, or its plan (dstack apply's properties and offers),
// confirm, and land on the run's logs. Reading and submitting are `dstack apply`'s own pieces
// (tui/submission.ts, resolveForSubmit, collectCode). Disabled in read-only mode.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { Box, Text } from 'ink'
import { useEffect, useMemo, useState, type ReactElement } from 'react'
import { ConfigError, formatDuration, formatIssue, type ConfigIssue, type RunConfiguration } from '../../../daemon/config/index.ts'
import type { Plan } from '../../../daemon/api/views.ts'
import { resolveForSubmit } from '../../commands/apply.ts'
import { collectCode } from '../../code.ts'
import { errorText } from '../../format.ts'
import { offerListing, planProperties, propertyLine } from '../../listings.ts'
import { loadRunConfiguration, submissionOf, type Submission } from '../../submission.ts'
import type { Screen, ScreenProps } from '../screen.ts'
import { fit, Table } from '../components/table.tsx'
import { cellsOf, columnsOf, rowsOf } from '../components/listing.ts'
import { findConfigurations } from '../data/configurations.ts'
import { passes } from '../state/filter.ts'
import { useKeys } from '../state/keys.ts'
import { fuzzyFilter } from '../state/fuzzy.ts'

type Stage =
  | { kind: 'pick' }
  | { kind: 'checking', file: string }
  | { kind: 'invalid', file: string, issues: ConfigIssue[], text: string, message: string }
  | { kind: 'plan', file: string, configuration: RunConfiguration, plan: Plan, submission: Submission }
  | { kind: 'submitting', file: string }
  | { kind: 'failed', file: string, message: string }

/** What the daemon is asked for: the configuration read as `dstack apply` reads it, its env resolved, its code collected. */
async function prepare (file: string, cwd: string): Promise<{ configuration: RunConfiguration, submission: Submission }> {
  const parsed = loadRunConfiguration(file, { cwd })
  const resolved = resolveForSubmit(parsed, [], [])
  const code = await collectCode(parsed, dirname(resolve(cwd, file)))
  return {
    configuration: resolved.configuration,
    submission: submissionOf({ configuration: resolved.configuration, env: resolved.env, registryAuth: resolved.registryAuth, configurationPath: resolve(cwd, file), code, force: false })
  }
}

/** The file's lines around its mistakes, each mistake under its line: `  12 │ gpu: A100:2:3` then `     ╰ resources.gpu: …`. */
export function issueLines (text: string, issues: ConfigIssue[], room: number): Array<{ text: string, bad: boolean }> {
  const lines = text.split('\n')
  const at = new Map<number, ConfigIssue[]>()
  for (const i of issues) if (i.line !== undefined) at.set(i.line, [...(at.get(i.line) ?? []), i])
  const first = Math.min(...[...at.keys(), lines.length])
  const start = Math.max(1, first - 2)
  const out: Array<{ text: string, bad: boolean }> = []
  const gutter = String(lines.length).length
  for (let n = start; n <= lines.length && out.length < room; n++) {
    out.push({ text: `${String(n).padStart(gutter + 2)} │ ${lines[n - 1]}`, bad: at.has(n) })
    for (const i of at.get(n) ?? []) out.push({ text: `${' '.repeat(gutter + 2)} ╰ ${formatIssue({ ...i, line: undefined })}`, bad: true })
  }
  return out.slice(0, room)
}

function Apply (props: ScreenProps): ReactElement {
  const { client, width, height, filter, active, readonly, go, flash } = props
  const cwd = process.cwd()
  const [files, setFiles] = useState<string[] | null>(null)
  const [stage, setStage] = useState<Stage>({ kind: 'pick' })
  const [query, setQuery] = useState<string | null>(null)
  const [cursor, setCursor] = useState(0)

  useEffect(() => {
    let live = true
    findConfigurations(cwd).then(f => { if (live) setFiles(f) }, () => { if (live) setFiles([]) })
    return () => { live = false }
  }, [cwd])

  const check = (file: string): void => {
    setStage({ kind: 'checking', file })
    void (async () => {
      let prepared
      try {
        prepared = await prepare(file, cwd)
      } catch (err) {
        if (err instanceof ConfigError) {
          let text = ''
          try { text = readFileSync(resolve(cwd, file), 'utf8') } catch { /* the issues say enough */ }
          setStage({ kind: 'invalid', file, issues: err.issues, text, message: err.message })
        } else setStage({ kind: 'failed', file, message: errorText(err as Error) })
        return
      }
      try {
        const plan = await client.call('runs.plan', { configuration: prepared.configuration })
        setStage({ kind: 'plan', file, plan, ...prepared })
      } catch (err) {
        setStage({ kind: 'failed', file, message: (err as Error).message })
      }
    })()
  }

  useEffect(() => { if (props.arg !== undefined && !readonly) check(props.arg) }, [props.arg]) // eslint-disable-line react-hooks/exhaustive-deps

  const submit = (s: Extract<Stage, { kind: 'plan' }>): void => {
    const existing = s.plan.existing
    if (existing?.kind === 'unchanged') { flash(`run ${existing.name} is ${existing.status} and nothing changed`); return }
    if (existing?.kind === 'impossible') { flash(`cannot override active run ${existing.name}: stop it first`, 'error'); return }
    setStage({ kind: 'submitting', file: s.file })
    client.call('runs.submit', s.submission).then(
      ({ run, action }) => {
        flash(`run ${run.name} ${action}`)
        setStage({ kind: 'pick' })
        go({ screen: 'logs', arg: run.name })
      },
      (err: Error) => setStage({ kind: 'failed', file: s.file, message: err.message })
    )
  }

  const candidates = useMemo(() => {
    const all = (files ?? []).filter(f => passes(filter, f))
    return query === null || query === '' ? all : fuzzyFilter(query, all)
  }, [files, filter, query])
  const selected = Math.max(0, Math.min(cursor, candidates.length - 1))

  const closeQuery = (): void => { setQuery(null); props.capture?.(false) }
  // Through useKeys (state/keys.ts): a key that comes right after a render still reaches this
  // handler, with the finder's rows and the stage of now.
  useKeys((input, key) => {
    if (query !== null) {
      if (key.escape) closeQuery()
      else if (key.return) {
        const typed = query.trim()
        closeQuery()
        let exists = false
        try { readFileSync(resolve(cwd, typed)); exists = typed !== '' } catch { /* not a path: the best match */ }
        const file = exists ? typed : candidates[selected]
        if (file === undefined) flash(`no configuration matches ${JSON.stringify(typed)}`, 'error')
        else check(file)
      } else if (key.backspace || key.delete) setQuery(q => (q ?? '').slice(0, -1))
      else if (key.upArrow) setCursor(selected - 1)
      else if (key.downArrow) setCursor(selected + 1)
      else if (!key.ctrl && !key.meta && input !== '' && !/[\x00-\x1f]/.test(input)) { setQuery(q => (q ?? '') + input); setCursor(0) }
      return
    }
    if (stage.kind === 'pick') {
      if (key.upArrow || input === 'k') setCursor(selected - 1)
      else if (key.downArrow || input === 'j') setCursor(selected + 1)
      else if (input === 'g') setCursor(0)
      else if (input === 'G') setCursor(candidates.length - 1)
      else if (key.return && candidates[selected] !== undefined) check(candidates[selected]!)
      else if (input === 'p') { setQuery(''); props.capture?.(true) }
      return
    }
    if (input === 'b') { setStage({ kind: 'pick' }); return }
    if (input === 'r' && 'file' in stage) { check(stage.file); return }
    if (stage.kind === 'plan' && (input === 'y' || key.return)) submit(stage)
  }, { isActive: active && !readonly })

  if (readonly) {
    return <Box width={width} height={height}><Text dimColor wrap='truncate'>{fit('Apply is disabled in read-only mode', width)}</Text></Box>
  }

  const lines: ReactElement[] = []
  const say = (text: string, style: { color?: string, dim?: boolean, bold?: boolean } = {}): void => {
    lines.push(<Text key={lines.length} color={style.color} dimColor={style.dim} bold={style.bold} wrap='truncate'>{fit(text, width)}</Text>)
  }
  let body: ReactElement | null = null
  switch (stage.kind) {
    case 'pick': {
      say(query === null ? `Configurations under ${cwd}  (enter: plan it, p: type a path or filter)` : `path or filter: ${query}█`, { bold: query !== null })
      if (files === null) say('Looking for configurations…', { dim: true })
      else if (files.length === 0) say('No .dstack.yml here: p types a path', { dim: true })
      else if (candidates.length === 0) say(`No configuration matches (${files.length} found)`, { dim: true })
      const room = Math.max(0, height - 1)
      const first = Math.max(0, Math.min(selected - Math.floor(room / 2), candidates.length - room))
      candidates.slice(first, first + room).forEach((f, i) => {
        lines.push(<Text key={`f${first + i}`} inverse={first + i === selected} wrap='truncate'>{fit(f, width)}</Text>)
      })
      break
    }
    case 'checking': say(`Checking ${stage.file}…`, { dim: true }); break
    case 'submitting': say(`Submitting ${stage.file}…`, { dim: true }); break
    case 'failed':
      say(`${stage.file}: ${stage.message}`, { color: 'red' })
      say('r: try again   b: back to the finder', { dim: true })
      break
    case 'invalid': {
      say(`${stage.file}: ${stage.issues.length} mistake${stage.issues.length === 1 ? '' : 's'}  (fix it, then r; b: back)`, { color: 'red', bold: true })
      const located = stage.issues.filter(i => i.line !== undefined)
      for (const i of stage.issues.filter(i => i.line === undefined)) say(`  ${formatIssue(i)}`, { color: 'red' })
      if (located.length > 0 && stage.text !== '') {
        for (const l of issueLines(stage.text, located, Math.max(0, height - lines.length))) say(l.text, l.bad ? { color: 'red' } : {})
      } else if (located.length > 0) for (const m of stage.message.split('\n')) say(m, { color: 'red' })
      break
    }
    case 'plan': {
      for (const p of planProperties(stage.configuration, stage.plan, formatDuration)) say(propertyLine(p))
      say('')
      const e = stage.plan.existing
      const question = e ? e.kind === 'impossible' ? `Cannot override active run ${e.name}: stop it first (b: back)` : e.kind === 'unchanged' ? `Run ${e.name} is ${e.status} and nothing changed (b: back)` : `Update the run ${e.name}? (changes: ${e.changes.join(', ')})  y: yes  b: back` : `Submit ${stage.configuration.name ? `the run ${stage.configuration.name}` : 'a new run'}?  y/enter: yes  b: back`
      const room = Math.max(0, height - lines.length - 2)
      if (stage.plan.offers.length === 0) {
        say('No offers match the requirements.', { color: 'red' })
        for (const r of stage.plan.rejected.slice(0, Math.max(0, room - 1))) say(`  ${r.instance}: ${r.reason}`, { dim: true })
      } else {
        const listing = offerListing(stage.plan.offers)
        const columns = columnsOf<typeof stage.plan.offers[number]>(listing.headers, { RESOURCES: { grow: true } })
        const rows = rowsOf(stage.plan.offers, listing, { pattern: null, invert: false })
        const tableHeight = Math.min(rows.length + 1, room)
        body = <Table columns={columns} rows={rows} cells={cellsOf} width={width} height={tableHeight} selected={-1} offset={0} focused={false} />
      }
      return (
        <Box flexDirection='column' width={width} height={height} overflow='hidden'>
          {lines}
          {body}
          <Text> </Text>
          <Text bold color={e?.kind === 'impossible' ? 'red' : 'yellow'} wrap='truncate'>{fit(question, width)}</Text>
        </Box>
      )
    }
  }
  return <Box flexDirection='column' width={width} height={height} overflow='hidden'>{lines.slice(0, height)}</Box>
}

export const applyScreen: Screen = {
  name: 'apply',
  title: 'Apply',
  keys: [
    { key: 'enter', help: 'plan the selected configuration; on a plan: submit' },
    { key: 'p', help: 'type a path, or filter the configurations (fuzzy)' },
    { key: 'y', help: 'submit the plan (then its logs)' },
    { key: 'r', help: 'check the file again (after fixing it)' },
    { key: 'b', help: 'back to the finder' }
  ],
  Component: Apply
}
