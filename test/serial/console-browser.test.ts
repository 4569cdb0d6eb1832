// Runs alone: the console in real headless Chromium (Debian's, driven by playwright-core). The
// dormant install is applied to the lab; an operator signs in through the lab's OIDC provider,
// presses Achieve True Sovereignty, confirms, and watches all eight steps go green over SSE.
// Screenshots go to test-artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { peersCertSpki } from '../../lab/peers-pki.ts';
import { installCutover, resetSovereign } from '../../lab/lab.ts';
import { REPO_ROOT } from '../../lab/topology.ts';
import { kube } from '../support/kube.ts';
import { lab } from '../support/lab.ts';

const e = lab();
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  await resetSovereign(() => undefined);
});

test(
  'console: sign in, press Achieve True Sovereignty, watch the eight steps go green',
  { timeout: 600_000 },
  async () => {
    await resetSovereign(() => undefined);
    // Loopback is a secure context for Chromium, so the Secure session cookie works over plain http here.
    const consoleURL = await installCutover(() => undefined);

    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      // The identity provider is HTTPS on the Sovereign's private CA: the browser accepts exactly
      // that certificate's key (the product itself verifies it with the values' CA).
      args: ['--no-sandbox', '--disable-dev-shm-usage', `--ignore-certificate-errors-spki-list=${peersCertSpki()}`],
    });
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.goto(consoleURL);
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(e.oidc.users.admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(consoleURL);
    await page.getByText('admin · sovereign-admin').waitFor();
    await page.locator('#badge', { hasText: 'Tethered' }).waitFor();
    assert.equal(await page.locator('#steps li[data-state="pending"]').count(), 8);

    await page.getByRole('button', { name: 'Achieve True Sovereignty' }).click();
    const dialog = page.getByRole('dialog', { name: 'Achieve True Sovereignty?' });
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', /Gitea[\s\S]*Harbor[\s\S]*egress blocked for \d+ s/);
    await page.screenshot({ path: join(ARTIFACTS, 'console-confirm.png') });
    await dialog.getByRole('button', { name: 'Start the cutover' }).click();

    // On a failure, the page as it was and what the console said are the first things to look at.
    page.on('console', (m) => console.log(`# browser console: ${m.text()}`));
    // The console runs under its Content-Security-Policy: nothing it does may need an exception.
    const cspViolations: string[] = [];
    page.on('console', (m) => void (/Content Security Policy/i.test(m.text()) && cspViolations.push(m.text())));
    page.on('pageerror', (error) => console.log(`# browser error: ${error.message}`));
    const failed = page.locator('#error:not([hidden])');
    void failed.waitFor({ timeout: 300_000 }).then(
      async () => console.log(`# console shows an error: ${await failed.textContent()}`),
      () => undefined,
    );
    await page.locator('#steps li[data-state="running"]').first().waitFor({ timeout: 60_000 });
    await page
      .locator('#countdown')
      .waitFor({ state: 'visible', timeout: 300_000 })
      .catch(async (error: unknown) => {
        await page.screenshot({ path: join(ARTIFACTS, 'console-failure.png'), fullPage: true });
        const status = await kube()
          .core.readNamespacedConfigMap({ name: 'self-sovereign-cutover-status', namespace: 'catalyst' })
          .then(
            (cm) => cm.data,
            (e: unknown) => String(e),
          );
        console.log(`# status ConfigMap when the egress window was not seen: ${JSON.stringify(status)}`);
        throw error;
      });
    assert.match((await page.locator('#countdown').textContent()) ?? '', /egress/i);
    await page.screenshot({ path: join(ARTIFACTS, 'console-egress-window.png') });
    // A locator, not a string to evaluate: the console's CSP refuses eval (the test's too).
    await page.locator('#steps li[data-state="done"]').nth(7).waitFor({ timeout: 300_000 });
    assert.equal(await page.locator('#steps li').count(), 8);
    await page.getByText('Sovereign — tethers severed').waitFor();
    assert.equal(
      await page.getByRole('button', { name: 'Achieve True Sovereignty' }).isVisible(),
      false,
      'no button once sovereign',
    );
    await page.screenshot({ path: join(ARTIFACTS, 'console-sovereign.png'), fullPage: true });
    assert.deepEqual(cspViolations, [], 'the console needs no CSP exception');

    console.log(`# screenshots in ${ARTIFACTS}`);
  },
);
