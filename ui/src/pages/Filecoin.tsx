import { useEffect, useState } from "preact/hooks";
import { graphql } from "../gql";
import { ApiError, operatorKey, request, saveOperatorKey, subscribe } from "../api";
import { useAction, useLoad } from "../hooks";
import { ErrorNote, Load, Section, bytes, time } from "../widgets";

const Datasets = graphql(`
  query Datasets {
    datasets {
      id
      name
      replicationQuota
      dealDuration
      countTotal
      bytesTotal {
        raw
      }
      countReplicated
      bytesReplicated {
        raw
      }
      pieceComputations {
        carId
        root
        status
        error
      }
    }
    providers {
      actorId
      actorName
      allowSelfService
      countReplicated
      bytesReplicated {
        raw
      }
    }
    replicationProfiles {
      providerActorId
      datasetId
      unsealed
      indexed
    }
  }
`);

const Replications = graphql(`
  query Replications($filter: ReplicationFilter) {
    replications(filter: $filter, first: 50) {
      edges {
        node {
          id
          datasetId
          providerActorId
          contentCommP
          status
          message
          dealTime
          onChainDealId
        }
      }
    }
  }
`);

const ReplicationUpdates = graphql(`
  subscription ReplicationUpdates($datasetId: Int!) {
    replicationUpdates(datasetId: $datasetId) {
      id
      status
    }
  }
`);

const ImportContents = graphql(`
  mutation ImportContents($datasetId: Int!, $contents: [ContentInput!]!) {
    importContents(datasetId: $datasetId, contents: $contents) {
      success
      fail
    }
  }
`);

const AddStoredCar = graphql(`
  mutation AddStoredCar($datasetId: Int!, $root: String!, $contentLocation: String) {
    addStoredCar(datasetId: $datasetId, root: $root, contentLocation: $contentLocation) {
      carId
      status
    }
  }
`);

const CreateReplications = graphql(`
  mutation CreateReplications($provider: String!, $datasetId: Int, $numDeals: Int!) {
    createReplications(provider: $provider, datasetId: $datasetId, numDeals: $numDeals) {
      id
    }
  }
`);

type Content = { commP: string; payloadCid: string; size: number; paddedSize: number; contentLocation?: string };

/** Reads delta-dm's import files: a JSON array, or CSV with a header row. */
function parseContents(text: string): Content[] {
  const trimmed = text.trim();
  const rows: Record<string, string | number>[] = trimmed.startsWith("[")
    ? JSON.parse(trimmed)
    : (() => {
        const [head, ...lines] = trimmed.split(/\r?\n/).filter((l) => l.trim());
        const names = (head ?? "").split(",").map((h) => h.trim());
        return lines.map((line) => {
          const cells = line.split(",").map((c) => c.trim());
          return Object.fromEntries(names.map((n, i) => [n, cells[i] ?? ""]));
        });
      })();
  return rows.map((r) => ({
    commP: String(r.commP ?? r.commp ?? r.piece_cid ?? r.pieceCid ?? ""),
    payloadCid: String(r.payloadCid ?? r.payload_cid ?? ""),
    size: Number(r.size ?? r.payload_size ?? 0),
    paddedSize: Number(r.paddedSize ?? r.padded_size ?? r.piece_size ?? 0),
    contentLocation: r.contentLocation ? String(r.contentLocation) : undefined,
  }));
}

export function Filecoin() {
  const [key, setKey] = useState(operatorKey());
  const [typed, setTyped] = useState("");
  if (!key)
    return (
      <Section title="Filecoin datasets">
        <p class="muted">Datasets, providers and replications are for the operator: enter the admin API key.</p>
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            saveOperatorKey(typed.trim() || null);
            setKey(operatorKey());
          }}
        >
          <label>
            Admin API key
            <input type="password" value={typed} onInput={(e) => setTyped(e.currentTarget.value)} autocomplete="off" />
          </label>
          <button type="submit">Use key</button>
        </form>
      </Section>
    );
  return (
    <>
      <p>
        <button
          type="button"
          onClick={() => {
            saveOperatorKey(null);
            setKey(null);
          }}
        >
          Forget the admin key
        </button>
      </p>
      <Overview />
    </>
  );
}

function Overview() {
  const state = useLoad(() => request(Datasets, {}, "operator"), []);
  const [status, setStatus] = useState("");
  const [provider, setProvider] = useState("");
  const [dataset, setDataset] = useState("");
  const filter = {
    statuses: status ? [status] : undefined,
    providers: provider ? [provider] : undefined,
    datasets: dataset ? [dataset] : undefined,
  };
  const replications = useLoad(
    async () => (await request(Replications, { filter }, "operator")).replications.edges,
    [status, provider, dataset],
  );
  const importing = useAction();
  const [imported, setImported] = useState<string | null>(null);
  const [target, setTarget] = useState<number | null>(null);

  // Pieces being computed from stored CARs: looked at again every second until all ended.
  const computing = state.data?.datasets.some((d) => d.pieceComputations.some((p) => p.status === "COMPUTING"));
  useEffect(() => {
    if (!computing) return;
    const timer = setInterval(() => state.reload(), 1000);
    return () => clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [computing]);

  // Live updates for every dataset while this page is open.
  useEffect(() => {
    const ids = state.data?.datasets.map((d) => d.id) ?? [];
    const stops = ids.map((id) =>
      subscribe(ReplicationUpdates, { datasetId: id }, () => replications.reload(), undefined, "operator"),
    );
    return () => stops.forEach((stop) => stop());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [state.data]);

  const importFile = (file: File) =>
    importing.run(async () => {
      if (target === null) throw new ApiError("choose the dataset to import into", "BAD_USER_INPUT");
      const contents = parseContents(await file.text());
      const { importContents } = await request(ImportContents, { datasetId: target, contents }, "operator");
      setImported(`${importContents.success.length} imported, ${importContents.fail.length} refused`);
      state.reload();
    });

  return (
    <Load state={state}>
      {(d) => (
        <>
          <Section title="Datasets">
            {d.datasets.length === 0 ? (
              <p class="muted empty">No datasets yet.</p>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Quota</th>
                    <th scope="col">Deal days</th>
                    <th scope="col">Contents</th>
                    <th scope="col">Replicated</th>
                  </tr>
                </thead>
                <tbody>
                  {d.datasets.map((ds) => (
                    <tr key={ds.id}>
                      <td>{ds.name}</td>
                      <td>{ds.replicationQuota}</td>
                      <td>{ds.dealDuration}</td>
                      <td>
                        {ds.countTotal} ({bytes(ds.bytesTotal.raw)})
                      </td>
                      <td>
                        {ds.countReplicated} ({bytes(ds.bytesReplicated.raw)})
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {d.datasets.length > 0 && (
              <div
                class="drop"
                onDragOver={(e) => e.preventDefault()}
                onDrop={(e) => {
                  e.preventDefault();
                  const file = e.dataTransfer?.files[0];
                  if (file) importFile(file);
                }}
              >
                <label>
                  Import contents into
                  <select value={target ?? ""} onChange={(e) => setTarget(Number(e.currentTarget.value) || null)}>
                    <option value="">a dataset…</option>
                    <DatasetOptions datasets={d.datasets} />
                  </select>
                </label>
                <label>
                  from a CSV or JSON file (or drop it here)
                  <input
                    type="file"
                    accept=".csv,.json,text/csv,application/json"
                    onChange={(e) => {
                      const file = e.currentTarget.files?.[0];
                      if (file) importFile(file);
                    }}
                  />
                </label>
                {imported && <p role="status">{imported}</p>}
                <ErrorNote error={importing.error} />
              </div>
            )}
            {d.datasets.length > 0 && <AddCar datasets={d.datasets} onDone={state.reload} />}
            {d.datasets.some((ds) => ds.pieceComputations.length > 0) && (
              <>
                <h3>Pieces from stored CARs</h3>
                <ul aria-label="Pieces from stored CARs">
                  {d.datasets.flatMap((ds) =>
                    ds.pieceComputations.map((p) => (
                      <li key={p.carId}>
                        {ds.name}: <span class="mono">{p.root}</span> —{" "}
                        {p.status === "COMPUTING" ? "computing its piece CID…" : `failed: ${p.error ?? "unknown"}`}
                      </li>
                    )),
                  )}
                </ul>
              </>
            )}
          </Section>
          <Section title="Storage providers">
            {d.providers.length === 0 ? (
              <p class="muted empty">No providers yet.</p>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Actor</th>
                    <th scope="col">Name</th>
                    <th scope="col">Self-service</th>
                    <th scope="col">Replicated</th>
                  </tr>
                </thead>
                <tbody>
                  {d.providers.map((p) => (
                    <tr key={p.actorId}>
                      <td>{p.actorId}</td>
                      <td>{p.actorName}</td>
                      <td>{p.allowSelfService ? "on" : "off"}</td>
                      <td>
                        {p.countReplicated} ({bytes(p.bytesReplicated.raw)})
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <h3>Replication profiles</h3>
            {d.replicationProfiles.length === 0 ? (
              <p class="muted empty">No replication profiles yet.</p>
            ) : (
              <ul>
                {d.replicationProfiles.map((r) => (
                  <li key={`${r.providerActorId}-${r.datasetId}`}>
                    {r.providerActorId} → dataset {r.datasetId} ({r.unsealed ? "unsealed" : "sealed"},{" "}
                    {r.indexed ? "indexed" : "not indexed"})
                  </li>
                ))}
              </ul>
            )}
          </Section>
          <Section title="Replications">
            {d.providers.length > 0 && <MakeDeals providers={d.providers} datasets={d.datasets} onDone={replications.reload} />}
            <form class="inline" onSubmit={(e) => e.preventDefault()}>
              <label>
                Status
                <input
                  value={status}
                  placeholder="any"
                  onChange={(e) => setStatus(e.currentTarget.value.trim())}
                />
              </label>
              <label>
                Provider
                <input value={provider} onChange={(e) => setProvider(e.currentTarget.value.trim())} />
              </label>
              <label>
                Dataset
                <select value={dataset} onChange={(e) => setDataset(e.currentTarget.value)}>
                  <option value="">any</option>
                  {d.datasets.map((ds) => (
                    <option key={ds.id} value={ds.name}>
                      {ds.name}
                    </option>
                  ))}
                </select>
              </label>
            </form>
            <Load state={replications} isEmpty={(r) => r.length === 0} empty="No replications match.">
              {(edges) => (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Id</th>
                      <th scope="col">Provider</th>
                      <th scope="col">Piece</th>
                      <th scope="col">Status</th>
                      <th scope="col">Deal</th>
                      <th scope="col">When</th>
                    </tr>
                  </thead>
                  <tbody>
                    {edges.map(({ node }) => (
                      <tr key={node.id}>
                        <td>{node.id}</td>
                        <td>{node.providerActorId}</td>
                        <td class="mono">{node.contentCommP.slice(0, 14)}…</td>
                        <td title={node.message}>{node.status}</td>
                        <td>{node.onChainDealId || "—"}</td>
                        <td>{time(node.dealTime)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </Load>
          </Section>
        </>
      )}
    </Load>
  );
}

/** One option per dataset, valued by its id. */
function DatasetOptions({ datasets }: { datasets: { id: number; name: string }[] }) {
  return (
    <>
      {datasets.map((ds) => (
        <option key={ds.id} value={ds.id}>
          {ds.name}
        </option>
      ))}
    </>
  );
}

/** Adds a CAR this server stores (an upload, a hosted file) to a dataset by its root CID; a
 * worker computes its piece CID and the dataset's contents grow by one. */
function AddCar({ datasets, onDone }: { datasets: { id: number; name: string }[]; onDone: () => void }) {
  const [dataset, setDataset] = useState(String(datasets[0]?.id ?? ""));
  const [root, setRoot] = useState("");
  const [location, setLocation] = useState("");
  const [added, setAdded] = useState<string | null>(null);
  const action = useAction();
  const submit = () =>
    action.run(async () => {
      await request(
        AddStoredCar,
        { datasetId: Number(dataset), root: root.trim(), contentLocation: location.trim() || null },
        "operator",
      );
      setAdded(`Computing the piece CID of ${root.trim()}.`);
      setRoot("");
      onDone();
    });
  return (
    <form
      class="inline"
      aria-label="Add a stored CAR"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label>
        Add the stored CAR with root
        <input value={root} onInput={(e) => setRoot(e.currentTarget.value)} placeholder="bafy…" />
      </label>
      <label>
        into dataset
        <select value={dataset} onChange={(e) => setDataset(e.currentTarget.value)}>
          <DatasetOptions datasets={datasets} />
        </select>
      </label>
      <label>
        Content location (optional; {"{pieceCid}"} is filled in)
        <input value={location} onInput={(e) => setLocation(e.currentTarget.value)} />
      </label>
      <button type="submit" disabled={action.pending || !root.trim() || !dataset}>
        Add CAR
      </button>
      {added && <p role="status">{added}</p>}
      <ErrorNote error={action.error} />
    </form>
  );
}

/** Asks for deals: pieces of a dataset (or any the provider's profiles allow) replicated to a
 * provider; the worker hands them to the deal engine and the table follows them live. */
function MakeDeals({
  providers,
  datasets,
  onDone,
}: {
  providers: { actorId: string }[];
  datasets: { id: number; name: string }[];
  onDone: () => void;
}) {
  const [provider, setProvider] = useState(providers[0]?.actorId ?? "");
  const [dataset, setDataset] = useState("");
  const [count, setCount] = useState(1);
  const [made, setMade] = useState<string | null>(null);
  const action = useAction();
  const submit = () =>
    action.run(async () => {
      const { createReplications } = await request(
        CreateReplications,
        { provider, datasetId: dataset ? Number(dataset) : null, numDeals: count },
        "operator",
      );
      setMade(
        createReplications.length === 0
          ? "No piece is eligible for this provider."
          : `${createReplications.length} deal${createReplications.length === 1 ? "" : "s"} requested.`,
      );
      onDone();
    });
  return (
    <form
      class="inline"
      aria-label="Make deals"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label>
        Replicate to
        <select value={provider} onChange={(e) => setProvider(e.currentTarget.value)}>
          {providers.map((p) => (
            <option key={p.actorId} value={p.actorId}>
              {p.actorId}
            </option>
          ))}
        </select>
      </label>
      <label>
        from
        <select value={dataset} onChange={(e) => setDataset(e.currentTarget.value)}>
          <option value="">any dataset</option>
          <DatasetOptions datasets={datasets} />
        </select>
      </label>
      <label>
        Deals
        <input
          type="number"
          min={1}
          max={100}
          value={count}
          onInput={(e) => setCount(Math.max(1, Math.min(100, Number(e.currentTarget.value) || 1)))}
        />
      </label>
      <button type="submit" disabled={action.pending || !provider}>
        Make deals
      </button>
      {made && <p role="status">{made}</p>}
      <ErrorNote error={action.error} />
    </form>
  );
}
