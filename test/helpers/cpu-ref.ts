// CPU references for kernel tests: they live in the library (echoclip selfcheck ships them).
export { erf64, geluRef, matmulRef } from '../../src/selfcheck/cpu-ref.js';
