/**
 * Offline CloudFormation checks: templates parsed with their intrinsic tags (yaml-cfn), resources
 * and their properties checked against AWS's resource specification as published in
 * @aws-cdk/aws-service-spec (types, unknown and missing required properties, value types), and
 * every Ref / GetAtt / Sub / FindInMap / Condition target resolved. Also a small evaluator of the
 * intrinsics the templates use, so tests can read what a task definition would really set.
 */
import { readFileSync } from 'node:fs';
import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec';
import type { PropertyType, ResourceProperties, SpecDatabase } from '@aws-cdk/service-spec-types';
import { yamlParse } from 'yaml-cfn';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Template {
  readonly Parameters?: Record<string, JsonObject>;
  readonly Mappings?: Record<string, Record<string, JsonObject>>;
  readonly Conditions?: Record<string, Json>;
  readonly Resources: Record<string, ResourceEntry>;
  readonly Outputs?: Record<string, JsonObject>;
  readonly [key: string]: unknown;
}

export interface ResourceEntry {
  readonly Type: string;
  readonly Properties?: JsonObject;
  readonly Condition?: string;
  readonly DependsOn?: string | string[];
  readonly [key: string]: unknown;
}

export function parseTemplate(path: string): Template {
  return yamlParse(readFileSync(path, 'utf8')) as Template;
}

let specPromise: Promise<SpecDatabase> | undefined;
/** The resource specification database (about 1 s to load; loaded once per worker). */
export function loadSpec(): Promise<SpecDatabase> {
  specPromise ??= loadAwsServiceSpec();
  return specPromise;
}

const PSEUDO_PARAMETERS = new Set([
  'AWS::AccountId',
  'AWS::NotificationARNs',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
]);
const TOP_LEVEL = new Set([
  'AWSTemplateFormatVersion',
  'Description',
  'Metadata',
  'Parameters',
  'Rules',
  'Mappings',
  'Conditions',
  'Transform',
  'Resources',
  'Outputs',
]);
const RESOURCE_KEYS = new Set([
  'Type',
  'Properties',
  'DependsOn',
  'Condition',
  'DeletionPolicy',
  'UpdateReplacePolicy',
  'Metadata',
  'CreationPolicy',
  'UpdatePolicy',
]);
const PARAMETER_TYPES =
  /^(String|Number|List<Number>|CommaDelimitedList|AWS::[A-Za-z0-9:]+(::Id|::Name|::KeyName|::Value)?|List<AWS::[A-Za-z0-9:]+>|AWS::SSM::Parameter::Value<.+>)$/;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The intrinsic function name when `v` is `{ Ref: … }` or `{ 'Fn::X': … }`, else undefined. */
export function intrinsicName(v: unknown): string | undefined {
  if (!isObject(v)) return undefined;
  const keys = Object.keys(v);
  if (keys.length !== 1) return undefined;
  const k = keys[0]!;
  return k === 'Ref' || k === 'Condition' || k.startsWith('Fn::') ? k : undefined;
}

/** Problems found in one template, each `path: message`. Empty means valid. */
export function validateTemplate(template: Template, db: SpecDatabase): string[] {
  const problems: string[] = [];
  const report = (path: string, message: string): void => {
    problems.push(`${path}: ${message}`);
  };
  for (const key of Object.keys(template)) {
    if (!TOP_LEVEL.has(key)) report(key, 'unknown top-level section');
  }
  const parameters = template.Parameters ?? {};
  const resources = template.Resources ?? {};
  const conditions = template.Conditions ?? {};
  const mappings = template.Mappings ?? {};
  if (Object.keys(resources).length === 0) report('Resources', 'no resources');

  for (const [name, p] of Object.entries(parameters)) {
    const type = p.Type;
    if (typeof type !== 'string' || !PARAMETER_TYPES.test(type))
      report(`Parameters.${name}.Type`, `invalid ${JSON.stringify(type)}`);
    if (p.Default !== undefined) {
      const d = String(p.Default);
      if (Array.isArray(p.AllowedValues) && !p.AllowedValues.map(String).includes(d))
        report(`Parameters.${name}.Default`, `'${d}' is not in AllowedValues`);
      if (typeof p.AllowedPattern === 'string' && !new RegExp(`^(?:${p.AllowedPattern})$`).test(d))
        report(`Parameters.${name}.Default`, `'${d}' does not match AllowedPattern`);
      if (typeof p.MinValue === 'number' && Number(d) < p.MinValue)
        report(`Parameters.${name}.Default`, `${d} < MinValue ${p.MinValue}`);
    }
  }

  const refTargets = new Set([...Object.keys(parameters), ...Object.keys(resources), ...PSEUDO_PARAMETERS]);
  const checkGetAtt = (path: string, resource: string, attribute: string): void => {
    const entry = resources[resource];
    if (!entry) {
      report(path, `GetAtt target '${resource}' is not a resource`);
      return;
    }
    const spec = db.lookup('resource', 'cloudFormationType', 'equals', entry.Type)[0];
    if (spec && !(attribute in spec.attributes)) {
      report(path, `${entry.Type} has no attribute '${attribute}'`);
    }
  };

  const walkIntrinsics = (v: unknown, path: string, subVars: ReadonlySet<string> = new Set()): void => {
    if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walkIntrinsics(x, `${path}[${i}]`, subVars);
      return;
    }
    if (!isObject(v)) return;
    const fn = intrinsicName(v);
    const arg = fn ? v[fn] : undefined;
    if (fn === 'Ref') {
      if (typeof arg !== 'string' || !(refTargets.has(arg) || subVars.has(arg)))
        report(path, `Ref to unknown '${String(arg)}'`);
      return;
    }
    if (fn === 'Condition' && path.includes('.Conditions.') === false && typeof arg === 'string') {
      if (!(arg in conditions)) report(path, `Condition '${arg}' is not defined`);
      return;
    }
    if (fn === 'Fn::GetAtt') {
      const parts = Array.isArray(arg) ? arg : typeof arg === 'string' ? arg.split(/\.(.+)/) : [];
      if (parts.length < 2 || typeof parts[0] !== 'string' || typeof parts[1] !== 'string') {
        report(path, 'malformed Fn::GetAtt');
        return;
      }
      checkGetAtt(path, parts[0], parts[1]);
      return;
    }
    if (fn === 'Fn::Sub') {
      const [text, vars] = Array.isArray(arg) ? [arg[0], arg[1]] : [arg, undefined];
      if (typeof text !== 'string') {
        report(path, 'Fn::Sub needs a string');
        return;
      }
      const local = new Set(isObject(vars) ? Object.keys(vars) : []);
      if (isObject(vars)) walkIntrinsics(vars, `${path}.vars`, subVars);
      for (const m of text.matchAll(/\$\{([^}!][^}]*)\}/g)) {
        const name = m[1]!.trim();
        if (local.has(name) || refTargets.has(name)) continue;
        const dot = name.indexOf('.');
        if (dot > 0) checkGetAtt(path, name.slice(0, dot), name.slice(dot + 1));
        else report(path, `Fn::Sub variable '\${${name}}' is not defined`);
      }
      return;
    }
    if (fn === 'Fn::FindInMap') {
      if (!Array.isArray(arg) || arg.length < 3) {
        report(path, 'malformed Fn::FindInMap');
        return;
      }
      walkIntrinsics(arg, path, subVars);
      const [mapName, top, second] = arg;
      if (typeof mapName !== 'string' || !(mapName in mappings)) {
        report(path, `mapping '${String(mapName)}' is not defined`);
        return;
      }
      const map = mappings[mapName]!;
      // A top-level key given by a parameter must exist for every value the parameter allows.
      const topKeys =
        typeof top === 'string'
          ? [top]
          : isObject(top) && typeof top.Ref === 'string' && Array.isArray(parameters[top.Ref]?.AllowedValues)
            ? (parameters[top.Ref]!.AllowedValues as Json[]).map(String)
            : [];
      for (const k of topKeys) {
        if (!(k in map)) report(path, `mapping '${mapName}' has no key '${k}'`);
        else if (typeof second === 'string' && !(second in map[k]!))
          report(path, `mapping '${mapName}.${k}' has no key '${second}'`);
      }
      return;
    }
    if (fn === 'Fn::If') {
      if (!Array.isArray(arg) || arg.length !== 3 || typeof arg[0] !== 'string') {
        report(path, 'malformed Fn::If');
        return;
      }
      if (!(arg[0] in conditions)) report(path, `condition '${arg[0]}' is not defined`);
      walkIntrinsics(arg[1], `${path}.then`, subVars);
      walkIntrinsics(arg[2], `${path}.else`, subVars);
      return;
    }
    for (const [k, x] of Object.entries(v)) walkIntrinsics(x, `${path}.${k}`, subVars);
  };

  for (const [name, c] of Object.entries(conditions)) walkIntrinsics(c, `Conditions.${name}`);
  for (const [name, r] of Object.entries(resources)) {
    const path = `Resources.${name}`;
    for (const key of Object.keys(r)) if (!RESOURCE_KEYS.has(key)) report(path, `unknown key '${key}'`);
    if (r.Condition !== undefined && !(r.Condition in conditions))
      report(`${path}.Condition`, `'${r.Condition}' is not defined`);
    for (const dep of [r.DependsOn ?? []].flat()) {
      if (!(dep in resources)) report(`${path}.DependsOn`, `'${dep}' is not a resource`);
    }
    walkIntrinsics(r.Properties, `${path}.Properties`);
    if (r.Type.startsWith('Custom::')) continue;
    const spec = db.lookup('resource', 'cloudFormationType', 'equals', r.Type)[0];
    if (!spec) {
      report(`${path}.Type`, `'${r.Type}' is not a CloudFormation resource type`);
      continue;
    }
    checkProperties(db, spec.properties, r.Properties ?? {}, `${path}.Properties`, report);
  }
  for (const [name, o] of Object.entries(template.Outputs ?? {})) {
    if (o.Value === undefined) report(`Outputs.${name}`, 'has no Value');
    walkIntrinsics(o, `Outputs.${name}`);
  }
  return problems;
}

type Report = (path: string, message: string) => void;

function checkProperties(
  db: SpecDatabase,
  spec: ResourceProperties,
  value: unknown,
  path: string,
  report: Report,
): void {
  if (intrinsicName(value)) {
    checkIntrinsicValue(value as JsonObject, path, (branch, p) =>
      checkProperties(db, spec, branch, p, report),
    );
    return;
  }
  if (!isObject(value)) {
    report(path, `expected an object, got ${JSON.stringify(value)}`);
    return;
  }
  for (const [name, prop] of Object.entries(spec)) {
    if (prop.required && !(name in value)) report(path, `missing required property '${name}'`);
  }
  for (const [name, v] of Object.entries(value)) {
    const prop = spec[name];
    if (!prop) {
      report(`${path}.${name}`, 'unknown property');
      continue;
    }
    checkValue(db, prop.type, v, `${path}.${name}`, report);
  }
}

/** Fn::If is checked branch by branch (AWS::NoValue is fine); other intrinsics are opaque values. */
function checkIntrinsicValue(
  value: JsonObject,
  path: string,
  checkBranch: (branch: unknown, path: string) => void,
): void {
  const arg = value['Fn::If'];
  if (!Array.isArray(arg)) return;
  for (const [i, branch] of [arg[1], arg[2]].entries()) {
    if (isObject(branch) && branch.Ref === 'AWS::NoValue') continue;
    checkBranch(branch, `${path}.${i === 0 ? 'then' : 'else'}`);
  }
}

function typeErrors(db: SpecDatabase, type: PropertyType, value: unknown, path: string): string[] {
  const errors: string[] = [];
  checkValue(db, type, value, path, (p, m) => errors.push(`${p}: ${m}`));
  return errors;
}

function checkValue(
  db: SpecDatabase,
  type: PropertyType,
  value: unknown,
  path: string,
  report: Report,
): void {
  if (intrinsicName(value)) {
    checkIntrinsicValue(value as JsonObject, path, (b, p) => checkValue(db, type, b, p, report));
    return;
  }
  const got = JSON.stringify(value);
  switch (type.type) {
    case 'string':
    case 'date-time':
      // CloudFormation turns YAML numbers and booleans into strings where a string is expected.
      if (!['string', 'number', 'boolean'].includes(typeof value))
        report(path, `expected a string, got ${got}`);
      else if (type.type === 'string' && type.allowedValues && !type.allowedValues.includes(String(value)))
        report(path, `'${String(value)}' is not one of ${type.allowedValues.join(', ')}`);
      return;
    case 'integer':
    case 'number': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n) || (type.type === 'integer' && !Number.isInteger(n)))
        report(path, `expected ${type.type === 'integer' ? 'an integer' : 'a number'}, got ${got}`);
      return;
    }
    case 'boolean':
      if (typeof value !== 'boolean' && value !== 'true' && value !== 'false')
        report(path, `expected a boolean, got ${got}`);
      return;
    case 'json':
    case 'null':
      return;
    case 'tag':
      if (!isObject(value) || !('Key' in value) || !('Value' in value))
        report(path, `expected a tag {Key, Value}, got ${got}`);
      return;
    case 'array':
      if (!Array.isArray(value)) {
        report(path, `expected a list, got ${got}`);
        return;
      }
      value.forEach((v, i) => {
        checkValue(db, type.element, v, `${path}[${i}]`, report);
      });
      return;
    case 'map':
      if (!isObject(value)) {
        report(path, `expected a map, got ${got}`);
        return;
      }
      for (const [k, v] of Object.entries(value)) checkValue(db, type.element, v, `${path}.${k}`, report);
      return;
    case 'ref': {
      const def = db.get('typeDefinition', type.reference);
      checkProperties(db, def.properties, value, path, report);
      return;
    }
    case 'union': {
      const attempts = type.types.map((t) => typeErrors(db, t, value, path));
      if (attempts.some((e) => e.length === 0)) return;
      // Report the closest alternative (fewest problems).
      const best = attempts.sort((a, b) => a.length - b.length)[0] ?? [];
      for (const e of best) problems(e, report);
      return;
    }
  }
}

function problems(line: string, report: Report): void {
  const i = line.indexOf(': ');
  report(line.slice(0, i), line.slice(i + 2));
}

/**
 * Evaluates the intrinsics these templates use (Ref, Sub, If, Equals, Not, FindInMap, Join,
 * Split, Select, ImportValue, GetAtt) with the given parameter values (defaults otherwise),
 * imports and pseudo parameters. Resources evaluate to `<Name>` (Ref) or `<Name.Attr>` (GetAtt).
 * Fn::If's AWS::NoValue branch drops the value (undefined).
 */
export function evaluate(
  template: Template,
  value: unknown,
  inputs: { parameters?: Record<string, string>; imports?: Record<string, string> } = {},
): unknown {
  const params = template.Parameters ?? {};
  const pseudo: Record<string, string> = {
    'AWS::AccountId': '123456789012',
    'AWS::Partition': 'aws',
    'AWS::Region': 'eu-west-1',
    'AWS::StackName': 'stack',
    'AWS::URLSuffix': 'amazonaws.com',
  };
  const ref = (name: string): unknown => {
    if (name in pseudo) return pseudo[name];
    if (name in params) {
      const given = inputs.parameters?.[name];
      if (given !== undefined) return given;
      if (params[name]!.Default === undefined) throw new Error(`parameter ${name} has no value`);
      return String(params[name]!.Default);
    }
    if (name in template.Resources) return `<${name}>`;
    throw new Error(`unknown Ref ${name}`);
  };
  const condition = (name: string): boolean => Boolean(ev(template.Conditions?.[name]));
  const ev = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(ev).filter((x) => x !== undefined);
    if (!isObject(v)) return v;
    const fn = intrinsicName(v);
    if (!fn) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, ev(x)]));
    const arg = v[fn] as Json;
    const list = (): unknown[] => ev(arg) as unknown[];
    switch (fn) {
      case 'Ref':
        return (arg as string) === 'AWS::NoValue' ? undefined : ref(arg as string);
      case 'Condition':
        return condition(arg as string);
      case 'Fn::Equals': {
        const [a, b] = list();
        return String(a) === String(b);
      }
      case 'Fn::Not':
        return !list()[0];
      case 'Fn::And':
        return list().every(Boolean);
      case 'Fn::Or':
        return list().some(Boolean);
      case 'Fn::If': {
        const [name, a, b] = arg as Json[];
        return ev(condition(name as string) ? a : b);
      }
      case 'Fn::Sub': {
        const [text, vars] = Array.isArray(arg)
          ? [arg[0] as string, ev(arg[1]) as JsonObject]
          : [arg as string, {}];
        return text.replace(/\$\{([^}]+)\}/g, (_whole, name: string) => {
          if (name.startsWith('!')) return `\${${name.slice(1)}}`;
          if (name in vars) return String(vars[name]);
          if (name.includes('.')) return `<${name}>`;
          return String(ref(name));
        });
      }
      case 'Fn::FindInMap': {
        const [m, a, b] = list() as string[];
        return template.Mappings?.[m!]?.[a!]?.[b!];
      }
      case 'Fn::Join': {
        const [sep, items] = list() as [string, unknown[]];
        return items.join(sep);
      }
      case 'Fn::Split': {
        const [sep, text] = list() as [string, string];
        return text.split(sep);
      }
      case 'Fn::Select': {
        const [i, items] = list() as [number, unknown[]];
        return items[Number(i)];
      }
      case 'Fn::ImportValue': {
        const name = String(ev(arg));
        const found = inputs.imports?.[name];
        if (found === undefined) throw new Error(`no import ${name}`);
        return found;
      }
      case 'Fn::GetAtt': {
        const parts = Array.isArray(arg) ? arg : String(arg).split('.');
        return `<${parts.join('.')}>`;
      }
      default:
        return `<${fn}>`;
    }
  };
  return ev(value);
}
