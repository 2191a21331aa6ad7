#!/usr/bin/env node
// Validates docs/asyncapi.yaml (or the file given as first argument) with the
// AsyncAPI parser: prints every diagnostic with its path, exits 1 when any has
// severity error, else prints a one-line summary and exits 0.
//
//   node scripts/check-asyncapi.mjs [path/to/asyncapi.yaml]

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';

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
