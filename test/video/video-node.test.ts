import { describe, expect, it } from 'vitest';
import { VideoDecodeError } from '../../src/errors.js';
import { preprocessVideoFile, readVideoFile } from '../../src/video/video-node.js';
import { expectSameArray, loadGolden, sharedPath } from './fixtures.js';

describe('Node file helpers', () => {
  it('read and preprocess example_video.avi from disk', async () => {
    const r = await readVideoFile(sharedPath('samples', 'example_video.avi'), { frames: '0:3' });
    expect(r.frames).toHaveLength(3);
    expect(r.info.usableFrames).toBe(113);
    const p = await preprocessVideoFile(sharedPath('samples', 'example_video.avi'), { frames: '0:40:2' });
    expectSameArray(p.pixelValues, (await loadGolden('video_preprocess.safetensors')).f32('video.pixel_values_0_40_2'), 'pixel values');
  });

  it('a missing file is a typed error naming the path', async () => {
    await expect(readVideoFile('/nonexistent/echo.avi')).rejects.toThrow(VideoDecodeError);
    await expect(readVideoFile('/nonexistent/echo.avi')).rejects.toThrow(/\/nonexistent\/echo\.avi: cannot read the file \(ENOENT\)/);
  });

  it('errors name the file', async () => {
    await expect(readVideoFile(sharedPath('samples', 'example_report.txt'))).rejects.toThrow(/example_report\.txt: unrecognised file format/);
  });
});
