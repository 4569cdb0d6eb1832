// The Harbor double's persistent state: registry endpoints and projects, kept in one JSON file
// so the double survives restarts (the lab's `up` is idempotent) with the same ids.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface RegistryRecord {
  id: number;
  name: string;
  type: string;
  url: string;
  description: string;
  insecure: boolean;
  credential?: { type: string; access_key: string; access_secret: string };
  creation_time: string;
  update_time: string;
}

export interface ProjectRecord {
  project_id: number;
  name: string;
  /** Set for a proxy-cache project; pushes are refused and pulls go through to the endpoint. */
  registry_id: number | null;
  metadata: Record<string, string>;
  creation_time: string;
  update_time: string;
  /** Port of the pull-through `docker-registry` serving this proxy-cache project. */
  proxyPort?: number;
}

/** A robot account (Harbor's `robot$<name>`): basic credentials the token service grants its permissions to. */
export interface RobotRecord {
  id: number;
  name: string;
  description: string;
  secret: string;
  level: string;
  disable: boolean;
  duration: number;
  permissions: Array<{ kind: string; namespace: string; access: Array<{ resource: string; action: string }> }>;
  creation_time: string;
  update_time: string;
}

interface StateFile {
  nextRegistryId: number;
  nextProjectId: number;
  nextRobotId?: number;
  registries: RegistryRecord[];
  projects: ProjectRecord[];
  robots?: RobotRecord[];
}

export class HarborState {
  readonly #file: string;
  #data: StateFile;

  constructor(file: string) {
    this.#file = file;
    this.#data = existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as StateFile)
      : { nextRegistryId: 1, nextProjectId: 2, registries: [], projects: [] };
  }

  get registries(): readonly RegistryRecord[] {
    return this.#data.registries;
  }

  get projects(): readonly ProjectRecord[] {
    return this.#data.projects;
  }

  registry(id: number): RegistryRecord | undefined {
    return this.#data.registries.find((r) => r.id === id);
  }

  project(nameOrId: string, isName: boolean): ProjectRecord | undefined {
    const byId = !isName && /^\d+$/.test(nameOrId);
    return this.#data.projects.find((p) => (byId ? p.project_id === Number(nameOrId) : p.name === nameOrId));
  }

  addRegistry(fields: Omit<RegistryRecord, 'id' | 'creation_time' | 'update_time'>): RegistryRecord {
    const now = new Date().toISOString();
    const record = { ...fields, id: this.#data.nextRegistryId++, creation_time: now, update_time: now };
    this.#data.registries.push(record);
    this.save();
    return record;
  }

  addProject(fields: Omit<ProjectRecord, 'project_id' | 'creation_time' | 'update_time'>): ProjectRecord {
    const now = new Date().toISOString();
    const record = { ...fields, project_id: this.#data.nextProjectId++, creation_time: now, update_time: now };
    this.#data.projects.push(record);
    this.save();
    return record;
  }

  get robots(): readonly RobotRecord[] {
    return this.#data.robots ?? [];
  }

  addRobot(fields: Omit<RobotRecord, 'id' | 'creation_time' | 'update_time'>): RobotRecord {
    const now = new Date().toISOString();
    this.#data.nextRobotId ??= 1;
    const record = { ...fields, id: this.#data.nextRobotId++, creation_time: now, update_time: now };
    (this.#data.robots ??= []).push(record);
    this.save();
    return record;
  }

  updateRobot(
    id: number,
    fields: Partial<Omit<RobotRecord, 'id' | 'name' | 'creation_time'>>,
  ): RobotRecord | undefined {
    const robot = this.#data.robots?.find((r) => r.id === id);
    if (!robot) return undefined;
    Object.assign(robot, fields, { update_time: new Date().toISOString() });
    this.save();
    return robot;
  }

  removeRobot(id: number): boolean {
    const before = this.robots.length;
    this.#data.robots = this.robots.filter((r) => r.id !== id);
    this.save();
    return this.robots.length < before;
  }

  removeRegistry(id: number): void {
    this.#data.registries = this.#data.registries.filter((r) => r.id !== id);
    this.save();
  }

  removeProject(id: number): void {
    this.#data.projects = this.#data.projects.filter((p) => p.project_id !== id);
    this.save();
  }

  /** Atomic write: a killed double never leaves a torn state file. */
  save(): void {
    mkdirSync(dirname(this.#file), { recursive: true });
    writeFileSync(`${this.#file}.tmp`, JSON.stringify(this.#data, null, 2));
    renameSync(`${this.#file}.tmp`, this.#file);
  }
}

export function isPublic(p: ProjectRecord): boolean {
  return p.metadata.public === 'true';
}
