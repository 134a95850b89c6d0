// run.sh and lib.sh without a GPU: a fake echoclip records the order of the steps and the budgets
// they got; one step hangs to show the hard limit cutting it. Also the unpack fallbacks
// (python3 for xz and dpkg) and the argument checks.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BASE_TOOLS, libSh, loggedSteps, PORTABLE_SRC, runWith, tempDir, toolDir, which } from './helpers.js';

const RUN_SH = join(PORTABLE_SRC, 'run.sh');

// Answers like the real CLI for probe/selfcheck/bench; FAKE_<command>=hang|unknown|fail changes that.
const FAKE_ECHOCLIP = `#!/usr/bin/env bash
cmd=$1; shift
budget=none out=
while [ $# -gt 0 ]; do
  case $1 in --budget) budget=$2; shift ;; --out) out=$2; shift ;; esac
  shift
done
echo "$(date +%s.%N) $cmd budget=$budget icd=\${VK_DRIVER_FILES:-none}" >>"$FAKE_LOG"
var=FAKE_$cmd; mode=\${!var:-ok}
case $mode in
  hang) echo $$ >"$FAKE_LOG.pid"; exec sleep 600 ;;
  unknown) echo "error: echoclip: unknown command '$cmd' (run 'echoclip --help')" >&2; exit 2 ;;
  fail) echo "error: $cmd: it broke" >&2; exit 1 ;;
esac
case $cmd in
  probe) echo '{"adapter":{"description":"Fake GPU 9000","vendor":"fake","architecture":"test","fallback":false,"features":["shader-f16"],"subgroupMinSize":32,"subgroupMaxSize":32},"kernelProfile":"gpu","selfTest":{"pass":true}}' ;;
  selfcheck)
    p=\${FAKE_CHECK_PASS:-true}
    echo '{"checks":[{"group":"kernel","name":"matmul","variant":"tiled","dtype":"f32","shape":"3x5x7","maxAbsErr":0,"tol":1e-5,"tolKind":"abs","pass":true,"ms":1},{"group":"kernel","name":"gelu","variant":"f16","dtype":"f16","shape":"7","maxAbsErr":0.5,"tol":0.001,"tolKind":"abs","pass":'"$p"',"ms":1}],"skipped":[{"what":"pytorch","why":"budget exhausted"}],"seconds":1,"pass":'"$p"'}'
    # The real selfcheck: 3 = every check run passed but the budget cut some.
    [ "$p" = true ] && exit 3 || exit 1 ;;
  bench) echo '{"cases":[{"name":"matmul","shape":"4096x4096x4096","dtype":"f16","impl":"echoclip","variant":"tiled","median_ms":1.5,"gflops":91625.5}],"skipped":[]}' >"$out"; echo '| table |' >"\${out%.json}.md"; echo '<svg/>' >"\${out%.json}.svg" ;;
esac
`;

interface FakeRun {
  code: number;
  seconds: number;
  log: string;
  stdout: string;
  calls: { t: number; cmd: string; budget: string; icd: string }[];
  out: string;
  icd: string;
}

async function runFake(total: number, env: Record<string, string> = {}): Promise<FakeRun> {
  const dir = tempDir('runsh');
  const fake = join(dir, 'echoclip');
  writeFileSync(fake, FAKE_ECHOCLIP, { mode: 0o755 });
  const fakeLog = join(dir, 'calls.log');
  writeFileSync(fakeLog, '');
  const out = join(dir, 'out');
  const icd = join(dir, 'fake_icd.json');
  writeFileSync(icd, '{}');
  const r = await runWith('bash', [RUN_SH, String(total), out], {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ECHOCLIP_PORTABLE_NODE: process.execPath,
    ECHOCLIP_PORTABLE_ECHOCLIP: fake,
    ECHOCLIP_ICD: icd,
    FAKE_LOG: fakeLog,
    ...env,
  });
  const calls = readFileSync(fakeLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
    const [t, cmd, budget, icd] = l.split(' ');
    return { t: +t, cmd, budget: budget.slice('budget='.length), icd: icd.slice('icd='.length) };
  });
  return { code: r.code, seconds: r.seconds, log: readFileSync(join(out, 'run.log'), 'utf8'), stdout: r.stdout, calls, out, icd };
}

describe('run.sh with a fake echoclip', () => {
  it('runs probe, selfcheck, bench in that order within SECONDS and exits 0 when both checks pass', async () => {
    const r = await runFake(120);
    expect(r.calls.map((c) => c.cmd)).toEqual(['probe', 'selfcheck', 'bench']);
    // probe gets no --budget flag (only a hard limit); the two budgets match what was logged.
    const steps = loggedSteps(r.log);
    expect(steps.map((s) => s.step)).toEqual(['probe', 'selfcheck', 'bench']);
    expect(r.calls.map((c) => c.budget)).toEqual(['none', String(steps[1].budget), String(steps[2].budget)]);
    // Every step's hard limit ends inside SECONDS; time a step leaves unused passes on, so bench
    // (last) gets all that is left minus the 10 s reserve (told 90 % of it).
    for (const s of steps) expect(s.at + s.hard).toBeLessThanOrEqual(120);
    expect(steps[0].budget).toBeLessThanOrEqual(30);
    expect(steps[2].budget).toBe(Math.floor(((120 - 10 - steps[2].at) * 9) / 10));
    expect(steps[2].hard).toBe(120 - 5 - steps[2].at);
    expect(r.log).toContain("== selfcheck: ok in 0s; the budget cut some checks (exit 3");
    // The chosen driver reaches the command through both loader variables.
    expect(r.calls.every((c) => c.icd === r.icd)).toBe(true);
    expect(r.code).toBe(0);
    expect(readFileSync(join(r.out, 'run.log'), 'utf8')).toContain('RESULT: probe and selfcheck passed');
    // The closing table, on stdout and in the log.
    expect(r.stdout).toMatch(/adapter +Fake GPU 9000/);
    expect(r.stdout).toMatch(/selfcheck +2 passed, 0 failed, 1 skipped/);
    expect(r.stdout).toMatch(/matmul +4096x4096x4096 +f16 +echoclip +tiled +1\.500 +91625\.5/);
    expect(r.log).toContain('== echoclip GPU run');
    for (const f of ['probe.json', 'selfcheck.json', 'bench-gpu.json', 'bench-gpu.md', 'bench-gpu.svg', 'run.log']) expect(existsSync(join(r.out, f)), f).toBe(true);
  });

  it('cuts a hanging selfcheck at its hard limit, still runs bench, stays within SECONDS and exits non-zero', async () => {
    const total = 40;
    const r = await runFake(total, { FAKE_selfcheck: 'hang' });
    expect(r.calls.map((c) => c.cmd)).toEqual(['probe', 'selfcheck', 'bench']);
    const steps = loggedSteps(r.log);
    const sc = steps.find((s) => s.step === 'selfcheck')!;
    expect(r.log).toMatch(new RegExp(`== selfcheck: TIMED OUT: killed at its ${sc.hard}s hard limit`));
    // bench started once the hard limit had passed, not after the 600 s sleep.
    const [, tSc, tBench] = r.calls.map((c) => c.t);
    expect(tBench - tSc).toBeGreaterThanOrEqual(sc.hard - 1);
    expect(tBench - tSc).toBeLessThan(sc.hard + 5);
    expect(steps.reduce((a, s) => a + s.budget, 0)).toBeLessThanOrEqual(total);
    expect(r.seconds).toBeLessThan(total + 3);
    expect(r.code).toBe(1);
    expect(existsSync(join(r.out, 'selfcheck.json'))).toBe(false);
    expect(existsSync(join(r.out, 'bench-gpu.json'))).toBe(true);
  });

  it('logs an unknown command and goes on; a failing selfcheck makes the exit code non-zero', async () => {
    const unknown = await runFake(60, { FAKE_selfcheck: 'unknown', FAKE_bench: 'unknown' });
    expect(unknown.calls.map((c) => c.cmd)).toEqual(['probe', 'selfcheck', 'bench']);
    expect(unknown.log).toContain("== selfcheck: this echoclip has no 'selfcheck' command (unknown command, exit 2); going on");
    expect(unknown.log).toContain("== bench: this echoclip has no 'bench' command");
    expect(unknown.code).toBe(1);
    const failing = await runFake(60, { FAKE_CHECK_PASS: 'false' });
    expect(failing.log).toContain('== selfcheck: FAILED with exit 1');
    expect(failing.stdout).toMatch(/failed: kernel\/gelu f16 f16 7: max err 0.5 > abs tol 0.001/);
    expect(failing.code).toBe(1);
  });

  it('a TERM (or Ctrl-C) stops the running step at once, cleans up and exits 130', async () => {
    const dir = tempDir('runsh-term');
    const fake = join(dir, 'echoclip');
    writeFileSync(fake, FAKE_ECHOCLIP, { mode: 0o755 });
    writeFileSync(join(dir, 'icd.json'), '{}');
    const child = spawn('bash', [RUN_SH, '300', join(dir, 'out')], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ECHOCLIP_PORTABLE_NODE: process.execPath, ECHOCLIP_PORTABLE_ECHOCLIP: fake, ECHOCLIP_ICD: join(dir, 'icd.json'), FAKE_LOG: join(dir, 'calls.log'), FAKE_selfcheck: 'hang' },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const pidFile = join(dir, 'calls.log.pid');
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
    const stepPid = Number(readFileSync(pidFile, 'utf8'));
    const t0 = performance.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(130);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(() => process.kill(stepPid, 0)).toThrow();
    const log = readFileSync(join(dir, 'out', 'run.log'), 'utf8');
    expect(log).toContain('interrupted: stopping the running step');
    const tmp = /unpacking into (\S+)/.exec(log)![1];
    expect(existsSync(tmp)).toBe(false);
  });

  it('ECHOCLIP_RUN_STEPS picks the steps', async () => {
    const r = await runFake(60, { ECHOCLIP_RUN_STEPS: 'probe,bench' });
    expect(r.calls.map((c) => c.cmd)).toEqual(['probe', 'bench']);
    expect(r.log).toContain('== selfcheck: skipped (ECHOCLIP_RUN_STEPS=probe,bench)');
    expect(r.code).toBe(1);
  });

  it('rejects bad arguments with a typed message and exit code 2', async () => {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    for (const [args, msg] of [
      [['abc'], "SECONDS 'abc': is not a whole number of seconds"],
      [['-5'], "SECONDS '-5': is not a whole number"],
      [['12'], 'SECONDS 12: is too short'],
      [['60', 'out', 'extra'], 'run.sh: takes at most 2 arguments, got 3'],
      [['60', '/proc/no-such/dir'], 'OUTDIR /proc/no-such/dir: cannot be created (pass a writable folder)'],
    ] as const) {
      const r = await runWith('bash', [RUN_SH, ...args], env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(`run.sh: error: ${msg}`);
      if (!msg.startsWith('OUTDIR')) expect(r.stderr).toContain('(usage: run.sh [SECONDS>=30] [OUTDIR])');
    }
  });
});

describe('lib.sh', () => {
  it('plan_budget: probe <= 30 s, selfcheck 40 % of the rest, bench the rest minus the 10 s reserve', async () => {
    const plan = async (total: number) => {
      const r = await libSh(`left=${total}; for s in probe selfcheck bench; do p=$(plan_budget $s $left); echo "$s $p"; left=$((left - \${p% *})); done`);
      return Object.fromEntries(r.stdout.trim().split('\n').map((l) => { const [s, b, h] = l.split(' '); return [s, { budget: +b, hard: +h }]; }));
    };
    const p480 = await plan(480);
    // bench's share is 480 - 30 - 176 - 10 = 264 s: told 90 % of it, killed 5 s after it.
    expect(p480).toEqual({ probe: { budget: 30, hard: 35 }, selfcheck: { budget: 176, hard: 264 }, bench: { budget: 237, hard: 269 } });
    for (const total of [30, 45, 120, 480, 3600]) {
      const p = await plan(total);
      const benchLeft = total - p.probe.budget - p.selfcheck.budget;
      expect(p.probe.budget + p.selfcheck.budget + p.bench.budget, String(total)).toBeLessThanOrEqual(total - 10);
      expect(p.bench.budget).toBe(Math.floor(((benchLeft - 10) * 9) / 10));
      // The last step, even when it uses its whole hard limit plus the 3 s KILL, ends 2 s early.
      expect(p.bench.hard + 3).toBe(benchLeft - 2);
    }
    expect((await libSh('plan_budget bench 10')).stdout.trim()).toBe('0 0');
  });

  const python = which('python3');
  const deb = makeFakeDeb();

  it('unpack_deb: dpkg -x, and the python3 ar reader without dpkg, give the same files', async () => {
    const a = tempDir('deb-dpkg');
    const b = tempDir('deb-py');
    expect((await libSh(`unpack_deb ${deb} ${a}`)).code).toBe(0);
    expect(readFileSync(join(a, 'usr/lib/x86_64-linux-gnu/libvulkan.so.1'), 'utf8')).toBe('not really a loader\n');
    const r = await libSh(`unpack_deb ${deb} ${b}`, { ECHOCLIP_NO_DPKG: '1' });
    expect(r.stderr).toBe('');
    expect(readFileSync(join(b, 'usr/lib/x86_64-linux-gnu/libvulkan.so.1'), 'utf8')).toBe('not really a loader\n');
    // Nothing lands outside the prefix (the archive also holds ./ and usr/ entries).
    expect(execFileSync('find', [b, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n')).toEqual([join(b, 'usr/lib/x86_64-linux-gnu/libvulkan.so.1')]);
  });

  it.skipIf(!python)('unxz_to and untar_xz fall back to python3 when there is no xz', async () => {
    const dir = tempDir('unxz');
    writeFileSync(join(dir, 'a.txt'), 'hello portable\n');
    execFileSync('xz', ['-k', join(dir, 'a.txt')]);
    execFileSync('tar', ['-cJf', join(dir, 'p.tar.xz'), '-C', dir, 'a.txt']);
    // PATH without xz or tar, with python3.
    const path = toolDir([...BASE_TOOLS.filter((t) => t !== 'xz' && t !== 'tar'), 'python3']);
    expect((await libSh('command -v xz tar || echo none', { PATH: path })).stdout.trim()).toBe('none');
    const r = await libSh(`unxz_to ${dir}/a.txt.xz ${dir}/b.txt && untar_xz ${dir}/p.tar.xz ${dir}/x`, { PATH: path });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'b.txt'), 'utf8')).toBe('hello portable\n');
    expect(readFileSync(join(dir, 'x', 'a.txt'), 'utf8')).toBe('hello portable\n');
    // Neither xz nor python3: a clear error.
    const none = await libSh(`unxz_to ${dir}/a.txt.xz ${dir}/c.txt`, { PATH: toolDir(BASE_TOOLS.filter((t) => t !== 'xz')) });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("cannot decompress: neither 'xz' nor 'python3' is on PATH");
  });

  it('system_vulkan_loader looks in the given lib dirs', async () => {
    const dir = tempDir('libdir');
    expect((await libSh('system_vulkan_loader', { ECHOCLIP_LIB_DIRS: `${dir}/none:${dir}` })).code).toBe(1);
    writeFileSync(join(dir, 'libvulkan.so.1'), '');
    const r = await libSh('system_vulkan_loader', { ECHOCLIP_LIB_DIRS: `${dir}/none:${dir}` });
    expect(r.stdout.trim()).toBe(join(dir, 'libvulkan.so.1'));
  });
});

/** A minimal but well-formed .deb (ar: debian-binary, control.tar.xz, data.tar.xz). */
function makeFakeDeb(): string {
  const dir = tempDir('fakedeb');
  const data = join(dir, 'data');
  mkdirSync(join(data, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
  writeFileSync(join(data, 'usr/lib/x86_64-linux-gnu/libvulkan.so.1'), 'not really a loader\n');
  mkdirSync(join(dir, 'control'));
  writeFileSync(join(dir, 'control', 'control'), 'Package: libvulkan1\nVersion: 0.0-test\nArchitecture: amd64\nMaintainer: test <t@example.org>\nDescription: fake\n');
  execFileSync('tar', ['-cJf', join(dir, 'control.tar.xz'), '-C', join(dir, 'control'), '.']);
  execFileSync('tar', ['-cJf', join(dir, 'data.tar.xz'), '-C', data, '.']);
  const members: [string, Buffer][] = [
    ['debian-binary', Buffer.from('2.0\n')],
    ['control.tar.xz', readFileSync(join(dir, 'control.tar.xz'))],
    ['data.tar.xz', readFileSync(join(dir, 'data.tar.xz'))],
  ];
  const parts: Buffer[] = [Buffer.from('!<arch>\n')];
  for (const [name, body] of members) {
    const header = `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(body.length).padEnd(10)}\`\n`;
    parts.push(Buffer.from(header), body);
    if (body.length % 2) parts.push(Buffer.from('\n'));
  }
  const deb = join(dir, 'libvulkan1_0.0-test_amd64.deb');
  writeFileSync(deb, Buffer.concat(parts));
  return deb;
}
