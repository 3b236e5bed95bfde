/**
 * A faithful emulator of the AWS Secrets Manager JSON protocol (awsJson1_1, reference §3):
 * GetSecretValue, DescribeSecret, PutSecretValue, CreateSecret, RotateSecret,
 * UpdateSecretVersionStage, ListSecrets, ListSecretVersionIds, DeleteSecret, RestoreSecret, with
 * unique version stages and the automatic AWSPREVIOUS move; fault switches (throttling, 500,
 * access denied, KMS decryption failure, hang, non-JSON, latency) and per-operation counters.
 * Listens on 127.0.0.1, port 0. Signatures are not checked.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';

interface Version {
  id: string;
  string: string | undefined;
  binary: Buffer | undefined;
  stages: string[];
  created: number;
}

interface StoredSecret {
  arn: string;
  name: string;
  description: string;
  versions: Map<string, Version>;
  created: number;
  lastChanged: number;
  lastRotated: number | undefined;
  deletedDate: number | undefined;
  rotationEnabled: boolean;
  tags: { Key: string; Value: string }[];
}

class AwsError {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly message: string,
  ) {}
}

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';

export class AwsSmEmulator {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly secrets = new Map<string, StoredSecret>();
  private readonly counters = new Map<string, number>();
  url = '';

  // Fault switches.
  throttle = false;
  fail500 = false;
  accessDenied = false;
  /** Names whose reads are denied (per-identity AccessDenied simulation). */
  readonly deniedSecrets = new Set<string>();
  decryptionFailure = false;
  hang = false;
  nonJson = false;
  latencyMs = 0;
  /** Value a RotateSecret's "createSecret" step writes as AWSPENDING. */
  rotator: (previous: string | undefined) => string = () => `rotated-${randomBytes(8).toString('hex')}`;

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  // ---- test helpers ----

  /** Creates a secret (AWSCURRENT on its first version); returns the VersionId. */
  create(name: string, value: string | Buffer): string {
    return (
      this.createSecret({
        Name: name,
        ...(typeof value === 'string' ? { SecretString: value } : { SecretBinary: value.toString('base64') }),
      }) as {
        VersionId: string;
      }
    ).VersionId;
  }

  /** Simulates the rotation Lambda's finishSecret step: AWSCURRENT moves to AWSPENDING's version. */
  finishRotation(name: string): void {
    const s = this.mustFind(name);
    const pending = this.versionWithStage(s, 'AWSPENDING');
    if (!pending) throw new Error('no rotation in flight');
    this.moveStage(s, 'AWSCURRENT', pending.id);
    pending.stages = pending.stages.filter((x) => x !== 'AWSPENDING');
    s.lastRotated = Date.now();
  }

  versionIdOf(name: string, stage: string): string | undefined {
    const s = this.find(name);
    return s ? this.versionWithStage(s, stage)?.id : undefined;
  }

  markForDeletion(name: string): void {
    this.mustFind(name).deletedDate = Date.now() / 1000 + 7 * 86_400;
  }

  /** Calls of an operation, optionally for one SecretId (name or ARN as sent). */
  count(operation: string, secretId?: string): number {
    return this.counters.get(secretId === undefined ? operation : `${operation}:${secretId}`) ?? 0;
  }

  resetCounters(): void {
    this.counters.clear();
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await new Promise<string>((resolve) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (text += c));
      req.on('end', () => resolve(text));
      req.on('error', () => resolve(text));
    });
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : '';
    let input: Record<string, unknown> = {};
    try {
      input = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    } catch {
      input = {};
    }
    this.counters.set(op, (this.counters.get(op) ?? 0) + 1);
    if (typeof input['SecretId'] === 'string') {
      const key = `${op}:${input['SecretId']}`;
      this.counters.set(key, (this.counters.get(key) ?? 0) + 1);
    }
    if (this.hang) return;
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    if (res.destroyed) return;
    if (this.nonJson) {
      res.writeHead(503, { 'content-type': 'text/html' });
      res.end('<html><body>Service Unavailable</body></html>');
      return;
    }
    let status = 200;
    let body: unknown;
    try {
      body = this.dispatch(op, input);
    } catch (error) {
      const e =
        error instanceof AwsError
          ? error
          : new AwsError(500, 'InternalServiceError', 'An error occurred on the server side.');
      status = e.status;
      body = { __type: e.type, Message: e.message };
    }
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-RequestId': randomUUID(),
    });
    res.end(JSON.stringify(body));
  }

  private dispatch(op: string, input: Record<string, unknown>): unknown {
    if (this.throttle) throw new AwsError(400, 'ThrottlingException', 'Rate exceeded');
    if (this.fail500)
      throw new AwsError(500, 'InternalServiceError', 'An error occurred on the server side.');
    const id = typeof input['SecretId'] === 'string' ? input['SecretId'] : undefined;
    if (this.accessDenied || (id !== undefined && this.deniedSecrets.has(this.find(id)?.name ?? id))) {
      throw new AwsError(
        400,
        'AccessDeniedException',
        `User: arn:aws:iam::${ACCOUNT}:user/keyward is not authorized to perform: secretsmanager:${op} on resource: ${id ?? '*'} because no identity-based policy allows the secretsmanager:${op} action`,
      );
    }
    switch (op) {
      case 'GetSecretValue':
        return this.getSecretValue(input);
      case 'DescribeSecret':
        return this.describe(input);
      case 'PutSecretValue':
        return this.putSecretValue(input);
      case 'CreateSecret':
        return this.createSecret(input);
      case 'RotateSecret':
        return this.rotate(input);
      case 'UpdateSecretVersionStage':
        return this.updateStage(input);
      case 'ListSecrets':
        return this.listSecrets(input);
      case 'ListSecretVersionIds':
        return this.listVersionIds(input);
      case 'DeleteSecret':
        return this.deleteSecret(input);
      case 'RestoreSecret':
        return this.restore(input);
      default:
        throw new AwsError(400, 'UnknownOperationException', '');
    }
  }

  // ---- model ----

  private find(id: string): StoredSecret | undefined {
    const byName = this.secrets.get(id);
    if (byName) return byName;
    for (const s of this.secrets.values()) if (s.arn === id) return s;
    return undefined;
  }

  private mustFind(id: unknown): StoredSecret {
    const s = typeof id === 'string' ? this.find(id) : undefined;
    if (!s)
      throw new AwsError(
        400,
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret.",
      );
    return s;
  }

  private readable(id: unknown): StoredSecret {
    const s = this.mustFind(id);
    if (s.deletedDate !== undefined) {
      throw new AwsError(
        400,
        'InvalidRequestException',
        "You can't perform this operation on the secret because it was marked for deletion.",
      );
    }
    return s;
  }

  private versionWithStage(s: StoredSecret, stage: string): Version | undefined {
    for (const v of s.versions.values()) if (v.stages.includes(stage)) return v;
    return undefined;
  }

  /** Moves a label to a version; AWSCURRENT drags AWSPREVIOUS to the old current version. */
  private moveStage(s: StoredSecret, stage: string, toId: string): void {
    const from = this.versionWithStage(s, stage);
    const to = s.versions.get(toId);
    if (!to) throw new AwsError(400, 'InvalidParameterException', 'The version ID is not valid.');
    if (from === to) return;
    if (from) from.stages = from.stages.filter((x) => x !== stage);
    to.stages.push(stage);
    if (stage === 'AWSCURRENT' && from) {
      const prev = this.versionWithStage(s, 'AWSPREVIOUS');
      if (prev) prev.stages = prev.stages.filter((x) => x !== 'AWSPREVIOUS');
      from.stages.push('AWSPREVIOUS');
      to.stages = to.stages.filter((x) => x !== 'AWSPREVIOUS');
    }
    // Versions left without a label are deprecated; drop them like AWS's garbage collection.
    for (const [vid, v] of s.versions)
      if (v.stages.length === 0 && s.versions.size > 3) s.versions.delete(vid);
    s.lastChanged = Date.now();
  }

  private addVersion(s: StoredSecret, input: Record<string, unknown>, stages: string[]): Version {
    const token =
      typeof input['ClientRequestToken'] === 'string' ? input['ClientRequestToken'] : randomUUID();
    const string = typeof input['SecretString'] === 'string' ? input['SecretString'] : undefined;
    const binary =
      typeof input['SecretBinary'] === 'string' ? Buffer.from(input['SecretBinary'], 'base64') : undefined;
    const existing = s.versions.get(token);
    if (existing) {
      const same =
        existing.string === string &&
        (existing.binary?.equals(binary ?? Buffer.alloc(0)) ?? binary === undefined);
      if (!same) {
        throw new AwsError(
          400,
          'ResourceExistsException',
          "You can't modify an existing version, you can only create a new version.",
        );
      }
      return existing;
    }
    if (string === undefined && binary === undefined) {
      throw new AwsError(
        400,
        'InvalidRequestException',
        'You must provide either SecretString or SecretBinary.',
      );
    }
    const v: Version = { id: token, string, binary, stages: [], created: Date.now() };
    s.versions.set(token, v);
    for (const stage of stages) this.moveStage(s, stage, token);
    s.lastChanged = Date.now();
    return v;
  }

  private getSecretValue(input: Record<string, unknown>): unknown {
    const s = this.readable(input['SecretId']);
    let v: Version | undefined;
    if (typeof input['VersionId'] === 'string') {
      v = s.versions.get(input['VersionId']);
      if (!v) {
        throw new AwsError(
          400,
          'ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for VersionId: ${input['VersionId']}`,
        );
      }
    } else {
      const stage = typeof input['VersionStage'] === 'string' ? input['VersionStage'] : 'AWSCURRENT';
      v = this.versionWithStage(s, stage);
      if (!v) {
        throw new AwsError(
          400,
          'ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
        );
      }
    }
    if (this.decryptionFailure) {
      throw new AwsError(
        400,
        'DecryptionFailure',
        "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
      );
    }
    return {
      ARN: s.arn,
      Name: s.name,
      VersionId: v.id,
      ...(v.string !== undefined ? { SecretString: v.string } : {}),
      ...(v.binary !== undefined ? { SecretBinary: v.binary.toString('base64') } : {}),
      VersionStages: v.stages,
      CreatedDate: v.created / 1000,
    };
  }

  private stagesMap(s: StoredSecret): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const v of s.versions.values()) if (v.stages.length > 0) out[v.id] = [...v.stages];
    return out;
  }

  private describe(input: Record<string, unknown>): unknown {
    const s = this.mustFind(input['SecretId']);
    return {
      ARN: s.arn,
      Name: s.name,
      Description: s.description,
      RotationEnabled: s.rotationEnabled,
      ...(s.lastRotated !== undefined ? { LastRotatedDate: s.lastRotated / 1000 } : {}),
      LastChangedDate: s.lastChanged / 1000,
      ...(s.deletedDate !== undefined ? { DeletedDate: s.deletedDate } : {}),
      Tags: s.tags,
      VersionIdsToStages: this.stagesMap(s),
      CreatedDate: s.created / 1000,
    };
  }

  private putSecretValue(input: Record<string, unknown>): unknown {
    const s = this.readable(input['SecretId']);
    const stages = Array.isArray(input['VersionStages'])
      ? (input['VersionStages'] as string[])
      : ['AWSCURRENT'];
    const v = this.addVersion(s, input, stages);
    return { ARN: s.arn, Name: s.name, VersionId: v.id, VersionStages: v.stages };
  }

  private createSecret(input: Record<string, unknown>): unknown {
    const name = input['Name'];
    if (typeof name !== 'string' || name === '')
      throw new AwsError(400, 'InvalidParameterException', 'Name is required.');
    if (this.secrets.has(name)) {
      throw new AwsError(
        400,
        'ResourceExistsException',
        `The operation failed because the secret ${name} already exists.`,
      );
    }
    const now = Date.now();
    const s: StoredSecret = {
      arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-${randomBytes(3).toString('hex')}`,
      name,
      description: typeof input['Description'] === 'string' ? input['Description'] : '',
      versions: new Map(),
      created: now,
      lastChanged: now,
      lastRotated: undefined,
      deletedDate: undefined,
      rotationEnabled: false,
      tags: Array.isArray(input['Tags']) ? (input['Tags'] as { Key: string; Value: string }[]) : [],
    };
    this.secrets.set(name, s);
    const hasValue = typeof input['SecretString'] === 'string' || typeof input['SecretBinary'] === 'string';
    const v = hasValue ? this.addVersion(s, input, ['AWSCURRENT']) : undefined;
    return { ARN: s.arn, Name: s.name, ...(v ? { VersionId: v.id } : {}) };
  }

  private rotate(input: Record<string, unknown>): unknown {
    const s = this.readable(input['SecretId']);
    const current = this.versionWithStage(s, 'AWSCURRENT');
    const pending = this.versionWithStage(s, 'AWSPENDING');
    if (pending && pending !== current) {
      throw new AwsError(
        400,
        'InvalidRequestException',
        "A previous rotation isn't complete. That rotation will be reattempted.",
      );
    }
    s.rotationEnabled = true;
    const value = this.rotator(current?.string);
    const v = this.addVersion(
      s,
      { ClientRequestToken: input['ClientRequestToken'] ?? randomUUID(), SecretString: value },
      ['AWSPENDING'],
    );
    return { ARN: s.arn, Name: s.name, VersionId: v.id };
  }

  private updateStage(input: Record<string, unknown>): unknown {
    const s = this.readable(input['SecretId']);
    const stage = input['VersionStage'];
    if (typeof stage !== 'string')
      throw new AwsError(400, 'InvalidParameterException', 'VersionStage is required.');
    const holder = this.versionWithStage(s, stage);
    const move = typeof input['MoveToVersionId'] === 'string' ? input['MoveToVersionId'] : undefined;
    const remove =
      typeof input['RemoveFromVersionId'] === 'string' ? input['RemoveFromVersionId'] : undefined;
    if (move !== undefined) {
      if (holder && holder.id !== move && holder.id !== remove) {
        throw new AwsError(
          400,
          'InvalidParameterException',
          `The staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
        );
      }
      this.moveStage(s, stage, move);
    } else if (remove !== undefined) {
      const v = s.versions.get(remove);
      if (v) v.stages = v.stages.filter((x) => x !== stage);
    }
    return { ARN: s.arn, Name: s.name };
  }

  private listSecrets(input: Record<string, unknown>): unknown {
    const includeDeleted = input['IncludePlannedDeletion'] === true;
    const all = [...this.secrets.values()]
      .filter((s) => includeDeleted || s.deletedDate === undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
    const max = typeof input['MaxResults'] === 'number' ? input['MaxResults'] : 100;
    const start = typeof input['NextToken'] === 'string' ? Number(input['NextToken']) : 0;
    const page = all.slice(start, start + max);
    const next = start + max < all.length ? String(start + max) : undefined;
    return {
      SecretList: page.map((s) => ({
        ARN: s.arn,
        Name: s.name,
        Description: s.description,
        LastChangedDate: s.lastChanged / 1000,
        CreatedDate: s.created / 1000,
        ...(s.deletedDate !== undefined ? { DeletedDate: s.deletedDate } : {}),
        SecretVersionsToStages: this.stagesMap(s),
      })),
      ...(next !== undefined ? { NextToken: next } : {}),
    };
  }

  private listVersionIds(input: Record<string, unknown>): unknown {
    const s = this.mustFind(input['SecretId']);
    return {
      ARN: s.arn,
      Name: s.name,
      Versions: [...s.versions.values()].map((v) => ({
        VersionId: v.id,
        VersionStages: v.stages,
        CreatedDate: v.created / 1000,
      })),
    };
  }

  private deleteSecret(input: Record<string, unknown>): unknown {
    const s = this.mustFind(input['SecretId']);
    if (input['ForceDeleteWithoutRecovery'] === true) {
      this.secrets.delete(s.name);
      return { ARN: s.arn, Name: s.name, DeletionDate: Date.now() / 1000 };
    }
    const days = typeof input['RecoveryWindowInDays'] === 'number' ? input['RecoveryWindowInDays'] : 30;
    if (days < 7 || days > 30) {
      throw new AwsError(400, 'InvalidParameterException', 'RecoveryWindowInDays must be between 7 and 30.');
    }
    s.deletedDate = Date.now() / 1000 + days * 86_400;
    return { ARN: s.arn, Name: s.name, DeletionDate: s.deletedDate };
  }

  private restore(input: Record<string, unknown>): unknown {
    const s = this.mustFind(input['SecretId']);
    s.deletedDate = undefined;
    return { ARN: s.arn, Name: s.name };
  }

  /** The ARN of a secret, for tests that read by ARN. */
  arnOf(name: string): string {
    return this.mustFind(name).arn;
  }
}
