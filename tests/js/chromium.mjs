// Headless Chromium (Debian's /usr/bin/chromium, through playwright-core) for the chat's
// browser scenarios: a fresh profile, removed by close(); one JSON line per observation.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const WAIT = { timeout: 15000 };
export const out = (event, data = {}) => console.log(JSON.stringify({ event, ...data }));

export async function openBrowser(artifacts) {
  const profile = mkdtempSync(join(tmpdir(), "trouper-chromium-"));
  mkdirSync(artifacts, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1100, height: 680 },
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}
