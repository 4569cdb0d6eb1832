// The console: one page and its script and style, read once when the app is built.
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';

const CONSOLE_DIR = new URL('../console/', import.meta.url);
const asset = (name: string) => readFileSync(new URL(name, CONSOLE_DIR), 'utf8');

export function consoleRoutes(): Hono {
  const app = new Hono();
  const files = { html: asset('index.html'), js: asset('console.js'), css: asset('console.css') };
  app.get('/', (c) => c.html(files.html));
  app.get('/console.js', (c) => c.body(files.js, 200, { 'content-type': 'text/javascript; charset=utf-8' }));
  app.get('/console.css', (c) => c.body(files.css, 200, { 'content-type': 'text/css; charset=utf-8' }));
  return app;
}
