#!/usr/bin/env node
// ONNX Runtime (CPU execution provider, onnxruntime-node) counterpart of `edgerun bench --json`:
// same measurements, same JSON field names.
//
//   node ort_bench.js MODEL [--threads N] [--iters N] [--warmup N] [--run-delay MS] [--input [NAME=]FILE.npy ...] [--seed S]
//
// Inputs not given with --input are filled with seeded random data of the model's declared shape
// (symbolic dims set to 1).
'use strict';

const fs = require('fs');
const path = require('path');

function usage(msg) {
  if (msg) process.stderr.write(`error: ${msg}\n`);
  process.stderr.write(
    'usage: node ort_bench.js MODEL [--threads N] [--iters N] [--warmup N] [--run-delay MS] [--input [NAME=]FILE.npy ...] [--seed S]\n');
  process.exit(msg ? 1 : 0);
}

function parseArgs(argv) {
  const a = { model: null, threads: 1, iters: 20, warmup: 2, runDelayMs: 0, inputs: [], seed: 1 };
  const intArg = (name, v, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) usage(`${name} expects an integer >= ${min}, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--threads') a.threads = intArg(arg, next(), 1);
    else if (arg === '--iters') a.iters = intArg(arg, next(), 1);
    else if (arg === '--warmup') a.warmup = intArg(arg, next(), 0);
    else if (arg === '--run-delay') {
      a.runDelayMs = Number(next());
      if (!(a.runDelayMs >= 0)) usage(`--run-delay expects milliseconds >= 0`);
    } else if (arg === '--seed') a.seed = intArg(arg, next(), 0);
    else if (arg === '--input' || arg === '-i') a.inputs.push(next());
    else if (arg === '--help' || arg === '-h') usage();
    else if (arg.startsWith('-')) usage(`unknown option ${arg}`);
    else if (a.model === null) a.model = arg;
    else usage(`unexpected argument ${arg}`);
  }
  if (a.model === null) usage('MODEL is required');
  return a;
}

// ---- .npy (format 1.0-3.0, little-endian, C order) ----

const NPY_TYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '<f2': ['float16', Uint16Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array], '<i2': ['int16', Int16Array],
  '|i1': ['int8', Int8Array], '<u8': ['uint64', BigUint64Array], '<u4': ['uint32', Uint32Array],
  '<u2': ['uint16', Uint16Array], '|u1': ['uint8', Uint8Array], '|b1': ['bool', Uint8Array],
};

function loadNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  let headerLen, offset;
  if (major === 1) { headerLen = buf.readUInt16LE(8); offset = 10; }
  else if (major === 2 || major === 3) { headerLen = buf.readUInt32LE(8); offset = 12; }
  else throw new Error(`${file}: unsupported .npy version ${major}`);
  const header = buf.toString('latin1', offset, offset + headerLen);
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeMatch = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeMatch) throw new Error(`${file}: malformed .npy header`);
  if (fortran[1] === 'True') throw new Error(`${file}: Fortran-order arrays are not supported`);
  const type = NPY_TYPES[descr[1].replace(/^=/, '<')];
  if (!type) throw new Error(`${file}: unsupported dtype '${descr[1]}'`);
  const dims = shapeMatch[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = dims.reduce((p, d) => p * d, 1);
  const start = offset + headerLen;
  const [name, Ctor] = type;
  const bytes = count * Ctor.BYTES_PER_ELEMENT;
  if (buf.length < start + bytes) throw new Error(`${file}: truncated data`);
  // Copy into an aligned buffer of its own.
  const data = new Ctor(count);
  new Uint8Array(data.buffer).set(buf.subarray(start, start + bytes));
  return { type: name === 'bool' ? 'bool' : name, data: name === 'bool' ? Uint8Array.from(data, (v) => v !== 0) : data, dims };
}

// ---- random inputs (xorshift64*, seeded) ----

function makeRng(seed) {
  let s = BigInt(seed) * 0x9E3779B97F4A7C15n + 1n;
  const mask = (1n << 64n) - 1n;
  return () => {
    s ^= s >> 12n; s ^= (s << 25n) & mask; s ^= s >> 27n;
    s &= mask;
    return Number(((s * 0x2545F4914F6CDD1Dn) & mask) >> 11n) / 2 ** 53;  // [0, 1)
  };
}

function randomTensor(ort, meta, rng) {
  const dims = (meta.shape || []).map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
  const n = dims.reduce((p, d) => p * d, 1);
  const t = meta.type;
  const real = () => rng() * 2 - 1;
  const small = () => Math.floor(rng() * 10);
  let data;
  switch (t) {
    case 'float32': data = Float32Array.from({ length: n }, real); break;
    case 'float64': data = Float64Array.from({ length: n }, real); break;
    case 'int64': data = BigInt64Array.from({ length: n }, () => BigInt(small())); break;
    case 'int32': data = Int32Array.from({ length: n }, small); break;
    case 'uint8': data = Uint8Array.from({ length: n }, () => Math.floor(rng() * 256)); break;
    case 'int8': data = Int8Array.from({ length: n }, small); break;
    case 'bool': data = Uint8Array.from({ length: n }, () => (rng() < 0.5 ? 1 : 0)); break;
    default: throw new Error(`input '${meta.name}' has type ${t}: give its data with --input ${meta.name}=FILE.npy`);
  }
  return new ort.Tensor(t, data, dims);
}

// ---- process memory (/proc/self/status, kB) ----

function statusKb(key) {
  try {
    const m = new RegExp(`^${key}:\\s*(\\d+)`, 'm').exec(fs.readFileSync('/proc/self/status', 'latin1'));
    return m ? Number(m[1]) : -1;
  } catch (e) {
    return -1;
  }
}

function resetPeakRss() {
  try { fs.writeFileSync('/proc/self/clear_refs', '5'); } catch (e) { /* not Linux or not allowed */ }
}

function percentile(sorted, p) {
  if (!sorted.length) return 0;
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ort = require('onnxruntime-node');
  if (!fs.existsSync(args.model)) usage(`'${args.model}': no such file`);

  // NAME=FILE.npy, or FILE.npy alone for the only input of the model (bound after loading).
  const fileInputs = {};
  for (const spec of args.inputs) {
    const eq = spec.indexOf('=');
    const single = eq < 0 || fs.existsSync(spec);
    if (eq === 0) throw new Error(`--input expects NAME=FILE.npy, got '${spec}'`);
    const npy = loadNpy(single ? spec : spec.slice(eq + 1));
    fileInputs[single ? '' : spec.slice(0, eq)] = new ort.Tensor(npy.type, npy.data, npy.dims);
  }

  const options = {
    executionProviders: ['cpu'],
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  resetPeakRss();
  const rssBefore = statusKb('VmRSS');
  const t0 = nowMs();
  const session = await ort.InferenceSession.create(args.model, options);
  const loadMs = nowMs() - t0;

  if ('' in fileInputs) {
    if (session.inputNames.length !== 1)
      throw new Error(`the model has ${session.inputNames.length} inputs: bind each with --input NAME=FILE.npy`);
    fileInputs[session.inputNames[0]] = fileInputs[''];
    delete fileInputs[''];
  }
  const feeds = {};
  const rng = makeRng(args.seed);
  const metas = session.inputMetadata || session.inputNames.map((name) => ({ name }));
  for (const meta of metas) {
    if (fileInputs[meta.name]) feeds[meta.name] = fileInputs[meta.name];
    else if (meta.shape) feeds[meta.name] = randomTensor(ort, meta, rng);
    else throw new Error(`input '${meta.name}': give its data with --input ${meta.name}=FILE.npy`);
  }
  for (const name of Object.keys(fileInputs))
    if (!session.inputNames.includes(name)) throw new Error(`--input: the model has no input '${name}' (inputs: ${session.inputNames.join(', ')})`);

  const t1 = nowMs();
  await session.run(feeds);
  const firstMs = nowMs() - t1;
  for (let i = 0; i < args.warmup; ++i) await session.run(feeds);

  const cpuStart = process.cpuUsage();
  const lat = [];
  const start = nowMs();
  let sleptMs = 0;
  for (let i = 0; i < args.iters; ++i) {
    if (args.runDelayMs > 0) {
      // As between camera frames; not counted in the throughput (edgerun bench --run-delay).
      const p = nowMs();
      await new Promise((resolve) => setTimeout(resolve, args.runDelayMs));
      sleptMs += nowMs() - p;
    }
    const s = nowMs();
    await session.run(feeds);
    lat.push(nowMs() - s);
  }
  const wallS = (nowMs() - start - sleptMs) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const hwm = statusKb('VmHWM');
  const sorted = [...lat].sort((a, b) => a - b);
  const out = {
    model: args.model,
    runtime: `onnxruntime-node ${require('onnxruntime-node/package.json').version}`,
    load_ms: loadMs,
    first_ms: firstMs,
    p50_ms: percentile(sorted, 50),
    p90_ms: percentile(sorted, 90),
    p99_ms: percentile(sorted, 99),
    max_ms: sorted[sorted.length - 1],
    min_ms: sorted[0],
    mean_ms: lat.reduce((p, v) => p + v, 0) / lat.length,
    throughput_ips: wallS > 0 ? lat.length / wallS : 0,
    streams: 1,
    threads: args.threads,
    warmup: args.warmup,
    iters: lat.length,
    total_runs: lat.length,
    timed_s: wallS,
    run_delay_ms: args.runDelayMs,
    mem_mb: rssBefore >= 0 && hwm >= 0 ? ((hwm - rssBefore) * 1024) / 1e6 : 0,
    cpu_s: (cpu.user + cpu.system) / 1e6,
    inputs: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { dtype: t.type, shape: t.dims }])),
    input_data: args.inputs.length ? 'file' : 'random',
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  await session.release();
}

main().catch((e) => {
  process.stderr.write(`error: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
