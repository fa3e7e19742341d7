import { useEffect, useState } from "preact/hooks";
import { encodeFunctionData, erc20Abi, type Hex } from "viem";
import { graphql } from "../gql";
import { ApiError, loadSession, request, subscribe, type Session } from "../api";
import { useAction, useLoad } from "../hooks";
import { ErrorNote, Load, Section, bytes, quoteStatus, time } from "../widgets";

const Storages = graphql(`
  query Storages {
    storages {
      type
      description
      payment {
        chainId
        acceptedTokens {
          title
          value
          pricePerGibMonth
        }
      }
    }
  }
`);

const Quotes = graphql(`
  query Quotes($after: String) {
    quotes(first: 20, after: $after) {
      edges {
        node {
          id
          storage
          totalBytes
          fileCount
          status
          link
          createdAt
          tokenAmount
          paidWithCredits
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

const CreateQuote = graphql(`
  mutation CreateQuote($input: CreateQuoteInput!) {
    createQuote(input: $input) {
      id
      status
      tokenAmount
      tokenAddress
      approveAddress
      chainId
      totalBytes
      expiresAt
    }
  }
`);

const PayWithCredits = graphql(`
  mutation PayQuoteWithCredits($quoteId: String!, $accessToken: String!) {
    payQuoteWithCredits(quoteId: $quoteId, accessToken: $accessToken) {
      id
      status
    }
  }
`);

const MyTokens = graphql(`
  query MyTokens {
    accessTokens {
      token
      balance
    }
  }
`);

const QuoteStatus = graphql(`
  subscription QuoteStatus($id: String!) {
    quoteStatus(id: $id)
  }
`);

const UPLOAD = `mutation UploadFiles($quoteId: String!, $files: [Upload!]!) {
  uploadFiles(quoteId: $quoteId, files: $files) { id status }
}`;

/** Sends files by the GraphQL multipart request spec, reporting bytes sent. */
function uploadFiles(quoteId: string, files: File[], onProgress: (sent: number, total: number) => void) {
  return new Promise<void>((resolve, reject) => {
    const form = new FormData();
    form.append(
      "operations",
      JSON.stringify({ query: UPLOAD, variables: { quoteId, files: files.map(() => null) } }),
    );
    const map: Record<string, string[]> = {};
    files.forEach((_, i) => (map[String(i)] = [`variables.files.${i}`]));
    form.append("map", JSON.stringify(map));
    files.forEach((f, i) => form.append(String(i), f, f.name));
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/graphql");
    xhr.setRequestHeader("apollo-require-preflight", "true");
    const token = loadSession()?.token;
    if (token) xhr.setRequestHeader("authorization", `Bearer ${token}`);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.total);
    xhr.onerror = () => reject(new ApiError("the upload was cut off", "NETWORK"));
    xhr.onload = () => {
      try {
        const body = JSON.parse(xhr.responseText);
        if (body.errors?.length)
          reject(new ApiError(body.errors[0].message, body.errors[0].extensions?.code ?? "ERROR"));
        else resolve();
      } catch {
        reject(new ApiError(`wharf answered ${xhr.status}`, "HTTP"));
      }
    };
    xhr.send(form);
  });
}

type Created = {
  id: string;
  tokenAmount: string;
  tokenAddress: string;
  approveAddress: string;
  chainId: number;
  totalBytes: number;
};

export function Storage({ session }: { session: Session | null }) {
  const storages = useLoad(async () => (await request(Storages)).storages, []);
  const quotes = useLoad(async () => (session ? (await request(Quotes, {})).quotes.edges : []), [session?.token]);
  return (
    <>
      <Section title="Storages">
        <Load state={storages} isEmpty={(s) => s.length === 0} empty="No storage is configured.">
          {(list) => (
            <table>
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">Description</th>
                  <th scope="col">Payment</th>
                </tr>
              </thead>
              <tbody>
                {list.map((s) => (
                  <tr key={s.type}>
                    <td>{s.type}</td>
                    <td>{s.description}</td>
                    <td>
                      {s.payment.length === 0
                        ? "free"
                        : s.payment
                            .map(
                              (p) =>
                                `chain ${p.chainId}: ${p.acceptedTokens
                                  .map((t) =>
                                    t.pricePerGibMonth ? `${t.pricePerGibMonth} ${t.title} per GiB-month` : t.title,
                                  )
                                  .join(", ")}`,
                            )
                            .join("; ")}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Load>
      </Section>
      {session ? (
        <>
          {storages.data && storages.data.length > 0 && (
            <QuoteForm storages={storages.data} onDone={quotes.reload} />
          )}
          <Section title="Your quotes">
            <Load state={quotes} isEmpty={(q) => q.length === 0} empty="No quotes yet.">
              {(edges) => (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Quote</th>
                      <th scope="col">Storage</th>
                      <th scope="col">Size</th>
                      <th scope="col">Status</th>
                      <th scope="col">Link</th>
                      <th scope="col">Created</th>
                    </tr>
                  </thead>
                  <tbody>
                    {edges.map(({ node }) => (
                      <tr key={node.id}>
                        <td class="mono">{node.id.slice(0, 12)}…</td>
                        <td>{node.storage}</td>
                        <td>
                          {bytes(node.totalBytes)} in {node.fileCount}
                        </td>
                        <td>{quoteStatus(node.status)}</td>
                        <td>{node.link ? <QuoteLink link={node.link} /> : "—"}</td>
                        <td>{time(node.createdAt)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </Load>
          </Section>
        </>
      ) : (
        <p class="muted">Sign in to get quotes and upload.</p>
      )}
    </>
  );
}

/** A stored quote's link: its CIDs open through this server's gateway. */
function QuoteLink({ link }: { link: string }) {
  const cids = link.match(/\b(baf[a-z2-7]{20,}|Qm[1-9A-HJ-NP-Za-km-z]{44})\b/g) ?? [];
  if (cids.length === 0) return <span class="mono">{link}</span>;
  return (
    <>
      {cids.map((cid) => (
        <a key={cid} href={`/ipfs/${cid}`} class="mono">
          {cid.slice(0, 14)}…
        </a>
      ))}
    </>
  );
}

function QuoteForm({
  storages,
  onDone,
}: {
  storages: { type: string; payment: { chainId: number; acceptedTokens: { title: string; value: string }[] }[] }[];
  onDone: () => void;
}) {
  const [storage, setStorage] = useState(storages[0]?.type ?? "");
  const [files, setFiles] = useState<File[]>([]);
  const [days, setDays] = useState(30);
  const options = storages.find((s) => s.type === storage)?.payment ?? [];
  const choices = options.flatMap((p) => p.acceptedTokens.map((t) => ({ chainId: p.chainId, token: t })));
  const [choice, setChoice] = useState(0);
  const [quote, setQuote] = useState<Created | null>(null);
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [status, setStatus] = useState<number | null>(null);
  const tokens = useLoad(async () => (await request(MyTokens)).accessTokens, []);
  const [credit, setCredit] = useState("");
  const [approval, setApproval] = useState<string | null>(null);
  const action = useAction();

  useEffect(() => {
    if (!quote) return;
    return subscribe(QuoteStatus, { id: quote.id }, (d) => {
      setStatus(d.quoteStatus);
      if (d.quoteStatus >= 200) onDone();
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [quote?.id]);

  const picked = choices[choice];
  const get = () =>
    action.run(async () => {
      if (files.length === 0) throw new ApiError("choose at least one file", "BAD_USER_INPUT");
      const free = choices.length === 0;
      const { createQuote } = await request(CreateQuote, {
        input: {
          storage,
          duration: days * 86400,
          chainId: free ? 0 : (picked?.chainId ?? 0),
          tokenAddress: free ? "0x0000000000000000000000000000000000000000" : (picked?.token.value ?? ""),
          fileLengths: files.map((f) => f.size),
        },
      });
      setQuote(createQuote);
      setStatus(1);
      setProgress(null);
      onDone();
    });
  const approve = () =>
    action.run(async () => {
      const wallet = (window as unknown as { ethereum?: { request: (a: unknown) => Promise<unknown> } }).ethereum;
      if (!wallet || !quote) throw new ApiError("approving needs a browser wallet", "NO_WALLET");
      const [from] = (await wallet.request({ method: "eth_requestAccounts" })) as Hex[];
      // The approval must land on the quote's chain.
      const current = Number(await wallet.request({ method: "eth_chainId" }));
      if (current !== quote.chainId) {
        await wallet.request({
          method: "wallet_switchEthereumChain",
          params: [{ chainId: `0x${quote.chainId.toString(16)}` }],
        });
      }
      const tx = await wallet.request({
        method: "eth_sendTransaction",
        params: [
          {
            from,
            to: quote.tokenAddress,
            data: encodeFunctionData({
              abi: erc20Abi,
              functionName: "approve",
              args: [quote.approveAddress as Hex, BigInt(quote.tokenAmount)],
            }),
          },
        ],
      });
      setApproval(`Approved in transaction ${String(tx)}; now upload.`);
    });
  const payWithCredits = () =>
    action.run(async () => {
      if (!quote || !credit) throw new ApiError("choose an access token", "BAD_USER_INPUT");
      await request(PayWithCredits, { quoteId: quote.id, accessToken: credit });
      tokens.reload();
    });
  const send = () =>
    action.run(async () => {
      if (!quote) return;
      await uploadFiles(quote.id, files, (sent, total) => setProgress({ sent, total }));
      onDone();
    });

  return (
    <Section title="New quote">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          get();
        }}
      >
        <label>
          Storage
          <select value={storage} onChange={(e) => setStorage(e.currentTarget.value)}>
            {storages.map((s) => (
              <option key={s.type} value={s.type}>
                {s.type}
              </option>
            ))}
          </select>
        </label>
        {choices.length > 0 && (
          <label>
            Pay in
            <select value={choice} onChange={(e) => setChoice(Number(e.currentTarget.value))}>
              {choices.map((c, i) => (
                <option key={`${c.chainId}-${c.token.value}`} value={i}>
                  {c.token.title} on chain {c.chainId}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          Days
          <input type="number" min={1} value={days} onInput={(e) => setDays(Number(e.currentTarget.value) || 1)} />
        </label>
        <label>
          Files
          <input type="file" multiple onChange={(e) => setFiles(Array.from(e.currentTarget.files ?? []))} />
        </label>
        <button type="submit" disabled={action.pending}>
          Get a quote
        </button>
      </form>
      <ErrorNote error={action.error} />
      {quote && (
        <div class="card" aria-live="polite">
          <p>
            Quote <span class="mono">{quote.id}</span>: {bytes(quote.totalBytes)}
            {quote.tokenAmount === "0" ? (
              ", free"
            ) : (
              <>
                , {quote.tokenAmount} smallest units of {picked?.token.title ?? "the token"} (
                <span class="mono">{quote.tokenAddress}</span>)
              </>
            )}
            . Status:{" "}
            <strong data-testid="quote-status">{status === null ? "…" : quoteStatus(status)}</strong>
          </p>
          {quote.tokenAmount !== "0" && (
            <div class="inline">
              <button type="button" onClick={approve} disabled={action.pending}>
                Approve the token
              </button>
              <label>
                or pay with byte credits of
                <select value={credit} onChange={(e) => setCredit(e.currentTarget.value)}>
                  <option value="">an access token…</option>
                  {(tokens.data ?? []).map((t) => (
                    <option key={t.token} value={t.token}>
                      {t.token} ({bytes(t.balance)})
                    </option>
                  ))}
                </select>
              </label>
              <button type="button" onClick={payWithCredits} disabled={action.pending || !credit}>
                Pay with credits
              </button>
            </div>
          )}
          {approval && (
            <p role="status" class="mono" data-testid="approval">
              {approval}
            </p>
          )}
          <button type="button" onClick={send} disabled={action.pending || status !== 1}>
            Upload
          </button>
          {progress && (
            <p>
              <progress max={progress.total} value={progress.sent} /> {bytes(progress.sent)} of{" "}
              {bytes(progress.total)} sent
            </p>
          )}
        </div>
      )}
    </Section>
  );
}
