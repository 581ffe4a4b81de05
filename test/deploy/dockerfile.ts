/**
 * The Dockerfile as data (parsed with dockerfile-ast): global ARGs, stages with their resolved base
 * image and build steps, and the final stage's runtime settings. The lint test checks house rules
 * on it, so it follows the file when it changes.
 */
import { readFileSync } from 'node:fs';
import {
  type Copy,
  DockerfileParser,
  type Env,
  type Flag,
  type Healthcheck,
  type Instruction,
  JSONInstruction,
} from 'dockerfile-ast';

export type BuildStep =
  | { readonly kind: 'workdir'; readonly path: string }
  | { readonly kind: 'env'; readonly vars: Readonly<Record<string, string>> }
  | { readonly kind: 'copy'; readonly from?: string; readonly sources: string[]; readonly dest: string }
  | { readonly kind: 'run'; readonly command: string };

export interface Stage {
  readonly name: string;
  /** FROM's image with the global ARG defaults substituted. */
  readonly image: string;
  readonly steps: BuildStep[];
  readonly instructions: Instruction[];
}

export interface DockerfileModel {
  readonly text: string;
  readonly args: Readonly<Record<string, string>>;
  readonly stages: Stage[];
  /** The last stage: the image that ships. */
  readonly runtime: Stage;
  readonly env: Readonly<Record<string, string>>;
  readonly user: string | undefined;
  readonly expose: number[];
  readonly stopSignal: string | undefined;
  readonly healthcheck: { readonly flags: Record<string, string>; readonly command: string[] } | undefined;
  /** Exec-form arguments, undefined when absent or in shell form. */
  readonly entrypoint: string[] | undefined;
  readonly cmd: string[] | undefined;
  readonly shellForm: string[];
}

function flags(list: Flag[]): Record<string, string> {
  return Object.fromEntries(list.map((f) => [f.getName(), f.getValue() ?? '']));
}

function execForm(i: Instruction | undefined): string[] | undefined {
  if (!(i instanceof JSONInstruction)) return undefined;
  const strings = i.getJSONStrings();
  return strings.length > 0 ? strings.map((s) => s.getJSONValue()) : undefined;
}

export function readDockerfile(path: string): DockerfileModel {
  const text = readFileSync(path, 'utf8');
  const doc = DockerfileParser.parse(text);
  const args: Record<string, string> = {};
  const firstFrom = doc.getFROMs()[0]?.getRange().start.line ?? Number.POSITIVE_INFINITY;
  for (const a of doc.getInstructions().filter((i) => i.getRange().start.line < firstFrom)) {
    const p = a.getKeyword() === 'ARG' ? a.getArgumentsContent() : null;
    if (p) {
      const [name, value = ''] = p.split(/=(.*)/s);
      args[name!.trim()] = value.trim();
    }
  }
  const substitute = (s: string): string =>
    s.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a?: string, b?: string) => args[(a ?? b)!] ?? whole);

  const stages: Stage[] = [];
  for (const from of doc.getFROMs()) {
    const stageInstructions = doc
      .getInstructions()
      .filter(
        (i) =>
          i.getRange().start.line > from.getRange().start.line &&
          !doc
            .getFROMs()
            .some(
              (f) =>
                f !== from &&
                f.getRange().start.line > from.getRange().start.line &&
                f.getRange().start.line < i.getRange().start.line,
            ),
      );
    const steps: BuildStep[] = [];
    for (const i of stageInstructions) {
      switch (i.getKeyword()) {
        case 'WORKDIR':
          steps.push({ kind: 'workdir', path: i.getArgumentsContent() ?? '' });
          break;
        case 'ENV':
          steps.push({
            kind: 'env',
            vars: Object.fromEntries(
              (i as Env).getProperties().map((p) => [p.getName(), p.getValue() ?? '']),
            ),
          });
          break;
        case 'COPY': {
          const parts = (i as Copy).getArguments().map((a) => a.getValue());
          const from = flags((i as Copy).getFlags()).from;
          steps.push({
            kind: 'copy',
            ...(from ? { from } : {}),
            sources: parts.slice(0, -1),
            dest: parts.at(-1)!,
          });
          break;
        }
        case 'RUN':
          steps.push({ kind: 'run', command: i.getArgumentsContent() ?? '' });
          break;
      }
    }
    stages.push({
      name: from.getBuildStage() ?? String(stages.length),
      image: substitute(from.getImage() ?? ''),
      steps,
      instructions: stageInstructions,
    });
  }
  const runtime = stages.at(-1)!;
  const last = (keyword: string): Instruction | undefined =>
    runtime.instructions.filter((i) => i.getKeyword() === keyword).at(-1);
  const env: Record<string, string> = {};
  for (const s of runtime.steps) if (s.kind === 'env') Object.assign(env, s.vars);
  const hc = last('HEALTHCHECK') as Healthcheck | undefined;
  const hcArgs = hc?.getArguments().map((a) => a.getValue()) ?? [];
  const hcJson = hcArgs.slice(1).join(' ');
  const shellForm = doc
    .getInstructions()
    .filter((i) => ['CMD', 'ENTRYPOINT'].includes(i.getKeyword()) && !execForm(i))
    .map((i) => i.getKeyword());
  return {
    text,
    args,
    stages,
    runtime,
    env,
    user: last('USER')?.getArgumentsContent() ?? undefined,
    expose: (last('EXPOSE')?.getArgumentsContent() ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map((p) => Number.parseInt(p, 10)),
    stopSignal: last('STOPSIGNAL')?.getArgumentsContent() ?? undefined,
    healthcheck: hc
      ? { flags: flags(hc.getFlags()), command: hcArgs[0] === 'CMD' ? (JSON.parse(hcJson) as string[]) : [] }
      : undefined,
    entrypoint: execForm(last('ENTRYPOINT')),
    cmd: execForm(last('CMD')),
    shellForm,
  };
}
