// What `dstack apply` and the app's Apply screen both do with a configuration file before the
// daemon sees it: read it with the profile in force (every mistake with its line), and make the
// submission the daemon takes. One piece of code for both, so a file the screen accepts is one
// the command accepts.
import { parseRunConfiguration, selectProfile, type RunConfiguration } from '../daemon/config/index.ts'
import type { ClientMethods } from '../daemon/api/methods.ts'
import type { RegistryAuth } from '../daemon/agent/registry-auth.ts'
import type { CodeFile } from './code.ts'
import { readInput } from './format.ts'

export interface LoadOptions {
  /** Where profiles.yml is looked for (`.dstack/profiles.yml` under it). */
  cwd: string
  /** `--profile NAME`; else DSTACK_PROFILE, else the default profile. */
  profile?: string
  /** `--no-profile` (or DSTACK_NO_PROFILE). */
  noProfile?: boolean
}

/** The run configuration in `file` (`-`: standard input); a ConfigError lists every mistake with file:line:col. */
export function loadRunConfiguration (file: string, opts: LoadOptions & { text?: string }): RunConfiguration {
  const text = opts.text ?? readInput(file)
  const profile = selectProfile({
    cwd: opts.cwd,
    name: opts.profile ?? process.env.DSTACK_PROFILE ?? null,
    disabled: opts.noProfile === true || Boolean(process.env.DSTACK_NO_PROFILE)
  })
  return parseRunConfiguration(text, { file: file === '-' ? '<stdin>' : file, profile })
}

export type Submission = ClientMethods['runs.submit']['params']

/** The params of `runs.submit` / `runs.apply` for a resolved configuration and its code. */
export function submissionOf (a: {
  configuration: RunConfiguration, env: Record<string, string>, registryAuth?: RegistryAuth | null, configurationPath: string | null,
  workflow?: Submission['workflow'], code: CodeFile[], force: boolean
}): Submission {
  return {
    configuration: a.configuration, env: a.env, registry_auth: a.registryAuth ?? null, configuration_path: a.configurationPath, workflow: a.workflow ?? null, force: a.force, code: a.code
  }
}
