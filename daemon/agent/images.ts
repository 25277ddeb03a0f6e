// Which image a container job runs in (SPEC §1.2): its own `image`; dstack's DinD image for
// `docker: true`; for `python: 3.X` the table's image for that version, else the base image
// (which sets that python up with uv at start); dstack's devel image for `nvcc: true`; the base
// image otherwise. The daemon's table (`dstackd run --default-image IMAGE --image-table FILE`)
// replaces any of these, so hosts without a registry can name images built locally.
import { readFile } from 'node:fs/promises'
import { PYTHON_VERSIONS } from '../config/run.ts'

/** dstack's base image version at the SPEC's commit (src/dstack/version.py, docker_base_image). */
export const BASE_IMAGE_VERSION = '0.14'

export interface ImageTable {
  /** Jobs that name no image, python, nvcc or docker. */
  default: string
  /** `nvcc: true`: an image with the CUDA compiler (dstack's devel variant). */
  nvcc: string
  /** `docker: true`: an image that runs an engine inside the job. */
  docker: string
  /** `python: 3.X` → an image with that python; a version not listed runs in the default (or nvcc) image. */
  python: Record<string, string>
}

export interface ImageSource {
  image?: string | null
  python?: string | null
  nvcc?: boolean | null
  docker?: boolean | null
}

export interface ImageChoice {
  image: string
  /** Why this image, in words for `ps -v` and the log. */
  why: string
  /**
   * The python version the job sets up inside the image at start (`uv venv -p VERSION`, as
   * dstack's base image does), when `python` was asked for and the image was not chosen for
   * it; null otherwise.
   */
  python: string | null
}

export function dstackImageTable (): ImageTable {
  return {
    default: `dstackai/base:${BASE_IMAGE_VERSION}-base-ubuntu24.04`,
    nvcc: `dstackai/base:${BASE_IMAGE_VERSION}-devel-ubuntu24.04`,
    docker: 'dstackai/dind',
    python: {}
  }
}

/** The image for a job (or a group of one) from its configuration and the daemon's table. Pure. */
export function chooseImage (c: ImageSource, table: ImageTable): ImageChoice {
  if (c.image) return { image: c.image, why: 'the configuration\'s image', python: null }
  if (c.docker === true) return { image: table.docker, why: 'docker: true (an engine inside the job)', python: null }
  const python = c.python ?? null
  if (python !== null && c.nvcc !== true && table.python[python] !== undefined) {
    return { image: table.python[python]!, why: `python: ${python} (this daemon's image for it)`, python: null }
  }
  if (c.nvcc === true) return { image: table.nvcc, why: `nvcc: true (the devel image)${python ? `, python ${python} set up with uv` : ''}`, python }
  if (python !== null) return { image: table.default, why: `python: ${python}, set up with uv in the default image`, python }
  return { image: table.default, why: 'the default image', python: null }
}

const IMAGE = /^[^\s]+$/

function imageAt (where: string, v: unknown): string {
  if (typeof v !== 'string' || !IMAGE.test(v)) throw new Error(`${where}: expected an image name (no spaces), got ${JSON.stringify(v)}`)
  return v
}

/**
 * A table file's content (JSON, or YAML) over `base`: `{"default": IMG, "nvcc": IMG, "docker": IMG,
 * "python": {"3.12": IMG}}`, every key optional. Throws naming the file and the key.
 */
export function parseImageTable (text: string, file: string, base: ImageTable, parse: (text: string) => unknown = JSON.parse): ImageTable {
  let raw: unknown
  try {
    raw = parse(text)
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`)
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: expected a mapping with any of default, nvcc, docker, python`)
  const out: ImageTable = { ...base, python: { ...base.python } }
  for (const [key, v] of Object.entries(raw)) {
    if (key === 'default' || key === 'nvcc' || key === 'docker') out[key] = imageAt(`${file}: ${key}`, v)
    else if (key === 'python') {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${file}: python: expected a mapping of versions to images, e.g. {"3.12": "python:3.12-slim"}`)
      for (const [version, image] of Object.entries(v)) {
        if (!(PYTHON_VERSIONS as readonly string[]).includes(version)) throw new Error(`${file}: python: unsupported version ${JSON.stringify(version)}: use one of ${PYTHON_VERSIONS.join(', ')} (quoted: YAML reads 3.10 as 3.1)`)
        out.python[version] = imageAt(`${file}: python.${version}`, image)
      }
    } else throw new Error(`${file}: unknown key ${JSON.stringify(key)}: expected default, nvcc, docker or python`)
  }
  return out
}

/** The daemon's table: dstack's images, then the file's entries, then --default-image. */
export async function loadImageTable (opts: { defaultImage?: string, file?: string }): Promise<ImageTable> {
  let table = dstackImageTable()
  if (opts.file !== undefined) {
    let text: string
    try {
      text = await readFile(opts.file, 'utf8')
    } catch (err) {
      throw new Error(`--image-table ${opts.file}: ${(err as Error).message}`)
    }
    const { parse } = await import('yaml')
    table = parseImageTable(text, `--image-table ${opts.file}`, table, parse)
  }
  if (opts.defaultImage !== undefined) table.default = imageAt('--default-image', opts.defaultImage)
  return table
}
