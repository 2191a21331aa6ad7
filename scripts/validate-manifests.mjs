#!/usr/bin/env node
// Validate rendered Kubernetes manifests offline, without a cluster.
//
//   node scripts/validate-manifests.mjs <file.yaml>...
//
// Each YAML document is checked three ways:
//  1. schema: the kubernetes-models class for its apiVersion/kind (types, required fields,
//     formats). A kind without a model fails, unless it has a hand-written check below
//     (ServiceMonitor, a CRD that kubernetes-models does not ship).
//  2. unknown fields: the Kubernetes JSON schemas allow any extra property, so a typo such as
//     `readinesProbe` passes step 1. The objects are therefore also type-checked by the
//     TypeScript compiler against the kubernetes-models interfaces, whose excess-property
//     check rejects unknown fields (as `kubectl apply --validate=strict` does). It reports
//     the first unknown field of each object.
//  3. names: metadata.name must be a DNS name (a DNS label for Services).
// Prints one line per object; exits 1 on any failure.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node scripts/validate-manifests.mjs <file.yaml>...');
  process.exit(2);
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DURATION = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;

/** Objects found in the files: { file, index, obj, label, errors[] } */
const items = [];
for (const file of files) {
  let docs;
  try {
    docs = yaml.loadAll(readFileSync(file, 'utf8'));
  } catch (err) {
    items.push({ file, index: 0, obj: null, label: '(unparsable YAML)', errors: [err.message] });
    continue;
  }
  docs.forEach((obj, index) => {
    if (obj == null) return; // empty document (e.g. a template whose condition is off)
    const label = `${obj.apiVersion ?? '?'} ${obj.kind ?? '?'} ${obj.metadata?.namespace ? obj.metadata.namespace + '/' : ''}${obj.metadata?.name ?? '?'}`;
    items.push({ file, index, obj, label, errors: [] });
  });
}

// ---- 1. schema -----------------------------------------------------------------------------

/** kubernetes-models module for an apiVersion: "v1" -> kubernetes-models/v1, "apps/v1" -> kubernetes-models/apps/v1 */
async function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || !/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion)) return null;
  try {
    const mod = await import(`kubernetes-models/${apiVersion}`);
    return typeof mod[kind] === 'function' ? mod[kind] : null;
  } catch {
    return null;
  }
}

/** Hand-written checks for CRDs that kubernetes-models has no model for. Return a list of errors. */
const REMOVED_APIS = {
  'extensions/v1beta1': '1.22', 'networking.k8s.io/v1beta1': '1.22', 'policy/v1beta1': '1.25',
  'autoscaling/v2beta1': '1.25', 'autoscaling/v2beta2': '1.26', 'batch/v1beta1': '1.25',
};

const customChecks = {
  'monitoring.coreos.com/v1/ServiceMonitor': checkServiceMonitor,
};

function checkServiceMonitor(obj) {
  const errors = [];
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const SPEC_KEYS = new Set([
    'attachMetadata', 'bodySizeLimit', 'endpoints', 'fallbackScrapeProtocol', 'jobLabel', 'keepDroppedTargets',
    'labelLimit', 'labelNameLengthLimit', 'labelValueLengthLimit', 'namespaceSelector', 'podTargetLabels',
    'sampleLimit', 'scrapeClass', 'scrapeProtocols', 'selector', 'targetLabels', 'targetLimit',
  ]);
  const ENDPOINT_KEYS = new Set([
    'authorization', 'basicAuth', 'bearerTokenFile', 'bearerTokenSecret', 'enableHttp2', 'filterRunning',
    'followRedirects', 'honorLabels', 'honorTimestamps', 'interval', 'metricRelabelings', 'oauth2', 'params',
    'path', 'port', 'proxyUrl', 'relabelings', 'scheme', 'scrapeTimeout', 'targetPort', 'tlsConfig',
    'trackTimestampsStaleness',
  ]);
  const seconds = (d) => {
    const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(d);
    return m ? (+(m[1] ?? 0)) * 3600 + (+(m[2] ?? 0)) * 60 + (+(m[3] ?? 0)) + (+(m[4] ?? 0)) / 1000 : NaN;
  };
  const spec = obj.spec;
  if (!isObject(spec)) return ['spec must be an object'];
  for (const key of Object.keys(spec)) if (!SPEC_KEYS.has(key)) errors.push(`spec.${key} is not a ServiceMonitor field`);
  if (!isObject(spec.selector)) errors.push('spec.selector must be an object (a label selector)');
  else if (spec.selector.matchLabels !== undefined && !isObject(spec.selector.matchLabels)) errors.push('spec.selector.matchLabels must be an object');
  if (spec.namespaceSelector !== undefined) {
    const ns = spec.namespaceSelector;
    if (!isObject(ns)) errors.push('spec.namespaceSelector must be an object');
    else if (ns.matchNames !== undefined && !(Array.isArray(ns.matchNames) && ns.matchNames.every((n) => typeof n === 'string'))) {
      errors.push('spec.namespaceSelector.matchNames must be a list of strings');
    }
  }
  if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) {
    errors.push('spec.endpoints must be a non-empty list');
    return errors;
  }
  spec.endpoints.forEach((ep, i) => {
    const at = `spec.endpoints[${i}]`;
    if (!isObject(ep)) return errors.push(`${at} must be an object`);
    for (const key of Object.keys(ep)) if (!ENDPOINT_KEYS.has(key)) errors.push(`${at}.${key} is not an Endpoint field`);
    if (ep.port === undefined && ep.targetPort === undefined) errors.push(`${at} needs port (a Service port name) or targetPort`);
    if (ep.port !== undefined && typeof ep.port !== 'string') errors.push(`${at}.port must be a port name (string)`);
    if (ep.path !== undefined && !(typeof ep.path === 'string' && ep.path.startsWith('/'))) errors.push(`${at}.path must start with /`);
    if (ep.scheme !== undefined && !['http', 'https', 'HTTP', 'HTTPS'].includes(ep.scheme)) errors.push(`${at}.scheme must be http or https`);
    for (const key of ['interval', 'scrapeTimeout']) {
      if (ep[key] !== undefined && !(typeof ep[key] === 'string' && DURATION.test(ep[key]))) errors.push(`${at}.${key} must be a duration like 30s`);
    }
    if (ep.interval && ep.scrapeTimeout && seconds(ep.scrapeTimeout) > seconds(ep.interval)) {
      errors.push(`${at}.scrapeTimeout (${ep.scrapeTimeout}) must not exceed interval (${ep.interval})`);
    }
    if (ep.honorLabels !== undefined && typeof ep.honorLabels !== 'boolean') errors.push(`${at}.honorLabels must be a boolean`);
    for (const key of ['relabelings', 'metricRelabelings']) {
      if (ep[key] !== undefined && !(Array.isArray(ep[key]) && ep[key].every(isObject))) errors.push(`${at}.${key} must be a list of objects`);
    }
  });
  return errors;
}

const typed = []; // objects that have a kubernetes-models interface, for step 2
for (const item of items) {
  const { obj } = item;
  if (obj === null) continue;
  if (typeof obj !== 'object' || Array.isArray(obj)) {
    item.errors.push('document is not an object');
    continue;
  }
  if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
    item.errors.push('apiVersion and kind must be strings');
    continue;
  }
  if (typeof obj.metadata?.name !== 'string') {
    item.errors.push('metadata.name must be a string');
    continue;
  }

  // 3. names
  const name = obj.metadata.name;
  if (obj.kind === 'Service' ? !(DNS_LABEL.test(name) && name.length <= 63) : !(DNS_SUBDOMAIN.test(name) && name.length <= 253)) {
    item.errors.push(`metadata.name "${name}" is not a valid ${obj.kind === 'Service' ? 'DNS label (<= 63 chars)' : 'DNS subdomain'}`);
  }

  if (REMOVED_APIS[obj.apiVersion]) {
    item.errors.push(`${obj.apiVersion} was removed in Kubernetes ${REMOVED_APIS[obj.apiVersion]}`);
    continue;
  }
  const custom = customChecks[`${obj.apiVersion}/${obj.kind}`];
  if (custom) {
    item.errors.push(...custom(obj));
    continue;
  }
  const Model = await modelClass(obj.apiVersion, obj.kind);
  if (!Model) {
    item.errors.push(`no kubernetes-models class for ${obj.apiVersion} ${obj.kind} (unknown or removed API?)`);
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (err) {
    const details = Array.isArray(err.errors) && err.errors.length
      ? err.errors.map((e) => `${e.instancePath || '/'} ${e.message}${e.params?.allowedValues ? ` (${e.params.allowedValues.join(', ')})` : ''}`)
      : [err.message];
    item.errors.push(...details);
    continue;
  }
  typed.push(item);
}

// ---- 2. unknown fields, through TypeScript's excess-property check -------------------------

await checkUnknownFields(typed);

async function checkUnknownFields(list) {
  if (list.length === 0) return;
  let ts;
  try {
    ts = (await import('typescript')).default;
  } catch {
    console.warn('warning: typescript is not installed: unknown fields are not checked');
    return;
  }
  // One virtual source file, placed in the repo root so that kubernetes-models resolves from
  // its node_modules; never written to disk. Object i is the literal starting at offsets[i].
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const fileName = path.join(repoRoot, '__validate_manifests__.ts');
  let text = list
    .map(({ obj }, i) => `import type { I${obj.kind} as T${i} } from ${JSON.stringify(`kubernetes-models/${obj.apiVersion}`)};\n`)
    .join('');
  const offsets = list.map(({ obj }, i) => {
    const at = text.length;
    text += `export const o${i}: T${i} = ${JSON.stringify(obj, null, 1)};\n`;
    return at;
  });
  const options = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: false, // null stands for "unset" in rendered YAML
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (f, lang, ...rest) => (f === fileName ? ts.createSourceFile(f, text, lang, true) : getSourceFile.call(host, f, lang, ...rest));
  host.fileExists = (f) => f === fileName || fileExists.call(host, f);
  host.readFile = (f) => (f === fileName ? text : readFile.call(host, f));
  const program = ts.createProgram([fileName], options, host);
  for (const d of ts.getPreEmitDiagnostics(program, program.getSourceFile(fileName))) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0];
    const i = d.file?.fileName === fileName && d.start !== undefined ? offsets.findLastIndex((o) => o <= d.start) : -1;
    if (i >= 0 && d.start >= offsets[0]) list[i].errors.push(`unknown or mistyped field${pathAt(d)}: ${message}`);
    else throw new Error(`validator: ${message}`); // e.g. an interface that did not resolve
  }

  // The dotted path of the property a diagnostic points at, e.g. " at spec.template.spec.containers[0]".
  function pathAt(d) {
    if (!d.file || d.start === undefined) return '';
    let node = findNode(d.file, d.start);
    const parts = [];
    while (node && !ts.isVariableDeclaration(node)) {
      if (ts.isPropertyAssignment(node)) parts.unshift(node.name.getText(d.file).replace(/^"|"$/g, ''));
      else if (node.parent && ts.isArrayLiteralExpression(node.parent)) parts.unshift(`[${node.parent.elements.indexOf(node)}]`);
      node = node.parent;
    }
    return parts.length ? ` at ${parts.join('.').replace(/\.\[/g, '[')}` : '';
  }
  function findNode(sf, pos) {
    let found;
    const visit = (n) => {
      if (pos >= n.getStart(sf) && pos < n.getEnd()) {
        found = n;
        ts.forEachChild(n, visit);
      }
    };
    visit(sf);
    return found;
  }
}

// ---- report --------------------------------------------------------------------------------

let failed = 0;
for (const item of items) {
  const where = `${item.file}${item.index ? `#${item.index}` : ''}`;
  if (item.errors.length === 0) {
    console.log(`ok    ${item.label}  (${where})`);
  } else {
    failed++;
    console.log(`FAIL  ${item.label}  (${where})`);
    for (const e of item.errors) console.log(`        - ${e}`);
  }
}
if (items.length === 0) {
  console.error('error: no Kubernetes objects found in the given files');
  process.exit(1);
}
if (failed) {
  console.error(`${failed} of ${items.length} objects failed validation`);
  process.exit(1);
}
console.log(`${items.length} objects valid`);
