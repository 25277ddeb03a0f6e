// Assertions the configuration suites share.
import * as assert from 'uvu/assert'
import { ConfigError } from '../../../daemon/config/errors.ts'

/** `fn` throws a ConfigError with an issue at `path` whose message matches. */
export function fails (fn: () => unknown, message: RegExp, path: Array<string | number> = []): void {
  let caught: unknown
  try { fn() } catch (err) { caught = err }
  if (caught === undefined) assert.unreachable(`expected a ConfigError matching ${message}`)
  assert.instance(caught, ConfigError)
  const issues = (caught as ConfigError).issues
  assert.ok(issues.some(i => message.test(i.message) && JSON.stringify(i.path) === JSON.stringify(path)),
    `${JSON.stringify(issues)} has no issue at ${JSON.stringify(path)} matching ${message}`)
}

/** The result, or undefined when `fn` throws a ConfigError; anything else thrown fails the test. */
export function orConfigError<T> (fn: () => T): T | undefined {
  try { return fn() } catch (err) {
    if (err instanceof ConfigError) return undefined
    throw err
  }
}

/** `f` throws a ConfigError whose whole message matches; returns it for further checks. */
export function throwsConfig (f: () => unknown, pattern: RegExp, name: string): ConfigError {
  try {
    f()
  } catch (err) {
    assert.instance(err, ConfigError, `${name}: not a ConfigError`)
    assert.match((err as Error).message, pattern, `${name}: message`)
    return err as ConfigError
  }
  return assert.unreachable(`${name}: expected an error`) as never
}
