// Run by test/platform/deno.test.ts as `deno run -A test/platform/deno-api.ts WEIGHTS VIDEO PROMPTS`:
// the one-line API from the built dist/ under Deno's own WebGPU, printing the zero-shot JSON.
import { EchoClip } from '../../dist/index.js';

const [weights, video, prompts] = (globalThis as unknown as { Deno: { args: string[] } }).Deno.args;
const echo = await EchoClip.fromPretrained(weights, { prompts, promptCache: false });
const results = await echo.zeroShot(video, { tasks: 'all' });
const tok = await echo.tokenizer();
echo.dispose();
console.log(JSON.stringify({ runtime: echo.gpu.adapter.runtime, vocab: tok.from, results }));
