// Sends a multipart upload with Node's own fetch (undici, what uploader.js and browser-like
// clients use) and prints what the client saw: {"status", "body"} or {"error", "cause"}.
// Usage: node refused-upload.mjs <upload url with query> <file bytes>
const [url, size] = process.argv.slice(2);
const bytes = new Uint8Array(Number(size));
for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251;
const form = new FormData();
form.append("file", new Blob([bytes]), "big.bin");
try {
  const response = await fetch(url, { method: "POST", body: form });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  console.log(JSON.stringify({ status: response.status, body }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e), cause: String(e.cause ?? "") }));
}
