import { readFileSync } from 'node:fs';
import path from 'node:path';

export const SHARED = path.resolve(import.meta.dirname, '../../../shared');
export const FIXTURES = path.join(SHARED, 'fixtures');
export const MODELS = ['echoclip_tiny', 'echoclip_r_tiny'] as const;

export function fixturePath(model: string, file: string): string {
  return path.join(FIXTURES, model, file);
}

export function fixtureBytes(model: string, file: string): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(model, file)));
}
