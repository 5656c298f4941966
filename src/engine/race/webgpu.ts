// WebGPU through the `webgpu` package (Dawn's node bindings): finding an adapter, opening a device,
// and the errors that say why not. The package is imported lazily, so a platform without a Dawn
// binary costs an error here and never breaks importing the engine.
import type { create as createGpu } from 'webgpu'
import { CordexError, errorMessage } from '../../util/errors.js'

export interface WebGpuOptions {
  /**
   * Options for Dawn's `create()`: `backend=vulkan|metal|d3d12|opengl|opengles|…`, `adapter=NAME`,
   * `enable-dawn-features=a,b`, `disable-dawn-features=a,b`. Default none (Dawn picks).
   */
  dawnFlags?: string[]
  /**
   * Requested feature level. Default `core`, or `compatibility` when `dawnFlags` select an OpenGL
   * backend (Dawn's OpenGL backend offers nothing else).
   */
  featureLevel?: 'core' | 'compatibility'
  powerPreference?: 'low-power' | 'high-performance'
}

export type WebGpuErrorCode = 'WEBGPU_UNAVAILABLE' | 'WEBGPU_FAILED'

/** WebGPU could not be used, or failed while running. */
export class WebGpuError extends CordexError<WebGpuErrorCode, { dawnFlags?: string[] }> {}

/** No WebGPU here: the `webgpu` package did not load, or it offers no adapter (no GPU, no driver). */
export class WebGpuUnavailableError extends WebGpuError {
  constructor(message: string, meta: { dawnFlags?: string[] } = {}, options?: { cause?: unknown }) {
    super('WEBGPU_UNAVAILABLE', message, meta, options)
    this.name = 'WebGpuUnavailableError'
  }
}

/** An adapter with the `GPU` object it came from (Dawn lives as long as that object is referenced). */
export interface WebGpuAdapter {
  gpu: GPU
  adapter: GPUAdapter
}

let loading: Promise<{ create: typeof createGpu }> | undefined

function loadWebgpu(): Promise<{ create: typeof createGpu }> {
  loading ??= import('webgpu')
  return loading
}

function usesOpenGl(flags: readonly string[]): boolean {
  return flags.some((f) => /^backend=opengl(es)?$/i.test(f.trim()))
}

/**
 * An adapter, or a `WebGpuUnavailableError` saying why there is none. With an OpenGL backend and
 * no `EGL_PLATFORM` set, this sets `EGL_PLATFORM=surfaceless` (Mesa needs it without a display).
 */
export async function requestWebGpuAdapter(opts: WebGpuOptions = {}): Promise<WebGpuAdapter> {
  const dawnFlags = opts.dawnFlags ?? []
  const meta = { dawnFlags }
  let mod: { create: typeof createGpu }
  try {
    mod = await loadWebgpu()
  } catch (err) {
    throw new WebGpuUnavailableError(`the webgpu package did not load: ${errorMessage(err)}`, meta, {
      cause: err,
    })
  }
  const opengl = usesOpenGl(dawnFlags)
  if (opengl && process.env.EGL_PLATFORM === undefined) process.env.EGL_PLATFORM = 'surfaceless'
  let gpu: GPU
  let adapter: GPUAdapter | null
  try {
    gpu = mod.create(dawnFlags)
    adapter = await gpu.requestAdapter({
      featureLevel: opts.featureLevel ?? (opengl ? 'compatibility' : 'core'),
      ...(opts.powerPreference !== undefined ? { powerPreference: opts.powerPreference } : {}),
    })
  } catch (err) {
    throw new WebGpuUnavailableError(`no WebGPU adapter: ${errorMessage(err)}`, meta, { cause: err })
  }
  if (adapter === null) {
    throw new WebGpuUnavailableError(
      `no WebGPU adapter (no GPU or no driver Dawn can use${dawnFlags.length > 0 ? `, flags ${dawnFlags.join(' ')}` : ''})`,
      meta,
    )
  }
  return { gpu, adapter }
}

/** Whether a WebGPU adapter can be had with these options. Never throws. */
export async function webgpuAvailable(opts: WebGpuOptions = {}): Promise<boolean> {
  try {
    await requestWebGpuAdapter(opts)
    return true
  } catch {
    return false
  }
}
