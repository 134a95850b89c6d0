// A minimal ONNX writer: hand-encodes the few protobuf messages a model needs (ModelProto,
// GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto) so the bench can give ONNX
// Runtime exactly the graphs it times, built from the same weights as our model, without a
// protobuf library. Field numbers follow onnx/onnx.proto (IR version 8, opset 17).
// Messages are kept as lists of byte chunks with known lengths so that a 350 MB initializer set is
// copied once, into the final buffer.
import { EchoClipError } from '../../errors.js';

/** Bad graph construction (duplicate names, wrong initializer sizes): a bug in the caller. */
export class OnnxWriteError extends EchoClipError {}

export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;

export type OnnxElemType = 'float32' | 'int32' | 'int64';
const ELEM_CODE: Record<OnnxElemType, number> = { float32: 1, int32: 6, int64: 7 };

// ---------------------------------------------------------------------------------------------
// Protobuf wire encoding

class Msg {
  readonly parts: Uint8Array[] = [];
  length = 0;

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }

  private tag(field: number, wire: number): void {
    this.push(varint(BigInt((field << 3) | wire)));
  }

  int(field: number, v: number | bigint): void {
    this.tag(field, 0);
    // Negative int64 values are two's complement over 10 bytes.
    this.push(varint(BigInt.asUintN(64, BigInt(v))));
  }

  float(field: number, v: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.push(varint(BigInt(b.length)));
    this.push(b);
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  msg(field: number, m: Msg): void {
    this.tag(field, 2);
    this.push(varint(BigInt(m.length)));
    for (const p of m.parts) this.push(p);
  }

  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

function varint(v: bigint): Uint8Array {
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------------------------------------
// Graph builder

export type AttrValue = number | number[] | string | { floats: number[] } | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
}

interface ValueInfo {
  name: string;
  type: OnnxElemType;
  dims: readonly number[];
}

type InitData = Float32Array | Int32Array | BigInt64Array;

function elemOf(d: InitData): OnnxElemType {
  return d instanceof Float32Array ? 'float32' : d instanceof Int32Array ? 'int32' : 'int64';
}

/**
 * Builds one graph. Integer attributes are written as INT (numbers with no fraction) and lists of
 * numbers as INTS; floats must be given as `{ float }` / `{ floats }` so the type is never guessed.
 */
export class OnnxGraphBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly inits: { name: string; dims: number[]; data: InitData }[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(readonly name = 'echoclip-bench') {}

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  private claim(name: string, what: string): void {
    if (this.names.has(name)) throw new OnnxWriteError(`ONNX ${what} '${name}'`, 'the name is already defined in this graph', { hint: 'use fresh() for intermediate names' });
    this.names.add(name);
  }

  input(name: string, type: OnnxElemType, dims: readonly number[]): string {
    this.claim(name, 'input');
    this.inputs.push({ name, type, dims });
    return name;
  }

  output(name: string, type: OnnxElemType, dims: readonly number[]): string {
    this.outputs.push({ name, type, dims });
    return name;
  }

  /** A constant tensor (weights, shapes, masks); returns its name. */
  init(name: string, data: InitData, dims: readonly number[]): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new OnnxWriteError(`ONNX initializer '${name}'`, `dims [${dims.join(', ')}] hold ${n} elements but ${data.length} were given`);
    this.claim(name, 'initializer');
    this.inits.push({ name, dims: [...dims], data });
    return name;
  }

  /** An int64 1-D constant (Reshape shapes, axes, indices). */
  ints(values: readonly number[], prefix = 'const'): string {
    return this.init(this.fresh(prefix), BigInt64Array.from(values.map((v) => BigInt(v))), [values.length]);
  }

  /** A float scalar constant. */
  scalar(value: number, prefix = 'scalar'): string {
    return this.init(this.fresh(prefix), Float32Array.of(value), []);
  }

  /** Appends a node; with one output name omitted, a fresh one is made. Returns the outputs. */
  node(op: string, inputs: string[], attrs?: Record<string, AttrValue>, outputs?: string[]): string[] {
    const outs = outputs ?? [this.fresh(op.toLowerCase())];
    for (const o of outs) this.claim(o, `${op} output`);
    this.nodes.push({ op, inputs, outputs: outs, attrs });
    return outs;
  }

  /** `node` for the common single-output case. */
  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, output?: string): string {
    return this.node(op, inputs, attrs, output ? [output] : undefined)[0];
  }

  /** Gives the most recent node's (single) output a fixed name, e.g. the graph output's. */
  renameLastOutput(name: string): void {
    const n = this.nodes.at(-1);
    if (!n || n.outputs.length !== 1) throw new OnnxWriteError('ONNX graph output', 'the graph has no single-output node to name', { hint: 'add the final node first' });
    this.claim(name, 'output');
    this.names.delete(n.outputs[0]);
    n.outputs[0] = name;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The serialized ModelProto. */
  toBytes(): Uint8Array {
    const g = new Msg();
    this.nodes.forEach((n, i) => g.msg(1, nodeProto(n, i)));
    g.string(2, this.name);
    for (const t of this.inits) g.msg(5, tensorProto(t.name, t.dims, t.data));
    for (const v of this.inputs) g.msg(11, valueInfo(v));
    for (const v of this.outputs) g.msg(12, valueInfo(v));
    const m = new Msg();
    m.int(1, ONNX_IR_VERSION);
    m.string(2, 'echoclip-webgpu bench');
    m.string(3, '1');
    m.msg(7, g);
    const opset = new Msg();
    opset.string(1, '');
    opset.int(2, ONNX_OPSET);
    m.msg(8, opset);
    return m.concat();
  }
}

function nodeProto(n: OnnxNode, index: number): Msg {
  const m = new Msg();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, `${n.op}_${index}`);
  m.string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) m.msg(5, attribute(k, v, n.op));
  return m;
}

function attribute(name: string, v: AttrValue, op: string): Msg {
  const a = new Msg();
  a.string(1, name);
  if (typeof v === 'string') {
    a.bytes(4, new TextEncoder().encode(v));
    a.int(20, 3);
  } else if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new OnnxWriteError(`ONNX attribute ${op}.${name}`, `${v} is not an integer`, { hint: 'pass { float: v } for float attributes' });
    a.int(3, v);
    a.int(20, 2);
  } else if (Array.isArray(v)) {
    for (const x of v) a.int(8, x);
    a.int(20, 7);
  } else if ('float' in v) {
    a.float(2, v.float);
    a.int(20, 1);
  } else {
    for (const x of v.floats) a.float(7, x);
    a.int(20, 6);
  }
  return a;
}

function tensorProto(name: string, dims: readonly number[], data: InitData): Msg {
  const t = new Msg();
  for (const d of dims) t.int(1, d);
  t.int(2, ELEM_CODE[elemOf(data)]);
  t.string(8, name);
  // raw_data is little-endian; every platform we run on is little-endian (typed arrays are native).
  t.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return t;
}

function valueInfo(v: ValueInfo): Msg {
  const shape = new Msg();
  for (const d of v.dims) {
    const dim = new Msg();
    dim.int(1, d);
    shape.msg(1, dim);
  }
  const tensor = new Msg();
  tensor.int(1, ELEM_CODE[v.type]);
  tensor.msg(2, shape);
  const type = new Msg();
  type.msg(1, tensor);
  const m = new Msg();
  m.string(1, v.name);
  m.msg(2, type);
  return m;
}
