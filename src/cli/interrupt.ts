// A hard time limit (`timeout` in the portable bundle's run.sh) or Ctrl-C ends a long run with
// SIGTERM/SIGINT. Without a handler Node dies at once and a 5-minute run leaves nothing; with this
// one the command writes what it has so far (synchronously: the process exits right after), then
// exits with the code `flush` returns.
export function onInterrupt(flush: (signal: NodeJS.Signals) => number): () => void {
  const handler = (signal: NodeJS.Signals) => {
    let code = 130;
    try {
      code = flush(signal);
    } catch (e) {
      process.stderr.write(`error: writing the partial results after ${signal} failed: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    process.exit(code);
  };
  process.once('SIGTERM', handler);
  process.once('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}

/** The skip entry a cut run carries for everything it did not get to. */
export function interruptedSkip(signal: string): { what: string; why: string } {
  return { what: 'the rest of the run', why: `interrupted by ${signal} (a hard time limit or Ctrl-C); the results above are what finished` };
}
