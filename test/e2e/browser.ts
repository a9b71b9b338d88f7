import * as fs from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Debian's Chromium; CHROMIUM_PATH overrides it. Playwright never downloads a browser here. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Launches headless Chromium, or fails with how to install it: the UI tests must not skip
 * silently on a machine without a browser (`npm run test:all` installs it: test/tools/setup.sh).
 */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: the web UI end-to-end tests need it. ` +
        "Install it with `apt-get install -y --no-install-recommends chromium` (`npm run test:all` does this " +
        "through test/tools/setup.sh) or set CHROMIUM_PATH.",
    );
  }
  // No extra args: Playwright adds --headless and --no-sandbox (needed as root) itself.
  return chromium.launch({ executablePath: CHROMIUM_PATH });
}
