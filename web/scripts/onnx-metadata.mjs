// Reads ModelProto.metadata_props (field 14: repeated StringStringEntryProto {key=1, value=2})
// from an ONNX file without a protobuf library: only top-level fields are walked and every
// other field (the graph with its weights) is skipped by its length prefix, so this is cheap.

function readVarint(buf, pos) {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error("truncated varint");
    const byte = buf[pos++];
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

function* fields(buf, start = 0, end = buf.length) {
  let pos = start;
  while (pos < end) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      let value;
      [value, pos] = readVarint(buf, pos);
      yield { field, wire, value };
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 2) {
      let len;
      [len, pos] = readVarint(buf, pos);
      const n = Number(len);
      yield { field, wire, start: pos, end: pos + n };
      pos += n;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  }
}

export function readOnnxMetadata(buf) {
  const decoder = new TextDecoder("utf-8");
  const meta = {};
  for (const f of fields(buf)) {
    if (f.field !== 14 || f.wire !== 2) continue;
    let key = "";
    let value = "";
    for (const g of fields(buf, f.start, f.end)) {
      if (g.wire !== 2) continue;
      const text = decoder.decode(buf.subarray(g.start, g.end));
      if (g.field === 1) key = text;
      else if (g.field === 2) value = text;
    }
    meta[key] = value;
  }
  return meta;
}
