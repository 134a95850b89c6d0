// A tiny synthetic fine-tuning set: four uncompressed AVIs of two frames each, cut from the example
// video at different heart phases and flipped differently (so the four clips are easy to tell
// apart), paired with four template-vocabulary reports.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { demuxAvi } from '../../src/video/avi.js';
import { decodeJpeg } from '../../src/video/jpeg.js';
import { SHARED } from '../helpers/goldens.js';
import { buildAvi } from '../video/builders.js';

export interface FinetuneSet {
  csv: string;
  reports: string[];
  videos: string[];
}

/** Bottom-up 24-bit DIB bytes of a BGR image, flipped horizontally and/or vertically. */
function dib(bgr: Uint8Array, w: number, h: number, flipX: boolean, flipY: boolean): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) {
    const srcRow = flipY ? r : h - 1 - r; // DIB rows are stored bottom-up
    for (let x = 0; x < w; x++) {
      const sx = flipX ? w - 1 - x : x;
      out.set(bgr.subarray((srcRow * w + sx) * 3, (srcRow * w + sx) * 3 + 3), (r * w + x) * 3);
    }
  }
  return out;
}

export function makeFinetuneSet(dir: string): FinetuneSet {
  const src = demuxAvi(new Uint8Array(readFileSync(path.join(SHARED, 'samples/example_video.avi'))));
  const vocab = readFileSync(path.join(SHARED, 'vocab/template_vocab.txt'), 'utf8').split('\n').filter((l) => l && !l.includes('<#>'));
  const reports = [vocab[0], vocab[3], vocab[5], vocab[9]].map((r) => r.trim());
  const videos: string[] = [];
  for (let i = 0; i < 4; i++) {
    const frames = [i * 28, i * 28 + 1].map((f) => {
      const fr = src.frames[f];
      if (fr.kind !== 'jpeg') throw new Error('the example video should be MJPEG');
      const img = decodeJpeg(fr.bytes, { order: 'bgr' });
      return dib(img.data, img.width, img.height, (i & 1) === 1, (i & 2) === 2);
    });
    const name = `clip${i}.avi`;
    writeFileSync(path.join(dir, name), buildAvi({ width: src.width, height: src.height, frames, codec: 'DIB ' }));
    videos.push(path.join(dir, name));
  }
  const csv = path.join(dir, 'pairs.csv');
  writeFileSync(csv, 'video,report\n' + reports.map((r, i) => `clip${i}.avi,"${r.replace(/"/g, '""')}"`).join('\n') + '\n');
  return { csv, reports, videos };
}
