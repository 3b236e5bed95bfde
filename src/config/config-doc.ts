/**
 * The reference tables of docs/configuration.md, generated from the zod schema (never written by
 * hand): per top-level section, every key path with its type, default and description. The
 * hand-written prose of the document sits outside `<!-- generated:SECTION:start/end -->` markers
 * and is left alone. `keyward schema --markdown FILE` rewrites the tables; a unit test fails when
 * the committed document is out of step with the schema.
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

type Node = Record<string, unknown>;

interface Row {
  readonly key: string;
  readonly when: string;
  readonly type: string;
  readonly default: string;
  readonly description: string;
}

const BLOCK = /<!-- generated:([A-Za-z$]+):start -->\n[\s\S]*?<!-- generated:\1:end -->/g;

/** The top-level keys that get a section (`$schema` is described in the prose). */
export function configSections(): string[] {
  return Object.keys(rootSchema().properties as Node).filter((k) => k !== '$schema');
}

/** The Markdown table of one top-level section. */
export function configSectionTable(section: string): string {
  const root = rootSchema();
  const node = (root.properties as Record<string, Node>)[section];
  if (node === undefined) throw new Error(`no config section "${section}"`);
  const rows: Row[] = [];
  addRow(rows, node, section, '', isRequired(root, section));
  descend(rows, node, section, '');
  return [
    '| key | type | default | description |',
    '|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| \`${r.key}\`${r.when === '' ? '' : ` (${cell(r.when)})`} | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.description)} |`,
    ),
  ].join('\n');
}

/**
 * `current` with every generated block replaced by the table of its section. Throws when a section
 * has no block (a new top-level key needs a place in the document) or a block names no section.
 */
export function renderConfigDoc(current: string): string {
  const sections = configSections();
  const seen = new Set<string>();
  const out = current.replace(BLOCK, (_match, section: string) => {
    if (!sections.includes(section)) throw new Error(`docs/configuration.md: unknown section "${section}"`);
    seen.add(section);
    return `<!-- generated:${section}:start -->\n${configSectionTable(section)}\n<!-- generated:${section}:end -->`;
  });
  const missing = sections.filter((s) => !seen.has(s));
  if (missing.length > 0)
    throw new Error(
      `docs/configuration.md has no generated block for ${missing.map((s) => `"${s}"`).join(', ')}: add <!-- generated:SECTION:start --> and <!-- generated:SECTION:end -->`,
    );
  return out;
}

function rootSchema(): Node {
  return z.toJSONSchema(configSchema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
  }) as Node;
}

function isRequired(parent: Node, key: string): boolean {
  return Array.isArray(parent.required) && parent.required.includes(key);
}

function addRow(rows: Row[], node: Node, key: string, when: string, required: boolean): void {
  rows.push({
    key,
    when,
    type: typeOf(node),
    default: defaultOf(node, required),
    description: typeof node.description === 'string' ? node.description : '',
  });
}

/** Rows for what lies inside `node`: properties, map values, list items, union variants. */
function descend(rows: Row[], node: Node, path: string, when: string): void {
  const properties = node.properties as Record<string, Node> | undefined;
  if (properties !== undefined) {
    for (const [key, child] of Object.entries(properties)) {
      const childPath = `${path}.${key}`;
      addRow(rows, child, childPath, when, isRequired(node, key));
      descend(rows, child, childPath, when);
    }
    return;
  }
  const values = node.additionalProperties;
  if (isNode(values) && hasInside(values)) {
    descend(rows, values, `${path}.<name>`, when);
    return;
  }
  const items = node.items;
  if (node.type === 'array' && isNode(items) && hasInside(items)) {
    descend(rows, items, `${path}[]`, when);
    return;
  }
  const variants = unionOf(node);
  const discriminator = variants === undefined ? undefined : discriminatorOf(variants);
  if (variants === undefined || discriminator === undefined) return;
  for (const variant of variants) {
    const tag = (variant.properties as Record<string, Node>)[discriminator] as Node;
    const variantWhen = [when, `${discriminator} ${JSON.stringify(tag.const)}`].filter(Boolean).join(', ');
    descend(rows, variant, path, variantWhen);
  }
}

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasInside(node: Node): boolean {
  return node.properties !== undefined || unionOf(node) !== undefined;
}

function unionOf(node: Node): Node[] | undefined {
  const variants = node.oneOf ?? node.anyOf;
  return Array.isArray(variants) ? (variants as Node[]) : undefined;
}

/** The property every variant fixes to a distinct constant (`type`, `method`), if any. */
function discriminatorOf(variants: readonly Node[]): string | undefined {
  const first = variants[0]?.properties;
  if (!isNode(first)) return undefined;
  return Object.keys(first).find((key) =>
    variants.every((v) => {
      const p = isNode(v.properties) ? v.properties[key] : undefined;
      return isNode(p) && p.const !== undefined && isRequired(v, key);
    }),
  );
}

function typeOf(node: Node): string {
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (Array.isArray(node.enum)) return node.enum.map((v) => JSON.stringify(v)).join(' | ');
  const variants = unionOf(node);
  if (variants !== undefined) {
    const discriminator = discriminatorOf(variants);
    if (discriminator !== undefined) return `object by \`${discriminator}\``;
    return variants.map(typeOf).join(' | ');
  }
  if (Array.isArray(node.type)) return node.type.map((t) => typeOf({ ...node, type: t })).join(' | ');
  switch (node.type) {
    case 'string':
      return node.format === 'uri' ? 'URL' : 'string';
    case 'integer':
    case 'number':
      return `${node.type}${range(node)}`;
    case 'boolean':
    case 'null':
      return node.type;
    case 'array': {
      const item = isNode(node.items) ? typeOf(node.items) : 'any';
      return item.includes(' ') ? `(${item})[]` : `${item}[]`;
    }
    case 'object': {
      const keys = isNode(node.properties) ? Object.keys(node.properties) : [];
      if (keys.length === 0 && isNode(node.additionalProperties))
        return `map of ${typeOf(node.additionalProperties)}`;
      if (keys.length === 0 || keys.length > 3) return 'object';
      return `{ ${keys.map((k) => (isRequired(node, k) ? k : `${k}?`)).join(', ')} }`;
    }
    default:
      return 'any';
  }
}

function range(node: Node): string {
  const integer = node.type === 'integer';
  const min =
    typeof node.minimum === 'number'
      ? node.minimum
      : typeof node.exclusiveMinimum === 'number' && integer
        ? node.exclusiveMinimum + 1
        : undefined;
  const max =
    typeof node.maximum === 'number' && node.maximum < Number.MAX_SAFE_INTEGER ? node.maximum : undefined;
  const above =
    min === undefined && typeof node.exclusiveMinimum === 'number' ? `> ${node.exclusiveMinimum}` : undefined;
  if (min !== undefined && max !== undefined) return ` ${min}–${max}`;
  if (min !== undefined) return ` ≥ ${min}`;
  if (above !== undefined && max !== undefined) return ` ${above}, ≤ ${max}`;
  if (above !== undefined) return ` ${above}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}

function defaultOf(node: Node, required: boolean): string {
  if (!('default' in node)) return required ? 'required' : '';
  const value = node.default;
  // An object defaulted to {} is filled by its own keys' defaults, listed in the rows below.
  if (isNode(value) && Object.keys(value).length === 0 && node.properties !== undefined) return '';
  return `\`${JSON.stringify(value)}\``;
}

function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}
