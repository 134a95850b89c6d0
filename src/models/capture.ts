import type { Tensor } from '../gpu/tensor.js';

/** Receives intermediate activations by module path; the model keeps them alive for the caller. */
export type Capture = (name: string, t: Tensor) => void;

/**
 * How a tower treats its intermediates: `emit` hands one to the capture hook (tests, Grad-CAM
 * debugging); `done` returns it to the pool — right after its last reader is recorded, so peak
 * memory is a few activations, not the whole network — unless a hook may still read it.
 */
export function activationLifecycle(capture?: Capture): { emit: (name: string, t: Tensor) => Tensor; done: (t: Tensor) => void } {
  return {
    emit: (name, t) => {
      capture?.(name, t);
      return t;
    },
    done: (t) => {
      if (!capture) t.release();
    },
  };
}
