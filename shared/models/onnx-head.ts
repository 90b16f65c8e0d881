/**
 * A "best class" head on an ONNX model: ArgMax and ReduceMax over the last axis of its output, so
 * a run hands back one index and one score per position instead of the whole class axis. For
 * PP-OCRv4 rec that is 2 numbers instead of 6,625 per time step: a chunk of 2 text lines at the
 * widest input returns 640 bytes instead of 2.1 MB, which the worker's isolate would otherwise
 * hold as garbage until V8's external-memory limit triggers a collection (up to ~30 MB per worker
 * under load, measured with `v8.getHeapStatistics()`), and no JS loop walks the class axis.
 *
 * The model is not re-serialised. Protobuf merges a message field that occurs twice, appending
 * the repeated fields of the second to the first, so the model's bytes followed by a second
 * `graph` field that holds only the new nodes and outputs parse as the extended graph
 * (https://protobuf.dev/programming-guides/encoding/#last-one-wins). Encoding and skipping use
 * protobufjs's low-level Reader/Writer; field numbers are those of onnx.proto.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { Reader, Writer } from 'protobufjs/minimal.js';

/** onnx.proto field numbers used here. */
const MODEL_GRAPH = 7;
const MODEL_OPSET_IMPORT = 8;
const OPSET_DOMAIN = 1;
const OPSET_VERSION = 2;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_OUTPUT = 12;
const VALUE_INFO_NAME = 1;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TENSOR_TYPE_ELEM = 1;
const TENSOR_TYPE_SHAPE = 2;
const SHAPE_DIM = 1;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_NAME = 3;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const ATTR_NAME = 1;
const ATTR_I = 3;
const ATTR_INTS = 8;
const ATTR_TYPE = 20;
const ATTR_TYPE_INT = 2;
const ATTR_TYPE_INTS = 7;
const TENSOR_DIMS = 1;
const TENSOR_DATA_TYPE = 2;
const TENSOR_INT64_DATA = 7;
const TENSOR_NAME = 8;
const ELEM_FLOAT = 1;
const ELEM_INT64 = 7;
/** Wire type of length-delimited fields. */
const LEN = 2;
/** From this ai.onnx opset on, ReduceMax takes its axes as an input, not an attribute. */
const REDUCE_AXES_AS_INPUT = 18;
/** From this ai.onnx opset on, ArgMax and ReduceMax accept a negative axis. */
const NEGATIVE_AXES = 11;

/** What the head needs to know about a model. */
export interface ModelFacts {
  /** The ai.onnx opset the model imports. */
  readonly opset: number;
  /** The graph's outputs, in order, with their rank where the model declares a shape. */
  readonly outputs: readonly { readonly name: string; readonly rank?: number }[];
}

/** The names of the head's two outputs, for a model output `of`. */
export function bestClassOutputs(of: string): { readonly index: string; readonly score: string } {
  return { index: `${of}/best_class_index`, score: `${of}/best_class_score` };
}

/** Read the ai.onnx opset and the graph's output names, skipping everything else. */
export function readModelFacts(model: Uint8Array): ModelFacts {
  let opset = 0;
  const outputs: { name: string; rank?: number }[] = [];
  const r = Reader.create(model);
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === MODEL_OPSET_IMPORT && (tag & 7) === LEN) {
      let domain = '';
      let version = 0;
      forEachField(r, (f, wire) => {
        if (f === OPSET_DOMAIN) domain = r.string();
        else if (f === OPSET_VERSION) version = Number(r.int64());
        else r.skipType(wire);
      });
      if (domain === '' || domain === 'ai.onnx') opset = Math.max(opset, version);
    } else if (field === MODEL_GRAPH && (tag & 7) === LEN) {
      forEachField(r, (f, wire) => {
        if (f !== GRAPH_OUTPUT) return void r.skipType(wire);
        const out: { name: string; rank?: number } = { name: '' };
        forEachField(r, (g, w) => {
          if (g === VALUE_INFO_NAME) out.name = r.string();
          else if (g === VALUE_INFO_TYPE) out.rank = readTensorRank(r);
          else r.skipType(w);
        });
        outputs.push(out);
      });
    } else {
      r.skipType(tag & 7);
    }
  }
  if (opset === 0) throw new Error('onnx-head: the model imports no ai.onnx opset');
  return { opset, outputs };
}

/**
 * The bytes to append to the model for the best-class head on output `of`: outputs
 * {@link bestClassOutputs}`(of)`, the index (int64) and the score (float) of the largest value
 * along the last axis, that axis removed. ArgMax takes the first of equal maxima, as a
 * left-to-right scan with `>` does.
 */
export function bestClassHead(of: string, facts: ModelFacts): Uint8Array {
  const output = facts.outputs.find((o) => o.name === of);
  if (!output) throw new Error(`onnx-head: the model has no output ${of} (outputs: ${facts.outputs.map((o) => o.name).join(', ')})`);
  let axis = -1;
  if (facts.opset < NEGATIVE_AXES) {
    if (output.rank === undefined) throw new Error(`onnx-head: output ${of} declares no shape, and opset ${facts.opset} needs its last axis by number`);
    axis = output.rank - 1;
  }
  const names = bestClassOutputs(of);
  const axesName = `${of}/best_class_axes`;
  const axesAsInput = facts.opset >= REDUCE_AXES_AS_INPUT;
  const graph = Writer.create();
  message(graph, GRAPH_NODE, (w) => node(w, 'ArgMax', [of], names.index, (a) => intAttr(a, 'axis', axis), (a) => intAttr(a, 'keepdims', 0)));
  message(graph, GRAPH_NODE, (w) =>
    node(w, 'ReduceMax', axesAsInput ? [of, axesName] : [of], names.score, ...(axesAsInput ? [] : [(a: Writer) => intsAttr(a, 'axes', [axis])]), (a) => intAttr(a, 'keepdims', 0)),
  );
  if (axesAsInput) {
    message(graph, GRAPH_INITIALIZER, (t) => {
      t.uint32((TENSOR_DIMS << 3) | 0).int64(1);
      t.uint32((TENSOR_DATA_TYPE << 3) | 0).int32(ELEM_INT64);
      t.uint32((TENSOR_INT64_DATA << 3) | LEN).fork().int64(axis).ldelim();
      t.uint32((TENSOR_NAME << 3) | LEN).string(axesName);
    });
  }
  for (const [name, elem] of [[names.index, ELEM_INT64], [names.score, ELEM_FLOAT]] as const) {
    message(graph, GRAPH_OUTPUT, (v) => {
      v.uint32((VALUE_INFO_NAME << 3) | LEN).string(name);
      message(v, VALUE_INFO_TYPE, (t) => message(t, TYPE_TENSOR, (tt) => tt.uint32((TENSOR_TYPE_ELEM << 3) | 0).int32(elem)));
    });
  }
  const tail = Writer.create();
  tail.uint32((MODEL_GRAPH << 3) | LEN).bytes(graph.finish());
  return tail.finish();
}

/**
 * Read a model file with the best-class head on its first output appended, into one buffer
 * (the file is read straight into its place: no second copy of the model's bytes).
 */
export function readModelWithBestClassHead(path: string): { readonly bytes: Uint8Array; readonly outputs: { readonly index: string; readonly score: string } } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    // The head is a few hundred bytes; reserve generously, cut to its length below.
    const room = Buffer.allocUnsafe(size + 4096);
    if (readSync(fd, room, 0, size, 0) !== size) throw new Error(`onnx-head: short read of ${path}`);
    const facts = readModelFacts(room.subarray(0, size));
    const of = facts.outputs[0]?.name;
    if (!of) throw new Error(`onnx-head: ${path} declares no output`);
    const head = bestClassHead(of, facts);
    if (head.length > room.length - size) throw new Error('onnx-head: head larger than reserved');
    room.set(head, size);
    return { bytes: room.subarray(0, size + head.length), outputs: bestClassOutputs(of) };
  } finally {
    closeSync(fd);
  }
}

/** The number of dims of a TypeProto's tensor shape, or undefined where it declares none. */
function readTensorRank(r: Reader): number | undefined {
  let rank: number | undefined;
  forEachField(r, (f, wire) => {
    if (f !== TYPE_TENSOR) return void r.skipType(wire);
    forEachField(r, (g, w) => {
      if (g !== TENSOR_TYPE_SHAPE) return void r.skipType(w);
      rank = 0;
      forEachField(r, (h, x) => {
        if (h === SHAPE_DIM) rank!++;
        r.skipType(x);
      });
    });
  });
  return rank;
}

/** Call `each(field, wireType)` for every field of the length-delimited message at `r.pos`; `each` must consume the field. */
function forEachField(r: Reader, each: (field: number, wire: number) => void): void {
  const end = r.uint32() + r.pos;
  while (r.pos < end) {
    const tag = r.uint32();
    each(tag >>> 3, tag & 7);
  }
  if (r.pos !== end) throw new Error('onnx-head: malformed model (a field overruns its message)');
}

/** Write field `field` as an embedded message whose body `body` writes. */
function message(w: Writer, field: number, body: (w: Writer) => void): void {
  w.uint32((field << 3) | LEN).fork();
  body(w);
  w.ldelim();
}

function node(w: Writer, op: string, inputs: readonly string[], output: string, ...attrs: ((w: Writer) => void)[]): void {
  for (const i of inputs) w.uint32((NODE_INPUT << 3) | LEN).string(i);
  w.uint32((NODE_OUTPUT << 3) | LEN).string(output);
  w.uint32((NODE_NAME << 3) | LEN).string(`${output}/${op}`);
  w.uint32((NODE_OP_TYPE << 3) | LEN).string(op);
  for (const a of attrs) message(w, NODE_ATTRIBUTE, a);
}

function intAttr(w: Writer, name: string, value: number): void {
  w.uint32((ATTR_NAME << 3) | LEN).string(name);
  w.uint32((ATTR_I << 3) | 0).int64(value);
  w.uint32((ATTR_TYPE << 3) | 0).int32(ATTR_TYPE_INT);
}

function intsAttr(w: Writer, name: string, values: readonly number[]): void {
  w.uint32((ATTR_NAME << 3) | LEN).string(name);
  for (const v of values) w.uint32((ATTR_INTS << 3) | 0).int64(v);
  w.uint32((ATTR_TYPE << 3) | 0).int32(ATTR_TYPE_INTS);
}
