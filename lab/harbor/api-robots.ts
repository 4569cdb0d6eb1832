// Harbor API: robot accounts (`/robots`), system level, as Harbor 2.x serves them: the name gets the
// `robot$` prefix, the secret is shown once (at creation and at a refresh), permissions name projects
// and what may be done in them. The token service (token.ts) grants a robot exactly those.
import { randomBytes } from 'node:crypto';
import { ApiError, paged, requireAdmin, type Handler } from './http.ts';
import type { RobotRecord } from './state.ts';

/** Harbor's default `robot_name_prefix`. */
export const ROBOT_PREFIX = 'robot$';

// The request bodies as the vendored swagger defines them (RobotCreate, Robot, RobotSec), the fields read here.
interface RobotCreate {
  name?: string;
  description?: string;
  secret?: string;
  level?: string;
  disable?: boolean;
  duration?: number;
  permissions?: RobotRecord['permissions'];
}

const secret = () => randomBytes(24).toString('base64url');

function view(r: RobotRecord) {
  const { secret: _hidden, ...shown } = r;
  return {
    ...shown,
    editable: true,
    expires_at: r.duration === -1 ? -1 : Math.floor(Date.parse(r.creation_time) / 1000) + r.duration * 86_400,
  };
}

function robotById(ctx: { op: { pathParams: Record<string, string> }; state: { robots: readonly RobotRecord[] } }) {
  const id = Number(ctx.op.pathParams.robot_id);
  const robot = ctx.state.robots.find((r) => r.id === id);
  if (!robot) throw new ApiError(404, 'NOT_FOUND', `robot ${id} not found`);
  return robot;
}

function checkPermissions(state: { project(name: string, isName: boolean): unknown }, body: RobotCreate): void {
  for (const p of body.permissions ?? []) {
    if (p.kind !== 'project') throw new ApiError(400, 'BAD_REQUEST', `permission kind ${p.kind} is not supported`);
    if (p.namespace !== '*' && !state.project(p.namespace, true))
      throw new ApiError(404, 'NOT_FOUND', `project ${p.namespace} not found`);
  }
}

export const robotHandlers: Record<string, Handler> = {
  ListRobot: ({ admin, query, state }) => {
    requireAdmin(admin);
    return paged(state.robots.map(view), query);
  },
  GetRobotByID: (ctx) => {
    requireAdmin(ctx.admin);
    return { status: 200, body: view(robotById(ctx)) };
  },
  CreateRobot: ({ admin, body: input, state }) => {
    requireAdmin(admin);
    const body = input as RobotCreate;
    if (!body.name || !/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(body.name))
      throw new ApiError(400, 'BAD_REQUEST', `robot name "${body.name ?? ''}" is invalid`);
    if (body.level !== 'system') throw new ApiError(400, 'BAD_REQUEST', 'the double serves system-level robots');
    if (body.duration !== undefined && body.duration !== -1 && body.duration <= 0)
      throw new ApiError(400, 'BAD_REQUEST', 'duration must be either -1(Never) or a positive integer');
    checkPermissions(state, body);
    const name = `${ROBOT_PREFIX}${body.name}`;
    if (state.robots.some((r) => r.name === name)) throw new ApiError(409, 'CONFLICT', `robot ${name} already exists`);
    const robot = state.addRobot({
      name,
      description: body.description ?? '',
      secret: body.secret || secret(),
      level: body.level,
      disable: body.disable ?? false,
      duration: body.duration ?? -1,
      permissions: body.permissions ?? [],
    });
    const shown = view(robot);
    return {
      status: 201,
      body: {
        id: robot.id,
        name: robot.name,
        secret: robot.secret,
        creation_time: robot.creation_time,
        expires_at: shown.expires_at,
      },
    };
  },
  UpdateRobot: (ctx) => {
    requireAdmin(ctx.admin);
    const robot = robotById(ctx);
    const body = ctx.body as RobotCreate;
    if (body.name !== undefined && body.name !== robot.name)
      throw new ApiError(400, 'BAD_REQUEST', 'the name of a robot cannot change');
    checkPermissions(ctx.state, body);
    ctx.state.updateRobot(robot.id, {
      ...(body.description !== undefined ? { description: body.description } : {}),
      ...(body.disable !== undefined ? { disable: body.disable } : {}),
      ...(body.duration !== undefined ? { duration: body.duration } : {}),
      ...(body.permissions !== undefined ? { permissions: body.permissions } : {}),
    });
    return { status: 200 };
  },
  RefreshSec: (ctx) => {
    requireAdmin(ctx.admin);
    const robot = robotById(ctx);
    const given = (ctx.body as { secret?: string } | undefined)?.secret;
    const next = given || secret();
    ctx.state.updateRobot(robot.id, { secret: next });
    return { status: 200, body: { secret: next } };
  },
  DeleteRobot: (ctx) => {
    requireAdmin(ctx.admin);
    ctx.state.removeRobot(robotById(ctx).id);
    return { status: 200 };
  },
};
