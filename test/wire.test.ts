import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IMAGE_MIMES, WireFormatError, batchResponseSchema, decodeBatch, encodeBatch, type WireItem } from '../shared/wire/index.ts';

/** Build a frame by hand, so malformed ones can be made. */
function frame(header: string | Buffer, body: Buffer = Buffer.alloc(0), opts: { magic?: string; headerLength?: number } = {}): Buffer {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const prefix = Buffer.alloc(8);
  prefix.write(opts.magic ?? 'SEB1', 0, 'ascii');
  prefix.writeUInt32BE(opts.headerLength ?? h.byteLength, 4);
  return Buffer.concat([prefix, h, body]);
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WireFormatError);
    return (err as WireFormatError).code;
  }
  throw new Error('expected a WireFormatError');
}

const items: WireItem[] = [
  { id: 'a', type: 'image/png', bytes: Uint8Array.from([1, 2, 3]) },
  { id: 'b', type: 'image/jpeg', bytes: new Uint8Array(0) },
  { id: 'c', type: 'image/webp', bytes: Uint8Array.from([9, 8, 7, 6, 5]) },
];

describe('encodeBatch / decodeBatch', () => {
  it('encodeBatch lays out magic, BE header length, JSON header, then bytes in order', () => {
    const buf = encodeBatch(items, 'ocr-rec');
    expect(buf.subarray(0, 4).toString('ascii')).toBe('SEB1');
    const h = buf.readUInt32BE(4);
    expect(JSON.parse(buf.subarray(8, 8 + h).toString('utf8'))).toEqual({
      model: 'ocr-rec',
      items: [
        { id: 'a', type: 'image/png', bytes: 3 },
        { id: 'b', type: 'image/jpeg', bytes: 0 },
        { id: 'c', type: 'image/webp', bytes: 5 },
      ],
    });
    expect([...buf.subarray(8 + h)]).toEqual([1, 2, 3, 9, 8, 7, 6, 5]);
  });

  it('decodeBatch returns the items and model encodeBatch was given', () => {
    const out = decodeBatch(encodeBatch(items, 'ocr-cls'));
    expect(out.model).toBe('ocr-cls');
    expect(out.items.map((i) => ({ ...i, bytes: [...i.bytes] }))).toEqual(items.map((i) => ({ ...i, bytes: [...i.bytes] })));
  });

  it('decodeBatch leaves model undefined when the header has none', () => {
    expect('model' in decodeBatch(encodeBatch(items))).toBe(false);
  });

  it('round-trips arbitrary batches (property)', () => {
    const item = fc.record({ id: fc.string({ minLength: 1, maxLength: 20 }), type: fc.constantFrom(...IMAGE_MIMES), bytes: fc.uint8Array({ maxLength: 64 }) });
    fc.assert(
      fc.property(fc.uniqueArray(item, { minLength: 1, maxLength: 12, selector: (i) => i.id }), fc.option(fc.constantFrom('ocr-rec', 'm'), { nil: undefined }), (batch, model) => {
        const out = decodeBatch(encodeBatch(batch, model));
        expect(out.model).toBe(model);
        expect(out.items.map((i) => [i.id, i.type, [...i.bytes]])).toEqual(batch.map((i) => [i.id, i.type, [...i.bytes]]));
      }),
    );
  });

  it('decodeBatch reads a frame that sits at an offset inside a larger ArrayBuffer', () => {
    const inner = encodeBatch(items);
    const big = new Uint8Array(inner.byteLength + 16);
    big.set(inner, 7);
    expect(decodeBatch(big.subarray(7, 7 + inner.byteLength)).items.map((i) => i.id)).toEqual(['a', 'b', 'c']);
  });

  it('encodeBatch refuses duplicate ids and an empty batch', () => {
    expect(() => encodeBatch([items[0], items[0]])).toThrow(/unique/);
    expect(() => encodeBatch([])).toThrow(WireFormatError);
  });
});

describe('decodeBatch rejects malformed frames with one code each', () => {
  const goodHeader = JSON.stringify({ items: [{ id: 'a', type: 'image/png', bytes: 3 }] });
  const body = Buffer.from([1, 2, 3]);

  it('a frame shorter than the 8-byte prefix → frame_too_short', () => {
    expect(codeOf(() => decodeBatch(Buffer.from('SEB1')))).toBe('frame_too_short');
  });

  it('wrong magic → bad_magic, naming what was found', () => {
    expect(codeOf(() => decodeBatch(frame(goodHeader, body, { magic: 'PNG!' })))).toBe('bad_magic');
    expect(() => decodeBatch(frame(goodHeader, body, { magic: 'PNG!' }))).toThrow(/504e4721/);
  });

  it('header length past the end of the frame → header_length_out_of_range', () => {
    expect(codeOf(() => decodeBatch(frame(goodHeader, body, { headerLength: 10_000 })))).toBe('header_length_out_of_range');
    expect(codeOf(() => decodeBatch(frame(goodHeader, body, { headerLength: 0 })))).toBe('header_length_out_of_range');
  });

  it('header that is not JSON → header_not_json', () => {
    expect(codeOf(() => decodeBatch(frame('{"items": [', body)))).toBe('header_not_json');
  });

  it('header that is not UTF-8 → header_not_utf8', () => {
    expect(codeOf(() => decodeBatch(frame(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), body)))).toBe('header_not_utf8');
  });

  it('JSON that breaks the schema → header_invalid, naming the field', () => {
    const bad = JSON.stringify({ items: [{ id: 'a', type: 'image/gif', bytes: 3 }] });
    expect(codeOf(() => decodeBatch(frame(bad, body)))).toBe('header_invalid');
    expect(() => decodeBatch(frame(bad, body))).toThrow(/items\.0\.type/);
    expect(codeOf(() => decodeBatch(frame(JSON.stringify({ items: [{ id: 'a', type: 'image/png', bytes: -1 }] }), body)))).toBe('header_invalid');
    expect(codeOf(() => decodeBatch(frame(JSON.stringify({ items: [] }), Buffer.alloc(0))))).toBe('header_invalid');
  });

  it('byte counts that do not add up → byte_count_mismatch, with both numbers', () => {
    expect(codeOf(() => decodeBatch(frame(goodHeader, Buffer.from([1, 2]))))).toBe('byte_count_mismatch');
    expect(() => decodeBatch(frame(goodHeader, Buffer.from([1, 2, 3, 4])))).toThrow(/declares 3 .* but 4 bytes/);
  });
});

describe('batchResponseSchema', () => {
  it('accepts a response with text, labels and error results and rejects a missing field', () => {
    const ok = {
      model: 'ocr-rec',
      batchSize: 3,
      coldStart: false,
      decodeMs: 1.5,
      inferMs: 10,
      results: [
        { id: 'a', text: 'AB-12', confidence: 0.9 },
        { id: 'b', labels: [{ label: '0', score: 0.99 }], confidence: 0.99 },
        { id: 'c', error: { code: 'empty_item', message: 'item has 0 bytes' } },
      ],
    };
    expect(batchResponseSchema.parse(ok)).toEqual(ok);
    const { coldStart: _drop, ...missing } = ok;
    expect(batchResponseSchema.safeParse(missing).success).toBe(false);
  });
});
