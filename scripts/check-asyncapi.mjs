#!/usr/bin/env node
// Validates docs/asyncapi.yaml (or the file given as first argument) with the
// AsyncAPI parser: prints every diagnostic with its path, exits 1 when any has
// severity error. Then checks that the document's payload schemas cannot drift
// from the zod schemas the service validates with (src/protocol, read from dist/:
// run `npm run build` first): every exported schema is mapped to a component
// schema (or skipped with a reason), and each one's JSON Schema (zod's export)
// has its properties, required fields and JSON types in the document too,
// recursively. Exits 1 on any difference, else prints a summary and exits 0.
//
//   npm run build && node scripts/check-asyncapi.mjs [path/to/asyncapi.yaml]

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';
import { checkProtocolDrift, componentSchemas } from './lib/asyncapi-drift.mjs';

const defaultFile = fileURLToPath(new URL('../docs/asyncapi.yaml', import.meta.url));
const file = process.argv[2] ? resolve(process.argv[2]) : defaultFile;

const SEVERITY_NAMES = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

/** `a.b[0].c` from the diagnostic's JSON path (array of keys and indices). */
function formatPath(path) {
  if (!Array.isArray(path) || path.length === 0) return '$';
  return path.reduce((out, key) => {
    if (typeof key === 'number' || /^\d+$/.test(key)) return `${out}[${key}]`;
    return /^[A-Za-z_$][\w$]*$/.test(key) ? `${out}.${key}` : `${out}[${JSON.stringify(key)}]`;
  }, '$');
}

function formatDiagnostic(d) {
  const severity = SEVERITY_NAMES[d.severity] ?? `severity ${d.severity}`;
  const start = d.range?.start;
  const where = start ? `${file}:${start.line + 1}:${start.character + 1}` : file;
  return `${severity.padEnd(7)} ${d.code} ${formatPath(d.path)}\n        ${d.message} (${where})`;
}

const parser = new Parser();
let output;
try {
  output = await fromFile(parser, file).parse();
} catch (err) {
  console.error(`cannot parse ${file}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

const { document, diagnostics } = output;
for (const d of diagnostics) console.log(formatDiagnostic(d));

const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
if (errors.length > 0 || document === undefined) {
  console.error(`${file}: ${errors.length} error(s), ${diagnostics.length - errors.length} other diagnostic(s)`);
  process.exit(1);
}

const count = (collection) => collection.length;
console.log(
  `${file}: AsyncAPI ${document.version()} valid: ` +
    `${count(document.allServers())} servers, ${count(document.allChannels())} channels, ` +
    `${count(document.allOperations())} operations, ${count(document.allMessages())} messages, ` +
    `${count(document.allSchemas())} schemas; ${diagnostics.length} non-error diagnostic(s)`,
);

// ---------------------------------------------------------------- drift from src/protocol
const dist = new URL('../dist/protocol/', import.meta.url);
if (!existsSync(new URL('events.js', dist))) {
  console.error('dist/protocol is missing: run `npm run build` first (the drift check reads the compiled schemas)');
  process.exit(1);
}
const modules = {
  events: await import(new URL('events.js', dist).href),
  frames: await import(new URL('frames.js', dist).href),
};
const drift = checkProtocolDrift(modules, componentSchemas(file));
for (const problem of drift.problems) console.error(`drift   ${problem}`);
if (drift.problems.length > 0) {
  console.error(`${file}: ${drift.problems.length} difference(s) from src/protocol; update the document (or the mapping in scripts/lib/asyncapi-drift.mjs)`);
  process.exit(1);
}
console.log(`${file}: no drift from src/protocol: ${drift.compared} schemas compared, ${drift.skipped} skipped with a reason`);
