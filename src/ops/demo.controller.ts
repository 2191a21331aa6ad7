import { BadRequestException, Controller, Get, Inject, NotFoundException, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { SignJWT } from 'jose';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONFIG, type Config } from '../config/config.js';

/** The fixed demo users: alice sees both workspaces, bob only the shared one, carol is an admin. */
export const DEMO_WORKSPACES = [
  { uuid: 'demo-projects', slug: 'projects', label: 'Projects', roots: [{ uuid: 'demo-projects-root', path: 'demo/projects' }] },
  { uuid: 'demo-common', slug: 'common', label: 'Common files', roots: [{ uuid: 'demo-common-root', path: 'demo/common' }] },
];
export const DEMO_USERS: Record<string, { profile: string; workspaces: string[] }> = {
  alice: { profile: 'standard', workspaces: ['demo-projects', 'demo-common'] },
  bob: { profile: 'standard', workspaces: ['demo-common'] },
  carol: { profile: 'admin', workspaces: ['demo-common'] },
};

/**
 * DEMO_MODE only (registered by AppModule then, never otherwise): short-lived tokens for the
 * demo users, the API key for the page's publish panel, and the built example page. Anyone who
 * reaches the port can act as any demo user and publish: a local demo, bound to loopback. The
 * secret that signs the tokens and the key handed out are the demo's own, generated at start
 * (config.ts refuses a deployment's), so neither opens anything of a deployment.
 */
@Controller('demo')
export class DemoController {
  private readonly dir: string;

  constructor(@Inject(CONFIG) private readonly config: Config) {
    this.dir = resolve(config.demo!.dir);
  }

  @Get('api/session')
  async session(@Query('user') user: string | undefined) {
    const demoUser = user !== undefined && Object.hasOwn(DEMO_USERS, user) ? DEMO_USERS[user] : undefined;
    if (!demoUser) throw new BadRequestException(`user must be one of ${Object.keys(DEMO_USERS).join(', ')}`);
    const { tokenSeconds } = this.config.demo!;
    const token = await new SignJWT({
      name: user,
      profile: demoUser.profile,
      roles: [`role-${user}`],
      workspaces: DEMO_WORKSPACES.filter((w) => demoUser.workspaces.includes(w.uuid)),
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(`demo-${user}`)
      .setIssuedAt()
      .setExpirationTime(`${tokenSeconds}s`)
      .sign(new TextEncoder().encode(this.config.jwt.secret));
    return { user, token, expiresIn: tokenSeconds, apiKey: this.config.apiKey, channels: this.config.channels, users: Object.keys(DEMO_USERS), workspaces: DEMO_WORKSPACES.filter((w) => demoUser.workspaces.includes(w.uuid)) };
  }

  @Get()
  page(@Res() res: Response) {
    this.send(res, 'index.html');
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Res() res: Response) {
    // Only the flat names Vite writes: no path can leave the folder.
    if (!/^[\w.-]+$/.test(file) || file.startsWith('.')) throw new NotFoundException();
    this.send(res, `assets/${file}`);
  }

  private send(res: Response, file: string): void {
    const path = resolve(this.dir, file);
    if (!existsSync(path)) throw new NotFoundException(`${file} is not built: run npm run build:web`);
    res.sendFile(path);
  }
}
