// Drives @oceanprotocol/uploader (uploader.js 0.0.3), unmodified, through a whole upload as
// its users do: storage info, quote, approve + upload, status until final, link, history.
// Prints one JSON object with what each call returned.
// Usage: node uploader-flow.mjs <baseURL> <rpcURL> <private key> <uploader address>
//          <storage type> <chainId> <token address> <file>...
import { UploaderClient } from "@oceanprotocol/uploader";
import { JsonRpcProvider, Wallet } from "ethers";

const [baseURL, rpcURL, key, uploaderAddress, type, chainId, tokenAddress, ...files] =
  process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Nonces are Unix seconds: each signed call must come in a later second than the last.
const nextSecond = () => sleep(1100);

const signer = new Wallet(key, new JsonRpcProvider(rpcURL, undefined, { pollingInterval: 200 }));
const client = new UploaderClient(baseURL, uploaderAddress, signer);
const out = {};
try {
  out.storages = await client.getStorageInfo();
  out.quote = await client.getQuote({
    type,
    duration: 4353545453,
    payment: { chainId, tokenAddress },
    userAddress: await signer.getAddress(),
    filePath: files,
  });
  const response = await client.upload(
    out.quote.quoteId,
    out.quote.tokenAddress,
    out.quote.tokenAmount,
    files,
    type,
  );
  out.upload = response ? { status: response.status, data: response.data } : null;
  const deadline = Date.now() + 120000;
  for (;;) {
    out.status = await client.getStatus(out.quote.quoteId);
    const s = out.status.status;
    if (s === 400 || (s >= 200 && s < 300) || s > 400 || Date.now() > deadline) break;
    await sleep(250);
  }
  await nextSecond();
  out.link = await client.getLink(out.quote.quoteId);
  await nextSecond();
  out.history = await client.getHistory(1, 25, type);
} catch (e) {
  out.error = String(e);
  out.errorBody = e?.response?.data ?? null;
}
console.log(JSON.stringify(out));
process.exit(0);
