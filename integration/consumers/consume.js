#!/usr/bin/env node
// Reads Sluice change topics as a Node user does: a kafkajs consumer,
// read_committed, from the beginning, keys and values decoded through the
// schema registry by @kafkajs/confluent-schema-registry's SchemaRegistry.decode
// (avsc).
//
// Prints one JSON line per record:
//
//   {"topic": T, "partition": P, "offset": O, "key": K, "value": V}
//
// or, when the key or the value does not decode:
//
//   {"topic": T, "partition": P, "offset": O, "key": K|null, "error": "value: <exception>: <message>"}
//
// and stops after --count records, or when no record arrived for --quiet
// seconds. A summary goes to stderr. Exit code 0 unless the client itself
// fails (2).
//
// Avro long: a JavaScript number holds integers up to 2^53 only, and avsc
// refuses a larger long ("potential precision loss"). --long bigint (the
// default here) decodes every long as a BigInt, with avsc's own custom-type
// mechanism, as docs/consuming.md shows; --long number keeps the library's
// default. Decoded values are written as JSON: BigInts as JSON integers
// with every digit, Buffers (bytes, fixed, Connect Decimal) as base64,
// non-finite floats as the strings "NaN", "Infinity", "-Infinity".
//
//   node consume.js --bootstrap 127.0.0.1:9092 --registry http://127.0.0.1:8081 \
//       --count 24 --quiet 20 TOPIC...
'use strict';

const { Kafka, logLevel } = require('kafkajs');
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');
const avro = require('avsc');

function parseArgs(argv) {
  const args = { bootstrap: '', registry: '', count: 0, quiet: 10, long: 'bigint', topics: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const flag = a.replace(/^--/, '');
    if (a.startsWith('--') && flag in args && flag !== 'topics') {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      const v = argv[++i];
      args[flag] = flag === 'count' || flag === 'quiet' ? Number(v) : v;
    } else if (a.startsWith('--')) {
      throw new Error(`unknown flag ${a}`);
    } else {
      args.topics.push(a);
    }
  }
  if (!args.bootstrap || !args.registry || args.topics.length === 0) {
    throw new Error('usage: consume.js --bootstrap HOST:PORT --registry URL [--count N] [--quiet SECONDS] [--long bigint|number] TOPIC...');
  }
  if (args.long !== 'bigint' && args.long !== 'number') throw new Error(`--long ${args.long}: want bigint or number`);
  return args;
}

// Avro long as BigInt: avsc's LongType.__with, built once and handed to
// avsc for every "long" in a schema by the typeHook parse option.
const BigIntLong = avro.types.LongType.__with({
  fromBuffer: (buf) => buf.readBigInt64LE(),
  toBuffer: (n) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: (n) => typeof n === 'bigint',
  compare: (a, b) => (a === b ? 0 : a < b ? -1 : 1),
});

function bigIntLongs(schema) {
  if (schema === 'long' || (schema && typeof schema === 'object' && schema.type === 'long')) {
    return BigIntLong;
  }
  return undefined;
}

// toJSON writes a decoded value losslessly.
function toJSON(v) {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'bigint':
      return v.toString();
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : JSON.stringify(String(v));
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
  }
  if (Buffer.isBuffer(v)) return JSON.stringify(v.toString('base64'));
  if (v instanceof Date) return JSON.stringify(v.toISOString());
  if (Array.isArray(v)) return '[' + v.map(toJSON).join(',') + ']';
  return '{' + Object.keys(v).map((k) => JSON.stringify(k) + ':' + toJSON(v[k])).join(',') + '}';
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const registry = new SchemaRegistry(
    { host: args.registry },
    args.long === 'bigint' ? { [SchemaType.AVRO]: { typeHook: bigIntLongs } } : undefined,
  );
  const kafka = new Kafka({
    clientId: 'sluice-consume-js',
    brokers: args.bootstrap.split(','),
    logLevel: logLevel.ERROR,
  });
  const consumer = kafka.consumer({
    groupId: `sluice-consume-js-${process.pid}-${Date.now()}`,
    readUncommitted: false,
    maxWaitTimeInMs: 200,
  });

  let records = 0;
  let errors = 0;
  let last = Date.now();
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });

  await consumer.connect();
  await consumer.subscribe({ topics: args.topics, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      if (args.count > 0 && records >= args.count) return;
      last = Date.now();
      records++;
      let line = `{"topic":${JSON.stringify(topic)},"partition":${partition},"offset":${message.offset}`;
      let part = 'key';
      try {
        const key = message.key === null ? null : await registry.decode(message.key);
        line += `,"key":${toJSON(key)}`;
        part = 'value';
        const value = message.value === null ? null : await registry.decode(message.value);
        line += `,"value":${toJSON(value)}`;
      } catch (e) {
        errors++;
        if (part === 'key') line += ',"key":null';
        line += `,"error":${JSON.stringify(`${part}: ${e.name}: ${e.message}`)}`;
      }
      process.stdout.write(line + '}\n');
      if (args.count > 0 && records >= args.count) finish();
    },
  });
  const timer = setInterval(() => {
    if (Date.now() - last >= args.quiet * 1000) finish();
  }, 100);
  await finished;
  clearInterval(timer);
  await consumer.disconnect();
  process.stderr.write(`consume.js: ${records} records, ${errors} decode errors\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`consume.js: ${e.stack || e}\n`);
    process.exit(2);
  },
);
