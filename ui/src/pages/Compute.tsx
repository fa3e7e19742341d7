import { useEffect, useState } from "preact/hooks";
import { graphql } from "../gql";
import { ApiError, loadSession, request, subscribe, type Session } from "../api";
import { useAction, useLoad } from "../hooks";
import { ErrorNote, Load, Section, bytes, time } from "../widgets";

const Environments = graphql(`
  query ComputeEnvironments {
    computeEnvironments {
      id
      chainId
      description
      executor
      cpuNumber
      ramGb
      priceMin
      maxJobDuration
      maxJobs
      currentJobs
    }
  }
`);

const Jobs = graphql(`
  query ComputeJobs {
    computeJobs(first: 50) {
      edges {
        node {
          id
          environment
          status
          statusText
          createdAt
          finishedAt
        }
      }
    }
  }
`);

const Job = graphql(`
  query ComputeJob($id: String!) {
    computeJob(id: $id) {
      id
      status
      statusText
      error
      finished
      createdAt
      startedAt
      finishedAt
      datasetDids
      algorithmDid
      logTail
      results {
        index
        filename
        filesize
        type
        url
      }
    }
  }
`);

const JobUpdates = graphql(`
  subscription ComputeJobUpdates($id: String!) {
    computeJobUpdates(id: $id) {
      id
      status
      statusText
      finished
    }
  }
`);

const Stop = graphql(`
  mutation StopCompute($id: String!) {
    stopCompute(id: $id) {
      id
    }
  }
`);

const Delete = graphql(`
  mutation DeleteCompute($id: String!) {
    deleteCompute(id: $id)
  }
`);

export function Compute({ session }: { session: Session | null }) {
  const environments = useLoad(async () => (await request(Environments)).computeEnvironments, []);
  const jobs = useLoad(async () => (session ? (await request(Jobs)).computeJobs.edges : []), [session?.token]);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <>
      <Section title="Environments">
        <Load state={environments} isEmpty={(e) => e.length === 0} empty="No compute environment is offered.">
          {(list) => (
            <table>
              <thead>
                <tr>
                  <th scope="col">Id</th>
                  <th scope="col">Chain</th>
                  <th scope="col">Executor</th>
                  <th scope="col">Resources</th>
                  <th scope="col">Price / min</th>
                  <th scope="col">Jobs</th>
                </tr>
              </thead>
              <tbody>
                {list.map((e) => (
                  <tr key={`${e.chainId}-${e.id}`}>
                    <td title={e.description}>{e.id}</td>
                    <td>{e.chainId}</td>
                    <td>{e.executor.toLowerCase()}</td>
                    <td>
                      {e.cpuNumber} CPU, {e.ramGb} GB, up to {Math.round(e.maxJobDuration / 60)} min
                    </td>
                    <td>{e.priceMin}</td>
                    <td>
                      {e.currentJobs} / {e.maxJobs}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Load>
      </Section>
      <Section title="Your jobs">
        {session ? (
          <Load state={jobs} isEmpty={(j) => j.length === 0} empty="No compute jobs yet. Start one with ocean.js or startCompute.">
            {(edges) => (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Job</th>
                    <th scope="col">Environment</th>
                    <th scope="col">Status</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {edges.map(({ node }) => (
                    <tr key={node.id}>
                      <td>
                        <button type="button" class="link mono" onClick={() => setOpen(node.id)}>
                          {node.id.slice(0, 12)}…
                        </button>
                      </td>
                      <td>{node.environment}</td>
                      <td>{node.statusText}</td>
                      <td>{time(node.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Load>
        ) : (
          <p class="muted">Sign in to see your jobs.</p>
        )}
      </Section>
      {open && <JobDetail id={open} onChange={jobs.reload} />}
    </>
  );
}

/** Results need the session's bearer: fetched, then handed to the browser as a file. */
async function saveResult(url: string, filename: string) {
  const token = loadSession()?.token;
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!response.ok) throw new ApiError(`the result answered ${response.status}`, "HTTP");
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  link.click();
  URL.revokeObjectURL(link.href);
}

function JobDetail({ id, onChange }: { id: string; onChange: () => void }) {
  const job = useLoad(async () => (await request(Job, { id })).computeJob, [id]);
  const [status, setStatus] = useState<string | null>(null);
  const action = useAction();
  useEffect(() => {
    setStatus(null);
    return subscribe(JobUpdates, { id }, (d) => {
      setStatus(d.computeJobUpdates.statusText);
      if (d.computeJobUpdates.finished) {
        job.reload();
        onChange();
      }
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id]);
  return (
    <Section title={`Job ${id}`}>
      <Load state={job}>
        {(j) => (
          <>
            <p aria-live="polite">
              Status: <strong data-testid="job-status">{status ?? j.statusText}</strong>
              {j.error && <span class="error"> {j.error}</span>}
            </p>
            <p class="muted">
              Created {time(j.createdAt)}, started {time(j.startedAt)}, finished {time(j.finishedAt)}
            </p>
            <div class="inline">
              {!j.finished && (
                <button type="button" disabled={action.pending} onClick={() => action.run(() => request(Stop, { id }))}>
                  Stop
                </button>
              )}
              <button
                type="button"
                disabled={action.pending}
                onClick={() =>
                  action.run(async () => {
                    await request(Delete, { id });
                    onChange();
                  })
                }
              >
                Delete
              </button>
            </div>
            <ErrorNote error={action.error} />
            {j.results.length > 0 && (
              <ul>
                {j.results.map((r) => (
                  <li key={r.index}>
                    <button type="button" class="link" onClick={() => action.run(() => saveResult(r.url, r.filename))}>
                      {r.filename}
                    </button>{" "}
                    <span class="muted">
                      {r.type}, {bytes(r.filesize)}
                    </span>
                  </li>
                ))}
              </ul>
            )}
            {j.logTail && (
              <>
                <h3>Log</h3>
                <pre class="log">{j.logTail}</pre>
              </>
            )}
          </>
        )}
      </Load>
    </Section>
  );
}
