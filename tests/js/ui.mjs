// Drives wharf's web app in Chromium (Debian's, through playwright-core) as a user would,
// and prints what it saw as one JSON line for the Rust test to check.
// Usage: node ui.mjs <base-url> <access-token-with-a-hosted-file> <hosted-file-name>
import { chromium } from "playwright-core";

const [base, hostedToken, hostedName] = process.argv.slice(2);
const origin = new URL(base).host;
const seen = { foreign: [], consoleErrors: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(20000);
page.on("request", (r) => {
  const url = new URL(r.url());
  if (!["http:", "https:", "ws:", "wss:"].includes(url.protocol)) return;
  if (url.host !== origin) seen.foreign.push(r.url());
});
page.on("console", (m) => {
  if (m.type() === "error") seen.consoleErrors.push(m.text());
});

async function step(name, action) {
  try {
    await action();
  } catch (e) {
    seen.failed = `${name}: ${e.message.split("\n")[0]}`;
    await page.screenshot({ path: process.env.SCREENSHOT ?? "/tmp/wharf-ui-failure.png" }).catch(() => {});
    throw e;
  }
}

try {
  // A browser opening the server's root lands in the app.
  await step("root redirects", async () => {
    await page.goto(base + "/");
    seen.landed = new URL(page.url()).pathname;
  });

  // Sign in with the keyboard only: tab to the development-key button, press Enter.
  await step("keyboard sign-in", async () => {
    const target = page.getByRole("button", { name: "Sign in with a development key" });
    await target.waitFor();
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press("Tab");
      if (await target.evaluate((el) => el === document.activeElement)) break;
    }
    seen.focusedByKeyboard = await target.evaluate((el) => el === document.activeElement);
    await page.keyboard.press("Enter");
    seen.signedIn = await page.getByTestId("signed-in").getAttribute("title");
  });

  // Balances: a new access token, a promocode redeemed, the balance live, the ledger.
  await step("balances", async () => {
    await page.getByRole("link", { name: "Balances" }).click();
    await page.getByRole("button", { name: "New access token" }).click();
    await page.getByRole("heading", { name: /^Token / }).waitFor();
    seen.newToken = (await page.getByRole("heading", { name: /^Token / }).textContent()).replace("Token ", "");
    await page.getByLabel("Promocode", { exact: true }).fill("NOPE");
    await page.getByRole("button", { name: "Redeem" }).click();
    seen.badPromocode = await page.getByRole("alert").textContent();
    await page.getByLabel("Promocode", { exact: true }).fill("PLEASE");
    await page.getByRole("button", { name: "Redeem" }).click();
    await page.getByTestId("balance").filter({ hasText: "1.0 GiB" }).waitFor();
    seen.balance = await page.getByTestId("balance").textContent();
    await page.getByRole("cell", { name: "promocode", exact: true }).waitFor();
    seen.ledgerKinds = await page.locator("table").last().locator("tbody tr td:nth-child(2)").allTextContents();
  });

  // Storage: a quote for a file, uploaded with progress, followed live to "stored".
  await step("storage", async () => {
    await page.getByRole("link", { name: "Storage" }).click();
    await page.getByRole("cell", { name: "ipfs", exact: true }).first().waitFor();
    await page.getByLabel("Files", { exact: true }).setInputFiles({
      name: "hello.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("hello from chromium\n"),
    });
    await page.getByRole("button", { name: "Get a quote" }).click();
    await page.getByTestId("quote-status").filter({ hasText: "waiting for files" }).waitFor();
    await page.getByRole("button", { name: "Upload" }).click();
    await page.getByTestId("quote-status").filter({ hasText: "stored" }).waitFor({ timeout: 60000 });
    seen.quoteStatus = await page.getByTestId("quote-status").textContent();
    seen.progress = await page.locator("progress").getAttribute("value");
    const link = page.locator("a[href^='/ipfs/']").first();
    await link.waitFor();
    const href = await link.getAttribute("href");
    const response = await page.request.get(base + href);
    seen.stored = await response.text();
  });

  // Hosted files of a token.
  await step("hosted", async () => {
    await page.getByRole("link", { name: "Hosted files" }).click();
    await page.getByLabel("Access token", { exact: true }).fill(hostedToken);
    await page.getByRole("button", { name: "Show files" }).click();
    await page.getByRole("link", { name: hostedName }).waitFor();
    seen.hosted = await page.getByRole("link", { name: hostedName }).textContent();
  });

  // Compute environments render (their content depends on the machine's bubblewrap).
  await step("compute", async () => {
    await page.getByRole("link", { name: "Compute" }).click();
    await page.getByRole("heading", { name: "Environments" }).waitFor();
    await page.getByText("Loading…").first().waitFor({ state: "detached" }).catch(() => {});
    seen.computeEmpty = await page.getByText("No compute jobs yet", { exact: false }).count();
  });

  // The operator's view of Filecoin datasets.
  await step("filecoin", async () => {
    await page.getByRole("link", { name: "Filecoin" }).click();
    await page.getByLabel("Admin API key", { exact: true }).fill(process.env.WHARF_ADMIN_KEY ?? "");
    await page.getByRole("button", { name: "Use key" }).click();
    await page.getByRole("cell", { name: "ui-dataset", exact: true }).waitFor();
    seen.dataset = "ui-dataset";
    await page.getByRole("button", { name: "Forget the admin key" }).click();
  });

  // A phone's width: nothing wider than the screen.
  await step("narrow", async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    await page.getByRole("link", { name: "Balances" }).click();
    await page.getByRole("heading", { name: "Access tokens" }).waitFor();
    seen.narrowOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  });

  await step("sign out", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in with a development key" }).waitFor();
    seen.signedOut = true;
  });
} catch {
  // `seen.failed` says where.
} finally {
  await browser.close();
  console.log(JSON.stringify(seen));
}
