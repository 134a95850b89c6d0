// A restricted unpickler: only the opcodes a plain `torch.save(state_dict)` pickle uses
// (protocols 2-5), and only globals the caller allows. It builds inert JS values and never runs
// anything; every other opcode or global is a WeightsFormatError naming it.
// Opcode reference: CPython Lib/pickletools.py.
import { WeightsFormatError } from '../errors.js';

/** A Python tuple (kept distinct from lists so shapes/args are unambiguous). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** A Python dict / OrderedDict: a Map keeps insertion order. */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
  constructor(readonly ordered: boolean) {}
}

/** An allowed global: `call` is what REDUCE does with it; `value` is what it is when not called. */
export interface AllowedGlobal {
  call?: (args: unknown[]) => unknown;
  /** BUILD on an object this global produced: receives the state; must validate it. */
  build?: (obj: unknown, state: unknown) => void;
  /** What the global stands for when used as a plain value (e.g. a storage class in a persistent id). */
  value?: unknown;
}

export interface UnpickleOptions {
  /** `"module.name"` → behaviour. Anything absent is rejected. */
  globals: ReadonlyMap<string, AllowedGlobal>;
  /** Resolves BINPERSID ids (torch storages). */
  persistentLoad: (pid: unknown) => unknown;
  /** Label for errors. */
  label: string;
}

/** Marker left on the stack by a GLOBAL opcode. */
export class GlobalRef {
  constructor(readonly qualname: string, readonly impl: AllowedGlobal) {}
}

function fail(label: string, why: string, hint = 'the checkpoint is corrupt or not a plain PyTorch state_dict'): never {
  throw new WeightsFormatError(label, why, { hint });
}

export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): unknown {
  const { label } = opts;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const built = new WeakMap<object, AllowedGlobal>();
  let p = 0;

  const need = (n: number): number => {
    if (n < 0 || p + n > bytes.length) fail(label, `pickle truncated at byte ${p} (needs ${n} more bytes)`);
    const at = p; p += n; return at;
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail(label, `pickle stack underflow at byte ${p}`);
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail(label, `pickle stack underflow at byte ${p}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail(label, `pickle MARK missing at byte ${p}`);
    return stack.splice(m);
  };
  const text = (at: number, n: number): string => {
    try { return utf8.decode(bytes.subarray(at, at + n)); } catch { fail(label, `pickle string at byte ${at} is not valid UTF-8`); }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) fail(label, `pickle truncated in a GLOBAL at byte ${p}`);
    const s = text(p, end - p); p = end + 1; return s;
  };
  const resolveGlobal = (module: string, name: string): GlobalRef => {
    const q = `${module}.${name}`;
    const impl = opts.globals.get(q);
    if (!impl) throw new WeightsFormatError(label, `pickle references the global '${q}', which is not allowed`, { hint: 'only plain state_dicts (OrderedDict of tensors) are loaded; this file may be unsafe — get the weights from a trusted source or as safetensors' });
    return new GlobalRef(q, impl);
  };
  const setItems = (dict: unknown, kv: unknown[]): void => {
    if (!(dict instanceof PyDict)) fail(label, `SETITEM on a non-dict at byte ${p}`);
    if (kv.length % 2) fail(label, `SETITEMS with an odd number of items at byte ${p}`);
    for (let i = 0; i < kv.length; i += 2) {
      const k = kv[i];
      if (typeof k === 'object' && k !== null) fail(label, `dict key of unsupported type at byte ${p}`);
      dict.map.set(k, kv[i + 1]);
    }
  };
  const appendItems = (list: unknown, items: unknown[]): void => {
    if (!Array.isArray(list)) fail(label, `APPEND on a non-list at byte ${p}`);
    for (const it of items) list.push(it);
  };

  for (;;) {
    const at = need(1);
    const op = bytes[at];
    switch (op) {
      case 0x80: { const v = bytes[need(1)]; if (v < 2 || v > 5) fail(label, `unsupported pickle protocol ${v}`); break; } // PROTO
      case 0x95: need(8); break; // FRAME: framing is only a read-ahead hint
      case 0x2e: { // STOP
        if (stack.length !== 1 || marks.length) fail(label, `pickle ended with ${stack.length} values on the stack`);
        return stack[0];
      }
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x7d: stack.push(new PyDict(false)); break; // EMPTY_DICT
      case 0x29: stack.push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x74: stack.push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: { const a = pop(); stack.push(new PyTuple([a])); break; } // TUPLE1
      case 0x86: { const b = pop(), a = pop(); stack.push(new PyTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); stack.push(new PyTuple([a, b, c])); break; } // TUPLE3
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x73: { const v = pop(), k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: stack.push(bytes[need(1)]); break; // BININT1
      case 0x4d: stack.push(dv.getUint16(need(2), true)); break; // BININT2
      case 0x4a: stack.push(dv.getInt32(need(4), true)); break; // BININT
      case 0x8a: { // LONG1: little-endian two's complement of n bytes
        const n = bytes[need(1)];
        const s = need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[s + i]);
        if (n > 0 && bytes[s + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: stack.push(dv.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x58: { const n = dv.getUint32(need(4), true); stack.push(text(need(n), n)); break; } // BINUNICODE
      case 0x8c: { const n = bytes[need(1)]; stack.push(text(need(n), n)); break; } // SHORT_BINUNICODE
      case 0x8d: { // BINUNICODE8
        const n64 = dv.getBigUint64(need(8), true);
        if (n64 > BigInt(bytes.length)) fail(label, `pickle string length ${n64} exceeds the pickle`);
        const n = Number(n64); stack.push(text(need(n), n)); break;
      }
      case 0x43: { const n = bytes[need(1)]; stack.push(bytes.slice(need(n), p)); break; } // SHORT_BINBYTES
      case 0x42: { const n = dv.getUint32(need(4), true); stack.push(bytes.slice(need(n), p)); break; } // BINBYTES
      case 0x71: memo.set(bytes[need(1)], top()); break; // BINPUT
      case 0x72: memo.set(dv.getUint32(need(4), true), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const i = op === 0x68 ? bytes[need(1)] : dv.getUint32(need(4), true);
        if (!memo.has(i)) fail(label, `pickle memo entry ${i} is missing (byte ${at})`);
        stack.push(memo.get(i));
        break;
      }
      case 0x63: { const module = line(); const name = line(); stack.push(resolveGlobal(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail(label, `STACK_GLOBAL needs two strings (byte ${at})`);
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), fn = pop();
        if (!(fn instanceof GlobalRef) || !fn.impl.call) fail(label, `REDUCE on something that is not an allowed callable (byte ${at})`);
        if (!(args instanceof PyTuple)) fail(label, `REDUCE arguments are not a tuple (byte ${at})`);
        const obj = fn.impl.call(args.items);
        if (typeof obj === 'object' && obj !== null) built.set(obj, fn.impl);
        stack.push(obj);
        break;
      }
      case 0x51: stack.push(opts.persistentLoad(pop())); break; // BINPERSID
      case 0x62: { // BUILD: only for objects whose global allows it (OrderedDict `_metadata`)
        const state = pop();
        const obj = top();
        const impl = typeof obj === 'object' && obj !== null ? built.get(obj) : undefined;
        if (!impl?.build) fail(label, `BUILD on an object that does not allow it (byte ${at})`);
        impl.build(obj, state);
        break;
      }
      default:
        fail(label, `unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}`, 'only plain state_dicts saved with torch.save are supported');
    }
  }
}
