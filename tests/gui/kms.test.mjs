// The built app against "AWS" (the emulator binary over HTTPS) whose Session Manager
// preferences encrypt sessions with a KMS key: a shell tab opens encrypted, is marked with a
// lock naming the key, and echoes; an interactive command started from "Start session…" is
// encrypted too and reads what is typed; a non-interactive one ends with its exit code.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { WEB, emulator, freshHome, screenshot, screenText, startDriver, until } from './harness.mjs';

const ALIAS = 'alias/session-manager';

const FLEET = `
[preferences]
kmsKeyId = "${ALIAS}"

[[kms_keys]]
id = "1234abcd-12ab-34cd-56ef-1234567890ab"
alias = "${ALIAS}"

[[nodes]]
id = "${WEB}"
name = "web-1"
`;

async function launch(name) {
  const home = freshHome(name);
  const fleet = path.join(home, 'fleet.toml');
  writeFileSync(fleet, FLEET);
  const aws = await emulator(['--fleet', fleet]);
  const driver = await startDriver(home, {
    ...aws.env,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIAEMULATORDEMO0001',
    AWS_SECRET_ACCESS_KEY: 'emulator/demo/secret/key/not/a/real/one/000',
  });
  const browser = await driver.launch();
  return {
    browser,
    async stop() {
      await browser.deleteSession();
      await driver.stop();
      aws.stop();
    },
  };
}

describe('Airlock on a fleet whose sessions are KMS-encrypted', () => {
  it('opens an encrypted shell tab, marked with a lock that names the key', async () => {
    const app = await launch('kms');
    const { browser } = app;
    try {
      await until(browser, 'the node listed', async () => (await browser.$(`.node-row[data-node="${WEB}"]`)).isExisting());
      await (await browser.$(`.node-row[data-node="${WEB}"]`)).doubleClick();
      const key = await (await browser.$('.tab.active[data-tab]')).getAttribute('data-tab');
      await until(browser, 'the shell connected', async () => (await browser.$(`.tab.connected[data-tab="${key}"]`)).isExisting());
      const lock = await browser.$(`.tab[data-tab="${key}"] .tab-lock`);
      assert.equal(await lock.getAttribute('data-encrypted-with'), ALIAS);
      assert.match(await lock.getAttribute('title'), new RegExp(`KMS key ${ALIAS}`));
      assert.match(await (await browser.$(`.tab[data-tab="${key}"]`)).getAttribute('title'), /This session is encrypted using AWS KMS\./, "the agent's message");
      await until(browser, 'a prompt', async () => (await screenText(browser, key)).trim().length > 0);
      const input = await browser.$(`.terminal-tab[data-tab="${key}"] .xterm-helper-textarea`);
      await input.addValue('echo sealed-$((6*7))');
      await browser.keys('Enter');
      await until(browser, 'the echo on the screen', async () => (await screenText(browser, key)).split('\n').some((line) => line.trim() === 'sealed-42'));
      await screenshot(browser, 'kms-shell');
    } finally {
      await app.stop();
    }
  });

  it('runs encrypted commands: an interactive one reads input, a non-interactive one ends with its exit code', async () => {
    const app = await launch('kms-command');
    const { browser } = app;
    // Starts DOCUMENT with COMMAND from "Start session…" and returns the new tab's key once the
    // session is connected and marked encrypted.
    const start = async (document, command) => {
      await (await browser.$('.tab.home')).click();
      await until(browser, 'the node listed', async () => (await browser.$(`.node-row[data-node="${WEB}"]`)).isExisting());
      await (await browser.$(`.node-row[data-node="${WEB}"]`)).click();
      await (await browser.$('button=Start session…')).click();
      const dialog = await browser.$('.dialog');
      await (await dialog.$('select[aria-label="Document"]')).selectByAttribute('value', document);
      const field = await dialog.$('textarea[aria-label="command"]');
      await field.waitForExist();
      await field.setValue(command);
      await (await dialog.$('button=Start')).click();
      return (await browser.$('.tab.active[data-tab]')).getAttribute('data-tab');
    };
    const lines = async (key) => (await screenText(browser, key)).split('\n').map((line) => line.trim());
    try {
      const interactive = await start('AWS-StartInteractiveCommand', 'sh -c \'printf "ready-%s\\n" $((6*7)); read word; echo "got-$word"\'');
      await until(browser, "the command's first line", async () => (await lines(interactive)).includes('ready-42'));
      assert.equal(await (await browser.$(`.tab[data-tab="${interactive}"] .tab-lock`)).getAttribute('data-encrypted-with'), ALIAS);
      const input = await browser.$(`.terminal-tab[data-tab="${interactive}"] .xterm-helper-textarea`);
      await input.addValue('sealed');
      await browser.keys('Enter');
      await until(browser, 'the typed word echoed back and the command ended', async () => (await lines(interactive)).includes('got-sealed') && (await browser.$(`.tab.ended[data-tab="${interactive}"]`)).isExisting());
      await screenshot(browser, 'kms-interactive-command');

      // The agent reports an exit code for non-interactive commands only (payload type 12).
      const batch = await start('AWS-StartNonInteractiveCommand', 'echo batch-$((6*7)); exit 3');
      await until(browser, 'the batch command ended', async () => (await browser.$(`.tab.ended[data-tab="${batch}"]`)).isExisting());
      assert.ok((await lines(batch)).includes('batch-42'), 'its output is on the screen');
      assert.match(await (await browser.$(`.tab[data-tab="${batch}"]`)).getAttribute('title'), /exit code 3/);
    } finally {
      await app.stop();
    }
  });
});
