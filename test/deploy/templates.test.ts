/**
 * The CloudFormation templates, validated offline: against AWS's resource specification (via
 * test/deploy/cfn.ts), and against the house rules that keep the template, the Dockerfile and the
 * gateway's own defaults in agreement.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SpecDatabase } from '@aws-cdk/service-spec-types';
import { beforeAll, describe, expect, it } from 'vitest';
import { yamlParse } from 'yaml-cfn';
import { loadConfig } from '../../src/config/config.js';
import { HARD_EXIT_MARGIN_SECONDS } from '../../src/hard-exit.js';
import {
  evaluate,
  isObject,
  type Json,
  type JsonObject,
  loadSpec,
  parseTemplate,
  type Template,
  validateTemplate,
} from './cfn.js';
import { readDockerfile } from './dockerfile.js';
import { GATEWAY_SAMPLE_PARAMETERS, NETWORK_IMPORTS } from './fixtures.js';

const root = join(import.meta.dirname, '../..');
const templatePath = (name: string): string => join(root, 'cloudformation', `${name}.yaml`);
const TEMPLATES = ['network', 'gateway', 'pipeline'] as const;

let db: SpecDatabase;
beforeAll(async () => {
  db = await loadSpec();
});

/** Every IAM statement of a template (inline role policies and managed/standalone policies). */
function statements(t: Template): { where: string; statement: JsonObject }[] {
  const out: { where: string; statement: JsonObject }[] = [];
  const visitDocument = (doc: Json | undefined, where: string): void => {
    if (!isObject(doc)) return;
    for (const s of [doc.Statement ?? []].flat()) {
      // Both branches of a conditional statement count.
      if (isObject(s) && Array.isArray(s['Fn::If'])) {
        for (const branch of s['Fn::If'].slice(1))
          if (isObject(branch) && !('Ref' in branch)) out.push({ where, statement: branch });
      } else if (isObject(s)) out.push({ where, statement: s });
    }
  };
  for (const [name, r] of Object.entries(t.Resources)) {
    const p = r.Properties ?? {};
    if (r.Type === 'AWS::IAM::Role' && Array.isArray(p.Policies)) {
      for (const policy of p.Policies) if (isObject(policy)) visitDocument(policy.PolicyDocument, name);
    }
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy')
      visitDocument(p.PolicyDocument, name);
  }
  return out;
}

/** House rule: no Secrets Manager, KMS or S3 action (nor "*") on Resource "*" or a wildcard ARN. */
function wildcardViolations(t: Template): string[] {
  const found: string[] = [];
  for (const { where, statement } of statements(t)) {
    const actions = [statement.Action ?? []].flat().map(String);
    const sensitive = actions.filter((a) => a === '*' || /^(secretsmanager|kms|s3):/i.test(a));
    if (sensitive.length === 0) continue;
    const resources = [statement.Resource ?? '*'].flat();
    for (const r of resources) {
      if (typeof r === 'string' && (r === '*' || /:\*$|:\*:/.test(r)))
        found.push(`${where}: ${sensitive.join(',')} on ${r}`);
    }
  }
  return found;
}

function listenPort(value: string): number {
  return Number(value.split(':').pop());
}

describe('CloudFormation templates against the AWS resource specification', () => {
  it.each(TEMPLATES)('%s.yaml: known types, properties, value types and targets', (name) => {
    expect(validateTemplate(parseTemplate(templatePath(name)), db)).toEqual([]);
  });

  it('the validator catches unknown and missing properties, wrong types and dangling targets', () => {
    const t = parseTemplate(templatePath('gateway'));
    const broken = structuredClone(t) as Template & { Resources: Record<string, { Properties: JsonObject }> };
    broken.Resources.Listener!.Properties.Protocl = 'TCP';
    delete broken.Resources.Listener!.Properties.LoadBalancerArn;
    broken.Resources.TaskDefinition!.Properties.ContainerDefinitions = [
      { Name: 'gateway', Image: 'x', ReadonlyRootFilesystem: 'yes', PortMappings: { ContainerPort: 1 } },
    ];
    delete (broken.Resources.LoadBalancer!.Properties as { Type?: Json }).Type;
    broken.Resources.Cluster = { Type: 'AWS::ECS::Clustr', Properties: {} } as never;
    broken.Resources.Service!.Properties.TaskDefinition = { Ref: 'NoSuchThing' };
    broken.Resources.Service!.Properties.ServiceName = { 'Fn::GetAtt': ['LoadBalancer', 'NoSuchAttr'] };
    broken.Resources.ScalableTarget!.Properties.ResourceId = { 'Fn::Sub': 'service/$' + '{Missing}' };
    broken.Resources.Listener!.Properties.Port = 'four-four-three';
    const problems = validateTemplate(broken, db).join('\n');
    expect(problems).toContain('Resources.Listener.Properties.Protocl: unknown property');
    expect(problems).toContain("Resources.Listener.Properties: missing required property 'LoadBalancerArn'");
    expect(problems).toContain('ReadonlyRootFilesystem: expected a boolean');
    expect(problems).toContain('PortMappings: expected a list');
    expect(problems).toContain("'AWS::ECS::Clustr' is not a CloudFormation resource type");
    expect(problems).toContain("Ref to unknown 'NoSuchThing'");
    expect(problems).toContain("has no attribute 'NoSuchAttr'");
    expect(problems).toContain("'$" + "{Missing}' is not defined");
    expect(problems).toContain('Listener.Properties.Port: expected an integer');
  });

  it('a FindInMap keyed by a parameter has a row for every allowed value', () => {
    const t = parseTemplate(templatePath('gateway'));
    const broken = structuredClone(t) as Template & { Mappings: Record<string, Record<string, JsonObject>> };
    delete broken.Mappings.DrainTimings!['60'];
    expect(validateTemplate(broken, db).join('\n')).toContain("mapping 'DrainTimings' has no key '60'");
  });
});

describe('gateway.yaml house rules', () => {
  const t = parseTemplate(templatePath('gateway'));
  const res = t.Resources;
  const props = (name: string): JsonObject => res[name]!.Properties!;
  const resolved = (v: unknown, parameters: Record<string, string> = {}): unknown =>
    evaluate(t, v, { parameters: { ...GATEWAY_SAMPLE_PARAMETERS, ...parameters }, imports: NETWORK_IMPORTS });
  const container = (parameters: Record<string, string> = {}): JsonObject =>
    (resolved(props('TaskDefinition').ContainerDefinitions, parameters) as JsonObject[])[0]!;
  const taskEnv = (parameters: Record<string, string> = {}): Record<string, string> =>
    Object.fromEntries(
      (container(parameters).Environment as { Name: string; Value: string }[]).map((e) => [e.Name, e.Value]),
    );
  const docker = readDockerfile(join(root, 'Dockerfile'));
  const defaults = loadConfig({});

  it('listens for partners on TCP 443 only: passthrough, never TLS at the NLB', () => {
    const listeners = Object.values(res).filter((r) => r.Type === 'AWS::ElasticLoadBalancingV2::Listener');
    expect(listeners).toHaveLength(1);
    expect(listeners[0]!.Properties).toMatchObject({ Protocol: 'TCP', Port: 443 });
    expect(listeners[0]!.Properties).not.toHaveProperty('Certificates');
    expect(props('LoadBalancer')).toMatchObject({ Type: 'network', Scheme: 'internet-facing' });
    expect(props('TargetGroup')).toMatchObject({ Protocol: 'TCP', TargetType: 'ip' });
  });

  it('logs native lines, the field names its metric filters and dashboard queries read', () => {
    expect(taskEnv().GATEWAY_LOG_FORMAT ?? defaults.logFormat).toBe('native');
  });

  it('grants no Secrets Manager, KMS or S3 action on "*"', () => {
    for (const name of TEMPLATES)
      expect(wildcardViolations(parseTemplate(templatePath(name))), name).toEqual([]);
    const broken = structuredClone(t);
    const role = broken.Resources.TaskRole!.Properties as {
      Policies: { PolicyDocument: { Statement: JsonObject[] } }[];
    };
    role.Policies[0]!.PolicyDocument.Statement.push({
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: '*',
    });
    expect(wildcardViolations(broken)).toEqual(['TaskRole: s3:GetObject on *']);
  });

  it('GATEWAY_CONFIG from Parameter Store: the task role alone may read exactly that parameter', () => {
    // Without the parameter: no GATEWAY_CONFIG and no SSM permission at all.
    expect(taskEnv()).not.toHaveProperty('GATEWAY_CONFIG');
    expect(JSON.stringify(resolved(res.TaskRole!.Properties))).not.toContain('ssm:');
    const name = '/mtls-gateway/policy';
    expect(name).toMatch(new RegExp(t.Parameters!.GatewayConfigParameterName!.AllowedPattern as string));
    const env = taskEnv({ GatewayConfigParameterName: name });
    expect(env.GATEWAY_CONFIG).toBe(`ssm:${name}`);
    const statements = (
      resolved(props('TaskRole').Policies, { GatewayConfigParameterName: name }) as {
        PolicyDocument: { Statement: JsonObject[] };
      }[]
    ).flatMap((p) => p.PolicyDocument.Statement);
    const ssm = statements.filter((s) => JSON.stringify(s.Action).includes('ssm:'));
    expect(ssm).toEqual([
      {
        Sid: 'ReadPolicyParameter',
        Effect: 'Allow',
        Action: 'ssm:GetParameter',
        Resource: `arn:aws:ssm:eu-west-1:123456789012:parameter${name}`,
      },
    ]);
    // Nobody else in the stack is granted it (the execution role pulls the image and writes logs).
    const others = Object.entries(res).filter(([n, r]) => n !== 'TaskRole' && r.Type === 'AWS::IAM::Role');
    for (const [n, r] of others) expect(JSON.stringify(r.Properties), n).not.toContain('ssm:');
  });

  it('the task role reads exactly the secrets and CRL object the task is configured with', () => {
    const env = taskEnv();
    const policy = resolved(props('TaskRole').Policies) as { PolicyDocument: { Statement: JsonObject[] } }[];
    const byAction = (action: string): JsonObject[] =>
      policy[0]!.PolicyDocument.Statement.filter((s) => [s.Action].flat().includes(action));
    const secretResources = [byAction('secretsmanager:GetSecretValue')[0]!.Resource].flat().sort();
    const configured = [env.GATEWAY_SERVER_CERT, env.GATEWAY_SERVER_KEY, env.GATEWAY_CA_BUNDLE].map((s) => {
      expect(s).toMatch(/^secretsmanager:arn:aws:secretsmanager:/);
      return s!.slice('secretsmanager:'.length);
    });
    expect(secretResources).toEqual(configured.sort());
    const crl = /^s3:\/\/([^/]+)\/(.+)$/.exec(env.GATEWAY_CRLS!)!;
    expect(byAction('s3:GetObject')[0]!.Resource).toBe(`arn:aws:s3:::${crl[1]}/${crl[2]}`);
    // KMS only through Secrets Manager, and only when a customer managed key is named.
    expect(byAction('kms:Decrypt')).toEqual([]);
    const withKey = resolved(props('TaskRole').Policies, {
      SecretsKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    }) as { PolicyDocument: { Statement: JsonObject[] } }[];
    const kms = withKey[0]!.PolicyDocument.Statement.find((s) => s.Action === 'kms:Decrypt')!;
    expect(kms.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' },
    });
  });

  it('the task definition is a configuration the gateway accepts in production', () => {
    const c = container();
    expect(c).not.toHaveProperty('Secrets'); // trust material is read (and hot-reloaded) by the app
    const env = taskEnv();
    expect(env.NODE_ENV).toBe('production');
    const config = loadConfig(env, '/app');
    expect(config.production).toBe(true);
    expect(config.caBundle.kind).toBe('secretsmanager');
    expect(config.serverCert.kind).toBe('secretsmanager');
    expect(config.serverKey.kind).toBe('secretsmanager');
    expect(config.crls.map((s) => s.kind)).toEqual(['s3']);
    // PROXY protocol v2 by default: the gateway sees partners' addresses, not the NLB's.
    expect(loadConfig(env, '/app').proxyProtocol).toBe('v2');
    expect(loadConfig(taskEnv({ ProxyProtocolV2: 'false' }), '/app').proxyProtocol).toBe('off');
  });

  it('runs read-only, non-root, with an init process, a /tmp volume and a log group with retention', () => {
    const td = props('TaskDefinition');
    expect(td).toMatchObject({ NetworkMode: 'awsvpc', RequiresCompatibilities: ['FARGATE'] });
    const c = container();
    expect(c).toMatchObject({ ReadonlyRootFilesystem: true, LinuxParameters: { InitProcessEnabled: true } });
    expect(c.User).toBe(docker.user);
    expect(c.MountPoints).toEqual([{ SourceVolume: 'tmp', ContainerPath: '/tmp', ReadOnly: false }]);
    expect(td.Volumes).toEqual([{ Name: 'tmp' }]);
    expect(c.LogConfiguration).toMatchObject({
      LogDriver: 'awslogs',
      Options: { 'awslogs-group': '<LogGroup>' },
    });
    expect(props('LogGroup').RetentionInDays).toBeDefined();
    // ECS ignores the image's HEALTHCHECK: the task definition repeats the same command.
    expect(c.HealthCheck).toMatchObject({ Command: ['CMD', ...docker.healthcheck!.command] });
  });

  it('ports agree between the gateway defaults, the Dockerfile, the task, the NLB and the security groups', () => {
    const env = taskEnv();
    const tls = listenPort(env.GATEWAY_LISTEN!);
    const admin = listenPort(env.GATEWAY_ADMIN_LISTEN!);
    expect(tls).toBe(defaults.listen.port);
    expect(admin).toBe(defaults.adminListen.port);
    expect(env.GATEWAY_ADMIN_LISTEN).toBe('0.0.0.0:9090'); // reachable by the NLB health check
    expect(listenPort(docker.env.GATEWAY_LISTEN!)).toBe(tls);
    expect(listenPort(docker.env.GATEWAY_ADMIN_LISTEN!)).toBe(admin);
    expect(docker.expose.sort()).toEqual([tls, admin].sort());
    const c = container();
    expect((c.PortMappings as JsonObject[]).map((p) => p.ContainerPort).sort()).toEqual([tls, admin].sort());
    const tg = props('TargetGroup');
    expect(tg.Port).toBe(tls);
    expect(tg).toMatchObject({
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: String(admin),
      HealthCheckPath: '/readyz',
    });
    const service = resolved(props('Service')) as { LoadBalancers: JsonObject[] };
    expect(service.LoadBalancers).toEqual([
      { ContainerName: c.Name, ContainerPort: tls, TargetGroupArn: '<TargetGroup>' },
    ]);
    // The admin port is open to the VPC only; the TLS port only to the NLB; the NLB only on 443.
    const taskSg = resolved(props('TaskSecurityGroup')) as { SecurityGroupIngress: JsonObject[] };
    expect(taskSg.SecurityGroupIngress).toEqual([
      expect.objectContaining({
        FromPort: admin,
        ToPort: admin,
        CidrIp: NETWORK_IMPORTS['mtls-gateway-network-VpcCidr'],
      }),
    ]);
    expect(props('TaskIngressFromNlb')).toMatchObject({
      FromPort: tls,
      ToPort: tls,
      SourceSecurityGroupId: { Ref: 'NlbSecurityGroup' },
    });
    const nlbSg = props('NlbSecurityGroup').SecurityGroupIngress as JsonObject[];
    expect(nlbSg).toEqual([
      expect.objectContaining({
        FromPort: 443,
        ToPort: 443,
        SourcePrefixListId: { Ref: 'PartnerPrefixListId' },
      }),
    ]);
    for (const e of ['NlbEgressToTasks', 'NlbHealthCheckEgress'].map(props))
      expect([tls, admin]).toContain(e.FromPort);
  });

  it('the health check path is one the admin listener serves', () => {
    const admin = readFileSync(join(root, 'src/admin/admin-server.ts'), 'utf8');
    expect(admin).toContain(`case '${props('TargetGroup').HealthCheckPath as string}':`);
  });

  it('drain, stop timeout and deregistration delay agree for every allowed drain time', () => {
    const drain = t.Parameters!.DrainSeconds!;
    expect(Number(drain.Default)).toBe(defaults.drainSeconds);
    for (const value of (drain.AllowedValues as string[]).map(String)) {
      const seconds = Number(value);
      const env = taskEnv({ DrainSeconds: value });
      expect(loadConfig(env, '/app').drainSeconds).toBe(seconds);
      const stop = Number(container({ DrainSeconds: value }).StopTimeout);
      // The hard-exit watchdog ends a stuck process before ECS's SIGKILL would.
      expect(stop, `stopTimeout for drain ${value}`).toBeGreaterThanOrEqual(
        seconds + HARD_EXIT_MARGIN_SECONDS,
      );
      expect(stop).toBeLessThanOrEqual(120); // Fargate's maximum
      const attrs = resolved(props('TargetGroup').TargetGroupAttributes, { DrainSeconds: value }) as {
        Key: string;
        Value: string;
      }[];
      const dereg = Number(attrs.find((a) => a.Key === 'deregistration_delay.timeout_seconds')!.Value);
      expect(dereg, `deregistration delay for drain ${value}`).toBeGreaterThanOrEqual(seconds);
      expect(attrs.find((a) => a.Key === 'proxy_protocol_v2.enabled')!.Value).toBe('true');
    }
    expect(docker.stopSignal).toBe('SIGTERM');
  });

  it('runs at least two tasks with a rolling-back circuit breaker and CPU target tracking', () => {
    expect(t.Parameters!.DesiredCount!.MinValue).toBeGreaterThanOrEqual(2);
    expect(props('Service').DeploymentConfiguration).toMatchObject({
      DeploymentCircuitBreaker: { Enable: true, Rollback: true },
      MinimumHealthyPercent: 100,
    });
    expect(props('CpuScaling')).toMatchObject({
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
      },
    });
  });

  it('alarms for a held rotation, trust reload failures by kind, the server certificate and 5xx', () => {
    // Which log lines feed them is test/deploy/alarm-filters.test.ts: real lines, real patterns.
    const alarmed = Object.values(res)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .map((r) => {
        const p = r.Properties as JsonObject & { Dimensions?: { Value: string }[] };
        const kind = p.Dimensions?.find((d) => (d as JsonObject).Name === 'Kind')?.Value;
        return `${String(p.MetricName ?? 'math')}${kind ? `:${kind}` : ''}`;
      });
    expect(alarmed.sort()).toEqual([
      'CrlNearNextUpdate',
      'CrlPastNextUpdate',
      'HandshakeFailures',
      'RotationHeldBack',
      'ServerCertDaysLeft',
      'TrustReloadFailures:ca_bundle',
      'TrustReloadFailures:crl',
      'TrustReloadFailures:server_cert',
      'UnHealthyHostCount',
      'math',
    ]);
    expect(props('ServerCertExpiryAlarm')).toMatchObject({
      Threshold: 14,
      ComparisonOperator: 'LessThanThreshold',
    });
    expect(res.Dashboard?.Type).toBe('AWS::CloudWatch::Dashboard');
  });

  it('the task role may move only the two fleet labels, on the CA bundle secret only', () => {
    const statements = (
      resolved(props('TaskRole').Policies) as { PolicyDocument: { Statement: JsonObject[] } }[]
    ).flatMap((p) => p.PolicyDocument.Statement);
    const labelling = statements.filter((s) => JSON.stringify(s.Action).includes('UpdateSecretVersionStage'));
    expect(labelling).toEqual([
      {
        Sid: 'LabelTrustDecisions',
        Effect: 'Allow',
        Action: 'secretsmanager:UpdateSecretVersionStage',
        Resource: taskEnv().GATEWAY_CA_BUNDLE!.slice('secretsmanager:'.length),
        Condition: { StringEquals: { 'secretsmanager:VersionStage': ['MTLSGW_HELD', 'MTLSGW_LAST_GOOD'] } },
      },
    ]);
    // No other write to Secrets Manager anywhere in the task role.
    const writes = statements
      .flatMap((s) => [s.Action].flat().map(String))
      .filter((a) => /secretsmanager:(Put|Create|Delete|Update)/.test(a));
    expect(writes).toEqual(['secretsmanager:UpdateSecretVersionStage']);
  });
});

describe('network.yaml and pipeline.yaml house rules', () => {
  it('private subnets have no route out; the tasks reach AWS through endpoints; flow logs are on', () => {
    const t = parseTemplate(templatePath('network'));
    const types = Object.values(t.Resources).map((r) => r.Type);
    expect(types).not.toContain('AWS::EC2::NatGateway');
    const routes = Object.values(t.Resources).filter((r) => r.Type === 'AWS::EC2::Route');
    expect(routes.map((r) => r.Properties!.RouteTableId)).toEqual([{ Ref: 'PublicRouteTable' }]);
    const services = Object.values(t.Resources)
      .filter((r) => r.Type === 'AWS::EC2::VPCEndpoint')
      .map((r) => (evaluate(t, r.Properties!.ServiceName) as string).split('.').slice(3).join('.'));
    expect(services.sort()).toEqual(['ecr.api', 'ecr.dkr', 'logs', 's3', 'secretsmanager', 'ssm']);
    expect(types).toContain('AWS::EC2::FlowLog');
    const gateway = parseTemplate(templatePath('gateway'));
    const exported = Object.values(t.Outputs!).map((o) =>
      evaluate(t, (o.Export as JsonObject | undefined)?.Name, { parameters: {} }),
    );
    const imported = JSON.stringify(gateway)
      .match(/\$\{NetworkStackName\}-(\w+)/g)!
      .map((s) => s.replace(/^\$\{NetworkStackName\}/, 'stack'));
    for (const name of new Set(imported)) expect(exported).toContain(name);
  });

  it('ECR scans on push with immutable tags; the pipeline tests, then waits for approval, then deploys', () => {
    const t = parseTemplate(templatePath('pipeline'));
    expect(t.Resources.Repository!.Properties).toMatchObject({
      ImageTagMutability: 'IMMUTABLE',
      ImageScanningConfiguration: { ScanOnPush: true },
    });
    const spec = (t.Resources.BuildProject!.Properties!.Source as JsonObject).BuildSpec as string;
    for (const step of ['npm ci', 'npm run lint', 'npm test', 'docker build', 'docker push'])
      expect(spec).toContain(step);
    const stages = (
      t.Resources.Pipeline!.Properties!.Stages as { Actions: { ActionTypeId: JsonObject }[] }[]
    ).map((s) => s.Actions.map((a) => `${a.ActionTypeId.Category}/${a.ActionTypeId.Provider}`).join(','));
    expect(stages).toEqual([
      'Source/CodeStarSourceConnection',
      'Build/CodeBuild',
      'Approval/Manual',
      'Deploy/ECS',
    ]);
  });

  it('deploys the scanned image by digest; blocking scan findings fail the build before approval', () => {
    const t = parseTemplate(templatePath('pipeline'));
    const project = t.Resources.BuildProject!.Properties!;
    const spec = yamlParse((project.Source as JsonObject).BuildSpec as string) as {
      phases: { build: { commands: string[] } };
    };
    const commands = spec.phases.build.commands;
    for (const c of commands) expect(spawnSync('bash', ['-n', '-c', c]).status, c).toBe(0);
    const at = (needle: string): number => commands.findIndex((c) => c.includes(needle));
    // Order: push, digest, wait for the scan, gate on its findings, then the deploy artifact.
    const order = [
      'docker push',
      'describe-images',
      'wait image-scan-complete',
      'describe-image-scan-findings',
    ];
    const steps = [...order.map(at), at('SCAN_BLOCKING_SEVERITIES'), at('imagedefinitions.json')];
    expect(steps.every((i) => i >= 0)).toBe(true);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    expect(commands[at('imagedefinitions.json')]).toContain('"$REPOSITORY_URI@$DIGEST"');
    expect(t.Parameters!.ScanBlockingSeverities!.Default).toBe('CRITICAL,HIGH');

    // The gate itself, run on scan counts as the AWS CLI prints them.
    const gate = commands[at('SCAN_BLOCKING_SEVERITIES')]!;
    const dir = mkdtempSync(join(tmpdir(), 'mtls-gw-scan-'));
    try {
      const verdict = (counts: string): number | null => {
        writeFileSync(join(dir, 'scan-counts.json'), counts);
        return spawnSync('bash', ['-c', gate], {
          cwd: dir,
          env: { PATH: process.env.PATH, SCAN_BLOCKING_SEVERITIES: 'CRITICAL,HIGH' },
        }).status;
      };
      expect(verdict('{"HIGH": 2, "LOW": 5}')).toBe(1);
      expect(verdict('{"CRITICAL": 1}')).toBe(1);
      expect(verdict('{"MEDIUM": 3, "LOW": 5}')).toBe(0);
      expect(verdict('null')).toBe(0); // no findings at all
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // OCI labels: the build passes them, the Dockerfile's runtime stage sets them.
    const build = commands[at('docker build')]!;
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    for (const label of ['source', 'revision', 'version']) {
      expect(build).toContain(`--build-arg "OCI_${label.toUpperCase()}=`);
      expect(dockerfile).toContain(`org.opencontainers.image.${label}="\${OCI_${label.toUpperCase()}}"`);
    }
  });

  it('log groups are kept on delete and replace, and encrypted with a rotating KMS key', () => {
    for (const name of TEMPLATES) {
      const t = parseTemplate(templatePath(name));
      const groups = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::Logs::LogGroup');
      expect(groups.length, name).toBeGreaterThan(0);
      for (const [id, g] of groups) {
        expect([g.DeletionPolicy, g.UpdateReplacePolicy], `${name} ${id}`).toEqual(['Retain', 'Retain']);
        const keyRef = (g.Properties!.KmsKeyId as { 'Fn::GetAtt': string[] })['Fn::GetAtt'];
        expect(keyRef?.[1], `${name} ${id}`).toBe('Arn');
        const key = t.Resources[keyRef![0]!]!;
        expect(key.Type).toBe('AWS::KMS::Key');
        expect(key.Properties!.EnableKeyRotation).toBe(true);
        expect(JSON.stringify(key.Properties!.KeyPolicy)).toContain('kms:EncryptionContext:aws:logs:arn');
      }
    }
  });

  it('one Node release everywhere: the image, engines, @types/node and the pipeline build', () => {
    const image = readDockerfile(join(root, 'Dockerfile')).args.NODE_VERSION!;
    const major = image.split('.')[0]!;
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      engines: { node: string };
      devDependencies: Record<string, string>;
    };
    expect(pkg.engines.node).toBe(`>=${major}`);
    expect(pkg.devDependencies['@types/node']).toMatch(new RegExp(`^\\^${major}\\.`));
    const spec = (
      parseTemplate(templatePath('pipeline')).Resources.BuildProject!.Properties!.Source as JsonObject
    ).BuildSpec as string;
    expect(spec).toMatch(new RegExp(`^\\s+nodejs: ${major}\\b`, 'm'));
    // .ci/run tests on exactly the image's release, taken from the same ARG.
    expect(readFileSync(join(root, '.ci/run'), 'utf8')).toContain(
      "sed -n 's/^ARG NODE_VERSION=//p' Dockerfile",
    );
  });
});
