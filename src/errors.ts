// Typed errors. Every error says what was expected, what was found, and what to do (hint).
// The CLI prints `error: <what>: <why> (<hint>)` for any EchoClipError and never a stack trace.

export interface ErrorOptions {
  /** What the user can do about it. */
  hint?: string;
  cause?: unknown;
}

export class EchoClipError extends Error {
  /** Short machine-readable category, e.g. "weights-format". */
  readonly code: string = 'echoclip';
  /** The subject of the error, e.g. a file path or tensor name ("what" in the CLI line). */
  readonly what: string;
  readonly hint: string | undefined;

  constructor(what: string, why: string, options: ErrorOptions = {}) {
    super(`${what}: ${why}${options.hint ? ` (${options.hint})` : ''}`, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.what = what;
    this.hint = options.hint;
  }
}

/** No WebGPU adapter, or one that failed the known-answer check. */
export class DeviceUnavailableError extends EchoClipError { override readonly code = 'device-unavailable'; }
/** The GPU device was lost (driver reset, destroy(), out of memory on some drivers). */
export class DeviceLostError extends EchoClipError { override readonly code = 'device-lost'; }
/** An allocation failed on the GPU. */
export class GpuOutOfMemoryError extends EchoClipError { override readonly code = 'gpu-out-of-memory'; }
/** A WGSL shader or pipeline failed to compile/validate (a bug in a kernel or an unsupported feature). */
export class ShaderError extends EchoClipError { override readonly code = 'shader'; }
/** A tensor shape or dtype does not fit the operation. */
export class ShapeError extends EchoClipError { override readonly code = 'shape'; }
/** A request exceeds a device limit (buffer size, binding size, workgroups). */
export class LimitError extends EchoClipError { override readonly code = 'limit'; }
/** Malformed or unexpected weights file (safetensors, PyTorch zip-pickle, config). */
export class WeightsFormatError extends EchoClipError { override readonly code = 'weights-format'; }
/** State dict does not fit the model: missing/unexpected keys, wrong shapes or dtypes. */
export class WeightsMismatchError extends EchoClipError { override readonly code = 'weights-mismatch'; }
/** Invalid open_clip_config.json or model configuration. */
export class ConfigError extends EchoClipError { override readonly code = 'config'; }
/** Download or cache failure (network, checksum, partial file). */
export class DownloadError extends EchoClipError { override readonly code = 'download'; }
/** Text the tokenizer rejects (as the reference does), or bad vocabulary files. */
export class TokenizerError extends EchoClipError { override readonly code = 'tokenizer'; }
/** Unreadable, corrupt or unsupported video/image input. */
export class VideoDecodeError extends EchoClipError { override readonly code = 'video-decode'; }
/** Bad command-line usage or bad input file for a command. */
export class UsageError extends EchoClipError { override readonly code = 'usage'; }
/** An unreadable per-adapter tuning cache file (never fatal: the file is ignored with a warning). */
export class TuningCacheError extends EchoClipError { override readonly code = 'tuning-cache'; }
/** An archive index (src/index-archive) is damaged: a truncated shard, an edited manifest line, a missing file. */
export class IndexFormatError extends EchoClipError { override readonly code = 'index-format'; }
/** Index parts that cannot be combined: different weights, preprocessing, storage or patient salt. */
export class IndexMismatchError extends EchoClipError { override readonly code = 'index-mismatch'; }
