// Drives wharf's web app in Chromium (Debian's, through playwright-core) as a user would,
// and prints what it saw as one JSON line for the Rust test to check.
// Usage: node ui.mjs <base-url> <access-token-with-a-hosted-file> <hosted-file-name>
// Environment: WALLET_RPC and WALLET_KEY (the browser wallet's chain and account),
// WHARF_ADMIN_KEY, IMPORT_FILE (a delta-dm CSV to import), SCREENSHOTS (where to write them).
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { ethers } from "ethers5";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const shots = process.env.SCREENSHOTS ?? "/tmp/wharf-ui-screenshots";
mkdirSync(shots, { recursive: true });

const [base, hostedToken, hostedName] = process.argv.slice(2);
const origin = new URL(base).host;
const seen = { foreign: [], consoleErrors: [], screenshots: [], a11y: {} };

/** A screenshot of the current screen, and axe-core's serious and critical findings on it. */
async function capture(name) {
  await page.getByText("Loading…").first().waitFor({ state: "detached", timeout: 5000 }).catch(() => {});
  const width = page.viewportSize().width;
  const file = `${shots}/${name}-${width}.png`;
  await page.screenshot({ path: file, fullPage: true });
  seen.screenshots.push(file);
  // Evaluated through the DevTools protocol: the page's CSP does not apply to it.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "best-practice"] } }),
  );
  const bad = result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  if (bad.length) seen.a11y[`${name}-${width}`] = bad;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });

// A browser wallet (EIP-1193) as the page sees one: accounts and signatures from WALLET_KEY,
// everything else answered by the chain at WALLET_RPC. The page talks only to window.ethereum;
// this process talks to the chain.
const account = new ethers.Wallet(process.env.WALLET_KEY);
async function rpc(method, params) {
  const response = await fetch(process.env.WALLET_RPC, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await response.json();
  return body.error ? { error: body.error } : { result: body.result };
}
await context.exposeFunction("__wharfWallet", async (method, params) => {
  switch (method) {
    case "eth_requestAccounts":
    case "eth_accounts":
      return { result: [account.address] };
    case "personal_sign":
      return { result: await account.signMessage(ethers.utils.arrayify(params[0])) };
    case "wallet_switchEthereumChain": {
      const current = await rpc("eth_chainId", []);
      return current.result === params[0].chainId
        ? { result: null }
        : { error: { code: 4902, message: `this wallet has no chain ${params[0].chainId}` } };
    }
    case "eth_sendTransaction":
      seen.walletTransactions = (seen.walletTransactions ?? 0) + 1;
      return rpc(method, params);
    default:
      return rpc(method, params);
  }
});
await context.addInitScript(() => {
  window.ethereum = {
    request: async ({ method, params }) => {
      const answer = await window.__wharfWallet(method, params ?? []);
      if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
      return answer.result;
    },
  };
});
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
    const started = Date.now();
    await page.goto(base + "/");
    await page.getByRole("button", { name: "Sign in with a wallet" }).waitFor();
    seen.firstLoadMs = Date.now() - started;
    seen.landed = new URL(page.url()).pathname;
    await capture("signed-out");
  });

  // Sign in with the keyboard only: tab to the wallet button, press Enter; the wallet signs.
  await step("keyboard sign-in", async () => {
    const target = page.getByRole("button", { name: "Sign in with a wallet" });
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
    await capture("balances");
  });

  // Storage: a quote for a file paid in OCEAN, the token approved through the wallet, the
  // upload sent with progress and followed live to "stored" (the worker collects the payment).
  await step("storage", async () => {
    await page.getByRole("link", { name: "Storage" }).click();
    await page.getByRole("cell", { name: "ipfs", exact: true }).first().waitFor();
    seen.payIn = await page.getByLabel("Pay in").locator("option:checked").textContent();
    await page.getByLabel("Files", { exact: true }).setInputFiles({
      name: "hello.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("hello from chromium\n"),
    });
    await page.getByRole("button", { name: "Get a quote" }).click();
    await page.getByTestId("quote-status").filter({ hasText: "waiting for files" }).waitFor();
    await page.getByRole("button", { name: "Approve the token" }).click();
    await page.getByTestId("approval").waitFor();
    seen.approval = await page.getByTestId("approval").textContent();
    await page.getByRole("button", { name: "Upload" }).click();
    await page.getByTestId("quote-status").filter({ hasText: "stored" }).waitFor({ timeout: 60000 });
    seen.quoteStatus = await page.getByTestId("quote-status").textContent();
    seen.progress = await page.locator("progress").getAttribute("value");
    const link = page.locator("a[href^='/ipfs/']").first();
    await link.waitFor();
    const href = await link.getAttribute("href");
    const response = await page.request.get(base + href);
    seen.stored = await response.text();
    await capture("storage");
  });

  // Hosted files of a token.
  await step("hosted", async () => {
    await page.getByRole("link", { name: "Hosted files" }).click();
    await page.getByLabel("Access token", { exact: true }).fill(hostedToken);
    await page.getByRole("button", { name: "Show files" }).click();
    await page.getByRole("link", { name: hostedName }).waitFor();
    seen.hosted = await page.getByRole("link", { name: hostedName }).textContent();
    await capture("hosted");
  });

  // Compute environments render (their content depends on the machine's bubblewrap).
  await step("compute", async () => {
    await page.getByRole("link", { name: "Compute" }).click();
    await page.getByRole("heading", { name: "Environments" }).waitFor();
    await page.getByText("Loading…").first().waitFor({ state: "detached" }).catch(() => {});
    seen.computeEmpty = await page.getByText("No compute jobs yet", { exact: false }).count();
    await capture("compute");
  });

  // The operator's view of Filecoin datasets.
  await step("filecoin", async () => {
    await page.getByRole("link", { name: "Filecoin" }).click();
    await page.getByLabel("Admin API key", { exact: true }).fill(process.env.WHARF_ADMIN_KEY ?? "");
    await page.getByRole("button", { name: "Use key" }).click();
    await page.getByRole("cell", { name: "ui-dataset", exact: true }).waitFor();
    seen.dataset = "ui-dataset";
    // Contents from delta-dm's CSV import file.
    await page.getByLabel("Import contents into").selectOption({ label: "ui-dataset" });
    await page.getByLabel("from a CSV or JSON file (or drop it here)").setInputFiles(process.env.IMPORT_FILE);
    const imported = page.getByRole("status").filter({ hasText: "imported" });
    await imported.waitFor();
    seen.imported = await imported.textContent();
    // A CAR the server stores (the hosted file) joins the dataset; a worker computes its piece.
    const addCar = page.getByRole("form", { name: "Add a stored CAR" });
    await addCar.getByLabel("Add the stored CAR with root").fill(process.env.STORED_ROOT ?? "");
    await addCar.getByLabel("into dataset").selectOption({ label: "ui-dataset" });
    await addCar.getByRole("button", { name: "Add CAR" }).click();
    const carAdded = addCar.getByRole("status");
    await carAdded.waitFor();
    seen.carAdded = await carAdded.textContent();
    await page.waitForFunction(
      () => {
        const row = [...document.querySelectorAll("tr")].find((r) => r.cells[0]?.textContent === "ui-dataset");
        return row?.cells[3]?.textContent?.startsWith("3 ") && !document.querySelector('[aria-label="Pieces from stored CARs"]');
      },
      undefined,
      { timeout: 60000 },
    );
    seen.contentsAfterCar = await page
      .getByRole("row")
      .filter({ has: page.getByRole("cell", { name: "ui-dataset", exact: true }) })
      .locator("td")
      .nth(3)
      .textContent();
    // Deals for them, followed live to the engine's status.
    const deals = page.getByRole("form", { name: "Make deals" });
    await deals.getByLabel("Replicate to").selectOption("f07000");
    await deals.getByLabel("from").selectOption({ label: "ui-dataset" });
    await deals.getByLabel("Deals").fill("2");
    await deals.getByRole("button", { name: "Make deals" }).click();
    const made = deals.getByRole("status");
    await made.waitFor();
    seen.dealsMade = await made.textContent();
    const statuses = page.locator("table").last().locator("tbody tr td:nth-child(4)");
    await page.waitForFunction(
      () => {
        const cells = [...document.querySelectorAll("table")].pop()?.querySelectorAll("tbody tr td:nth-child(4)") ?? [];
        return cells.length === 2 && [...cells].every((c) => c.textContent === "making-deal-proposal");
      },
      undefined,
      { timeout: 60000 },
    );
    seen.dealStatuses = await statuses.allTextContents();
    await capture("filecoin");
  });

  // A phone's width: every screen again, nothing wider than the screen.
  await step("narrow", async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    seen.narrowOverflow = {};
    for (const [name, link] of [
      ["storage", "Storage"],
      ["balances", "Balances"],
      ["compute", "Compute"],
      ["hosted", "Hosted files"],
      ["filecoin", "Filecoin"],
    ]) {
      await page.getByRole("link", { name: link, exact: true }).click();
      await page.getByRole("heading", { level: 1, name: link }).waitFor();
      await capture(name);
      const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (over > 0) seen.narrowOverflow[name] = over;
      // Signed in with the operator key also set, no screen shows an error.
      const alerts = await page.getByRole("alert").allTextContents();
      if (alerts.length) (seen.alerts ??= {})[name] = alerts;
    }
    await page.getByRole("button", { name: "Forget the admin key" }).click();
  });

  // GraphiQL, from wharf itself.
  await step("graphiql", async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(base + "/graphql");
    await page.locator(".graphiql-container").waitFor();
    seen.graphiql = new URL(page.url()).pathname;
    await page.goto(base + "/ui/#/balances");
  });

  await step("sign out", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in with a development key" }).waitFor();
    seen.signedOut = true;
  });

  // Without a wallet, a key kept in this browser signs in as its own account.
  await step("development key", async () => {
    await page.getByRole("button", { name: "Sign in with a development key" }).click();
    seen.devKeySignedIn = await page.getByTestId("signed-in").getAttribute("title");
  });
} catch {
  // `seen.failed` says where.
} finally {
  await browser.close();
  console.log(JSON.stringify(seen));
}
