// H.264 / HEVC / VP8 / VP9 / AV1 pictures through WebCodecs' VideoDecoder (browsers). Pictures
// come out in display order (the decoder's output order); each is converted to 8-bit RGB by the
// browser (drawImage onto an OffscreenCanvas, which applies the stream's colour space). Node and
// Deno have no VideoDecoder: a typed error names a transcoding route instead.

import { VideoDecodeError } from '../../errors.js';
import type { EncodedStream } from '../container.js';

const NAMES: Record<EncodedStream['codec'], string> = { h264: 'H.264', hevc: 'HEVC', vp8: 'VP8', vp9: 'VP9', av1: 'AV1' };

export function hasWebCodecs(): boolean {
  return typeof (globalThis as { VideoDecoder?: unknown }).VideoDecoder === 'function';
}

/** The error for a runtime without WebCodecs, naming how to get a decodable file. */
export function noWebCodecsError(stream: EncodedStream, container: string, label: string): VideoDecodeError {
  const what = NAMES[stream.codec];
  const route = container === 'dicom'
    ? 'extract and transcode the stream: `gdcmraw -i IN.dcm -o clip.bin && ffmpeg -i clip.bin -c:v mjpeg -q:v 2 OUT.avi`'
    : '`ffmpeg -i IN -c:v mjpeg -q:v 2 OUT.avi`';
  return new VideoDecodeError(label, `${what} video (${stream.codecString}) needs WebCodecs' VideoDecoder, which this runtime lacks (it exists in browsers only)`, {
    hint: `transcode to Motion-JPEG: ${route}; or decode it in a browser`,
  });
}

interface Rgb { width: number; height: number; data: Uint8Array }

/**
 * Decodes the first `count` pictures (display order) of a stream to interleaved RGB. Pictures
 * past `count` are dropped as they come out.
 */
export async function decodeStreamWebCodecs(stream: EncodedStream, count: number, container: string, label: string): Promise<Rgb[]> {
  if (!hasWebCodecs()) throw noWebCodecsError(stream, container, label);
  const config: VideoDecoderConfig = { codec: stream.codecString };
  if (stream.description) config.description = stream.description;
  if (stream.codedWidth > 0 && stream.codedHeight > 0) { config.codedWidth = stream.codedWidth; config.codedHeight = stream.codedHeight; }
  const support = await VideoDecoder.isConfigSupported(config).catch((e: unknown) => ({ supported: false, error: e }));
  if (!support.supported) {
    throw new VideoDecodeError(label, `this browser's VideoDecoder cannot decode ${NAMES[stream.codec]} (${stream.codecString})`, { hint: 'transcode to Motion-JPEG: `ffmpeg -i IN -c:v mjpeg -q:v 2 OUT.avi`' });
  }
  const out: Rgb[] = [];
  let failure: unknown;
  const decoder = new VideoDecoder({
    output: (frame) => {
      try {
        if (out.length < count) out.push(frameToRgb(frame));
      } catch (e) {
        failure ??= e;
      } finally {
        frame.close();
      }
    },
    error: (e) => { failure ??= e; },
  });
  try {
    decoder.configure(config);
    for (const c of stream.chunks) {
      if (failure || out.length >= count) break;
      decoder.decode(new EncodedVideoChunk({ type: c.key ? 'key' : 'delta', timestamp: c.timestamp, data: c.bytes }));
      // Keep the queue short so a long clip does not hold every decoded picture at once.
      while (decoder.decodeQueueSize > 8 && !failure) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    if (!failure) await decoder.flush();
  } catch (e) {
    failure ??= e;
  } finally {
    if (decoder.state !== 'closed') decoder.close();
  }
  if (failure && out.length < count) {
    throw new VideoDecodeError(label, `${NAMES[stream.codec]} decoding failed after ${out.length} pictures (${String((failure as Error)?.message ?? failure).slice(0, 160)})`, { hint: 'the stream is corrupt or uses a profile this browser lacks', cause: failure });
  }
  return out;
}

function frameToRgb(frame: VideoFrame): Rgb {
  const width = frame.displayWidth;
  const height = frame.displayHeight;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2D canvas context');
  ctx.drawImage(frame, 0, 0, width, height);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, o = 0; o < data.length; i += 4, o += 3) { data[o] = rgba[i]!; data[o + 1] = rgba[i + 1]!; data[o + 2] = rgba[i + 2]!; }
  return { width, height, data };
}
